"""One study across two SLURM nodes on a real PostgreSQL server: trials run on both nodes,
and the median pruner compares a trial with trials that reported from both nodes."""

from __future__ import annotations

import statistics

import optuna
import pytest
from optuna.trial import TrialState

from tests.slurm.support import finish, scontrol_field, slurm_job_id, start_tiny_sweep

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

N_TRIALS = 6
BAD_TRIALS = [2, 3, 4, 5]  # a loss 10 above the others: pruned once two trials are COMPLETE


def test_a_sweep_spreads_over_both_nodes_and_prunes_by_the_medians_of_both(
    slurm_cluster, postgres_url, tmp_path
):
    # The trials get the URL without its password; libpq reads PGPASSWORD from the job's
    # environment (sbatch exports the submitting environment), as docs/scaling.md advises.
    process = start_tiny_sweep(
        tmp_path,
        postgres_url.url_without_password,
        f"profile.n_trials={N_TRIALS}",
        "profile.n_jobs=2",  # one job per node: each node has half the CPUs, a job takes one
        "task.epochs=4",
        "task.epoch_seconds=1",
        f"task.bad_trials={BAD_TRIALS}",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "hydra.sweeper.pruner.n_warmup_steps=1",
        env={"PGPASSWORD": postgres_url.password},
    )
    log = finish(process, tmp_path)
    assert process.returncode == 0, log

    study = optuna.load_study(study_name="tiny", storage=postgres_url.url)
    trials = {t.number: t for t in study.trials}
    assert sorted(trials) == list(range(N_TRIALS))
    sweep = tmp_path / "sweeps" / "run"
    node_of = {n: scontrol_field(slurm_job_id(sweep / f"trial_{n}"), "NodeList") for n in trials}
    assert set(node_of.values()) == set(slurm_cluster), node_of  # both nodes ran trials

    pruned = [t for t in trials.values() if t.state == TrialState.PRUNED]
    assert pruned, {n: t.state.name for n, t in trials.items()}
    assert {t.state for t in trials.values()} <= {TrialState.COMPLETE, TrialState.PRUNED}
    for trial in pruned:
        step = max(trial.intermediate_values)
        before = [
            t
            for t in trials.values()
            if t.state == TrialState.COMPLETE and t.datetime_complete < trial.datetime_complete
        ]
        # The pruner's median at that step came from trials of both nodes ...
        assert {node_of[t.number] for t in before} == set(slurm_cluster), (trial.number, node_of)
        # ... and the pruned trial was worse than it.
        median = statistics.median(t.intermediate_values[step] for t in before)
        assert trial.intermediate_values[step] > median
    assert postgres_url.password not in _all_text(tmp_path / "sweeps")


def _all_text(folder) -> str:
    """Every file under `folder` (sweep, trial folders, submitit's files), as text."""
    return "".join(
        p.read_bytes().decode(errors="replace") for p in folder.rglob("*") if p.is_file()
    )
