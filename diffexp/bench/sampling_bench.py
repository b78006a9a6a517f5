"""Section 5: generation speed of the trained denoiser, DDIM (strided) and DDPM (full chain)."""

from __future__ import annotations

import numpy as np

from diffexp.bench import stats
from diffexp.bench.context import BenchContext
from diffexp.models import NoiseSchedule, build_denoiser, sample_ddim, sample_ddpm


def run(ctx: BenchContext, model=None) -> dict:
    size = ctx.size
    n_events, ddim_steps = int(size.sampling_events), int(size.ddim_steps)
    cfg = ctx.train_cfg()
    if model is None:
        model = build_denoiser(cfg.model, ctx.val_x.shape[1], ctx.val_c.shape[1])
    schedule = NoiseSchedule.from_config(cfg.diffusion)
    rng = np.random.default_rng(ctx.seed)
    conditions = ctx.val_c[rng.integers(0, len(ctx.val_c), size=n_events)]
    n_features = ctx.val_x.shape[1]
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
    seconds = stats.interleaved_seconds(candidates, 0, int(size.repeats))
    device = ctx.device
    figures = {
        "ddim_events_per_second": stats.figure(
            stats.rates(n_events, seconds["ddim"]), "events/s", device
        ),
        "ddpm_events_per_second": stats.figure(
            stats.rates(n_events, seconds["ddpm"]), "events/s", device
        ),
    }
    details = {"events": n_events, "ddim_steps": ddim_steps, "ddpm_steps": schedule.n_steps}
    return {"figures": figures, "details": details}
