"""In-job pruning for any Hydra app swept by diffexp's sweeper: one line, `trial_reporter()`.

diffexp's own app learns its trial from `tuning.*` overrides (`diffexp.tuning.trial.job`).
An app without a `tuning` node learns it from three environment variables the sweeper sets
through `hydra.job.env_set` (so they reach the job on every launcher):

    reporter = trial_reporter()          # the one line
    for epoch in ...:
        reporter.report(epoch, val_loss)  # may raise optuna.TrialPruned

A pruned trial raises `optuna.TrialPruned` out of the task; the sweeper records it PRUNED.
Outside a sweep the reporter does nothing, so the app runs unchanged.
"""

from __future__ import annotations

import os

from diffexp.tuning.trial.reporter import Reporter

STUDY_NAME_ENV = "DIFFEXP_STUDY_NAME"
STORAGE_ENV = "DIFFEXP_STORAGE"
TRIAL_NUMBER_ENV = "DIFFEXP_TRIAL_NUMBER"
TRIAL_ENV = (STUDY_NAME_ENV, STORAGE_ENV, TRIAL_NUMBER_ENV)


class NullReporter:
    """The reporter outside a sweep: reports nothing, never prunes."""

    def report(self, epoch: int, value: float) -> None:
        del epoch, value


def trial_reporter() -> Reporter:
    """The reporter bound to this job's trial, or a NullReporter outside a diffexp sweep."""
    from diffexp.tuning.study import StudyGateway
    from diffexp.tuning.trial.reporter import TrialReporter

    if not all(os.environ.get(name) for name in TRIAL_ENV):
        return NullReporter()
    gateway, trial = StudyGateway.for_trial(
        os.environ[STORAGE_ENV], os.environ[STUDY_NAME_ENV], int(os.environ[TRIAL_NUMBER_ENV])
    )
    return TrialReporter(trial, gateway)
