"""Section 5: generation speed of the trained denoiser, DDIM (strided) and DDPM (full chain)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from benchmarks import stats
from benchmarks.context import BenchContext
from diffexp.models import NoiseSchedule, build_denoiser, sample_ddim, sample_ddpm


def run(ctx: BenchContext, model=None) -> dict:
    size = ctx.size
    n_events, ddim_steps = int(size.sampling_events), int(size.ddim_steps)
    cfg = ctx.train_cfg()
    if model is None:
        model = build_denoiser(
            cfg.model, ctx.data.val_x.shape[1], ctx.data.val_c.shape[1], ctx.data.prior
        )
    schedule = NoiseSchedule.from_config(cfg.diffusion)
    rng = np.random.default_rng(ctx.seed)
    conditions = ctx.data.val_c[rng.integers(0, len(ctx.data.val_c), size=n_events)]
    n_features = ctx.data.val_x.shape[1]
    ddim_steps = min(ddim_steps, schedule.n_steps)
    candidates = {
        "ddim": lambda: sample_ddim(
            model, schedule, conditions, n_features, steps=ddim_steps, batch_size=n_events
        ),
        "ddpm": lambda: sample_ddpm(model, schedule, conditions, n_features, batch_size=n_events),
    }
    # one short DDIM call warms the (eager) model up; a DDPM warm-up would cost a whole chain
    for _ in range(int(size.warmup)):
        sample_ddim(model, schedule, conditions[:8], n_features, steps=2, batch_size=8)
    seconds = stats.interleaved_seconds(candidates, 0, int(size.sampling_repeats))
    call = _model_call_seconds(model, conditions, n_features, int(size.warmup), int(size.repeats))
    device = ctx.device
    figures = {
        "ddim_events_per_second": stats.figure(
            stats.rates(n_events, seconds["ddim"]), "events/s", device
        ),
        "ddpm_events_per_second": stats.figure(
            stats.rates(n_events, seconds["ddpm"]), "events/s", device
        ),
    }
    figures["eager_model_call_ms"] = stats.figure([1e3 * v for v in call["eager"]], "ms", device)
    figures["compiled_model_call_ms"] = stats.figure(
        [1e3 * v for v in call["compiled"]], "ms", device
    )
    details = {"events": n_events, "ddim_steps": ddim_steps, "ddpm_steps": schedule.n_steps}
    return {"figures": figures, "details": details}


def _model_call_seconds(model, conditions, n_features: int, warmup: int, repeats: int) -> dict:
    """One denoiser call as the samplers make it (eager) and inside a tf.function: the gap is
    the per-step overhead that compiling the sampler loop would remove."""
    x = tf.random.stateless_normal([len(conditions), n_features], seed=[5, 6])
    steps = tf.fill([len(conditions)], tf.constant(10, tf.int32))
    cond = tf.constant(conditions, tf.float32)
    compiled = tf.function(lambda x, t, c: model([x, t, c], training=False))
    calls = 20
    return {
        name: [s / calls for s in seconds]
        for name, seconds in stats.interleaved_seconds(
            {
                "eager": lambda: [model([x, steps, cond], training=False) for _ in range(calls)][
                    -1
                ].numpy(),
                "compiled": lambda: [compiled(x, steps, cond) for _ in range(calls)][-1].numpy(),
            },
            warmup,
            repeats,
        ).items()
    }
