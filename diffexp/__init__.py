"""diffexp: a Hydra-configured experiment framework for conditional diffusion models of
detector data (PMT charge patterns), with fast validation, LR schedules, and parallel,
pruned Optuna searches."""

__version__ = "0.1.0"
