"""The liveness policy of a sweep, and its defaults written once: how often a running trial
beats, how long a silent one lives on, how often one that died that way is re-run.

Standard library only: the sweeper plugin's config (read by Hydra's plugin scan) takes its
defaults from here without importing Optuna. conf/hydra/sweeper/optuna.yaml repeats them for
diffexp's own app, where users read them; a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Liveness:
    """How often trials beat, how long a silent one lives on, how often a dead one is retried."""

    interval: int = 20  # s between beats: a few missed beats fit in the grace period
    grace: int = 120  # s of silence before a RUNNING trial is FAIL "heartbeat lost"
    retries: int = 0  # a lost trial is not re-run unless asked: its job may have been the cause

    def check(self) -> None:
        """ValueError naming the key when the values cannot work together."""
        if self.interval < 1:
            raise ValueError(f"hydra.sweeper.heartbeat_interval={self.interval} must be >= 1 s")
        if self.grace <= self.interval:
            raise ValueError(
                f"hydra.sweeper.grace_period={self.grace} must be longer than "
                f"heartbeat_interval={self.interval}, or every trial would look dead between beats"
            )
        if self.retries < 0:
            raise ValueError(f"hydra.sweeper.retry_failed_trials={self.retries} must be >= 0")

    def storage_kwargs(self) -> dict[str, Any]:
        """What an RDB storage needs to detect stale trials itself."""
        return {"heartbeat_interval": self.interval, "grace_period": self.grace}

    def as_attr(self) -> dict[str, int]:
        return {"interval": self.interval, "grace": self.grace}


DEFAULT_LIVENESS = Liveness()
