"""Detector data: the simulator, `.npz` loading, caching, splitting and normalisation.

events = load_events(cfg.data, cfg.paths.cache_dir)
train, val = train_val_split(events, cfg.data.val_fraction, cfg.data.seed)
transform = EventTransform.fit(train)
"""

from diffexp.data.errors import DataError
from diffexp.data.events import SIMULATED_CONDITION_NAMES, EventSet, train_val_split
from diffexp.data.geometry import DetectorGeometry, build_geometry
from diffexp.data.loading import load_events, simulation_cache_key
from diffexp.data.selection import apply_pmt_selection, read_pmt_ranking
from diffexp.data.simulator import DetectorSimulator, simulate_events, simulator_from_config
from diffexp.data.transform import EventTransform

__all__ = [
    "SIMULATED_CONDITION_NAMES",
    "DataError",
    "DetectorGeometry",
    "DetectorSimulator",
    "EventSet",
    "EventTransform",
    "apply_pmt_selection",
    "build_geometry",
    "load_events",
    "read_pmt_ranking",
    "simulate_events",
    "simulation_cache_key",
    "simulator_from_config",
    "train_val_split",
]
