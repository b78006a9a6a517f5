"""`python -m benchmarks bench.size=smoke` runs every section and writes every key with
sane, self-consistent values. No timing is asserted: these machines are shared."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from benchmarks import report

SECTION_FIGURES = {
    "validation": {
        "naive_validate_seconds",
        "fast_validate_seconds",
        "speedup",
        "fast_abs_error",
        "naive_abs_error",
        "one_draw_error_uniform_t",
        "one_draw_error_stratified_t",
        "fast_spearman",
        "naive_spearman",
        "naive_noise",
        "close_pairs",
        "fast_close_concordance",
        "naive_close_concordance",
    },
    "throughput": {
        "diffexp_samples_per_second",
        "fit_samples_per_second",
        "eager_samples_per_second",
        "vs_fit",
        "vs_fit_fair",
        "fit_fair_samples_per_second",
        "fit_fair_xla_samples_per_second",
        "xla_vs_fit_fair_xla",
        "vs_eager",
        "diffexp_gflops",
        "matmul_gflops",
        "matmul_fraction",
        "diffexp_xla_samples_per_second",
        "xla_vs_default",
        "xla_matmul_fraction",
    },
    "accumulation": {
        "accumulated_samples_per_second",
        "single_samples_per_second",
        "throughput_ratio",
    },
    "precision": {
        "float32_samples_per_second",
        "mixed_bfloat16_samples_per_second",
        "mixed_bfloat16_vs_float32",
    },
    "sampling": {
        "ddim_events_per_second",
        "ddpm_events_per_second",
        "eager_model_call_ms",
        "compiled_model_call_ms",
    },
    "overhead": {
        "process_wall_seconds",
        "training_seconds",
        "validation_seconds",
        "first_epoch_excess_seconds",
        "outside_training_share",
        "start_and_import_share",
        "validation_share",
    },
    "warm_trial": {
        f"{variant}_{part}_share"
        for variant in ("before", "after")
        for part in ("outside", "data", "model_build", "compile", "writes")
    },
}
TARGETS = {
    "validation speed-up vs naive",
    "validation error <= naive error",
    "close-checkpoint ranking (pair concordance)",
    "train loop vs fair keras fit",
    "train loop vs keras fit (1 step a call)",
    "train step vs eager loop",
    "share of the matmul rate",
    "tuning best value no worse",
    "tuning vs sequential",
    "tuning vs batched",
    "time to quality vs best peer",
    "time outside training",
    "warm-worker trial outside its epochs",
    "replay: default vs best peer policy (2 workers)",
    "replay: default vs official batches (64 workers)",
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    from benchmarks.__main__ import main

    out = tmp_path_factory.mktemp("bench")
    code = main(
        ["bench.size=smoke", f"bench.output_dir={out}", f"paths.output_dir={out / 'outputs'}"]
    )
    (folder,) = out.glob("20*")
    return code, json.loads((folder / report.JSON_FILE).read_text()), folder


@pytest.mark.slow
def test_every_section_writes_every_key(smoke):
    code, results, folder = smoke
    assert code == 0
    assert list(results["sections"]) == [
        "validation",
        "throughput",
        "accumulation",
        "precision",
        "sampling",
        "tuning",
        "overhead",
        "warm_trial",
        "replay",
    ]
    for section, names in SECTION_FIGURES.items():
        body = results["sections"][section]
        assert "error" not in body, body.get("error")
        assert names <= body["figures"].keys(), section
        for fig in body["figures"].values():
            assert isinstance(fig["median"], float) and fig["repeats"] >= 1
            assert fig["min"] <= fig["median"] <= fig["max"]
    tuning = results["sections"]["tuning"]
    assert isinstance(tuning["available"], bool)
    assert tuning["available"] or tuning["reason"]
    assert results["machine"]["cores"] >= 1 and results["machine"]["cpu"]
    assert "keras" in results["package_versions"]
    assert {row["target"] for row in results["targets"]} == TARGETS
    assert {row["verdict"] for row in results["targets"]} <= {"PASS", "MISSED", "n/a"}
    text = (folder / report.MARKDOWN_FILE).read_text()
    assert text.count("\n| ") >= 30 and "## Targets" in text


@pytest.mark.slow
def test_the_peer_comparison_plots_and_tabulates_all_four_peers(smoke):
    _, results, folder = smoke
    tuning = results["sections"]["tuning"]
    assert tuning["details"]["peers"] == ["sequential", "threads", "batched", "diffexp"]
    assert (folder / "time_to_quality.png").stat().st_size > 0
    for peer in tuning["details"]["peers"]:
        assert f"{peer}_trials_finished" in tuning["figures"]
        assert f"{peer}_reached_quality" in tuning["figures"]
        assert f"| tuning | {peer}_trials_finished |" in (folder / report.MARKDOWN_FILE).read_text()
    for run in tuning["details"]["runs"]:
        quality = run["quality"]
        best = min(v for peer in tuning["details"]["peers"] for _, v in run[peer]["timeline"])
        assert quality["bar"] == pytest.approx(best * 1.01)
        assert any(t is not None for t in quality["time_to_quality_seconds"].values())
    # by default the other peers search with their tool's TPE, diffexp with phase 1's
    assert tuning["details"]["peer_samplers"] == "shipped"
    seed_dir = folder / "tuning" / f"seed_{tuning['details']['runs'][0]['seed']}"
    for mode, startup in {"sequential": 10, "batched": 10, "diffexp": 2}.items():
        hydra_file = next((seed_dir / f"{mode}_sweep").glob("*/.hydra/hydra.yaml"))
        sampler = OmegaConf.load(hydra_file).hydra.sweeper.sampler
        assert sampler.n_startup_trials == startup, mode


@pytest.mark.slow
def test_rates_are_positive_and_ratios_match_their_parts(smoke):
    _, results, _ = smoke
    sections = results["sections"]
    for body in sections.values():
        for name, fig in body.get("figures", {}).items():
            if fig["unit"] in ("samples/s", "events/s", "GFLOP/s", "x", "s", "ms") and (
                "excess" not in name and name != "time_to_quality_vs_best_peer"
            ):
                assert fig["min"] > 0, name

    throughput = sections["throughput"]["figures"]
    details = sections["throughput"]["details"]
    assert throughput["diffexp_gflops"]["median"] == pytest.approx(
        throughput["diffexp_samples_per_second"]["median"] * details["train_gflop_per_sample"]
    )
    fit, eager = throughput["fit_samples_per_second"], throughput["eager_samples_per_second"]
    ours = throughput["diffexp_samples_per_second"]
    assert throughput["vs_fit"]["min"] > 0
    assert ours["min"] / fit["max"] <= throughput["vs_fit"]["median"] <= ours["max"] / fit["min"]
    assert (
        ours["min"] / eager["max"]
        <= throughput["vs_eager"]["median"]
        <= (ours["max"] / eager["min"])
    )

    validation = sections["validation"]
    figures = validation["figures"]
    assert (
        figures["naive_validate_seconds"]["min"] / figures["fast_validate_seconds"]["max"]
        <= (figures["speedup"]["median"])
    )
    assert -1 <= figures["fast_spearman"]["median"] <= 1
    assert figures["fast_abs_error"]["min"] >= 0 and figures["naive_abs_error"]["min"] >= 0
    losses = validation["details"]
    assert len(losses["reference_losses"]) == 6
    assert all(0 < v < 10 for v in losses["reference_losses"] + losses["fast_losses"])

    overhead = sections["overhead"]["figures"]
    share = overhead["outside_training_share"]["median"]
    assert overhead["validation_seconds"]["max"] <= overhead["training_seconds"]["max"]
    assert 0 < share < 1
    assert overhead["training_seconds"]["max"] <= overhead["process_wall_seconds"]["max"]
    assert sections["accumulation"]["details"]["micro_batch_size"] * 4 == 128
