"""Files diffexp wrote earlier and reads back - the simulated-data cache, the reconstruction
cache's description, a checkpoint's `state.json` - checked as untrusted data before use.

These files live in shared folders (`paths.cache_dir`, run folders copied from elsewhere)
that a crashed job, a full disk, another user or an older diffexp may have left broken. Read
blindly, a 0-byte cache raised a traceback on every run, an all-NaN cache "completed" a run
with a validation loss of 52,637, a `null` JSON raised AttributeError, and a checkpoint at
epoch -100 trained 102 epochs with negative numbers. So each reader asks here first: a cache
that fails is rebuilt (the caller deletes it and warns once), a checkpoint that fails is one
line naming the file and the field.

Each check returns the reason a value is unusable (None when it is fine) or raises
ValueError with it; nothing here touches a file.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np


def array_checksum(*arrays: np.ndarray) -> str:
    """SHA-256 over each array's dtype, shape and bytes: recorded when a cache is written,
    compared when it is read (a truncated, edited or swapped array no longer matches)."""
    digest = hashlib.sha256()
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(contiguous.tobytes())
    return digest.hexdigest()


def event_arrays_problem(
    charges: np.ndarray,
    conditions: np.ndarray,
    n_events: int,
    recorded_checksum: object,
) -> str | None:
    """Why cached events cannot be used, or None: shapes (n_events rows, 2-D), float dtypes,
    finite non-negative charges, finite conditions, and the checksum written with them."""
    if charges.ndim != 2 or conditions.ndim != 2:
        return f"arrays of {charges.ndim} and {conditions.ndim} dimensions instead of 2"
    if charges.shape[0] != n_events or conditions.shape[0] != n_events:
        return f"{charges.shape[0]} events instead of the configured {n_events}"
    for name, array in (("charges", charges), ("conditions", conditions)):
        if not np.issubdtype(array.dtype, np.floating):
            return f"{name} of dtype {array.dtype} instead of a float"
        if not np.all(np.isfinite(array)):
            return f"{int(np.sum(~np.isfinite(array)))} non-finite {name}"
    if np.any(charges < 0):
        return "negative charges"
    if recorded_checksum != array_checksum(charges, conditions):
        return "no checksum recorded" if recorded_checksum is None else "checksum mismatch"
    return None


def json_schema_problem(value: Any, schema: dict[str, type | tuple[type, ...]]) -> str | None:
    """Why a JSON value is not an object with each key of `schema` of its type, or None.
    (`bool` is an `int` to Python: a schema's int never accepts true/false.)"""
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__} instead of an object"
    for key, expected in schema.items():
        if key not in value:
            return f"no {key!r}"
        item = value[key]
        if isinstance(item, bool) and bool not in _as_tuple(expected):
            return f"{key}={item!r} is not a {_names(expected)}"
        if not isinstance(item, expected):
            return f"{key}={item!r} is not a {_names(expected)}"
    return None


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def _names(expected: type | tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in _as_tuple(expected))


_STATE_COUNTS = ("epoch", "step", "best_epoch", "epochs_without_improvement")
_STATE_NUMBERS = (
    "best_val_loss",
    "patience_reference_loss",
    "training_time_seconds",
    "best_sample_metric",
)


def checked_training_state(raw: Any, fields: set[str], max_epoch: int | None) -> dict[str, Any]:
    """A checkpoint's `state.json` as keyword arguments of its dataclass; raise ValueError
    naming the field when it is not an object of known fields, a count is not an integer
    >= 0, `epoch` exceeds `max_epoch` (the configured epochs), a best epoch or patience count
    exceeds `epoch`, a loss is NaN or the training time is negative or not finite."""
    problem = json_schema_problem(raw, {})
    if problem is not None:
        raise ValueError(problem)
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ValueError(f"unknown fields {', '.join(unknown)}")
    for key in _STATE_COUNTS:
        value = raw.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key}={value!r} is not an integer >= 0")
    for key in _STATE_NUMBERS:
        value = raw.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ValueError(f"{key}={value!r} is not a number")
    epoch = raw.get("epoch", 0)
    if max_epoch is not None and epoch > max_epoch:
        raise ValueError(f"epoch={epoch} is beyond the configured {max_epoch} epochs")
    for key in ("best_epoch", "epochs_without_improvement"):
        if raw.get(key, 0) > epoch:
            raise ValueError(f"{key}={raw[key]} exceeds epoch={epoch}")
    time_seconds = raw.get("training_time_seconds", 0.0)
    if not math.isfinite(time_seconds) or time_seconds < 0:
        raise ValueError(f"training_time_seconds={time_seconds!r} is not a time")
    return dict(raw)
