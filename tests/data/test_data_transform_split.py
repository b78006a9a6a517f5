"""EventTransform round trips and persists; train_val_split is seeded and disjoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffexp.data import DataError, EventSet, EventTransform, simulate_events, train_val_split


@pytest.fixture
def events(sim_cfg) -> EventSet:
    return simulate_events(sim_cfg, 400, seed=2)


def test_transform_round_trips(events) -> None:
    transform = EventTransform.fit(events)
    encoded = transform.encode_charges(events.charges)
    assert encoded.dtype == np.float32
    np.testing.assert_allclose(transform.decode_charges(encoded), events.charges, atol=1e-3)
    conditions = transform.encode_conditions(events.conditions)
    np.testing.assert_allclose(
        transform.decode_conditions(conditions), events.conditions, rtol=1e-5, atol=1e-5
    )


def test_encoded_values_are_standardised(events) -> None:
    transform = EventTransform.fit(events)
    charges, conditions = transform.encode(events)
    np.testing.assert_allclose(charges.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(charges.std(axis=0), 1.0, atol=1e-4)
    np.testing.assert_allclose(conditions.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(conditions.std(axis=0), 1.0, atol=1e-4)


def test_dead_pmt_uses_the_std_floor_and_decode_clips() -> None:
    charges = np.zeros((50, 3), np.float32)
    charges[:, 1] = np.arange(50)
    events = EventSet(charges, np.arange(50.0)[:, None], ("e",))
    transform = EventTransform.fit(events, min_std=0.01)
    assert transform.charge_std[0] == 0.01
    encoded = transform.encode_charges(charges)
    assert np.all(np.isfinite(encoded)) and np.all(encoded[:, 0] == 0)
    decoded = transform.decode_charges(np.full((2, 3), -50.0))
    assert np.all(decoded == 0.0)


def test_transform_save_load(events, tmp_path) -> None:
    transform = EventTransform.fit(events)
    path = transform.save(tmp_path / "run" / "data_transform.json")
    saved = json.loads(path.read_text())
    assert saved["condition_names"] == ["x_m", "y_m", "z_m", "energy_mev"]
    assert len(saved["charge_mean"]) == events.n_pmt
    restored = EventTransform.load(path)
    np.testing.assert_array_equal(
        restored.encode_charges(events.charges), transform.encode_charges(events.charges)
    )
    np.testing.assert_array_equal(
        restored.decode_charges(np.ones((2, events.n_pmt))),
        transform.decode_charges(np.ones((2, events.n_pmt))),
    )
    assert restored.condition_names == transform.condition_names


def test_split_is_disjoint_complete_and_seeded(events) -> None:
    train, val = train_val_split(events, 0.25, seed=4)
    assert (train.n_events, val.n_events) == (300, 100)
    rows = {tuple(row) for row in train.conditions}
    assert rows.isdisjoint({tuple(row) for row in val.conditions})
    joined = np.concatenate([train.conditions, val.conditions])
    assert len({tuple(row) for row in joined}) == events.n_events
    again_train, again_val = train_val_split(events, 0.25, seed=4)
    np.testing.assert_array_equal(again_val.charges, val.charges)
    np.testing.assert_array_equal(again_train.charges, train.charges)
    _, other_val = train_val_split(events, 0.25, seed=5)
    assert not np.array_equal(other_val.conditions, val.conditions)


@pytest.mark.parametrize(
    ("fraction", "message"),
    [
        (0.001, "leaves the validation set empty"),
        (0.999, "leaves the training set empty"),
        (0.0, "must be between 0 and 1"),
        (1.5, "must be between 0 and 1"),
    ],
)
def test_split_errors(events, fraction, message) -> None:
    with pytest.raises(DataError, match=message):
        train_val_split(events, fraction, seed=0)


def test_subset_keeps_names_and_pmt_ids(events) -> None:
    part = events.select_pmts(np.array([5, 7])).subset(np.array([0, 2]))
    assert part.condition_names == events.condition_names
    np.testing.assert_array_equal(part.pmt_ids, [5, 7])
    np.testing.assert_array_equal(part.charges, events.charges[[0, 2]][:, [5, 7]])
