"""The own-data headline benchmark hands diffexp the built-in simulation as a user's file: the
export must load through the `.npz` loader with the detector's own geometry and conditions."""

from __future__ import annotations

import numpy as np
from omegaconf import OmegaConf

from benchmarks.own_data_headline import export_default_simulation, run_rows
from diffexp.data import simulator_from_config
from diffexp.data.loading import load_events
from diffexp.data.readout import readout_from_config
from diffexp.data.user_geometry import condition_roles, load_user_geometry
from diffexp.verification.calibration_panel import default_data_config


def _npz_config(make_config, path, *extra: str):
    cfg = make_config(["data=npz", f"data.path={path}", *extra])
    return OmegaConf.to_container(cfg.data, resolve=True)


def test_the_export_loads_as_a_users_file_with_the_detectors_geometry(make_config, tmp_path):
    with_geometry, without = export_default_simulation(tmp_path, n_events=300)
    rows = run_rows(with_geometry, without)
    own = rows[".npz with geometry, prior=learned"][2:4]
    data = _npz_config(make_config, with_geometry, *own)
    events = load_events(data, None)
    assert events.charges.shape == (300, simulator_from_config(default_data_config()).n_pmt)
    assert events.condition_names == ("x_m", "y_m", "z_m", "energy_mev")
    geometry = load_user_geometry(data, events.charges.shape[1])
    truth = simulator_from_config(default_data_config()).geometry
    np.testing.assert_allclose(geometry.positions, truth.positions)
    np.testing.assert_allclose(geometry.normals, truth.normals)
    assert condition_roles(data, events.condition_names) == ([0, 1, 2], 3)
    plain = _npz_config(make_config, without, *own)
    assert load_user_geometry(plain, events.charges.shape[1]) is None
    np.testing.assert_array_equal(load_events(plain, None).charges, events.charges)
    # the own-data rows read out their charges as the built-in detector does
    own_keys = rows[".npz with geometry, prior=learned"][2:-1]
    readout = readout_from_config(_npz_config(make_config, with_geometry, *own_keys), 0.3)
    assert readout is not None
    assert readout == readout_from_config(make_config([]).data, 0.3)
