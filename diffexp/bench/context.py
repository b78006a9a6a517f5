"""Shared state of one benchmark run: the encoded data (loaded once) and a factory for
Trainers built from the training config with a few keys changed."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from diffexp.bench.config import BenchConfig
from diffexp.models.detector_prior import PriorValues


@dataclass
class BenchContext:
    config: BenchConfig
    work_dir: Path  # outputs/bench/<timestamp>
    train_x: np.ndarray = field(repr=False)
    train_c: np.ndarray = field(repr=False)
    val_x: np.ndarray = field(repr=False)
    val_c: np.ndarray = field(repr=False)
    device: str = "CPU"
    prior: PriorValues | None = field(default=None, repr=False)  # the model's detector prior

    @classmethod
    def prepare(cls, config: BenchConfig, work_dir: Path) -> BenchContext:
        """Load and encode the training config's data once, as a training run would."""
        from diffexp.bench.machine import device_name
        from diffexp.training.session import TrainingSession

        session = TrainingSession(config.train, Path(work_dir) / "runs" / "data")
        return cls(
            config,
            Path(work_dir),
            *session.train_arrays,
            *session.val_arrays,
            device_name(),
            session.prior,
        )

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

        return Trainer(
            self.train_cfg(changes),
            self.train_x,
            self.train_c,
            self.val_x,
            self.val_c,
            self.work_dir / "runs" / name,
            prior=self.prior,
        )
