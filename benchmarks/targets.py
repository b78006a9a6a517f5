"""Each target of issues 6, 14, 20 and 24 judged against the measured figures: PASS, MISSED,
or n/a (with the reason), and for a miss a line saying what holds it back, built from the
figures."""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig

PASS, MISSED, NOT_JUDGED = "PASS", "MISSED", "n/a"


def _median(results: dict, section: str, name: str) -> float | None:
    figure = results.get(section, {}).get("figures", {}).get(name)
    if isinstance(figure, dict):
        return figure.get("median")
    return figure if isinstance(figure, int | float) else None


def _verdict(measured: float | None, required: float, at_least: bool) -> str:
    if measured is None or not isinstance(required, int | float) or required != required:
        return NOT_JUDGED
    ok = measured >= required if at_least else measured <= required
    return PASS if ok else MISSED


def _row(name, section, figure, measured, required, at_least, note="", verdict=None) -> dict:
    relation = ">=" if at_least else "<="
    return {
        "target": name,
        "section": section,
        "figure": figure,
        "required": f"{relation} {required:g}" if isinstance(required, int | float) else required,
        "measured": measured,
        "verdict": verdict or _verdict(measured, required, at_least),
        "note": note,
    }


def _at_least(results: dict, name: str, section: str, figure: str, required, note="") -> dict:
    """A target the figure's median must reach."""
    return _row(name, section, figure, _median(results, section, figure), required, True, note)


def _validation(results: dict, targets: DictConfig) -> list[dict]:
    details = results.get("validation", {}).get("details", {})
    naive_error = _median(results, "validation", "naive_abs_error")
    fast_error = _median(results, "validation", "fast_abs_error")
    uniform = _median(results, "validation", "one_draw_error_uniform_t")
    stratified = _median(results, "validation", "one_draw_error_stratified_t")
    error_note = (
        f"fast validation scores {details.get('fast_samples_per_call')} samples with one "
        f"fixed draw each, the naive loop {details.get('naive_samples_per_call')} fresh ones "
        "per call"
    )
    if uniform is not None and stratified is not None:
        error_note += (
            f"; over 8 draw seeds a one-draw validator errs by {uniform:.3g} (median) with "
            f"uniform t and {stratified:.3g} with stratified t"
        )
    if naive_error is not None and fast_error is not None and fast_error <= naive_error:
        error_note = ""
    return [
        _at_least(
            results,
            "validation speed-up vs naive",
            "validation",
            "speedup",
            float(targets.validation_speedup),
        ),
        _row(
            "validation error <= naive error",
            "validation",
            "fast_abs_error",
            fast_error,
            naive_error if naive_error is not None else float("nan"),
            False,
            error_note,
        ),
        _close_ranking(results, targets),
    ]


def _close_ranking(results: dict, targets: DictConfig) -> dict:
    """Fast validation must order checkpoints closer than the naive loop's noise; the note
    says how the naive loop does on the same pairs (it should fail: that is the point)."""
    naive = _median(results, "validation", "naive_close_concordance")
    pairs = _median(results, "validation", "close_pairs")
    noise = _median(results, "validation", "naive_noise")
    required = float(targets.close_concordance)
    note = f"{pairs:g} pairs closer than the naive noise {noise:.3g}" if pairs else "no close pairs"
    if naive is not None:
        verdict = "fails it too" if naive < required else "passes it too: not separating"
        note += f"; the naive loop orders {naive:.2f} of them ({verdict})"
    return _at_least(
        results,
        "close-checkpoint ranking (pair concordance)",
        "validation",
        "fast_close_concordance",
        required,
        note,
    )


def _throughput(results: dict, targets: DictConfig) -> list[dict]:
    details = results.get("throughput", {}).get("details", {})
    batch = details.get("batch_size")
    fraction_note = f"measured at batch {batch}" + ("" if batch == 512 else " (target is at 512)")
    xla = _median(results, "throughput", "xla_matmul_fraction")
    if xla is not None and not details.get("jit_compile"):
        fraction_note += (
            f", as the default profile runs it (no XLA); XLA (trainer.jit_compile=auto turns it "
            f"on from 1000 steps) reaches {xla:.2f}"
        )
    return [
        _at_least(
            results,
            "train loop vs fair keras fit",
            "throughput",
            "vs_fit_fair",
            float(targets.fit_ratio),
            f"fit with the same steps_per_execution ({details.get('steps_per_execution')}) and "
            f"jit_compile ({details.get('jit_compile')}), batches from tf.data",
        ),
        _at_least(
            results,
            "train loop vs keras fit (1 step a call)",
            "throughput",
            "vs_fit",
            float(targets.fit_ratio),
            "fit as first called: the old, flattering baseline",
        ),
        _at_least(
            results,
            "train step vs eager loop",
            "throughput",
            "vs_eager",
            float(targets.eager_ratio),
        ),
        _at_least(
            results,
            "share of the matmul rate",
            "throughput",
            "matmul_fraction",
            float(targets.matmul_fraction),
            fraction_note,
        ),
    ]


def _tuning(results: dict, targets: DictConfig) -> list[dict]:
    section = results.get("tuning", {})
    if not section.get("available"):
        reason = section.get("reason", "section not run")
        return [
            _row(name, "tuning", figure, None, required, at_least, reason)
            for name, figure, required, at_least in (
                ("tuning best value no worse", "diffexp_best_value", "<= the others", False),
                (
                    "tuning vs sequential",
                    "speedup_vs_sequential",
                    float(targets.tuning_vs_sequential),
                    True,
                ),
                ("tuning vs batched", "speedup_vs_batched", float(targets.tuning_vs_batched), True),
                (
                    "time to quality vs best peer",
                    "time_to_quality_vs_best_peer",
                    float(targets.time_to_quality),
                    True,
                ),
            )
        ]
    others = [_median(results, "tuning", f"{m}_best_value") for m in ("sequential", "batched")]
    others = [v for v in others if v is not None]
    best = _median(results, "tuning", "diffexp_best_value")
    return [
        _row(
            "tuning best value no worse",
            "tuning",
            "diffexp_best_value",
            best,
            min(others) if others else float("nan"),
            False,
            "against the better of sequential and batched (medians over seeds)",
        ),
        _at_least(
            results,
            "tuning vs sequential",
            "tuning",
            "speedup_vs_sequential",
            float(targets.tuning_vs_sequential),
        ),
        _at_least(
            results,
            "tuning vs batched",
            "tuning",
            "speedup_vs_batched",
            float(targets.tuning_vs_batched),
        ),
        _at_least(
            results,
            "time to quality vs best peer",
            "tuning",
            "time_to_quality_vs_best_peer",
            float(targets.time_to_quality),
            _quality_note(results),
        ),
    ]


def _quality_note(results: dict) -> str:
    """Which peer reached the bar soonest (median seconds), so a win by a peer is stated."""
    times = {
        peer: _median(results, "tuning", f"{peer}_time_to_quality_seconds")
        for peer in ("sequential", "threads", "batched", "diffexp")
    }
    reached = {peer: t for peer, t in times.items() if t is not None}
    if not reached:
        return "no peer reached the quality bar"
    parts = [f"{peer} {t:.0f} s" for peer, t in sorted(reached.items(), key=lambda kv: kv[1])]
    return "median time to the 1% bar: " + ", ".join(parts)


def _overhead(results: dict, targets: DictConfig) -> list[dict]:
    profile = results.get("overhead", {}).get("details", {}).get("profile")
    measured = _median(results, "overhead", "outside_training_share")
    imports = _median(results, "overhead", "start_and_import_share")
    note = f"of which Python start and imports {imports:.0%} of the wall time" if imports else ""
    in_pool = _median(results, "tuning", "diffexp_trial_outside_training_share")
    if in_pool is not None:
        note += f"; a phase-1 trial in a warm pool worker: {in_pool:.0%}"
    verdict = None
    if profile != "default":
        verdict, note = NOT_JUDGED, f"the target is for the default profile; this was {profile}"
    return [
        _row(
            "time outside training",
            "overhead",
            "outside_training_share",
            measured,
            float(targets.overhead_share),
            False,
            note,
            verdict,
        )
    ]


def _warm_trial(results: dict, targets: DictConfig) -> list[dict]:
    before = _median(results, "warm_trial", "before_outside_share")
    parts = ("data", "model_build", "compile", "writes")
    shares = {p: _median(results, "warm_trial", f"after_{p}_share") for p in parts}
    note = f"before (compiled per trial): {before:.0%}" if before is not None else ""
    if all(v is not None for v in shares.values()):
        note += "; after, by part: " + ", ".join(f"{p} {v:.0%}" for p, v in shares.items())
    return [
        _row(
            "warm-worker trial outside its epochs",
            "warm_trial",
            "after_outside_share",
            _median(results, "warm_trial", "after_outside_share"),
            float(targets.warm_trial_share),
            False,
            note,
        )
    ]


def _replay(results: dict, targets: DictConfig) -> list[dict]:
    note = results.get("replay", {}).get("details", {}).get("note", "")
    return [
        _at_least(
            results,
            "replay: default vs best peer policy (2 workers)",
            "replay",
            "vs_best_peer_at_2_workers",
            float(targets.replay_vs_best_peer),
            note,
        ),
        _at_least(
            results,
            "replay: default vs official batches (64 workers)",
            "replay",
            "vs_official_batches_at_64_workers",
            float(targets.replay_vs_batches),
            note,
        ),
    ]


def _streaming(results: dict, targets: DictConfig) -> list[dict]:
    details = results.get("streaming", {}).get("details", {})
    note = (
        f"{details.get('events')} events ({details.get('file_gb')} GB) streamed, "
        f"{details.get('in_memory_events')} in memory, batch {details.get('batch_size')}"
    )
    if details and not details.get("streamed_whole_epoch"):
        note += f"; {details.get('streamed_steps')} steps streamed, not a whole epoch"
    return [
        _row(
            "streamed epoch peak memory",
            "streaming",
            "streamed_peak_rss_gb",
            _median(results, "streaming", "streamed_peak_rss_gb"),
            float(targets.streaming_peak_rss_gb),
            False,
            note,
        ),
        _at_least(
            results,
            "streamed vs in-memory throughput",
            "streaming",
            "streamed_vs_in_memory",
            float(targets.streaming_throughput_ratio),
            note,
        ),
    ]


JUDGES: dict[str, Callable[[dict, DictConfig], list[dict]]] = {
    "validation": _validation,
    "throughput": _throughput,
    "tuning": _tuning,
    "overhead": _overhead,
    "warm_trial": _warm_trial,
    "replay": _replay,
    "streaming": _streaming,
}


def judge(results: dict, targets: DictConfig) -> list[dict]:
    """Every target of the sections that ran; sections with an error are judged n/a."""
    rows = []
    for section, judge_section in JUDGES.items():
        if section not in results:
            continue
        for row in judge_section(results, targets):
            if "error" in results[section]:
                row["verdict"], row["note"] = NOT_JUDGED, results[section]["error"]
            rows.append(row)
    return rows
