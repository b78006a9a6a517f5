"""Verify one trained run: generate events for fresh conditions, score them against the
simulation, and write verification.json (and PNG plots) into the run folder."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_limits

from diffexp.errors import UserError
from diffexp.io_utils import atomic_write_json
from diffexp.verification import plots
from diffexp.verification.classifier import classifier_result
from diffexp.verification.features import energy_column
from diffexp.verification.generation import MAX_CHARGE_PE, SAMPLERS, Generated, generate
from diffexp.verification.metrics import MetricSettings
from diffexp.verification.reconstruction import load_or_fit_reconstruction, reconstruction_key
from diffexp.verification.samples import ReferenceSamples, reference_samples
from diffexp.verification.score import ScoreReport, physics_score

log = logging.getLogger("diffexp.verify")


class VerificationError(UserError, ValueError):
    """A verification request that cannot work; the message names the key or file."""


def _check_request(cfg: DictConfig) -> None:
    if cfg.sampler not in SAMPLERS:
        raise VerificationError(
            f"sampler={cfg.sampler!r} is unknown: use one of {', '.join(SAMPLERS)}"
        )
    if int(cfg.steps) < 1:
        raise VerificationError(f"steps={cfg.steps} must be a positive integer")
    if cfg.n_events is not None and int(cfg.n_events) < 40:
        raise VerificationError(f"n_events={cfg.n_events} is too few to score: use at least 40")


def _reconstruction(cfg: DictConfig, samples: ReferenceSamples, data_cfg: dict[str, Any]):
    if samples.simulator is None:
        return None
    settings = OmegaConf.to_container(cfg.reconstruction, resolve=True)
    key = reconstruction_key(data_cfg, samples.reference.pmt_ids, settings)
    cache_file = Path(cfg.paths.cache_dir) / f"reconstruction_{key}.npz"
    return load_or_fit_reconstruction(
        samples.simulator,
        samples.reference.pmt_ids,
        samples.reference.condition_names,
        cache_file,
        int(settings["n_train_events"]),
        int(settings["seed"]),
        float(settings["alpha"]),
    )


def _expected_pe(samples: ReferenceSamples, conditions: np.ndarray) -> np.ndarray | None:
    """The detector's expectation [N, n_pmt] of the generated columns, where there is one:
    the readout's count prior (diffexp.data.readout)."""
    if samples.expectation is None:
        return None
    return samples.expectation.expected_pe(conditions)[:, samples.reference.pmt_ids]


def _generate(
    cfg: DictConfig, loaded, samples: ReferenceSamples, conditions: np.ndarray
) -> Generated:
    return generate(
        loaded,
        conditions,
        samples.reference.condition_names,
        samples.reference.pmt_ids,
        sampler=cfg.sampler,
        steps=int(cfg.steps),
        eta=float(cfg.eta),
        seed=int(cfg.seed),
        batch_size=int(cfg.batch_size),
        hit_threshold_pe=samples.hit_threshold_pe,
        readout=bool(cfg.readout),
        expected_pe=_expected_pe(samples, conditions),
    )


def write_plots(
    cfg: DictConfig,
    loaded,
    samples: ReferenceSamples,
    generated: Generated,
    report: ScoreReport,
    run_dir: Path,
) -> dict[str, str]:
    """The verification plots; returns {plot: file name} (absent plots say why in the log)."""
    reference, events = samples.reference, generated.events
    written: dict[str, Path] = {}
    columns = np.unique(
        np.linspace(0, reference.n_pmt - 1, int(cfg.n_pmts_plotted)).round().astype(int)
    )
    written["pmt_charge_distributions"] = plots.pmt_charge_distributions(
        reference, events, columns, run_dir / "pmt_charge_distributions.png"
    )
    if energy_column(reference) is not None:
        written["total_charge_vs_energy"] = plots.total_charge_vs_energy(
            reference, events, run_dir / "total_charge_vs_energy.png"
        )
    written["low_charge_spectrum"] = plots.low_charge_spectrum(
        reference, events, run_dir / "low_charge_spectrum.png"
    )
    expected = _expected_pe(samples, reference.conditions)
    if expected is not None:  # the simulator's, or the learned light model's
        written["pulls_per_pmt"] = plots.pulls_per_pmt(
            reference, events, expected, run_dir / "pulls_per_pmt.png"
        )
    if samples.simulator is not None:
        condition = reference.conditions[:1]
        repeated = np.repeat(condition, int(cfg.hit_map_draws), axis=0)
        draws = _generate(cfg, loaded, samples, repeated).events.charges
        pmt_ids = reference.pmt_ids
        maps = {  # the simulator's mean first: it sets the colour scale
            "simulator mean": samples.simulator.expected_pe(condition)[0, pmt_ids],
            f"generated mean of {len(draws)}": draws.mean(axis=0),
            "simulated event": reference.charges[0],
            "generated event": events.charges[0],
        }
        text = ", ".join(
            f"{n}={v:.2f}" for n, v in zip(reference.condition_names, condition[0], strict=True)
        )
        written["hit_maps"] = plots.hit_maps(
            samples.simulator.geometry.unrolled_coordinates()[pmt_ids],
            maps,
            text,
            run_dir / "hit_maps.png",
        )
    else:
        log.info("hit maps skipped: a user's own data carry no detector geometry")
    written["score_components"] = plots.score_components(
        report.component_scores(), report.score, run_dir / "score_components.png"
    )
    return {name: path.name for name, path in written.items()}


def _expectation_kind(samples: ReferenceSamples) -> str:
    if samples.simulator is not None:
        return "simulator"
    return "learned light model" if samples.learned is not None else "none"


def verify_run(cfg: DictConfig, loaded=None) -> dict[str, Any]:
    """Verify the run at `cfg.run` (`loaded`: that run already loaded, a LoadedRun); returns
    what verification.json holds."""
    started = time.perf_counter()
    _check_request(cfg)
    run_dir = Path(cfg.run)
    if loaded is None:
        from diffexp.models.loading import load_run

        loaded = load_run(run_dir)
    n_events = int(cfg.n_events or loaded.cfg.profile.verify_events)
    data_cfg = OmegaConf.to_container(loaded.cfg.data, resolve=True)
    samples = reference_samples(loaded.cfg.data, cfg.paths.cache_dir, n_events, int(cfg.seed))
    if loaded.transform.n_pmt != samples.reference.n_pmt:
        raise VerificationError(
            f"{run_dir}: the model produces {loaded.transform.n_pmt} PMTs but its data config "
            f"gives {samples.reference.n_pmt}: the run's .hydra/config.yaml does not match "
            "its weights"
        )
    generated = _generate(cfg, loaded, samples, samples.reference.conditions)
    if generated.non_finite_charges:
        log.warning(
            "%d generated charges were NaN or inf (set to 0 or %g PE): the model diverges",
            generated.non_finite_charges,
            MAX_CHARGE_PE,
        )
    settings = MetricSettings(**OmegaConf.to_container(cfg.score, resolve=True))
    # The score is cheap single-threaded; OpenMP threads spinning on a busy machine are not.
    with threadpool_limits(limits=1):
        reconstruction = _reconstruction(cfg, samples, data_cfg)
        report = physics_score(
            generated.events,
            samples.reference,
            samples.floor,
            samples.pmt_positions,
            reconstruction,
            settings,
            samples.expectation,
            samples.training,
        )
    result: dict[str, Any] = {
        "run": str(run_dir),
        "score": report.score,
        "classifier_auc": report.classifier_auc,
        "classifier_auc_std": report.classifier_auc_std,
        "classifier_aucs": report.classifier_aucs,
        "classifier_floor_auc": report.classifier_floor_auc,
        "headline": report.headline(),
        "components": report.to_dict()["components"],
        "single_feature_aucs": report.single_feature_aucs,
        "sample_sizes": report.sample_sizes,
        "data_source": data_cfg.get("source"),
        "expectation": _expectation_kind(samples),
        "sample_note": samples.note,
        "sampler": cfg.sampler,
        "steps": int(cfg.steps) if cfg.sampler == "ddim" else int(loaded.schedule.n_steps),
        "eta": float(cfg.eta) if cfg.sampler == "ddim" else None,
        "seed": int(cfg.seed),
        "hit_threshold_pe": samples.hit_threshold_pe,
        "readout": None
        if generated.readout is None
        else {**asdict(generated.readout), "count_prior": generated.readout_count_prior},
        "generation": {
            "events": generated.events.n_events,
            "seconds": generated.seconds,
            "events_per_second": generated.events_per_second,
            "non_finite_charges": generated.non_finite_charges,
        },
    }
    if cfg.visualize:
        result["plots"] = write_plots(cfg, loaded, samples, generated, report, run_dir)
    result["verification_seconds"] = time.perf_counter() - started
    atomic_write_json(run_dir / cfg.output_file, result)
    return result


@dataclass(frozen=True)
class SampleQuality:
    """The headline classifier of one generation setting, with what the generation cost."""

    auc: float
    auc_std: float  # spread over the classifier's seeds
    generation_seconds: float
    events: int


def sample_quality(
    loaded,
    n_events: int = 600,
    sampler: str = "ddim",
    steps: int = 100,
    eta: float = 0.3,
    seed: int = 777,
    cache_dir: str | Path | None = None,
    settings: MetricSettings | None = None,
) -> SampleQuality:
    """The headline classifier AUC of a trained run alone (no plots, no score): events
    generated for `n_events` fresh conditions against a simulation of the same conditions (a
    user's own data: the held-out events), with the score's classifier, inputs and readout.
    `loaded` is a LoadedRun (or alike). Lower is better; 0.5 means indistinguishable."""
    samples = reference_samples(loaded.cfg.data, cache_dir, n_events, seed, with_training=False)
    reference = samples.reference
    generated = generate(
        loaded,
        reference.conditions,
        reference.condition_names,
        reference.pmt_ids,
        sampler=sampler,
        steps=steps,
        eta=eta,
        seed=seed,
        hit_threshold_pe=samples.hit_threshold_pe,
        expected_pe=_expected_pe(samples, reference.conditions),
    )
    settings = settings or MetricSettings()
    with threadpool_limits(limits=1):
        result = classifier_result(
            generated.events,
            reference,
            samples.pmt_positions,
            samples.expectation,
            settings.classifier(),
        )
    return SampleQuality(result.mean, result.std, generated.seconds, generated.events.n_events)


def sample_auc(
    loaded,
    n_events: int = 600,
    steps: int = 100,
    eta: float = 0.3,
    seed: int = 777,
    cache_dir: str | Path | None = None,
    settings: MetricSettings | None = None,
) -> float:
    """`sample_quality`'s AUC alone, by DDIM (`steps`, `eta`): the tuning objective
    `tuning.objective=sample_auc`.

    About 2 s for 600 events on one CPU core plus the generation: cheap enough for a
    tuning objective.
    """
    return sample_quality(loaded, n_events, "ddim", steps, eta, seed, cache_dir, settings).auc
