"""The official `SlurmLauncher` (hydra-submitit-launcher 1.4.0rc3), plus two things a sweep
on a real cluster needs and submitit does not do:

- job states from the controller: before it submits, the launcher installs
  `diffexp.tuning.slurm_state.ControllerInfoWatcher`, so a cancelled or timed-out job ends
  its trial even on a cluster without accounting (where `sacct` cannot say), and a job whose
  state nobody can read for `state_unreadable_timeout_min` counts as ended (LOST);
- a reason that names the state: a job that ended without a result raises
  `SlurmJobEndedError` ("SLURM job 123 CANCELLED: cancelled (scancel, …)"), which the sweeper
  records as the trial's fail_reason.

Everything else (the executor, the parameters, the job itself) is the official launcher's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher


class DiffexpSlurmLauncher(SlurmLauncher):
    """`SlurmLauncher` whose jobs' states come from sacct, else squeue/scontrol."""

    def __init__(self, state_unreadable_timeout_min: float = 10.0, **params: Any) -> None:
        super().__init__(**params)
        self.state_unreadable_timeout_min = float(state_unreadable_timeout_min)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        # Imported here: Hydra's plugin scan imports this module and must stay fast.
        from submitit.core.utils import UncompletedJobError

        from diffexp.tuning.slurm_state import ended_job_error, install_watcher

        watcher = install_watcher(unreadable_timeout_s=self.state_unreadable_timeout_min * 60)
        try:
            return super().launch(job_overrides, initial_job_idx)
        except UncompletedJobError as error:
            raise ended_job_error(error, watcher) from error
