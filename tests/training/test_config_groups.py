"""Every option of every config group composes and builds the objects it configures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diffexp.config_checks import validate_config  # noqa: E402
from diffexp.models import NoiseSchedule, build_denoiser  # noqa: E402
from diffexp.training.diffusion_loss import DiffusionObjective  # noqa: E402
from diffexp.training.optimizers import build_optimizer  # noqa: E402
from diffexp.training.schedules import build_schedule  # noqa: E402
from diffexp.training.validation import build_validator  # noqa: E402
from tests.conftest import CONF_DIR

GROUPS = [
    "model",
    "diffusion",
    "optimizer",
    "schedule",
    "precision",
    "validation",
    "trainer",
    "profile",
    "paths",
    "data",
]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def test_every_group_has_options():
    for group in GROUPS:
        assert options(group), f"conf/{group}/ is empty"


def _own_events_file(option: str, folder: Path) -> list[str]:
    """A real small events file of format `option` and the overrides that point at it."""
    charges, conditions = np.ones((50, 8), np.float32), np.ones((50, 2), np.float32)
    path = folder / f"events.{option}"
    if option == "npz":
        np.savez(path, charges=charges, conditions=conditions)
        return [f"data.path={path}"]
    if option == "npy":  # a folder of one .npy per array
        path.mkdir()
        np.save(path / "charges.npy", charges)
        np.save(path / "conditions.npy", conditions)
        return [f"data.path={path}"]
    if option == "hdf5":
        import h5py

        with h5py.File(path, "w") as handle:
            handle["charges"], handle["conditions"] = charges, conditions
        return [f"data.path={path}"]
    import uproot

    with uproot.recreate(path) as handle:
        handle["events"] = {"a": conditions[:, 0], "b": conditions[:, 1], "charges": charges}
    return [f"data.path={path}", "data.condition_branches=[a,b]"]


@pytest.mark.parametrize(
    "group,option", [(g, o) for g in GROUPS for o in options(g)], ids=lambda v: str(v)
)
def test_option_composes_validates_and_builds(group, option, make_config, tmp_path):
    overrides = [f"{group}={option}"]
    if group == "data" and option != "simulated":
        overrides += _own_events_file(option, Path(tmp_path))
    if (group, option) != ("model", "mlp"):
        overrides.append("model.prior=none")  # zeros below, not detector events (tests/models)
    cfg = make_config(overrides)
    validate_config(cfg)
    model = build_denoiser(cfg.model, 8, 4, prior_from_weights=True)
    assert model.output_shape == (None, 8)
    schedule = build_schedule(cfg.schedule, float(cfg.optimizer.lr), 10, 3)
    lr0 = float(schedule(0))
    assert 0 <= lr0 <= float(cfg.optimizer.lr) * (1 + 1e-6)
    optimizer = build_optimizer(cfg.optimizer, schedule, loss_scaling=False)
    optimizer.build(model.trainable_variables)
    noise = NoiseSchedule.from_config(cfg.diffusion)
    assert 0 < noise.alpha_bars[-1] < noise.alpha_bars[0] < 1
    objective = DiffusionObjective(model, noise)
    x = np.zeros((40, 8), np.float32)
    c = np.zeros((40, 4), np.float32)
    validator = build_validator(cfg.validation, objective, x, c, 4, seed=0)
    assert np.isfinite(validator.validate())
