"""Memorisation: does a generator hand back its training events?

For each candidate event, the distance (log charges, all PMTs) to its nearest training
event is compared with the same distance of a fresh simulated event for the same conditions
(the reference sample). A fresh event is never much closer to the training set than another
fresh event: measured on the default detector, the ratio stays above 0.87 for 99% of them,
and the simulator's noiseless expectation still sits at 0.62 or more. A copy sits at 0. An
event whose ratio is below `COPY_DISTANCE_RATIO` counts as copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors

from diffexp.data import EventSet

# A candidate closer to a training event than half the distance of a fresh simulation of
# its conditions is a (near-)copy: fresh events do not come below 0.87 (1st percentile).
COPY_DISTANCE_RATIO = 0.5


def _log_charges(events: EventSet) -> np.ndarray:
    return np.log1p(np.maximum(events.charges.astype(np.float64), 0.0))


@dataclass
class TrainingIndex:
    """A nearest-neighbour index over the training events' log charges, and the distances
    of the reference events (fresh, never trained on) to it."""

    index: NearestNeighbors
    n_training: int
    reference_distances: np.ndarray  # [n_reference]
    reference_conditions: np.ndarray  # [n_reference, k]

    @classmethod
    def build(cls, training: EventSet, reference: EventSet) -> TrainingIndex:
        index = NearestNeighbors(n_neighbors=1).fit(_log_charges(training))
        distances = index.kneighbors(_log_charges(reference))[0][:, 0]
        return cls(index, training.n_events, distances, reference.conditions)

    def distances(self, events: EventSet) -> np.ndarray:
        """Distance of each event to its nearest training event."""
        return self.index.kneighbors(_log_charges(events))[0][:, 0]

    def distance_ratios(self, events: EventSet) -> np.ndarray:
        """Each event's nearest-training distance over a fresh event's: paired event by event
        when `events` are for the reference's conditions, else over the reference median."""
        ours = self.distances(events)
        paired = events.n_events == len(self.reference_distances) and np.array_equal(
            events.conditions, self.reference_conditions
        )
        fresh = self.reference_distances if paired else np.median(self.reference_distances)
        return ours / np.maximum(fresh, 1e-12)


def copied_fraction(training: TrainingIndex, events: EventSet) -> dict[str, float]:
    """Fraction of `events` that are (near-)copies of a training event, and the median
    distance ratio (1 for a generator that makes new events)."""
    ratios = training.distance_ratios(events)
    return {
        "copied_fraction": float(np.mean(ratios < COPY_DISTANCE_RATIO)),
        "median_distance_ratio": float(np.median(ratios)),
    }
