"""Section 1: the naive validation loop against diffexp's fast validation, for speed and for
accuracy. Accuracy is judged against a reference loss (the whole validation set, several
noise draws per sample): each validator's absolute error, and how well it ranks checkpoints
saved along one training run (the late ones differ little, which is where ranking is hard)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf
from scipy.stats import spearmanr

from diffexp.bench import stats
from diffexp.bench.context import BenchContext
from diffexp.training.diffusion_loss import DiffusionObjective
from diffexp.training.validation import build_validator

CONF_VALIDATION = Path(__file__).resolve().parents[2] / "conf" / "validation"


def reference_loss(
    objective: DiffusionObjective, x0: np.ndarray, cond: np.ndarray, draws: int, seed: int
) -> float:
    """Mean loss over every validation sample with `draws` (t, noise) draws each."""
    rng = np.random.default_rng(seed)
    batch = 4096

    @tf.function(reduce_retracing=True)
    def batch_sum(x_b, c_b, t_b, n_b):
        return objective.loss(x_b, c_b, t_b, n_b, training=False) * tf.cast(
            tf.shape(x_b)[0], tf.float32
        )

    total, count = 0.0, 0
    for _ in range(draws):
        t = rng.integers(0, objective.n_steps, size=len(x0)).astype(np.int32)
        noise = rng.standard_normal(x0.shape).astype(np.float32)
        for start in range(0, len(x0), batch):
            part = slice(start, start + batch)
            total += float(batch_sum(x0[part], cond[part], t[part], noise[part]))
            count += len(x0[part])
    return total / count


def _validation_cfgs(train_cfg: DictConfig) -> tuple[DictConfig, DictConfig]:
    """(diffexp's fast validation as configured, the naive original)."""
    fast = train_cfg.validation
    if fast.mode != "fast":
        fast = OmegaConf.load(CONF_VALIDATION / "fast.yaml")
    return fast, OmegaConf.load(CONF_VALIDATION / "naive.yaml")


def run(ctx: BenchContext) -> dict:
    size, seed = ctx.size, ctx.seed
    trainer = ctx.trainer("validation", {"schedule": {"name": "constant"}})
    fast_cfg, naive_cfg = _validation_cfgs(ctx.train_cfg())
    batch_size = trainer.batch_size
    fast = build_validator(fast_cfg, trainer.objective, ctx.val_x, ctx.val_c, batch_size, seed + 1)
    naive = build_validator(
        naive_cfg, trainer.objective, ctx.val_x, ctx.val_c, batch_size, seed + 2
    )

    rows = []
    n_checkpoints = int(size.n_checkpoints)
    steps_each = max(1, int(size.validation_train_steps) // n_checkpoints)
    for _ in range(n_checkpoints):
        for _ in range(steps_each):
            trainer.train_step()
        reference = reference_loss(
            trainer.objective, ctx.val_x, ctx.val_c, int(size.reference_draws), seed + 3
        )
        rows.append((reference, fast.validate(), naive.validate()))
    reference, fast_values, naive_values = (np.array(col) for col in zip(*rows, strict=True))

    seconds = stats.interleaved_seconds(
        {"naive": naive.validate, "fast": fast.validate}, int(size.warmup), int(size.repeats)
    )
    device = ctx.device
    figures = {
        "naive_validate_seconds": stats.figure(seconds["naive"], "s", device),
        "fast_validate_seconds": stats.figure(seconds["fast"], "s", device),
        "speedup": stats.figure(stats.ratios(seconds["naive"], seconds["fast"]), "x", device),
        "fast_abs_error": stats.figure(np.abs(fast_values - reference), "loss", device),
        "naive_abs_error": stats.figure(np.abs(naive_values - reference), "loss", device),
        "fast_spearman": _spearman(fast_values, reference),
        "naive_spearman": _spearman(naive_values, reference),
    }
    details = {
        "reference_losses": reference.tolist(),
        "fast_losses": fast_values.tolist(),
        "naive_losses": naive_values.tolist(),
        "checkpoint_steps": [steps_each * (i + 1) for i in range(n_checkpoints)],
        "fast_samples_per_call": fast.n_samples,
        "naive_samples_per_call": naive.n_batches * naive.batch_size,
        "validation_set_size": len(ctx.val_x),
        "reference_draws": int(size.reference_draws),
    }
    return {"figures": figures, "details": details}


def _spearman(values: np.ndarray, reference: np.ndarray) -> dict:
    """Rank correlation with the reference; NaN (constant values) counts as no ranking."""
    rho = float(spearmanr(values, reference).statistic)
    return stats.figure([rho if np.isfinite(rho) else 0.0], "rho")
