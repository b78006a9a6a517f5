"""diffexp's Hydra sweeper plugin: async slots and pruning behind the official Optuna schema.

diffexp's own app selects it with `hydra/sweeper=optuna` (conf/hydra/sweeper/optuna.yaml);
any other Hydra app with `hydra/sweeper=diffexp_optuna` (registered in `config`).
"""
