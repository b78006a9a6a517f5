"""Compiled trainers kept in a long-lived worker's memory across trials, one per graph shape.

Tracing and compiling the train step and the validation loss took ~15 % of a phase-1 trial in
a warm pool worker. Trials whose graphs would be the same need not pay it again: the worker
keeps one trainer (model, optimizer, compiled functions) per shape key and starts the next
trial with that key on it (`Trainer.reuse_for`): the weights a fresh build draws for the
trial's seed are assigned in place (the trainer remembers them per seed), the optimizer's
state is reset to before its first step, and the learning rates (any schedule, as a table)
and AdamW's weight decay, which the step reads from variables, are assigned. A trial on a
reused trainer trains exactly as a fresh one (tests/training/test_trainer_cache.py compares
the loss curves).

The shape key (`shape_key`) holds everything the graphs are traced from:
- the model config (architecture, widths, ...) and the diffusion config (the noise tables);
- the prepared data (`worker_cache.data_key`: the training and validation arrays, the prior);
- `trainer.batch_size`, `optimizer.accumulation_steps` and the resolved `trainer.jit_compile`;
- the precision policy in force (float16 adds a loss-scale optimizer);
- the optimizer's name and the numbers Keras writes into its step as constants (`beta_1`,
  `beta_2`, `epsilon`, `gradient_clip`): a search over one of these compiles per value;
- the validation config (mode, batch size factor, batches, XLA).
A run that averages its weights (`trainer.ema_momentum`, phase 2) is never kept or reused: the
average starts from the run's own initial weights, which a reset to another run's start would
not give.
Not in it: `optimizer.lr`, `optimizer.weight_decay`, the whole `schedule` group, `seed`,
`trainer.epochs` and `steps_per_epoch` (they size the learning-rate table, whose length the
graph leaves open), `steps_per_execution`, early stopping and checkpointing.

Off by default, like the data cache: a single run compiles once anyway. The pool worker
switches it on; the benchmark switches it on and off to measure what it saves. The LR range
test always builds its own trainer (its ramp runs in the graph).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from diffexp.training import worker_cache

if TYPE_CHECKING:  # TensorFlow is imported by the job, after it has sized its thread pools
    from diffexp.training.preparation import PreparedData
    from diffexp.training.trainer import Trainer

# Trainers kept at once: phase 1 searches 3 widths x 3 embedding sizes, 9 shapes. Each holds a
# small model and a copy of the training arrays as tensors (~10 MB at the default profile).
MAX_ENTRIES = 9

OPTIMIZER_GRAPH_KEYS = ("name", "beta_1", "beta_2", "epsilon", "gradient_clip")

_memory: worker_cache.WorkerMemory[Trainer] = worker_cache.WorkerMemory(MAX_ENTRIES)


enable = _memory.enable  # reuse compiled trainers across trials in this process (on=False: stop)
clear = _memory.clear  # forget every kept trainer
enabled = _memory.is_enabled


def kept_count() -> int:
    """How many compiled trainers this process keeps."""
    return len(_memory)


def shape_key(cfg: DictConfig) -> str:
    """What the traced train step and validation loss depend on (the module docstring lists
    it); two runs with the same key can share them."""
    import keras

    from diffexp.training.trainer import TrainerSettings

    settings = TrainerSettings.from_config(cfg)
    parts = {
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "diffusion": OmegaConf.to_container(cfg.diffusion, resolve=True),
        "data": worker_cache.data_key(cfg),
        "graph_settings": settings.graph_settings(),
        "precision": keras.mixed_precision.global_policy().name,
        "optimizer": {k: cfg.optimizer.get(k) for k in OPTIMIZER_GRAPH_KEYS},
        "validation": OmegaConf.to_container(cfg.validation, resolve=True),
    }
    return json.dumps(parts, sort_keys=True, default=str)


def trainer_for(cfg: DictConfig, data: PreparedData, run_dir: Path) -> Trainer:
    """The trainer of a new run as `Trainer.from_config` builds it; when enabled, a kept one
    with the same shape key, reset for this run, instead."""
    from diffexp.training.trainer import Trainer

    if not _memory.enabled or cfg.trainer.get("ema_momentum") is not None:
        return Trainer.from_config(cfg, data, run_dir)
    key = shape_key(cfg)
    kept = _memory.get(key)
    if kept is not None:
        return kept.reuse_for(cfg, data, run_dir)
    return _memory.keep(key, Trainer.from_config(cfg, data, run_dir))
