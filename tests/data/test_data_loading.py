"""load_events: the simulation cache, .npz validation, and PMT selection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import diffexp.data.loading as loading
from diffexp.data import DataError, EventSet, load_events, simulate_events


def test_simulated_events_are_cached_once_and_reloaded(sim_cfg, tmp_path, monkeypatch) -> None:
    first = load_events(sim_cfg, tmp_path)
    cache_files = list(tmp_path.glob("simulated_*.npz"))
    assert len(cache_files) == 1
    written_at = cache_files[0].stat().st_mtime_ns

    def no_simulation(*args, **kwargs):
        raise AssertionError("the second call must read the cache")

    monkeypatch.setattr(loading, "simulate_events", no_simulation)
    sim_cfg.val_fraction = 0.3  # does not change the events: same cache file
    again = load_events(sim_cfg, tmp_path)
    np.testing.assert_array_equal(first.charges, again.charges)
    np.testing.assert_array_equal(first.conditions, again.conditions)
    assert again.condition_names == ("x_m", "y_m", "z_m", "energy_mev")
    assert list(tmp_path.glob("simulated_*.npz")) == cache_files
    assert cache_files[0].stat().st_mtime_ns == written_at
    assert not list(tmp_path.glob("*.tmp"))


def test_cache_matches_direct_simulation_and_is_keyed_by_config(sim_cfg, tmp_path) -> None:
    cached = load_events(sim_cfg, tmp_path)
    direct = simulate_events(sim_cfg, sim_cfg.n_events, sim_cfg.seed)
    np.testing.assert_array_equal(cached.charges, direct.charges)
    sim_cfg.seed = 8
    load_events(sim_cfg, tmp_path)
    sim_cfg.physics.dark_noise_pe = 0.1
    load_events(sim_cfg, tmp_path)
    assert len(list(tmp_path.glob("simulated_*.npz"))) == 3


def test_no_cache_dir_simulates_without_writing(sim_cfg, tmp_path) -> None:
    events = load_events(sim_cfg, None)
    assert events.n_events == sim_cfg.n_events
    assert not list(tmp_path.iterdir())


def test_unknown_source(sim_cfg) -> None:
    sim_cfg.source = "parquet"
    with pytest.raises(DataError, match="data.source='parquet' is unknown"):
        load_events(sim_cfg, None)


# ---- .npz ------------------------------------------------------------------------------

N, N_PMT = 20, 6


def _good_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "charges": rng.exponential(3.0, (N, N_PMT)).astype(np.float32),
        "conditions": rng.normal(size=(N, 2)),
    }


def test_npz_loads_valid_events(write_npz) -> None:
    arrays = _good_arrays()
    events = load_events(write_npz(**arrays), None)
    assert isinstance(events, EventSet)
    assert (events.n_events, events.n_pmt, events.n_conditions) == (N, N_PMT, 2)
    assert events.condition_names == ("c0", "c1")
    assert events.conditions.dtype == np.float32
    np.testing.assert_allclose(events.charges, arrays["charges"])


def test_npz_condition_names_from_file_and_config(write_npz) -> None:
    cfg = write_npz(**_good_arrays(), condition_names=np.array(["r_m", "energy_mev"]))
    assert load_events(cfg, None).condition_names == ("r_m", "energy_mev")
    cfg.condition_names = ["a", "b"]
    assert load_events(cfg, None).condition_names == ("a", "b")
    cfg.condition_names = ["a"]
    with pytest.raises(DataError, match="1 names for 2 conditions"):
        load_events(cfg, None)


def test_npz_custom_keys(write_npz) -> None:
    arrays = _good_arrays()
    cfg = write_npz(q=arrays["charges"], cond=arrays["conditions"])
    cfg.charges_key, cfg.conditions_key = "q", "cond"
    assert load_events(cfg, None).n_pmt == N_PMT


def _with(**changes: np.ndarray) -> dict[str, np.ndarray]:
    arrays = _good_arrays()
    arrays.update(changes)
    return {key: value for key, value in arrays.items() if value is not None}


def _nan_charges() -> np.ndarray:
    charges = _good_arrays()["charges"]
    charges[3, 2] = np.nan
    return charges


def _inf_conditions() -> np.ndarray:
    conditions = _good_arrays()["conditions"]
    conditions[0, 1] = np.inf
    return conditions


def _negative_charges() -> np.ndarray:
    charges = _good_arrays()["charges"]
    charges[1, 1] = -0.5
    return charges


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (_with(charges=None), r"no array 'charges' \(arrays present: \['conditions'\]\)"),
        (_with(conditions=None), r"no array 'conditions' \(arrays present: \['charges'\]\)"),
        (_with(charges=np.ones(N)), r"charges \('charges'\) has shape \(20,\); it must be 2-D"),
        (_with(conditions=np.ones((N, 2, 1))), r"conditions \('conditions'\) has shape"),
        (_with(conditions=np.ones((N - 1, 2))), "20 events in 'charges' but 19 in 'conditions'"),
        (_with(charges=_nan_charges()), r"charges \('charges'\) has 1 NaN/inf values"),
        (_with(conditions=_inf_conditions()), r"conditions \('conditions'\) has 1 NaN/inf"),
        (_with(charges=_negative_charges()), "1 negative charges in 'charges'"),
        (_with(charges=np.zeros((0, N_PMT))), r"charges \('charges'\) is empty"),
        (_with(conditions=np.zeros((N, 0))), r"conditions \('conditions'\) is empty"),
        (_with(charges=np.array([["a"] * N_PMT] * N)), "must hold real numbers"),
    ],
)
def test_npz_errors_name_the_problem(write_npz, arrays, message) -> None:
    with pytest.raises(DataError, match=message):
        load_events(write_npz(**arrays), None)


def test_npz_missing_file(data_conf, tmp_path) -> None:
    cfg = data_conf("npz", path=str(tmp_path / "nope.npz"))
    with pytest.raises(DataError, match=r"data.path=.*nope.npz: file not found"):
        load_events(cfg, None)


def test_npz_unreadable_file(data_conf, tmp_path) -> None:
    path = tmp_path / "broken.npz"
    path.write_text("not a zip")
    with pytest.raises(DataError, match="not a readable .npz file"):
        load_events(data_conf("npz", path=str(path)), None)


def test_npz_path_is_required(data_conf) -> None:
    with pytest.raises(DataError, match=r"data.path is required.*data.path="):
        load_events(data_conf("npz"), None)


# ---- PMT selection -----------------------------------------------------------------------


def _ranking_file(tmp_path: Path, content: object) -> str:
    path = tmp_path / "ranking.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_pmt_selection_keeps_the_ranked_columns(write_npz, tmp_path) -> None:
    arrays = _good_arrays()
    cfg = write_npz(**arrays)
    cfg.pmt_selection = _ranking_file(tmp_path, {"ranking": [4, 0, 5, 2]})
    cfg.n_pmts_kept = 3
    events = load_events(cfg, None)
    np.testing.assert_array_equal(events.pmt_ids, [0, 4, 5])
    np.testing.assert_allclose(events.charges, arrays["charges"][:, [0, 4, 5]])
    cfg.n_pmts_kept = None  # all ranked PMTs
    np.testing.assert_array_equal(load_events(cfg, None).pmt_ids, [0, 2, 4, 5])


def test_pmt_selection_on_simulated_events_uses_the_cache(sim_cfg, tmp_path) -> None:
    full = load_events(sim_cfg, tmp_path / "cache")
    sim_cfg.pmt_selection = _ranking_file(tmp_path, {"ranking": [100, 3, 64]})
    sim_cfg.n_pmts_kept = 2
    kept = load_events(sim_cfg, tmp_path / "cache")
    np.testing.assert_array_equal(kept.charges, full.charges[:, [3, 100]])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


@pytest.mark.parametrize(
    ("content", "n_kept", "message"),
    [
        (None, None, "file not found"),
        ("{not json", None, r'expected JSON \{"ranking"'),
        ({"order": [1]}, None, r'expected JSON \{"ranking"'),
        ({"ranking": [1, "2"]}, None, "must be a list of integers"),
        ({"ranking": []}, None, "'ranking' is empty"),
        ({"ranking": [1, 1]}, None, "more than once"),
        ({"ranking": [1, 6]}, None, r"PMT index 6 is outside 0..5"),
        ({"ranking": [1, 2]}, 3, r"data.n_pmts_kept=3 must be an integer between 1 and 2"),
        ({"ranking": [1, 2]}, 0, r"data.n_pmts_kept=0 must be"),
    ],
)
def test_pmt_selection_errors(write_npz, tmp_path, content, n_kept, message) -> None:
    cfg = write_npz(**_good_arrays())
    path = tmp_path / "missing.json" if content is None else _ranking_file(tmp_path, content)
    cfg.pmt_selection = str(path)
    cfg.n_pmts_kept = n_kept
    with pytest.raises(DataError, match=message):
        load_events(cfg, None)


def test_n_pmts_kept_needs_a_selection(write_npz) -> None:
    cfg = write_npz(**_good_arrays())
    cfg.n_pmts_kept = 2
    with pytest.raises(DataError, match="data.n_pmts_kept=2 needs data.pmt_selection"):
        load_events(cfg, None)


def test_corrupt_cache_is_simulated_again(sim_cfg, tmp_path) -> None:
    events = load_events(sim_cfg, tmp_path)
    (cache_file,) = tmp_path.glob("simulated_*.npz")
    cache_file.write_bytes(b"truncated")
    again = load_events(sim_cfg, tmp_path)
    np.testing.assert_array_equal(again.charges, events.charges)
    assert cache_file.stat().st_size > 1000


def test_unresolved_interpolation_is_a_data_error(data_conf) -> None:
    cfg = data_conf("simulated")
    cfg.seed = "${seed}"  # a data node used outside the composed config
    with pytest.raises(DataError, match="data.seed: cannot resolve"):
        load_events(cfg, None)


def test_cache_key_ignores_split_and_selection_keys_and_number_spelling(sim_cfg) -> None:
    from diffexp.data import simulation_cache_key

    key = simulation_cache_key(sim_cfg)
    sim_cfg.val_fraction, sim_cfg.pmt_selection, sim_cfg.n_pmts_kept = 0.5, "r.json", 3
    sim_cfg.energy_min_mev = 1  # int spelling of the default 1.0
    assert simulation_cache_key(sim_cfg) == key
    sim_cfg.energy_min_mev = 2.0
    assert simulation_cache_key(sim_cfg) != key


def test_npz_path_to_a_single_npy_array(data_conf, tmp_path) -> None:
    path = tmp_path / "charges.npy"
    np.save(path, np.ones((3, 2)))
    with pytest.raises(DataError, match="a single array, not an .npz"):
        load_events(data_conf("npz", path=str(path)), None)
