"""Caches validated on load (issue 22, item 7): a simulated-data cache that is empty, all-NaN,
edited or of the wrong shape is deleted and rebuilt with one warning; the reconstruction
cache's JSON is schema-checked (a `null` is fitted again, never an AttributeError)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from diffexp.data.loading import cached_simulation, simulation_cache_key
from diffexp.verification.reconstruction import load_reconstruction

N_EVENTS = 40


@pytest.fixture
def data_cfg(make_config):
    return make_config([f"data.n_events={N_EVENTS}"]).data


def _cache_file(data_cfg, cache_dir):
    return cache_dir / f"simulated_{simulation_cache_key(data_cfg)}.npz"


def _damage(path, kind: str) -> None:
    if kind == "empty file":
        path.write_bytes(b"")
        return
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    if kind == "all NaN":
        arrays["charges"] = np.full_like(arrays["charges"], np.nan)
    elif kind == "edited charge":  # plausible values, but not those written: the checksum
        arrays["charges"][3, 5] += 7.0
    elif kind == "too few events":
        arrays["charges"], arrays["conditions"] = arrays["charges"][:-1], arrays["conditions"][:-1]
    elif kind == "integer charges":
        arrays["charges"] = arrays["charges"].astype(np.int64)
    elif kind == "meta is null":
        arrays["meta"] = np.array("null")
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("empty file", "unreadable"),
        ("all NaN", "non-finite charges"),
        ("edited charge", "checksum mismatch"),
        ("too few events", f"{N_EVENTS - 1} events"),
        ("integer charges", "dtype int64"),
        ("meta is null", "unreadable"),
    ],
)
def test_a_bad_simulation_cache_is_deleted_and_rebuilt_with_one_warning(
    data_cfg, tmp_path, caplog, kind, reason
):
    fresh = cached_simulation(data_cfg, tmp_path)
    path = _cache_file(data_cfg, tmp_path)
    _damage(path, kind)
    with caplog.at_level(logging.WARNING, logger="diffexp.data.loading"):
        events = cached_simulation(data_cfg, tmp_path)
    np.testing.assert_array_equal(events.charges, fresh.charges)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and str(path) in warnings[0] and reason in warnings[0], warnings
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="diffexp.data.loading"):
        again = cached_simulation(data_cfg, tmp_path)  # the rebuilt cache is good
    assert caplog.records == []
    np.testing.assert_array_equal(again.charges, fresh.charges)


def test_a_good_cache_is_read_not_simulated_again(data_cfg, tmp_path, monkeypatch):
    first = cached_simulation(data_cfg, tmp_path)
    monkeypatch.setattr(
        "diffexp.data.loading.simulate_events",
        lambda *a: pytest.fail("simulated again although the cache is good"),
    )
    np.testing.assert_array_equal(cached_simulation(data_cfg, tmp_path).charges, first.charges)


@pytest.mark.parametrize(
    "description",
    [
        None,
        [],
        "text",
        {"version": 1},
        {"version": 1, "alpha": "1", "energy_index": 3, "n_samples_seen": 10},
        {"version": 1, "alpha": 1.0, "energy_index": True, "n_samples_seen": 10},
    ],
)
def test_a_reconstruction_cache_json_off_its_schema_is_fitted_again(tmp_path, description):
    assert load_reconstruction(_reconstruction_cache(tmp_path, description)) is None


def test_a_reconstruction_cache_on_its_schema_is_read(tmp_path):
    description = {"version": 1, "alpha": 1.0, "energy_index": 3, "n_samples_seen": 10}
    assert load_reconstruction(_reconstruction_cache(tmp_path, description)).energy_index == 3


def _reconstruction_cache(folder, description):
    """A reconstruction cache of consistent arrays (3 inputs, 4 outputs) and `description`."""
    cache_file = folder / "reconstruction_x.json"
    cache_file.write_text(json.dumps(description))
    arrays = {n: np.ones(3) for n in ("mean", "scale", "var", "intercept", "pmt_ids")}
    np.savez(cache_file.with_suffix(".npz"), coef=np.ones((4, 3)), **arrays)
    return cache_file
