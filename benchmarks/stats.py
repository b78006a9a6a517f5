"""Repeated, interleaved timing and the median/min/max summary every figure carries.

Candidates are timed in turn within each repeat (A, B, A, B, ...), so a burst of load from
another process on a shared machine hits all of them alike, and ratios are taken per repeat
before their median."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence


def figure(values: Sequence[float], unit: str, device: str | None = None) -> dict:
    """The summary stored for one figure: median, min and max over the repeats."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("a figure needs at least one measured value")
    result = {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "repeats": len(values),
        "unit": unit,
    }
    if device is not None:
        result["device"] = device
    return result


def time_call(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved_seconds(
    candidates: Mapping[str, Callable[[], object]], warmup: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds per call of each candidate: `warmup` untimed rounds, then `repeats` timed ones."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            seconds[name].append(time_call(fn))
    return seconds


def rates(work: float, seconds: Sequence[float]) -> list[float]:
    """Work per second for each timed repeat."""
    return [work / s for s in seconds]


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-repeat ratios of two paired series."""
    return [a / b for a, b in zip(numerators, denominators, strict=True)]
