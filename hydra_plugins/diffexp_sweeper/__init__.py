"""diffexp's Hydra sweeper plugin: `hydra/sweeper=optuna` with async slots and pruning."""
