"""Syne Tune's schedulers replayed on hand-made tables: the same curves, clock and overheads as
Optuna's replay, the trial budget kept, and each trial's end state read back correctly."""

from __future__ import annotations

import math

import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from benchmarks import curve_table, replay_syne_tune
from benchmarks.replay import Overheads
from benchmarks.replay_bench import parse_plan
from diffexp.errors import ConfigError
from tests.bench.replay_tables import COMPILE, FRESH, STARTUP, curve, table

pytestmark = pytest.mark.skipif(
    bool(replay_syne_tune.missing_modules()),
    reason="Syne Tune is not installed: `make install-synetune`",
)

SPACE = {"x": CategoricalDistribution(["fast", "slow", "bad"])}
LOSSES = {"fast": (0.5, 0.4, 0.3), "slow": (0.6, 0.2, 0.25), "bad": (0.9, 0.9, 0.9)}
EPOCH_SECONDS = {"fast": 1.0, "slow": 3.0, "bad": 2.0}


def _table(curves: dict[str, dict] | None = None) -> curve_table.CurveTable:
    curves = curves or {
        x: {"val_loss": list(LOSSES[x]), "epoch_seconds": [EPOCH_SECONDS[x]] * 3} for x in LOSSES
    }
    return table([{**curve({"x": x}), **values} for x, values in curves.items()])


def _run(scheduler="asha", workers=1, n_trials=8, overheads=None, table=None, seed=0):
    return replay_syne_tune.replay_syne_tune(
        table or _table(), scheduler, SPACE, workers, n_trials, seed, overheads or Overheads()
    )


@pytest.mark.parametrize("scheduler", replay_syne_tune.SCHEDULERS)
def test_every_scheduler_runs_exactly_the_trial_budget_with_consistent_states(scheduler):
    run = _run(scheduler, workers=2, n_trials=9)
    assert len(run.spans) == 9
    for span in run.spans:
        x = span.params["x"]
        assert type(x) is str
        if span.state == "COMPLETE":
            assert span.epochs_run == 3 and span.value == min(LOSSES[x])
        else:
            assert span.state == "PRUNED" and span.value is None and span.epochs_run < 3
    # the scheduler's ASHA rungs stop the worst configuration somewhere among 9 trials
    assert any(s.state == "PRUNED" for s in run.spans)
    assert run.timeline == sorted((s.end, s.value) for s in run.spans if s.state == "COMPLETE")


def test_a_trial_takes_its_recorded_overheads_and_epochs_on_the_simulated_clock():
    warm = _run(overheads=Overheads(fresh_process_per_worker=True))
    per_trial = _run(
        overheads=Overheads(fresh_process_per_trial=True, fresh_process_per_worker=False)
    )
    for run, before in ((warm, STARTUP + COMPILE), (per_trial, FRESH + STARTUP + COMPILE)):
        for span in run.spans:
            seconds = before + EPOCH_SECONDS[span.params["x"]] * span.epochs_run
            assert span.end - span.start == pytest.approx(seconds, abs=1e-6)
    # a warm worker's process starts once, before its first trial; a fresh one per trial not
    assert min(s.start for s in warm.spans) == pytest.approx(FRESH, abs=0.2)
    assert min(s.start for s in per_trial.spans) == pytest.approx(0.0, abs=0.2)


def test_one_worker_starts_the_next_trial_as_soon_as_the_last_one_ends():
    """Syne Tune's tuner loop waits 5 simulated seconds by default when no worker is free;
    the replay's step is 0.1 s, so a freed worker is not left idle (Optuna's replay: none)."""
    spans = sorted(_run(n_trials=6).spans, key=lambda s: s.start)
    gaps = [later.start - earlier.end for earlier, later in zip(spans, spans[1:], strict=False)]
    assert all(-1e-6 <= gap <= 0.25 for gap in gaps), gaps


def test_a_curve_that_diverges_fails_its_trial_at_the_epoch_it_diverged():
    table = _table(
        {
            "fast": {"val_loss": [0.5, math.nan, 0.3], "epoch_seconds": [1.0, 1.0, 1.0]},
        }
    )
    run = replay_syne_tune.replay_syne_tune(
        table, "asha", {"x": CategoricalDistribution(["fast"])}, 1, 2, 0, Overheads()
    )
    assert [s.state for s in run.spans] == ["FAIL", "FAIL"]
    assert all(s.epochs_run == 2 and s.value is None for s in run.spans)
    assert run.timeline == []


def test_the_search_space_is_the_one_optuna_searches():
    from syne_tune.config_space import Categorical, FiniteRange

    space = replay_syne_tune.syne_tune_space(
        {
            "lr": FloatDistribution(1e-5, 1e-2, log=True),
            "dropout": FloatDistribution(0.0, 0.5),
            "layers": IntDistribution(1, 4),
            "width": CategoricalDistribution([32, 64]),
        }
    )
    assert (space["lr"].lower, space["lr"].upper) == (1e-5, 1e-2)
    assert type(space["lr"]).__name__ == "Float" and "log" in repr(space["lr"].sampler).lower()
    assert (space["dropout"].lower, space["dropout"].upper) == (0.0, 0.5)
    assert (space["layers"].lower, space["layers"].upper) == (1, 4)
    assert isinstance(space["width"], Categorical) and not isinstance(space["width"], FiniteRange)
    assert list(space["width"].categories) == [32, 64]
    with pytest.raises(ValueError, match="stepped"):
        replay_syne_tune.syne_tune_space({"lr": FloatDistribution(0.1, 0.5, step=0.1)})


def test_a_plan_leaves_out_or_refuses_syne_tune_where_it_is_not_installed(monkeypatch):
    assert "synetune_bohb" in parse_plan("2:all:1:2").policies
    monkeypatch.setattr(replay_syne_tune, "missing_modules", lambda: ["syne_tune"])
    assert not any(name.startswith("synetune") for name in parse_plan("2:all:1:2").policies)
    with pytest.raises(ConfigError, match="synetune_asha needs syne_tune.*make install-synetune"):
        parse_plan("2:synetune_asha:1:2")


def test_a_replay_is_repeatable_per_seed_and_leaves_numpys_generator_as_it_was():
    import numpy as np

    def spans(seed):
        return [(s.start, s.end, s.state, s.params["x"]) for s in _run(n_trials=8, seed=seed).spans]

    np.random.seed(99)
    before = np.random.get_state()[1].copy()
    first = spans(3)
    assert np.array_equal(np.random.get_state()[1], before)
    np.random.rand(5)  # whatever ran in between, the same seed replays the same trials
    assert spans(3) == first
    assert spans(4) != first
