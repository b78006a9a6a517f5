"""The storage load benchmark's arithmetic (`benchmarks.storage_load`), and the simulated trial
it runs, on SQLite: per-trial figures, percentiles, the workers-served extrapolation. The real
run (a PostgreSQL server, 2-32 client processes, the gRPC proxy) is `python -m
benchmarks.storage_load`, too long for the suite."""

from __future__ import annotations

import os
import random
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from benchmarks.server_usage import DatabaseCounts, process_cpu_seconds
from benchmarks.storage_load import markdown, summarize
from benchmarks.storage_trials import (
    BAD_TRIAL_SHARE,
    STUDY_NAME,
    ClientTimings,
    SimulatedSlot,
    create_study,
)


def _client(trials: int, ask_ms: list[float]) -> dict:
    seconds = {op: [0.01] * trials for op in ("in_lock", "open", "tell")}
    seconds["ask"] = [ms / 1000 for ms in ask_ms]
    seconds["report"] = [0.002] * (10 * trials)
    return {"trials": trials, "pruned": 1, "seconds": seconds, "finished": 0.0}


def test_the_figures_are_per_trial_and_the_extrapolation_is_trials_per_second_times_trial_time():
    finished = [_client(4, [10, 20, 30, 40]), _client(6, [50, 60, 70, 80, 90, 1000])]
    counts = DatabaseCounts(statements=3000, transactions=500, sessions=30)
    args = SimpleNamespace(trial_seconds=12)
    row = summarize("direct", 2, finished, 5.0, counts, 1.0, None, args)
    assert row["trials"] == 10 and row["trials_per_second"] == 2.0
    assert row["statements_per_trial"] == 300 and row["connections_per_trial"] == 3
    assert row["server_cpu_seconds_per_trial"] == 0.1 and row["server_cpu_share"] == 0.2
    assert row["workers_served"] == 24  # 2 trials/s, each worker asks one every 12 s
    assert row["reports_per_trial"] == 10
    assert row["ask_ms_median"] == 55.0 and row["ask_ms_p95"] == 90.0  # 10 values: the 9th
    assert row["proxy_cpu_seconds_per_trial"] is None
    table = markdown([row])
    assert "| direct | 2 | 2.0 | 300.0 |" in table and "55.0 / 90.0" in table


def test_a_simulated_trial_reports_and_ends_in_the_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    create_study(url)
    slot = SimulatedSlot(url, epochs=5, seed=0, ask_lock=None)
    timings = ClientTimings()
    for _ in range(9):
        slot.run_trial(timings)
    slot.close()
    trials = optuna.load_study(study_name=STUDY_NAME, storage=url).trials
    assert len(trials) == timings.trials == 9
    bad = [n for n in range(9) if random.Random(n).random() < BAD_TRIAL_SHARE]
    assert bad == [1, 3, 4, 8]  # the first three run before the pruner's 5 start-up trials
    expected = [TrialState.PRUNED if n == 8 else TrialState.COMPLETE for n in range(9)]
    assert [t.state for t in trials] == expected and timings.pruned == 1
    for trial in trials:
        assert set(trial.params) == {"optimizer.lr", "model.hidden_dim", "model.t_emb_dim"}
        if trial.state == TrialState.COMPLETE:
            assert sorted(trial.intermediate_values) == list(range(5))
            assert trial.values == [pytest.approx(min(trial.intermediate_values.values()))]
    assert len(timings.seconds["report"]) == sum(len(t.intermediate_values) for t in trials)
    assert len(timings.seconds["ask"]) == len(timings.seconds["tell"]) == 9


def test_process_cpu_seconds_reads_this_process():
    assert process_cpu_seconds(os.getpid()) > 0
