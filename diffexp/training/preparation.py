"""A run's data, from config to the encoded arrays the trainer uses: load (simulate or read)
the events, split them, fit (or take) the normalisation, encode. No run folder is needed, so
the benchmark and the tests prepare data the way a training run does without creating one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from omegaconf import DictConfig

from diffexp.data import EventSet, EventTransform, load_events, train_val_split
from diffexp.data.streaming import StreamedEvents, open_streamed_events
from diffexp.models.detector_prior import PriorValues, prior_values
from diffexp.models.light_model import light_model_for

if TYPE_CHECKING:
    from diffexp.training.streamed_batches import TrainingStream


@dataclass(frozen=True)
class PreparedData:
    """Encoded training and validation arrays, the normalisation that encoded them and the
    detector prior the configured denoiser is fed (both None when the arrays were given as
    they are, e.g. by a test).

    A file read in chunks (`stream` set) has no training arrays in memory (train_x and
    train_c hold no rows, only the shapes) and only the validation events the validator
    scores; n_train and n_val still count the whole split."""

    train_x: np.ndarray = field(repr=False)
    train_c: np.ndarray = field(repr=False)
    val_x: np.ndarray = field(repr=False)
    val_c: np.ndarray = field(repr=False)
    transform: EventTransform | None = None
    prior: PriorValues | None = field(default=None, repr=False)
    stream: TrainingStream | None = field(default=None, repr=False)

    @property
    def n_train(self) -> int:
        return self.stream.events.n_train if self.stream else int(self.train_x.shape[0])

    @property
    def n_val(self) -> int:
        return self.stream.events.n_val if self.stream else int(self.val_x.shape[0])

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


def _no_hit_log_charge(cfg: DictConfig) -> float:
    return float(cfg.model.get("no_hit_log_charge", 0.0))


def prepare_data(cfg: DictConfig, transform: EventTransform | None = None) -> PreparedData:
    """Load `cfg.data` (cached under `cfg.paths.cache_dir`), split it by `data.val_fraction`
    and `data.seed`, and encode both parts with `transform`, fitted on the training part when
    None (a resumed run passes the one it saved); compute the detector prior of `cfg.model`.
    A file `data.streaming` reads in chunks goes to `prepare_streamed_data`."""
    streamed = open_streamed_events(cfg.data)
    if streamed is not None:
        return prepare_streamed_data(cfg, streamed, transform)
    events = load_events(cfg.data, cfg.paths.cache_dir)
    train_events, val_events = train_val_split(
        events, float(cfg.data.val_fraction), int(cfg.data.seed)
    )
    if transform is None:
        transform = EventTransform.fit(train_events, no_hit_log_charge=_no_hit_log_charge(cfg))
    train_x, train_c = transform.encode(train_events)
    val_x, val_c = transform.encode(val_events)
    prior = model_prior(cfg, transform, train_events)
    return PreparedData(train_x, train_c, val_x, val_c, transform, prior)


def validation_sample_count(cfg: DictConfig) -> int:
    """Validation events the validator scores (the first ones of the split)."""
    batch = int(cfg.trainer.batch_size) * int(cfg.validation.batch_size_factor)
    return batch * int(cfg.validation.n_batches)


def prepare_streamed_data(
    cfg: DictConfig, streamed: StreamedEvents, transform: EventTransform | None = None
) -> PreparedData:
    """`prepare_data` for a file read in chunks: the normalisation fitted in one chunked
    pass, the validation events the validator scores, the light model on a bounded seeded
    subsample of the training split (data.streamed_light_model_events), and a TrainingStream
    instead of training arrays."""
    from diffexp.training.streamed_batches import TrainingStream

    if transform is None:
        transform = EventTransform.fit_chunks(
            streamed.training_chunks(), no_hit_log_charge=_no_hit_log_charge(cfg)
        )
    val_x, val_c = transform.encode(streamed.first_validation_events(validation_sample_count(cfg)))
    seed = int(cfg.data.seed)
    prior = model_prior(cfg, transform, _light_model_events(cfg, streamed))
    empty_x = np.zeros((0, streamed.n_pmt), np.float32)
    empty_c = np.zeros((0, len(streamed.condition_names)), np.float32)
    stream = TrainingStream(streamed, transform, int(cfg.data.get("shuffle_chunks", 8)), seed)
    return PreparedData(empty_x, empty_c, val_x, val_c, transform, prior, stream)


def _light_model_events(cfg: DictConfig, streamed: StreamedEvents) -> EventSet:
    """What `model_prior` reads of a streamed file: a seeded subsample of the training split
    for the light model (model.prior=learned; data.streamed_light_model_events, since its
    thousands of weights need no more than tens of thousands of events and its fit holds
    [events, PMTs, 4] features), else no events, only the PMT ids."""
    if str(cfg.model.get("prior", "none")) == "learned":
        n_events = int(cfg.data.get("streamed_light_model_events", 50000))
        return streamed.training_subsample(n_events, int(cfg.data.seed))
    empty = np.zeros((0, streamed.n_pmt), np.float32)
    no_conditions = np.zeros((0, len(streamed.condition_names)), np.float32)
    return EventSet(empty, no_conditions, streamed.condition_names, streamed.pmt_ids)
