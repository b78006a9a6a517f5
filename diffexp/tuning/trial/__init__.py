"""The in-trial side: what runs inside each trial's job (bind to the trial, report and
prune every epoch, record the outcome in the storage and in `trial.json`)."""
