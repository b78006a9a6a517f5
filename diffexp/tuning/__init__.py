"""Hyperparameter tuning with Optuna, in three sides that meet only in the study storage:

- `sweeper/`: the process that runs a sweep (Hydra's sweeper plugin calls it): search space,
  asynchronous trial slots, cores per trial, the summary it leaves in the sweep folder;
- `trial/`: the code inside each trial's job: bind to the trial, report every epoch, prune,
  record how the trial ended (`trial.json`);
- `analysis/`: after (or during) a sweep: the report, importance, plots, recommendations, and
  the best trial as overrides for phase 2.

Shared by all three: `storage` (open or create the study storage, one-line errors) and
`pruners` (the sweeper stores the pruner config in the study, each trial job rebuilds it).
"""
