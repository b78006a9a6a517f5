"""Tiny learning-curve tables for the replay tests: the file format of
`benchmarks/data/curves_*.json` with a handful of hand-made curves, so a test can say which
trial is fast, slow or good and check the simulated clock against it."""

from __future__ import annotations

from typing import Any

from benchmarks import curve_table

FRESH = 10.0  # seconds a fresh worker process takes before its first trial
STARTUP, COMPILE = 2.0, 0.5  # each trial's start-up and first-epoch compilation


def curve(
    params: dict[str, Any],
    epoch_seconds: tuple[float, ...] = (1.0, 1.0, 1.0),
    losses: tuple[float, ...] = (0.5, 0.4, 0.3),
    **extra: Any,
) -> dict[str, Any]:
    """One recorded trial: its params, per-epoch losses and times, and its overheads."""
    return {
        "params": params,
        "val_loss": list(losses),
        "epoch_seconds": list(epoch_seconds),
        "startup_seconds": STARTUP,
        "compile_seconds": COMPILE,
        **extra,
    }


def table(
    trials: list[dict[str, Any]], epochs: int = 3, space: dict[str, str] | None = None
) -> curve_table.CurveTable:
    return curve_table.from_dict(
        {
            "schema_version": 1,
            "fresh_worker_seconds": FRESH,
            "epochs": epochs,
            "space": space or {},
            "trials": trials,
        }
    )
