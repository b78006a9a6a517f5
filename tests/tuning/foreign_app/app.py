"""A Hydra app that knows nothing of diffexp but the one reporter line (no `tuning` node).

Each step reports `x + 1/step`; with a pruner, a trial whose `x` is much worse than the
others' is pruned. `report=false` leaves the reporter out, as a foreign app would.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from diffexp.tuning.sweeper.app import trial_reporter


@hydra.main(config_path=".", config_name="config")
def main(cfg: DictConfig) -> float:
    reporter = trial_reporter()  # the one line: in-job pruning
    value = 0.0
    for step in range(1, cfg.steps + 1):
        value = cfg.x + 1.0 / step
        if cfg.report:
            reporter.report(step, value)
    return value


if __name__ == "__main__":
    main()
