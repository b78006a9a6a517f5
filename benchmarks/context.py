"""Shared state of one benchmark run: the encoded data (prepared once, as a training run
prepares it, without a run folder) and a factory for Trainers built from the training config
with a few keys changed."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from benchmarks.config import BenchConfig
from diffexp.training.preparation import PreparedData


@dataclass
class BenchContext:
    config: BenchConfig
    work_dir: Path  # outputs/bench/<timestamp>
    data: PreparedData = field(repr=False)
    device: str = "CPU"

    @classmethod
    def prepare(cls, config: BenchConfig, work_dir: Path) -> BenchContext:
        """Set precision and seeds and prepare the training config's data once, as a
        training run does."""
        from benchmarks.machine import device_name
        from diffexp import runtime
        from diffexp.training.preparation import prepare_data

        cfg = config.train
        runtime.configure_precision(str(cfg.precision.policy), bool(cfg.precision.force))
        runtime.seed_everything(int(cfg.seed))
        return cls(config, Path(work_dir), prepare_data(cfg), device_name())

    @property
    def size(self) -> DictConfig:
        return self.config.size

    @property
    def seed(self) -> int:
        return int(self.config.bench.bench.seed)

    def train_cfg(self, changes: dict[str, Any] | None = None) -> DictConfig:
        """A copy of the training config with dotted keys replaced."""
        cfg = copy.deepcopy(self.config.train)
        for key, value in (changes or {}).items():
            OmegaConf.update(cfg, key, value, merge=False)
        return cfg

    def trainer(self, name: str, changes: dict[str, Any] | None = None):
        """A Trainer on the benchmark's data; `name` only names its (unused) run folder."""
        from diffexp.training.trainer import Trainer

        return Trainer.from_config(
            self.train_cfg(changes), self.data, self.work_dir / "runs" / name
        )
