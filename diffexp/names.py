"""The names that cross processes and folders, each written once.

A training run writes its folder and a later process (verify, a resumed run, the benchmark,
the analysis) reads it; the sweeper writes a study and each trial job reads it back. Both
sides import the name from here, so no module writes these as literals. Standard library
only: every layer imports this module.
"""

from __future__ import annotations

from pathlib import Path

# ---- a training run's folder (hydra.run.dir, or one trial's folder in a sweep) ------------
RUN_CONFIG_FILE = Path(".hydra") / "config.yaml"  # the composed config Hydra saves
METRICS_FILE = "metrics.jsonl"  # one JSON line per epoch
SUMMARY_FILE = "training_summary.json"  # how the run ended, its best value, the environment
CURVES_FILE = "training_curves.png"
TRANSFORM_FILE = "data_transform.json"  # the normalisation, to decode generated events
LAST_CHECKPOINT = "last_checkpoint"  # folder: everything needed to resume exactly
CHECKPOINT_ARRAYS = "arrays.npz"  # model_<i>, optimizer_<i> (+ _keys), best_<i> (if any), rng_state
CHECKPOINT_STATE = "state.json"  # epoch, step, early-stopping state
BEST_WEIGHTS = "best_model.weights.h5"  # what `load_run` and users read
TRIAL_FILE = "trial.json"  # a sweep trial: what ran, how it ended, what it scored
VERIFICATION_FILE = "verification.json"  # phase 3 (conf/verify.yaml `output_file`)
LR_FIND_REPORT = "lr_find.json"  # the LR range test's losses and suggestion
LR_FIND_PLOT = "lr_find.png"

# ---- a sweep's folder (hydra.sweep.dir) and the analysis' output folder --------------------
SWEEP_RESULTS_FILE = "optimization_results.yaml"  # the official sweeper's format
SWEEP_SUMMARY_FILE = "sweep_summary.yaml"
ANALYSIS_RESULTS_FILE = "diffusion_hyperopt_results.json"

# ---- study and trial user attributes in the shared Optuna storage --------------------------
FAIL_REASON_ATTR = "fail_reason"  # trial: why it is FAIL
RUN_DIR_ATTR = "run_dir"  # trial: its job folder (trial.json), recorded by the job
PRUNER_ATTR = "diffexp_pruner"  # study: the pruner config every trial job rebuilds
FIXED_FROM_ATTR = "fixed_from"  # study: staged search, the values fixed from another study
LIVENESS_ATTR = "diffexp_liveness"  # study: {"interval": s, "grace": s}, read by every trial job
SEED_CLAIM_ATTR = "diffexp_configured_seed_taken_by"  # study: its first sweeper (host, pid)
SEED_ATTR = "sampler_seed"  # trial: the seed stream of the sweeper that asked it
HEARTBEAT_ATTR = "diffexp:heartbeat"  # trial system attr (journal storages): last beat, Unix s

# ---- the overrides by which the sweeper binds a job to its trial (conf/config.yaml tuning) -
TUNING_STUDY_NAME = "tuning.study_name"
TUNING_STORAGE = "tuning.storage"
TUNING_TRIAL_NUMBER = "tuning.trial_number"
