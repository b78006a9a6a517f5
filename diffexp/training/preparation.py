"""A run's data, from config to the encoded arrays the trainer uses: load (simulate or read)
the events, split them, fit (or take) the normalisation, encode. No run folder is needed, so
the benchmark and the tests prepare data the way a training run does without creating one."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from omegaconf import DictConfig

from diffexp.data import EventSet, EventTransform, load_events, train_val_split
from diffexp.models.detector_prior import PriorValues, prior_values
from diffexp.models.light_model import light_model_for


@dataclass(frozen=True)
class PreparedData:
    """Encoded training and validation arrays, the normalisation that encoded them and the
    detector prior the configured denoiser is fed (both None when the arrays were given as
    they are, e.g. by a test)."""

    train_x: np.ndarray = field(repr=False)
    train_c: np.ndarray = field(repr=False)
    val_x: np.ndarray = field(repr=False)
    val_c: np.ndarray = field(repr=False)
    transform: EventTransform | None = None
    prior: PriorValues | None = field(default=None, repr=False)

    @property
    def n_train(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def n_val(self) -> int:
        return int(self.val_x.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def n_conditions(self) -> int:
        return int(self.train_c.shape[1])


def model_prior(
    cfg: DictConfig, transform: EventTransform, training: EventSet
) -> PriorValues | None:
    """The detector prior the configured denoiser is fed: any denoiser whose config has a
    `prior` key other than `none` (None: the model takes none);
    `model.prior=learned` fits the light model on `training` (or takes it from the cache)."""
    mode = str(cfg.model.get("prior", "none"))
    if mode == "none":
        return None
    light_model = None
    if mode == "learned":
        light_model = light_model_for(cfg.data, training, cfg.paths.cache_dir)
    return prior_values(cfg.data, transform, training.pmt_ids, mode, light_model)


def prepare_data(cfg: DictConfig, transform: EventTransform | None = None) -> PreparedData:
    """Load `cfg.data` (cached under `cfg.paths.cache_dir`), split it by `data.val_fraction`
    and `data.seed`, and encode both parts with `transform`, fitted on the training part when
    None (a resumed run passes the one it saved); compute the detector prior of `cfg.model`."""
    events = load_events(cfg.data, cfg.paths.cache_dir)
    train_events, val_events = train_val_split(
        events, float(cfg.data.val_fraction), int(cfg.data.seed)
    )
    if transform is None:
        transform = EventTransform.fit(
            train_events, no_hit_log_charge=float(cfg.model.get("no_hit_log_charge", 0.0))
        )
    train_x, train_c = transform.encode(train_events)
    val_x, val_c = transform.encode(val_events)
    prior = model_prior(cfg, transform, train_events)
    return PreparedData(train_x, train_c, val_x, val_c, transform, prior)
