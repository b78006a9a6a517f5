"""Syne Tune's schedulers replayed on the same learning-curve table, as peers of the policies
`replay.py` runs through Optuna.

Syne Tune (AWS's tuning library) simulates tuning on tabulated curves itself: a
`UserBlackboxBackend` answers each trial from a table and its `SimulatorCallback` keeps a
simulated clock. Its schedulers (ASHA, asynchronous Hyperband, BOHB) are used here as they
ship, not rewritten; only the table is adapted:

- the search space is translated from the Optuna distributions the sweeper asks with
  (`syne_tune_space`), so both libraries search the same space;
- a proposal is answered by the same recorded curve `CurveTable.nearest` gives an Optuna
  proposal (`CurveTableBackend.config_objectives`);
- a trial's elapsed time at each epoch is the table's epoch seconds plus the overheads its
  `Overheads` say it pays before the first epoch (start-up and compile; a fresh Python process
  per trial, as Syne Tune's own local backend starts one; or a warm worker's process start
  once, added to the whole clock).

The result is a `ReplayRun` like Optuna's replay, so the bench's time to quality, bands and
ratios treat both alike. A trial that reported every epoch is COMPLETE with its best
validation loss (the training objective); one the scheduler stopped earlier is PRUNED; one
whose curve diverged or ended in an error is FAIL. Syne Tune's simulated scheduling delays
are set to 0 and the real time its scheduler computes is not added to its clock: the Optuna
replay counts neither, and a replay is then the same on any machine; with NumPy's global
generator seeded per run (`_numpy_seeded`), it is the same for the same seed.

Needs `make install-synetune` (the extra `synetune`); `missing_modules()` says whether it is
installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import math
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from benchmarks.curve_table import Curve, CurveTable
from benchmarks.replay import Overheads, ReplayRun, TrialSpan

INSTALL_HINT = "make install-synetune"
SCHEDULERS = ("asha", "hyperband", "bohb")
_EPOCH = "epoch"  # the fidelity: epochs trained
_ELAPSED = "elapsed_seconds"  # seconds since the trial started, as the simulator wants
_METRIC = "val_loss"
# The simulated seconds Syne Tune's tuner loop waits when no worker is free. Its default, 5 s,
# would leave a freed worker idle for up to 5 s; Optuna's replay starts the next trial at once.
TUNER_STEP_SECONDS = 0.1
_DIVERGED = 1e30  # reported for a non-finite loss: a scheduler needs a number, and no rung keeps it


def missing_modules() -> list[str]:
    """['syne_tune'] where it is not installed, else []."""
    return [] if importlib.util.find_spec("syne_tune") else ["syne_tune"]


def syne_tune_space(distributions: Mapping[str, optuna.distributions.BaseDistribution]) -> dict:
    """Syne Tune domains for Optuna's distributions: the same bounds, log scale and choices."""
    from syne_tune.config_space import choice, lograndint, loguniform, randint, uniform

    space = {}
    for name, dist in distributions.items():
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            space[name] = choice(list(dist.choices))
        elif isinstance(dist, optuna.distributions.IntDistribution) and dist.step == 1:
            space[name] = (lograndint if dist.log else randint)(dist.low, dist.high)
        elif isinstance(dist, optuna.distributions.FloatDistribution) and dist.step is None:
            space[name] = (loguniform if dist.log else uniform)(dist.low, dist.high)
        else:
            raise ValueError(f"{name}: {dist} has no Syne Tune counterpart here (stepped ranges)")
    return space


def elapsed_at_epochs(curve: Curve, overheads: Overheads, table: CurveTable) -> list[float]:
    """Seconds from a trial's start to the end of each epoch it reports, the epoch whose loss
    is not finite included (the trial ends there, as in `replay`): its start-up and compile
    (every trial compiles: Syne Tune keeps no compiled trainer between trials), a fresh
    process if the launcher starts one per trial, then the recorded epochs."""
    total = curve.startup_seconds + curve.compile_seconds
    if overheads.fresh_process_per_trial:
        total += table.fresh_worker_seconds
    elapsed = []
    for index in range(
        min(_epochs_run(curve, table.epochs) + 1, table.epochs, len(curve.val_loss))
    ):
        total += overheads.epoch_seconds(curve, index)
        elapsed.append(total)
    return elapsed


def _epochs_run(curve: Curve, epochs: int) -> int:
    """Epochs a trial reports: up to the table's epochs, stopping before a non-finite loss."""
    count = 0
    for loss in curve.val_loss[:epochs]:
        if not math.isfinite(loss):
            break
        count += 1
    return count


def _reported(loss: float) -> float:
    return float(loss) if math.isfinite(loss) else _DIVERGED


def _completed(curve: Curve, epochs: int) -> bool:
    """Whether a trial on this curve ends as COMPLETE when nothing stops it (as `replay`)."""
    ran = _epochs_run(curve, epochs)
    return ran == min(epochs, len(curve.val_loss)) and not (
        curve.failed and len(curve.val_loss) < epochs
    )


def replay_syne_tune(
    table: CurveTable,
    scheduler: str,
    distributions: Mapping[str, optuna.distributions.BaseDistribution],
    workers: int,
    n_trials: int,
    seed: int,
    overheads: Overheads,
) -> ReplayRun:
    """Run Syne Tune's `scheduler` (one of SCHEDULERS) on `workers` simulated workers until
    `n_trials` trials have started and all have ended; their spans on the simulated clock."""
    import logging

    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback

    logging.getLogger("syne_tune").setLevel(logging.ERROR)
    space = syne_tune_space(distributions)
    backend = _table_backend(table, space, overheads)
    tuner_scheduler = _limit_trials(_make_scheduler(scheduler, space, table.epochs, seed), n_trials)
    callback = SimulatorCallback()
    with tempfile.TemporaryDirectory(prefix="diffexp-synetune-") as folder:
        tuner = Tuner(
            trial_backend=backend,
            scheduler=tuner_scheduler,
            # the scheduler stops proposing after n_trials (_limit_trials); this is a backstop
            stop_criterion=StoppingCriterion(max_num_trials_started=n_trials),
            n_workers=workers,
            sleep_time=0,
            callbacks=[callback],
            tuner_name="replay",
            save_tuner=False,
            wait_trial_completion_when_stopping=True,
            trial_backend_path=folder,
            print_update_interval=1e9,
            results_update_interval=1e9,
        )
        tuner.tuner_path = Path(folder)  # Syne Tune writes its results there, not in ~
        with (
            contextlib.redirect_stdout(io.StringIO()),
            warnings.catch_warnings(),
            _numpy_seeded(seed),
        ):
            # its banners and status tables; BOHB's kernel densities warn on every fit (a
            # pandas seeding change, a divide by zero on a one-level category) per trial
            warnings.filterwarnings("ignore", category=FutureWarning, module="pandas")
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="statsmodels")
            tuner.run()
    return _spans(callback.dataframe(), table, overheads)


@contextlib.contextmanager
def _numpy_seeded(seed: int) -> Iterator[None]:
    """NumPy's global generator seeded with `seed`, restored afterwards. Syne Tune 0.16's
    searchers keep their `random_seed` but draw configurations from the global generator
    (`Domain.sample()` without a random state), so only this makes a replay repeatable."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _limit_trials(scheduler, n_trials: int):
    """`scheduler`, proposing no more than `n_trials` trials: after them its `suggest` answers
    None, which Syne Tune's tuner takes as "space exhausted" and lets the running trials end.
    (Its `max_num_trials_started` is checked once per loop, after every free worker got a
    trial, so it overshoots by up to the worker count.)"""
    suggest, proposed = scheduler.suggest, itertools.count()
    scheduler.suggest = lambda: suggest() if next(proposed) < n_trials else None
    return scheduler


def _make_scheduler(name: str, space: dict, epochs: int, seed: int):
    from syne_tune.optimizer.baselines import ASHA, BOHB

    common = dict(
        config_space=space,
        metric=_METRIC,
        time_attr=_EPOCH,
        max_t=epochs,
        do_minimize=True,
        random_seed=seed,
    )
    if name == "asha":
        return ASHA(**common)
    if name == "hyperband":  # asynchronous Hyperband: ASHA over several brackets
        return ASHA(**common, brackets=_hyperband_brackets(epochs))
    if name == "bohb":
        return BOHB(**common)
    raise ValueError(f"unknown Syne Tune scheduler {name!r}; use one of {SCHEDULERS}")


def _hyperband_brackets(epochs: int, eta: int = 3) -> int:
    """As many brackets as rungs between 1 epoch and `epochs` (Li et al.'s s_max + 1)."""
    return int(math.log(epochs, eta) + 1e-9) + 1


def _table_backend(table: CurveTable, space: dict, overheads: Overheads):
    from syne_tune.backend.simulator_backend.simulator_backend import SimulatorConfig
    from syne_tune.blackbox_repository.blackbox import Blackbox
    from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend
    from syne_tune.config_space import randint

    class CurveTableBlackbox(Blackbox):
        """Answers a configuration with its nearest recorded curve."""

        def __init__(self) -> None:
            super().__init__(space, {_EPOCH: randint(1, table.epochs)}, [_METRIC, _ELAPSED])

        @property
        def fidelity_values(self):
            return list(range(1, table.epochs + 1))

    class CurveTableBackend(UserBlackboxBackend):
        """Reports only the epochs the nearest curve ran (a non-finite loss ends the trial)."""

        def config_objectives(self, config: dict[str, Any], seed: int) -> list[dict]:
            params = {k: v for k, v in config.items() if k in space}
            curve = table.nearest(params)
            return [
                {_METRIC: _reported(curve.val_loss[i]), _ELAPSED: seconds, _EPOCH: i + 1}
                for i, seconds in enumerate(elapsed_at_epochs(curve, overheads, table))
            ]

        def _advance_by_outside_time(self) -> None:
            """Syne Tune advances its clock by the real time its scheduler computed between
            backend calls; the Optuna replay counts no sampler time, and real time would make
            a replay depend on the machine's load. Here the clock moves only by the simulated
            trials and the tuner's steps, so a replay is the same on any machine."""

    return CurveTableBackend(
        CurveTableBlackbox(),
        elapsed_time_attr=_ELAPSED,
        simulator_config=SimulatorConfig(0.0, 0.0, 0.0, 0.0, 0.0),
        tuner_sleep_time=TUNER_STEP_SECONDS,
    )


def _spans(frame, table: CurveTable, overheads: Overheads) -> ReplayRun:
    """One span per trial, ending at its last report: COMPLETE with its best validation loss
    if it ran its curve to the end, FAIL if its curve ended in an error or a non-finite loss
    there, PRUNED if the scheduler stopped it earlier."""
    from syne_tune.constants import ST_TUNER_TIME

    offset = table.fresh_worker_seconds if overheads.fresh_process_per_worker else 0.0
    run = ReplayRun()
    for trial_id, rows in frame.groupby("trial_id", sort=True):
        config = {k: _plain(rows.iloc[0][f"config_{k}"]) for k in _config_keys(frame)}
        curve = table.nearest(config)
        last_epoch = int(rows[_EPOCH].max())
        end = float(rows[ST_TUNER_TIME].max()) + offset
        if last_epoch < _epochs_run(curve, table.epochs):
            state = "PRUNED"
        else:
            state = "COMPLETE" if _completed(curve, table.epochs) else "FAIL"
        run.spans.append(
            TrialSpan(
                number=int(trial_id),
                slot=-1,  # Syne Tune does not say which worker ran it
                start=end - float(rows[_ELAPSED].max()),
                end=end,
                state=state,
                value=float(rows[_METRIC].min()) if state == "COMPLETE" else None,
                epochs_run=last_epoch,
                params=config,
            )
        )
    return run


def _plain(value: Any) -> Any:
    """A Python number for a NumPy one (pandas hands back np.int64), as Optuna's params are."""
    return value.item() if hasattr(value, "item") else value


def _config_keys(frame) -> list[str]:
    return [c.removeprefix("config_") for c in frame.columns if c.startswith("config_")]
