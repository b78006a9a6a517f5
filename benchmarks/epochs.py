"""What a run's metrics.jsonl says about the time spent outside its epochs (interpreter start,
imports, data, graph compilation, artifacts): the benchmarks' overhead figures."""

from __future__ import annotations

import statistics
from typing import Any


def first_epoch_excess(rows: list[dict[str, Any]]) -> float:
    """How much longer the first epoch took than the median later one: graph compilation and
    first-call set-up, which the benchmarks count as overhead; 0 with a single epoch."""
    cumulative = [0.0] + [float(r["training_time_seconds"]) for r in rows]
    durations = [b - a for a, b in zip(cumulative, cumulative[1:], strict=False)]
    if len(durations) < 2:
        return 0.0
    return max(durations[0] - statistics.median(durations[1:]), 0.0)


def share_outside_epochs(rows: list[dict[str, Any]], wall_seconds: float) -> float | None:
    """Share of `wall_seconds` spent outside the epochs of `rows`, the first epoch's compilation
    counted as outside; None without epochs or wall time."""
    if not rows or wall_seconds <= 0:
        return None
    epochs = float(rows[-1]["training_time_seconds"]) - first_epoch_excess(rows)
    return min(1.0, max(0.0, 1.0 - epochs / wall_seconds))
