"""verify_run end to end on a tiny untrained denoiser (fast: the lead's loader is bypassed
by handing the run in already loaded; the slow test in test_verify_cli.py trains one)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from diffexp.data import EventTransform, apply_pmt_selection, load_events, simulate_events
from diffexp.verification.score import COMPONENTS
from tests.conftest import CONF_DIR, compose_config

PLOTS = {
    "pmt_charge_distributions": "pmt_charge_distributions.png",
    "total_charge_vs_energy": "total_charge_vs_energy.png",
    "low_charge_spectrum": "low_charge_spectrum.png",
    "pulls_per_pmt": "pulls_per_pmt.png",
    "hit_maps": "hit_maps.png",
    "score_components": "score_components.png",
}


def verify_config(run_dir, cache_dir, *overrides):
    with initialize_config_dir(str(CONF_DIR)):
        return compose(
            config_name="verify",
            overrides=[
                f"run={run_dir}",
                f"paths.cache_dir={cache_dir}",
                "n_events=120",
                "steps=4",
                "reconstruction.n_train_events=1500",
                "hit_map_draws=4",
                *overrides,
            ],
        )


def tiny_run(tmp_path, overrides=()):
    """A LoadedRun-like bundle: the smoke config, an untrained small denoiser."""
    from diffexp.models import NoiseSchedule, build_denoiser
    from diffexp.training.preparation import model_prior

    cfg = compose_config(
        tmp_path, ["model.hidden_dim=16", "model.n_layers=1", "diffusion.n_steps=20", *overrides]
    )
    if cfg.data.source == "simulated":
        events = apply_pmt_selection(simulate_events(cfg.data, 200, seed=5), cfg.data)
    else:
        events = load_events(cfg.data, cache_dir=None)
    transform = EventTransform.fit(events)
    prior = model_prior(cfg, transform, events)
    model = build_denoiser(cfg.model, events.n_pmt, events.n_conditions, prior)
    schedule = NoiseSchedule.from_config(cfg.diffusion)
    return SimpleNamespace(
        cfg=cfg, model=model, schedule=schedule, transform=transform, run_dir=tmp_path
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("run"))


def test_verify_run_writes_every_key_and_plot(tmp_path, loaded):
    from diffexp.verification.pipeline import verify_run

    cfg = verify_config(tmp_path, tmp_path / "cache", "visualize=true")
    result = verify_run(cfg, loaded)
    written = json.loads((tmp_path / "verification.json").read_text())
    assert written["score"] == pytest.approx(result["score"])
    assert 0.0 <= written["score"] <= 1.0
    assert set(COMPONENTS) == set(written["components"])
    for component in written["components"].values():
        assert component["skipped"] is None
        for metric in component["metrics"].values():
            assert {"raw", "floor", "floor_noise", "bad", "score"} == set(metric)
    auc = written["classifier_auc"]
    assert auc == written["components"]["classifier"]["metrics"]["classifier_auc"]["raw"]
    spread, floor = written["classifier_auc_std"], written["classifier_floor_auc"]
    assert written["headline"] == (
        f"physics score {result['score']:.2f} (classifier AUC {auc:.2f} ± {spread:.2f}, "
        f"floor {floor:.2f})"
    )
    assert auc == pytest.approx(np.mean(written["classifier_aucs"]))
    assert written["sample_sizes"] == {
        "generated": 120,
        "reference": 120,
        "floor": 120,
        "bad_reference": 120,
        "training": round(0.9 * loaded.cfg.data.n_events),  # the run's training split
    }
    assert (written["sampler"], written["steps"], written["eta"]) == ("ddim", 4, 0.8)
    # the simulated detector's readout (conf/data/simulated.yaml), at its threshold
    assert written["readout"] == {
        "resolve_pe_below": 5.0,
        "spe_resolution": 0.3,
        "threshold_pe": 0.3,
        "count_prior": "expectation",  # Poisson of the simulator's mean per PMT
    }
    assert written["generation"]["events"] == 120
    assert written["generation"]["events_per_second"] > 0
    assert written["plots"] == PLOTS
    for name in PLOTS.values():
        assert (tmp_path / name).stat().st_size > 5_000
    # the fixed reconstruction was cached for the next verification
    assert len(list((tmp_path / "cache").glob("reconstruction_*.npz"))) == 1
    assert len(list((tmp_path / "cache").glob("reconstruction_*.json"))) == 1


def test_an_untrained_model_scores_far_below_the_floor(tmp_path, loaded):
    from diffexp.verification.pipeline import verify_run

    result = verify_run(verify_config(tmp_path, tmp_path / "cache"), loaded)
    assert result["score"] < 0.5
    assert "plots" not in result


def test_ddpm_walks_the_whole_chain(tmp_path, loaded):
    from diffexp.verification.pipeline import verify_run

    result = verify_run(verify_config(tmp_path, tmp_path / "cache", "sampler=ddpm"), loaded)
    assert (result["sampler"], result["steps"], result["eta"]) == ("ddpm", 20, None)


def test_a_run_on_selected_pmts_is_verified_on_those_pmts(tmp_path):
    from diffexp.verification.pipeline import verify_run

    ranking = tmp_path / "ranking.json"
    ranking.write_text(json.dumps({"ranking": list(range(127, -1, -1))}))
    run = tiny_run(tmp_path, [f"data.pmt_selection={ranking}", "data.n_pmts_kept=40"])
    result = verify_run(verify_config(tmp_path, tmp_path / "cache"), run)
    assert result["components"]["closure"]["skipped"] is None
    assert np.isfinite(result["score"])


def test_weights_for_another_detector_are_refused(tmp_path, loaded):
    from diffexp.verification.pipeline import VerificationError, verify_run

    other = SimpleNamespace(**vars(loaded))
    other.cfg = compose_config(tmp_path, ["data.geometry.pmts_per_ring=8"])
    with pytest.raises(VerificationError, match="does not match its weights"):
        verify_run(verify_config(tmp_path, tmp_path / "cache"), other)


@pytest.mark.parametrize(
    ("override", "message"),
    [("sampler=euler", "sampler='euler' is unknown"), ("n_events=10", "n_events=10 is too few")],
)
def test_impossible_requests_are_refused(tmp_path, loaded, override, message):
    from diffexp.verification.pipeline import VerificationError, verify_run

    with pytest.raises(VerificationError, match=message):
        verify_run(verify_config(tmp_path, tmp_path / "cache", override), loaded)


def test_own_npz_data_runs_the_distribution_components_and_skips_the_rest(tmp_path):
    from diffexp.verification.pipeline import verify_run

    simulated = compose_config(tmp_path).data
    events = simulate_events(simulated, 1000, seed=8)
    path = tmp_path / "events.npz"
    np.savez(path, charges=events.charges, conditions=events.conditions)  # no condition names
    run = tiny_run(tmp_path, ["data=npz", f"data.path={path}", "data.val_fraction=0.3"])
    result = verify_run(verify_config(tmp_path, tmp_path / "cache", "visualize=true"), run)
    components = result["components"]
    assert "energy condition" in components["calorimetry"]["skipped"]
    assert "simulator" in components["closure"]["skipped"]
    for name in ("pmt_distributions", "classifier", "frechet"):
        assert components[name]["skipped"] is None and components[name]["score"] is not None
    assert components["memorisation"]["skipped"] is None  # the training split of the file
    assert result["sample_sizes"]["training"] == 700
    assert result["data_source"] == "npz"
    assert result["sample_sizes"]["reference"] == 120
    assert result["sample_note"] is None  # 300 held-out events: 120 each as asked
    assert result["expectation"] == "learned light model"  # pulls and chi2 without a simulator
    floor = result["classifier_floor_auc"]
    assert 0.3 < floor < 0.7 and f"floor {floor:.2f}" in result["headline"]
    assert set(result["plots"]) == {
        "pmt_charge_distributions",
        "low_charge_spectrum",
        "pulls_per_pmt",
        "score_components",
    }
    assert list((tmp_path / "cache").glob("light_model_*.json"))  # fitted on the training split


def test_sample_auc_is_the_headline_alone(tmp_path, loaded):
    from diffexp.verification.pipeline import sample_auc

    auc = sample_auc(loaded, n_events=120, steps=4, cache_dir=tmp_path / "cache")
    assert 0.9 < auc <= 1.0  # an untrained denoiser is told apart at once


def test_the_reconstruction_cache_is_arrays_and_json_never_a_pickle(tmp_path):
    """The cache round-trips to the same predictions; a pickle placed where a cache is looked
    for is never loaded (it would run code), the reconstruction is fitted again instead."""
    import pickle

    from diffexp.data import simulator_from_config
    from diffexp.verification.reconstruction import load_or_fit_reconstruction

    cfg = compose_config(tmp_path)
    simulator = simulator_from_config(cfg.data)
    pmt_ids = np.arange(len(simulator.geometry.positions))
    names = ("x", "y", "z", "energy")
    cache = tmp_path / "cache" / "reconstruction_key.joblib"
    marker = tmp_path / "marker"

    class Evil:
        def __reduce__(self):
            return (marker.write_text, ("ran",))

    cache.parent.mkdir()
    cache.write_bytes(pickle.dumps(Evil()))
    cache.with_suffix(".npz").write_bytes(pickle.dumps(Evil()))
    fitted = load_or_fit_reconstruction(simulator, pmt_ids, names, cache, 300, seed=1)
    assert not marker.exists()
    assert cache.with_suffix(".json").is_file()
    loaded = load_or_fit_reconstruction(simulator, pmt_ids, names, cache, 300, seed=2)
    events = simulator_events(simulator, pmt_ids, names)
    positions = simulator.geometry.positions[pmt_ids]
    np.testing.assert_array_equal(
        loaded.predict(events, positions), fitted.predict(events, positions)
    )


def simulator_events(simulator, pmt_ids, names):
    from diffexp.data import EventSet

    rng = np.random.default_rng(0)
    conditions = simulator.sample_conditions(50, rng)
    charges = simulator.simulate(conditions, rng)[:, pmt_ids]
    return EventSet(charges, conditions.astype(np.float32), names, pmt_ids)
