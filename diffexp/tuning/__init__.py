"""Hyperparameter tuning with Optuna, in three sides that meet only in the study:

- `sweeper/`: the process that runs a sweep (Hydra's sweeper plugin calls it): search space,
  asynchronous trial slots, cores per trial, the summary it leaves in the sweep folder;
- `trial/`: the code inside each trial's job: bind to the trial, report every epoch, prune;
- `analysis/`: after (or during) a sweep: the report, importance, plots, recommendations, and
  the best trial as overrides for phase 2.

Below all three: `study` (the one door to a study: every storage call retried once, the
heartbeats, a trial's end as one `TrialOutcome` written by one `record_outcome`, and every use
of Optuna's private API), `outcome` (that value and `trial.json`), `liveness` (which trials
are dead, and their retry), `storage` (open a storage URL, one-line errors) and `pruners` (the
sweeper stores the pruner config in the study, each trial job rebuilds it). The packages
import downwards only (`tests/test_layers.py` checks modules and packages).
"""
