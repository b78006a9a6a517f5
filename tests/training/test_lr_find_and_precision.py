"""The LR range test writes its plot and sane suggestions; float16 without a GPU falls back."""

from __future__ import annotations

import json
import logging

import keras
import numpy as np
import pytest

from diffexp import runtime
from diffexp.training import lr_finder
from diffexp.training.session import TrainingSession


def test_suggestions_follow_the_loss_curve():
    lrs = np.logspace(-6, 0, 100)
    # loss falls fastest around 1e-4, is lowest near 1e-2, then explodes
    losses = 1.0 - 0.8 / (1 + np.exp(-(np.log10(lrs) + 4) * 3)) + np.where(lrs > 1e-2, lrs * 50, 0)
    suggestion = lr_finder.suggest(lrs, losses)
    assert 3e-5 < suggestion["lr"] < 3e-4
    assert 5e-3 < suggestion["lr_at_min_loss"] < 2e-2
    assert (
        suggestion["cyclical_base_lr"]
        < suggestion["cyclical_max_lr"]
        < suggestion["lr_at_min_loss"]
    )


def test_lr_range_test_run_writes_plot_and_json(make_config, tmp_path):
    cfg = make_config(
        ["trainer.lr_find=true", "trainer.lr_find_steps=60", "trainer.lr_find_max_lr=10"]
    )
    value = TrainingSession(cfg, tmp_path / "run").lr_range_test()
    report = json.loads((tmp_path / "run" / "lr_find.json").read_text())
    lrs = report["learning_rates"]
    assert lrs == sorted(lrs) and lrs[0] == pytest.approx(1e-7)
    assert len(lrs) < 60  # a max LR of 10 makes the loss explode before the end
    s = report["suggestion"]
    assert lrs[0] <= s["lr"] <= lrs[-1] and s["min_smoothed_loss"] == pytest.approx(value)
    assert (tmp_path / "run" / "lr_find.png").stat().st_size > 5000


def test_float16_without_gpu_warns_and_falls_back(caplog, monkeypatch):
    monkeypatch.setattr(runtime, "gpu_available", lambda: False)
    try:
        with caplog.at_level(logging.WARNING):
            assert runtime.configure_precision("mixed_float16", force=False) == "float32"
        assert "falling back to float32" in caplog.text
        assert keras.mixed_precision.global_policy().name == "float32"
        assert runtime.configure_precision("mixed_float16", force=True) == "mixed_float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_bfloat16_training_step_runs_in_bfloat16(make_config, tmp_path):
    cfg = make_config(["precision=mixed_bfloat16", "trainer.epochs=1", "model.hidden_dim=32"])
    try:
        session = TrainingSession(cfg, tmp_path / "run")
        trainer = session.build_trainer()
        assert trainer.model.get_layer("pmt_input_projection").compute_dtype == "bfloat16"
        assert trainer.model.get_layer("detector_prior").compute_dtype == "float32"
        assert trainer.model.output.dtype == "float32"
        assert np.isfinite(trainer.train_step())
    finally:
        keras.mixed_precision.set_global_policy("float32")
