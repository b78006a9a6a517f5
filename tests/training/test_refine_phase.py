"""Phase 2 must improve with budget: its LR schedule has decayed when training stops, so
early stopping (patience on a noisy validation loss) is off there (issue 23)."""

from __future__ import annotations

import pytest

from diffexp.training.averaging import MAX_INITIAL_WEIGHT_SHARE
from diffexp.training.schedules import build_schedule
from diffexp.training.trainer import TrainerSettings


@pytest.mark.parametrize("profile", ["smoke", "default", "cluster"])
def test_phase2_trains_its_whole_budget_and_ends_with_a_decayed_schedule(make_config, profile):
    cfg = make_config(["trainer=refine", "schedule=cosine"], profile=profile)
    settings = TrainerSettings.from_config(cfg)
    assert settings.early_stopping_patience is None  # nothing stops it before the end
    schedule = build_schedule(
        cfg.schedule, float(cfg.optimizer.lr), settings.steps_per_epoch, settings.epochs
    )
    last_step = settings.steps_per_epoch * settings.epochs
    final_lr = float(schedule(last_step))
    assert final_lr == pytest.approx(float(cfg.schedule.alpha) * float(cfg.optimizer.lr), rel=1e-3)
    momentum = cfg.trainer.ema_momentum  # an average must have forgotten the random start
    assert momentum is None or momentum**last_step < MAX_INITIAL_WEIGHT_SHARE


def test_phase1_keeps_early_stopping_and_the_raw_weights(make_config):
    cfg = make_config()
    assert TrainerSettings.from_config(cfg).early_stopping_patience == 5
    assert cfg.trainer.ema_momentum is None  # 500-step trials are too short for an average


def test_phase2_of_the_default_profile_samples_from_the_weight_average(make_config):
    assert make_config(["trainer=refine"], profile="default").trainer.ema_momentum == 0.995
