"""The replay's compile charge matches the trainer cache: a warm pool worker compiles a shape
once and keeps up to `trainer_cache.MAX_ENTRIES` shapes (least recently used dropped first);
a process that compiles per trial pays it every trial. Hand-made tables, exact answers."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from benchmarks import curve_table
from benchmarks.replay import Overheads, replay
from diffexp.training import trainer_cache
from tests.bench.replay_tables import COMPILE, FRESH, STARTUP, curve, table

EPOCHS = 3.0  # each of the tables' 3 epochs takes 1 s
POOL = Overheads(compile_once_per_shape=True)


class FixedSequence(optuna.samplers.BaseSampler):
    """Proposes trial n's params from a list: which shape each trial gets is known in advance."""

    def __init__(self, params: list[dict]) -> None:
        self.params = params

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, name, distribution):
        return self.params[trial.number][name]


def _table(shapes: list[str], recorded_shape: bool = False) -> curve_table.CurveTable:
    extra = {"shape": "one graph"} if recorded_shape else {}
    return table([curve({"x": shape}, **extra) for shape in shapes])


def _run(sequence: list[str], workers: int = 1, overheads: Overheads = POOL, recorded=False):
    choices = sorted(set(sequence))
    return replay(
        _table(choices, recorded),
        FixedSequence([{"x": x} for x in sequence]),
        optuna.pruners.NopPruner(),
        {"x": CategoricalDistribution(choices)},
        workers,
        len(sequence),
        overheads=overheads,
    )


def test_a_warm_worker_compiles_each_shape_once():
    run = _run(["a", "b", "a", "a", "b"])
    assert [s.compiled for s in run.spans] == [True, True, False, False, False]
    assert [s.end - s.start for s in run.spans] == pytest.approx(
        [STARTUP + COMPILE + EPOCHS] * 2 + [STARTUP + EPOCHS] * 3
    )
    assert run.wall_seconds == pytest.approx(FRESH + 5 * (STARTUP + EPOCHS) + 2 * COMPILE)


def test_a_process_that_compiles_per_trial_pays_every_trial():
    run = _run(["a", "b", "a", "a", "b"], overheads=Overheads())
    assert all(s.compiled for s in run.spans)
    assert run.wall_seconds == pytest.approx(FRESH + 5 * (STARTUP + COMPILE + EPOCHS))


def test_each_worker_compiles_its_own_shapes():
    # two slots, one shape: trials 0 and 1 start together on slots 0 and 1, both compile;
    # every later trial finds the shape compiled in its own worker
    run = _run(["a"] * 6, workers=2)
    assert [(s.slot, s.compiled) for s in run.spans[:2]] == [(0, True), (1, True)]
    assert not any(s.compiled for s in run.spans[2:])
    assert run.wall_seconds == pytest.approx(FRESH + 3 * (STARTUP + EPOCHS) + COMPILE)


def test_a_worker_keeps_max_entries_shapes_least_recently_used_dropped_first():
    n = trainer_cache.MAX_ENTRIES
    shapes = [f"s{i}" for i in range(n + 1)]  # one more than a worker keeps: s0 is dropped
    run = _run([*shapes, shapes[-1], shapes[0], shapes[2]])
    # s_n is still kept; s0 was dropped and compiles again, which drops s1 (now least
    # recently used), not s2
    assert [s.compiled for s in run.spans] == [True] * (n + 1) + [False, True, False]


def test_the_recorded_shape_key_decides_not_the_params():
    # two choices the table says share one graph (e.g. a choice of learning-rate schedule)
    run = _run(["a", "b", "a"], recorded=True)
    assert [s.compiled for s in run.spans] == [True, False, False]
