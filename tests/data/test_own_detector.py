"""A user's own detector: its geometry (in the events file, CSV or JSON), the condition
roles, the prior=geometry features it gives, and the HDF5 and ROOT readers, all on real
files written here from the simulator's events."""

from __future__ import annotations

import json

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from diffexp.data import DataError, EventTransform, build_geometry, load_events, simulate_events
from diffexp.data.user_geometry import load_user_geometry
from diffexp.models.detector_prior import DetectorPrior, prior_values
from tests.data.conftest import load_data_conf

# The user's file keeps the energy first: the roles, not the order, say what is what.
USER_ORDER = ("energy_mev", "x_m", "y_m", "z_m")
ROLES = {"vertex_conditions": ["x_m", "y_m", "z_m"], "energy_condition": "energy_mev"}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    cfg = load_data_conf("simulated")
    events = simulate_events(cfg, 300, seed=4)
    return cfg, events, build_geometry(cfg.geometry)


def _user_conditions(events) -> np.ndarray:
    columns = [events.condition_names.index(name) for name in USER_ORDER]
    return events.conditions[:, columns]


def _export_npz(path, simulated, **replace) -> str:
    _, events, geometry = simulated
    arrays = {
        "charges": events.charges,
        "conditions": _user_conditions(events),
        "condition_names": np.array(USER_ORDER),
        "pmt_positions": geometry.positions,
        "pmt_directions": geometry.normals * 2.5,  # not unit length: normalised on reading
        "pmt_areas": geometry.areas,
    }
    arrays.update(replace)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return str(path)


def _prior_features(cfg, events, mode="geometry") -> np.ndarray:
    transform = EventTransform.fit(events)
    layer = DetectorPrior(events.n_pmt, events.n_conditions, mode)
    layer.set_values(prior_values(cfg, transform, None, mode))
    return np.asarray(layer(transform.encode_conditions(events.conditions)))


def test_prior_geometry_on_own_data_equals_the_simulators(tmp_path, simulated):
    sim_cfg, events, _ = simulated
    cfg = load_data_conf("npz", path=_export_npz(tmp_path / "ev.npz", simulated), **ROLES)
    own = load_events(cfg, None)
    assert own.condition_names == USER_ORDER
    np.testing.assert_allclose(
        _prior_features(cfg, own), _prior_features(sim_cfg, events), rtol=1e-4, atol=1e-5
    )


def test_geometry_from_csv_and_json_files_equals_the_npz_arrays(tmp_path, simulated):
    _, _, geometry = simulated
    from_npz = load_user_geometry(
        load_data_conf("npz", path=_export_npz(tmp_path / "ev.npz", simulated))
    )
    rows = ["x,y,z,dir_x,dir_y,dir_z,area"] + [
        ",".join(f"{v:.17g}" for v in (*p, *n, a))
        for p, n, a in zip(geometry.positions, geometry.normals, geometry.areas, strict=True)
    ]
    (tmp_path / "pmts.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "pmts.json").write_text(
        json.dumps(
            {
                "pmt_positions": geometry.positions.tolist(),
                "pmt_directions": geometry.normals.tolist(),
                "pmt_areas": geometry.areas.tolist(),
            }
        )
    )
    for name in ("pmts.csv", "pmts.json"):
        cfg = load_data_conf("npz", path="unused.npz", geometry_file=str(tmp_path / name))
        loaded = load_user_geometry(cfg)
        for field in ("positions", "normals", "areas"):
            np.testing.assert_allclose(getattr(loaded, field), getattr(from_npz, field))


def test_geometry_absent_means_none_and_prior_geometry_says_what_to_give(tmp_path, simulated):
    _, events, _ = simulated
    path = _export_npz(tmp_path / "ev.npz", simulated, pmt_positions=None, pmt_directions=None)
    cfg = load_data_conf("npz", path=path, **ROLES)
    assert load_user_geometry(cfg) is None
    with pytest.raises(DataError, match="model.prior=geometry needs a PMT geometry"):
        _prior_features(cfg, load_events(cfg, None))
    with pytest.raises(DataError, match="model.prior=expectation needs the simulator"):
        _prior_features(cfg, load_events(cfg, None), mode="expectation")


@pytest.mark.parametrize(
    "replace,message",
    [
        ({"pmt_positions": np.zeros((128, 2))}, r"pmt_positions has shape \(128, 2\)"),
        ({"pmt_positions": np.full((128, 3), np.nan)}, "pmt_positions has NaN"),
        ({"pmt_directions": np.zeros((128, 3))}, "pmt_directions has 128 zero-length"),
        ({"pmt_directions": np.ones((127, 3))}, "pmt_directions has shape"),
        ({"pmt_areas": -np.ones(128)}, "pmt_areas must be 128 positive"),
        (
            {
                "pmt_positions": np.ones((100, 3)),
                "pmt_directions": np.ones((100, 3)),
                "pmt_areas": None,
            },
            "pmt_positions has 100 PMTs but the charges have 128 columns",
        ),
    ],
)
def test_bad_geometry_stops_with_one_line_naming_file_and_array(
    tmp_path, simulated, replace, message
):
    path = _export_npz(tmp_path / "ev.npz", simulated, **replace)
    with pytest.raises(DataError, match=message) as error:
        load_events(load_data_conf("npz", path=path), None)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "roles,message",
    [
        ({"vertex_conditions": ["x_m", "y_m", "depth"]}, "'depth' is not among the conditions"),
        ({"vertex_conditions": ["x_m", "y_m"]}, "must name 3 conditions"),
        ({"energy_condition": "E"}, "data.energy_condition='E' is not among"),
    ],
)
def test_bad_condition_roles_stop_before_training(tmp_path, simulated, roles, message):
    cfg = load_data_conf("npz", path=_export_npz(tmp_path / "ev.npz", simulated), **roles)
    with pytest.raises(DataError, match=message):
        load_events(cfg, None)


def test_bad_geometry_file_is_named(tmp_path, simulated):
    (tmp_path / "pmts.csv").write_text("x,y,z\n1,2,3\n")
    cfg = load_data_conf(
        "npz",
        path=_export_npz(tmp_path / "ev.npz", simulated),
        geometry_file=str(tmp_path / "pmts.csv"),
    )
    with pytest.raises(DataError, match=r"pmts.csv: no column 'dir_x'"):
        load_events(cfg, None)


# ---- HDF5 and ROOT --------------------------------------------------------------------------


def _same_events(loaded, events) -> None:
    np.testing.assert_array_equal(loaded.charges, events.charges)
    np.testing.assert_array_equal(loaded.conditions, _user_conditions(events))
    assert loaded.condition_names == USER_ORDER


def test_hdf5_file_with_nested_datasets_and_names_attribute(tmp_path, simulated):
    _, events, _ = simulated
    path = tmp_path / "events.h5"
    with h5py.File(path, "w") as handle:
        handle["run1/pe"] = events.charges
        handle["run1/truth"] = _user_conditions(events)
        handle["run1/truth"].attrs["names"] = list(USER_ORDER)
    cfg = load_data_conf("hdf5", path=str(path), charges_key="run1/pe", conditions_key="run1/truth")
    _same_events(load_events(cfg, None), events)
    cfg.charges_key = "pe"
    with pytest.raises(DataError, match=r"no dataset 'pe' .*set data.charges_key"):
        load_events(cfg, None)


@pytest.mark.parametrize("layout", ["fixed", "jagged"])
def test_root_tree_with_fixed_or_jagged_charge_branch(tmp_path, simulated, layout):
    _, events, _ = simulated
    path = tmp_path / "events.root"
    conditions = _user_conditions(events)
    charges = events.charges if layout == "fixed" else ak.Array(events.charges.tolist())
    with uproot.recreate(path) as handle:
        branches = {name: conditions[:, i] for i, name in enumerate(USER_ORDER)}
        handle["T"] = {**branches, "pe": charges}
    cfg = load_data_conf(
        "root", path=str(path), tree="T", charges_branch="pe", condition_branches=list(USER_ORDER)
    )
    _same_events(load_events(cfg, None), events)


def test_root_jagged_branch_of_unequal_lengths_is_refused(tmp_path):
    path = tmp_path / "events.root"
    with uproot.recreate(path) as handle:
        handle["events"] = {"e": np.ones(3), "charges": ak.Array([[1.0, 2.0], [1.0], [0.0, 3.0]])}
    cfg = load_data_conf("root", path=str(path), condition_branches=["e"])
    with pytest.raises(DataError, match=r"'charges' has 1 to 2 charges per event"):
        load_events(cfg, None)
    with uproot.recreate(path) as handle:
        handle["events"] = {"e": np.ones(3), "charges": np.ones((3, 2))}
    cfg.condition_branches = ["energy"]
    with pytest.raises(DataError, match=r"no branch 'energy'.*set data.condition_branches"):
        load_events(cfg, None)
