"""Section 1: the naive validation loop against diffexp's fast validation, for speed and for
accuracy. Accuracy is judged against a reference loss (the whole validation set, several
noise draws per sample): each validator's absolute error, and how well it ranks checkpoints
saved along one training run (the late ones differ little, which is where ranking is hard)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf
from scipy.stats import spearmanr

from benchmarks import close_ranking, stats
from benchmarks.context import BenchContext
from diffexp.config import CONF_DIR
from diffexp.training.diffusion_loss import DiffusionObjective
from diffexp.training.validation import build_validator

DRAW_SEEDS = 8  # draw seeds behind the one-draw error spread
CONF_VALIDATION = CONF_DIR / "validation"


class LossEvaluator:
    """The validation loss of given (t, noise) draws, compiled once: the reference (several
    draws per sample) and the fixed-draw variants compared in the details."""

    def __init__(self, objective: DiffusionObjective, x0: np.ndarray, cond: np.ndarray) -> None:
        self.objective, self.x0, self.cond = objective, x0, cond

        def batch_sum(x_b, c_b, t_b, n_b):
            n = tf.cast(tf.shape(x_b)[0], tf.float32)
            return objective.loss(x_b, c_b, t_b, n_b, training=False) * n

        self._batch_sum = tf.function(batch_sum, reduce_retracing=True)

    def draw(self, rng: np.random.Generator, n: int, stratified: bool):
        """One (t, noise) per sample; stratified t covers [0, T) evenly, in random order."""
        n_steps = self.objective.n_steps
        if stratified:
            t = ((np.arange(n) + rng.random(n)) * n_steps / n).astype(np.int32)
            t = rng.permutation(np.minimum(t, n_steps - 1))
        else:
            t = rng.integers(0, n_steps, size=n).astype(np.int32)
        return t, rng.standard_normal((n, self.x0.shape[1])).astype(np.float32)

    def mean_loss(self, t: np.ndarray, noise: np.ndarray, batch: int = 4096) -> float:
        n = len(t)
        total = 0.0
        for start in range(0, n, batch):
            part = slice(start, min(start + batch, n))
            total += float(self._batch_sum(self.x0[part], self.cond[part], t[part], noise[part]))
        return total / n

    def reference(self, draws: int, seed: int) -> float:
        """Mean loss over every sample with `draws` independent draws each."""
        rng = np.random.default_rng(seed)
        n = len(self.x0)
        return float(np.mean([self.mean_loss(*self.draw(rng, n, False)) for _ in range(draws)]))

    def fixed_draw_errors(
        self, n_samples: int, reference: float, stratified: bool, seeds: int, seed: int
    ) -> list[float]:
        """|loss - reference| of a one-draw validator over the first n_samples, per seed."""
        errors = []
        for offset in range(seeds):
            rng = np.random.default_rng(seed + 100 + offset)
            t, noise = self.draw(rng, n_samples, stratified)
            errors.append(abs(self.mean_loss(t, noise) - reference))
        return errors


def _validation_cfgs(
    train_cfg: DictConfig, naive_batches: int | None
) -> tuple[DictConfig, DictConfig]:
    """(diffexp's fast validation as configured, the naive original, 50 batches unless the
    size shortens it)."""
    fast = train_cfg.validation
    if fast.mode != "fast":
        fast = OmegaConf.load(CONF_VALIDATION / "fast.yaml")
    naive = OmegaConf.load(CONF_VALIDATION / "naive.yaml")
    if naive_batches is not None:
        naive.n_batches = int(naive_batches)
    return fast, naive


def run(ctx: BenchContext) -> dict:
    size, seed = ctx.size, ctx.seed
    trainer = ctx.trainer("validation", {"schedule": {"name": "constant"}})
    fast_cfg, naive_cfg = _validation_cfgs(ctx.train_cfg(), size.naive_batches)
    batch_size = trainer.settings.batch_size
    fast = build_validator(
        fast_cfg, trainer.objective, ctx.data.val_x, ctx.data.val_c, batch_size, seed + 1
    )
    naive = build_validator(
        naive_cfg, trainer.objective, ctx.data.val_x, ctx.data.val_c, batch_size, seed + 2
    )

    evaluator = LossEvaluator(trainer.objective, ctx.data.val_x, ctx.data.val_c)
    rows = []
    n_checkpoints = int(size.n_checkpoints)
    steps_each = max(1, int(size.validation_train_steps) // n_checkpoints)
    for _ in range(n_checkpoints):
        previous = trainer.model.get_weights()
        for _ in range(steps_each):
            trainer.train_step()
        reference = evaluator.reference(int(size.reference_draws), seed + 3)
        rows.append((reference, fast.validate(), naive.validate()))
    close = _close_ranking(ctx, trainer, evaluator, fast, naive, previous)
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
        "naive_noise": stats.figure([close["naive_noise"]], "loss", device),
        "close_pairs": stats.figure([len(close["pairs"])], "pairs", device),
    }
    for name in ("fast", "naive"):
        if close[f"{name}_concordance"] is not None:
            figures[f"{name}_close_concordance"] = stats.figure(
                [close[f"{name}_concordance"]], "fraction", device
            )
    # what a different draw would give: the fast validator's error spread over draw seeds,
    # with uniform t (as it draws now) and with stratified t (a proposal), on the last checkpoint
    for stratified, name in (
        (False, "one_draw_error_uniform_t"),
        (True, "one_draw_error_stratified_t"),
    ):
        errors = evaluator.fixed_draw_errors(
            fast.n_samples, float(reference[-1]), stratified, DRAW_SEEDS, seed
        )
        figures[name] = stats.figure(errors, "loss", device)
    details = {
        "reference_losses": reference.tolist(),
        "fast_losses": fast_values.tolist(),
        "naive_losses": naive_values.tolist(),
        "checkpoint_steps": [steps_each * (i + 1) for i in range(n_checkpoints)],
        "fast_samples_per_call": fast.n_samples,
        "naive_samples_per_call": naive.n_batches * naive.batch_size,
        "validation_set_size": len(ctx.data.val_x),
        "reference_draws": int(size.reference_draws),
        "close_ranking": close,
    }
    return {"figures": figures, "details": details}


def _close_ranking(ctx, trainer, evaluator, fast, naive, previous) -> dict:
    """Rank weights interpolated between the last two checkpoints (close_ranking): the
    reference, fast and naive losses of each, the naive loop's noise on the last checkpoint,
    and each validator's concordance on the pairs closer than that noise."""
    size, seed = ctx.size, ctx.seed
    weight_sets = close_ranking.interpolated_weights(
        previous, trainer.model.get_weights(), int(size.close_checkpoints)
    )
    values = close_ranking.measure(
        trainer.model,
        weight_sets,
        {"fast": fast.validate, "naive": naive.validate},
        lambda: evaluator.reference(int(size.reference_draws), seed + 3),
    )
    noise = close_ranking.noise_of(naive.validate, int(size.naive_noise_repeats))
    pairs = close_ranking.close_pairs(values["reference"], noise)
    return {
        **{f"{name}_losses": v for name, v in values.items()},
        "naive_noise": noise,
        "pairs": pairs,
        "fast_concordance": close_ranking.concordance(values["fast"], values["reference"], pairs),
        "naive_concordance": close_ranking.concordance(values["naive"], values["reference"], pairs),
    }


def _spearman(values: np.ndarray, reference: np.ndarray) -> dict:
    """Rank correlation with the reference; NaN (constant values) counts as no ranking."""
    rho = float(spearmanr(values, reference).statistic)
    return stats.figure([rho if np.isfinite(rho) else 0.0], "rho")
