"""Generate events from a trained run for given conditions, timed."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from diffexp.data import EventSet
from diffexp.data.readout import PeReadout, readout_from_config
from diffexp.errors import ConfigError

SAMPLERS: tuple[str, ...] = ("ddim", "ddpm")
# Cap on a decoded charge: a diverging model's log-charge overflows exp() to inf, which no
# metric can histogram; a million PE per PMT is far beyond any physical event here.
MAX_CHARGE_PE = 1.0e6
# The readout's random stream, apart from the sampler's (which draws from `seed` itself).
_READOUT_STREAM = 7


@dataclass
class Generated:
    events: EventSet
    seconds: float
    non_finite_charges: int  # decoded values that were NaN or inf (set to 0 or the cap)
    readout: PeReadout | None = None  # the single-PE readout applied (None: charges as generated)
    readout_count_prior: str | None = None  # where its photoelectron counts' prior came from

    @property
    def events_per_second(self) -> float:
        return self.events.n_events / max(self.seconds, 1e-9)


def generate(
    loaded,
    conditions: np.ndarray,
    condition_names: tuple[str, ...],
    pmt_ids: np.ndarray,
    sampler: str = "ddim",
    steps: int = 50,
    eta: float = 0.0,
    seed: int = 0,
    batch_size: int = 1024,
    hit_threshold_pe: float = 0.0,
    readout: bool = True,
    expected_pe: np.ndarray | None = None,
) -> Generated:
    """Events from `loaded` (a diffexp.models.loading.LoadedRun) for physical `conditions`.

    Decoded charges below `hit_threshold_pe` read 0, as the detector's readout does: the
    model's log1p decoding gives tiny positive values where the detector gives no hit.
    With `readout`, the run's `data.readout` (diffexp.data.readout) then reads its low hits
    out as the detector reads photoelectrons; false gives the model's charges as generated.
    `expected_pe` [N, n_pmt], the detector's expectation for `conditions` (the simulator's or
    the learned light model's), makes each hit's count prior Poisson, which keeps every PMT's
    law; without it the prior is deconvolved from the generated hits (the spectrum only).
    """
    from diffexp.models import sample_ddim, sample_ddpm

    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler={sampler!r} is unknown: use one of {', '.join(SAMPLERS)}")
    transform = loaded.transform
    encoded = transform.encode_conditions(conditions)
    start = time.perf_counter()
    if sampler == "ddim":
        x = sample_ddim(
            loaded.model,
            loaded.schedule,
            encoded,
            transform.n_pmt,
            steps=steps,
            eta=eta,
            seed=seed,
            batch_size=batch_size,
        )
    else:
        x = sample_ddpm(
            loaded.model,
            loaded.schedule,
            encoded,
            transform.n_pmt,
            seed=seed,
            batch_size=batch_size,
        )
    seconds = time.perf_counter() - start
    with np.errstate(over="ignore", invalid="ignore"):
        charges = transform.decode_charges(x)
    non_finite = int(np.size(charges) - np.count_nonzero(np.isfinite(charges)))
    charges = np.minimum(np.nan_to_num(charges, nan=0.0, posinf=MAX_CHARGE_PE), MAX_CHARGE_PE)
    charges[charges < hit_threshold_pe] = 0.0
    pe_readout = readout_from_config(loaded.cfg.data, hit_threshold_pe) if readout else None
    count_prior = None
    if pe_readout is not None:
        rng = np.random.default_rng([seed, _READOUT_STREAM])
        charges = pe_readout.apply(charges, rng, expected_pe)
        count_prior = "deconvolved" if expected_pe is None else "expectation"
    events = EventSet(charges, np.asarray(conditions, np.float32), condition_names, pmt_ids)
    return Generated(events, seconds, non_finite, pe_readout, count_prior)
