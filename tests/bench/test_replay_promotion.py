"""Pause-and-resume promotion (ASHA's promotion variant) in the replay, on hand-made tables
whose answers are known exactly: the rungs, which paused trial a free slot promotes (highest
rung first, only the top 1/eta), that a resumed trial goes on from the epoch it paused at and
pays the start-up again (and the compile on a worker without its shape), and what the study
records for completed, never-resumed and diverged trials."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from benchmarks import curve_table
from benchmarks.replay import Overheads
from benchmarks.replay_policies import POLICIES
from benchmarks.replay_promotion import Promotion, Segment, _Ladder, replay_promotion

FRESH, STARTUP, COMPILE = 10.0, 2.0, 0.5
POOL = Overheads(compile_once_per_shape=True)
ETA2 = Promotion(eta=2, min_epochs=1)


class FixedSequence(optuna.samplers.BaseSampler):
    """Proposes trial n's `x` from a list: which curve each trial replays is known."""

    def __init__(self, values: list[str]) -> None:
        self.values = values

    def infer_relative_search_space(self, study, trial):
        self.study = study  # the replay's study, to read back what it recorded
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, name, distribution):
        return self.values[trial.number]


def _table(curves: dict[str, tuple], epochs: int) -> curve_table.CurveTable:
    """`curves`: x -> (losses, seconds per epoch, shape)."""
    return curve_table.from_dict(
        {
            "schema_version": 1,
            "fresh_worker_seconds": FRESH,
            "epochs": epochs,
            "trials": [
                {
                    "params": {"x": x},
                    "val_loss": list(losses),
                    "epoch_seconds": [seconds] * len(losses),
                    "startup_seconds": STARTUP,
                    "compile_seconds": COMPILE,
                    "shape": shape,
                }
                for x, (losses, seconds, shape) in curves.items()
            ],
        }
    )


def _replay(table, sequence, workers, epoch_budget, promotion=ETA2):
    sampler = FixedSequence(sequence)
    space = {"x": CategoricalDistribution(sorted(set(sequence)))}
    run = replay_promotion(table, sampler, space, workers, epoch_budget, promotion, POOL)
    return run, {s.number: s for s in run.spans}


def test_rungs_grow_by_eta_and_end_at_the_budget():
    assert Promotion(eta=3, min_epochs=1).rungs(10) == (1, 3, 9, 10)
    assert Promotion(eta=3, min_epochs=3).rungs(10) == (3, 9, 10)
    assert ETA2.rungs(4) == (1, 2, 4)
    assert POLICIES["diffexp_asha_promotion"].promotion == Promotion(eta=3, min_epochs=1)


ONE_SHAPE = _table(
    {
        "a": ((0.5, 0.4, 0.3, 0.2), 1.0, "S"),
        "b": ((0.6, 0.55, 0.5, 0.45), 1.0, "S"),
        "c": ((0.45, 0.35, 0.25, 0.15), 1.0, "S"),
    },
    epochs=4,
)


def test_one_worker_pauses_promotes_the_top_half_and_resumes_where_it_paused():
    """eta 2, rungs (1, 2, 4), budget 4 epochs, one worker that compiles its shape once.
    a pauses at epoch 1 (alone on its rung: not in the top half of 1), b pauses behind it,
    so a is promoted at 16.5 and resumes at epoch 2 after a new start-up (2 s, no compile).
    c, asked when nothing qualifies, beats both at rung 1 and a at rung 2: it goes to 4."""
    run, spans = _replay(ONE_SHAPE, ["a", "b", "c"], workers=1, epoch_budget=4)

    assert spans[0].segments == [
        Segment(0, FRESH, 13.5, 1, 1, True),
        Segment(0, 16.5, 19.5, 2, 2, False),  # start-up again: 16.5 + 2 + one epoch
    ]
    assert spans[1].segments == [Segment(0, 13.5, 16.5, 1, 1, False)]
    assert spans[2].segments == [
        Segment(0, 19.5, 22.5, 1, 1, False),
        Segment(0, 22.5, 25.5, 2, 2, False),
        Segment(0, 25.5, 29.5, 3, 4, False),
    ]
    assert run.timeline == [(29.5, 0.15)]
    assert run.wall_seconds == 29.5


def test_the_study_records_what_a_sweeper_would():
    """Every epoch reported on its step; COMPLETE with the best loss at the budget; a trial
    never resumed is PRUNED at the study end with its reports; no extra trial is asked."""
    sampler = FixedSequence(["a", "b", "c"])
    replay_promotion(
        ONE_SHAPE, sampler, {"x": CategoricalDistribution(["a", "b", "c"])}, 1, 4, ETA2, POOL
    )
    trials = sampler.study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.PRUNED, TrialState.COMPLETE]
    assert trials[0].intermediate_values == {1: 0.5, 2: 0.4}
    assert trials[1].intermediate_values == {1: 0.6}
    assert trials[2].intermediate_values == {1: 0.45, 2: 0.35, 3: 0.25, 4: 0.15}
    assert trials[2].value == 0.15


def test_a_trial_resumed_on_another_worker_pays_its_compile_there():
    """Two workers, eta 2, rungs (1, 2). a (shape A, 1 s epochs) pauses on slot 0 and a new
    b starts there (shape B: a compile). When b's twin pauses on slot 1, a is in the top half
    and resumes on slot 1, which has only compiled B: start-up + compile + one epoch."""
    table = _table({"a": ((0.3, 0.2), 1.0, "A"), "b": ((0.5, 0.4), 4.0, "B")}, epochs=2)
    run, spans = _replay(table, ["a", "b", "b"], workers=2, epoch_budget=3)

    assert spans[0].segments == [
        Segment(0, FRESH, 13.5, 1, 1, True),
        Segment(1, 16.5, 20.0, 2, 2, True),
    ]
    assert spans[1].segments == [Segment(1, FRESH, 16.5, 1, 1, True)]
    assert spans[2].segments == [Segment(0, 13.5, 20.0, 1, 1, True)]
    assert [spans[n].state for n in range(3)] == ["COMPLETE", "PRUNED", "PRUNED"]
    assert run.timeline == [(20.0, 0.2)]


def test_a_diverged_epoch_fails_the_trial_and_never_enters_a_rung():
    table = _table(
        {"a": ((0.3, 0.2), 1.0, "S"), "d": ((math.nan, 0.1), 1.0, "S")},
        epochs=2,
    )
    run, spans = _replay(table, ["d", "a"], workers=1, epoch_budget=2)
    assert spans[0].state == "FAIL" and spans[0].epochs_run == 1
    # d is no result of rung 1: a, alone there, is not in the top half of 1 and stays paused
    assert spans[1].state == "PRUNED" and spans[1].epochs_run == 1
    assert run.timeline == []


@pytest.mark.parametrize(
    ("results", "paused", "expected"),
    [
        # 2 results, eta 3: the top third of 2 is nobody
        ({1: [(0.1, 0), (0.2, 1)]}, {0, 1}, None),
        # 3 results: the best one, if paused
        ({1: [(0.3, 0), (0.1, 1), (0.2, 2)]}, {0, 1, 2}, 1),
        ({1: [(0.3, 0), (0.1, 1), (0.2, 2)]}, {0, 2}, None),  # the best is running
        # the highest rung first, though rung 1 has a better loss on offer
        (
            {
                1: [(0.05, 5), (0.2, 1), (0.3, 2), (0.4, 3), (0.5, 4), (0.6, 6)],
                3: [(0.3, 1), (0.4, 2), (0.5, 7)],
            },
            {1, 2, 3, 4, 5, 6},
            1,
        ),
    ],
)
def test_a_free_slot_promotes_the_best_paused_trial_of_the_highest_rung(results, paused, expected):
    ladder = _Ladder((1, 3, 9, 10), eta=3)
    for rung, entries in results.items():
        for loss, number in entries:
            ladder.record(rung, number, loss)
    assert ladder.promotable(paused) == expected


def test_a_trial_promoted_from_a_rung_is_not_promoted_from_it_again():
    ladder = _Ladder((1, 3, 9, 10), eta=3)
    for loss, number in [(0.1, 0), (0.2, 1), (0.3, 2), (0.4, 3), (0.5, 4), (0.6, 5)]:
        ladder.record(1, number, loss)
    assert ladder.promotable({0, 1, 2, 3, 4, 5}) == 0
    ladder.promote(0)
    assert ladder.promotable({0, 1, 2, 3, 4, 5}) == 1
    ladder.promote(1)
    assert ladder.promotable({2, 3, 4, 5}) is None


def test_the_free_resume_bound_charges_a_resumed_job_nothing():
    free = Promotion(eta=2, min_epochs=1, free_resume=True)
    _, spans = _replay(ONE_SHAPE, ["a", "b", "c"], workers=1, epoch_budget=4, promotion=free)
    assert spans[0].segments[1] == Segment(0, 16.5, 17.5, 2, 2, False)  # one epoch, no start-up
    assert spans[2].segments[0] == Segment(0, 17.5, 20.5, 1, 1, False)  # a new trial pays it
