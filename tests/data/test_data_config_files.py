"""The conf/data files: every key documented, the defaults usable as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CONF_DATA = Path(__file__).resolve().parents[2] / "conf" / "data"


@pytest.mark.parametrize(
    "name",
    ["data/simulated", "data/npz", "data/npy", "data/hdf5", "data/root", "own_detector/default"],
)
def test_every_key_has_a_comment(name: str) -> None:
    for line in (CONF_DATA.parent / f"{name}.yaml").read_text().splitlines():
        if re.match(r"^\s*[A-Za-z_]+:", line):
            assert "#" in line, f"{name}.yaml: key without a comment: {line!r}"


def test_simulated_default_has_128_pmts(sim_cfg) -> None:
    from diffexp.data import build_geometry

    assert build_geometry(sim_cfg.geometry).n_pmt == 128


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DATA.parent)):
        return compose("config", overrides=overrides)


def test_composed_simulated_config_loads_events(tmp_path) -> None:
    from diffexp.data import load_events

    cfg = _compose(["profile=smoke", "data.n_events=200"])
    events = load_events(cfg.data, tmp_path)
    assert (events.n_events, events.n_pmt) == (200, 128)
    assert len(list(tmp_path.glob("simulated_*.npz"))) == 1


def test_composed_npz_config_requires_path() -> None:
    from diffexp.data import DataError, load_events

    cfg = _compose(["data=npz"])
    with pytest.raises(DataError, match=r"^data.path is required but not set.*data.path=\.\.\.$"):
        load_events(cfg.data, None)
