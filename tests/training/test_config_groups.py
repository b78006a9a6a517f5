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


@pytest.mark.parametrize(
    "group,option", [(g, o) for g in GROUPS for o in options(g)], ids=lambda v: str(v)
)
def test_option_composes_validates_and_builds(group, option, make_config, tmp_path):
    overrides = [f"{group}={option}"]
    if group == "data" and option == "npz":
        path = Path(tmp_path) / "events.npz"
        np.savez(
            path, charges=np.ones((50, 8), np.float32), conditions=np.ones((50, 2), np.float32)
        )
        overrides.append(f"data.path={path}")
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
