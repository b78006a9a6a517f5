"""Resumable checkpoints: everything needed to continue a run exactly (nanoGPT's rule):
model weights and dropout seeds, optimizer state, the best weights so far, the data/noise RNG,
step, epoch and the early-stopping state. Stored as one plain `.npz` of arrays (no pickle),
each variable under a key naming its layer or optimizer, and a JSON file, written into a
temporary folder and renamed, so a kill never leaves half a checkpoint.

The arrays go into `.npz` rather than Keras' `.weights.h5` because a checkpoint is written
every epoch: Keras walks the model in Python to write HDF5 (~85 ms for the default model, two
files an epoch), `np.savez` of the same arrays takes a few ms. `best_model.weights.h5`, the file
users and `load_run` read, stays in Keras' format and is written when training ends.
"""

from __future__ import annotations

import dataclasses
import errno
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from diffexp.errors import UserError, first_line
from diffexp.file_checks import checked_training_state
from diffexp.io_utils import atomic_write_json, read_json
from diffexp.names import BEST_WEIGHTS, CHECKPOINT_ARRAYS, CHECKPOINT_STATE, LAST_CHECKPOINT


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, truncated or does not match the configured model."""


@dataclass
class TrainingState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps completed
    best_val_loss: float = float("inf")
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    patience_reference_loss: float = float("inf")  # the last loss that beat min_delta
    training_time_seconds: float = 0.0
    best_sample_metric: float = float("inf")  # trainer.checkpoint_metric=sample_auc: best so far


def _variables_bytes(variables) -> int:
    return int(sum(np.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables))


def weights_bytes(model) -> int:
    return _variables_bytes(model.weights)


def bytes_needed(model, optimizer) -> int:
    """Disk the run's files can need at once: best weights and their temporary copy, and the
    last checkpoint (weights, best weights, optimizer state) twice while a new one replaces
    the old."""
    weights = _variables_bytes(model.weights)
    return 2 * weights + 2 * (2 * weights + _variables_bytes(optimizer.variables))


def ensure_free_space(run_dir: Path, n_bytes: int) -> None:
    """Raise OSError(ENOSPC) naming the folder before a write that cannot fit: HDF5 handles a
    full disk badly (its half-written file crashes the interpreter at exit)."""
    free = shutil.disk_usage(run_dir).free
    if free < n_bytes:
        raise OSError(
            errno.ENOSPC,
            f"No space left on device (needs {n_bytes / 1e6:.1f} MB, {free / 1e6:.1f} MB free)",
            str(run_dir),
        )


def save_checkpoint(
    run_dir: Path,
    model,
    optimizer,
    rng: tf.random.Generator,
    state: TrainingState,
    best_weights: list[np.ndarray] | None = None,
) -> None:
    final = Path(run_dir) / LAST_CHECKPOINT
    staging = Path(run_dir) / f".{LAST_CHECKPOINT}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    ensure_free_space(run_dir, bytes_needed(model, optimizer) // 2)
    staging.mkdir(parents=True)
    arrays = {
        **_keyed_arrays("model", model_variable_keys(model)),
        **_keyed_arrays("optimizer", optimizer_variable_keys(optimizer)),
        **_numbered("best", best_weights or []),
        "rng_state": rng.state.numpy(),
    }
    np.savez(staging / CHECKPOINT_ARRAYS, **arrays)
    atomic_write_json(staging / CHECKPOINT_STATE, asdict(state))
    old = Path(run_dir) / f".{LAST_CHECKPOINT}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _numbered(prefix: str, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}_{i}": array for i, array in enumerate(arrays)}


def model_variable_keys(model) -> dict[str, object]:
    """{"<layer name>/<i>": variable} over every variable of the model (weights and dropout
    seed generators). Layer names are set by the model builders; Keras' own paths carry
    numbers from a process-wide counter (`seed_generator_3`), so they differ between two
    models built in one process."""
    keyed: dict[str, object] = {}
    seen: set[int] = set()
    for layer in model.layers:
        for i, variable in enumerate(layer.variables):
            if id(variable) not in seen:
                seen.add(id(variable))
                keyed[f"{layer.name}/{i}"] = variable
    if len(seen) != len(model.variables):
        raise ValueError("a model variable belongs to no layer")
    return keyed


def optimizer_variable_keys(optimizer) -> dict[str, object]:
    """{"<optimizer class>/<i>": variable}: each variable under the optimizer that owns it (a
    LossScaleOptimizer and the optimizer it wraps), numbered within that owner, so a wrapper
    that adds variables cannot shift another's."""
    owners = {optimizer.name: type(optimizer).__name__}
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:
        owners[inner.name] = type(inner).__name__
    keyed: dict[str, object] = {}
    counts: dict[str, int] = {}
    for variable in optimizer.variables:
        owner = owners.get(variable.path.split("/", 1)[0], "other")
        keyed[f"{owner}/{counts.get(owner, 0)}"] = variable
        counts[owner] = counts.get(owner, 0) + 1
    return keyed


def _keyed_arrays(prefix: str, keyed: dict[str, object]) -> dict[str, np.ndarray]:
    """`<prefix>_<i>` arrays and `<prefix>_keys` (a plain string array, no pickle): restore
    matches arrays to variables by key, never by position in the list."""
    return {
        **_numbered(prefix, [np.asarray(variable.numpy()) for variable in keyed.values()]),
        f"{prefix}_keys": np.array(list(keyed), dtype=str),
    }


def _assign(prefix: str, keyed: dict[str, object], arrays) -> None:
    """Assign each stored array to the variable with its key; refuse a variable the checkpoint
    lacks, one it holds that the model lacks, or another shape."""
    stored = {str(key): arrays[f"{prefix}_{i}"] for i, key in enumerate(arrays[f"{prefix}_keys"])}
    missing = sorted(keyed.keys() - stored.keys())
    extra = sorted(stored.keys() - keyed.keys())
    if missing or extra:
        raise ValueError(
            f"{prefix} variables differ: not in the checkpoint {missing[:3]}, "
            f"not in the model {extra[:3]}"
        )
    for key, variable in keyed.items():
        value = stored[key]
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{prefix} variable {variable.path}: shape {value.shape}")
        variable.assign(value)


def save_best_weights(run_dir: Path, model) -> None:
    """The best weights so far, written to a temporary file and renamed."""
    final = Path(run_dir) / BEST_WEIGHTS
    tmp = Path(run_dir) / ".best_model.tmp.weights.h5"
    ensure_free_space(run_dir, weights_bytes(model))
    try:
        model.save_weights(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written weights behind
        raise
    tmp.replace(final)


def has_checkpoint(run_dir: Path) -> bool:
    return (Path(run_dir) / LAST_CHECKPOINT / CHECKPOINT_STATE).exists()


def load_training_state(folder: Path, max_epoch: int | None) -> TrainingState:
    """A checkpoint's state.json, schema- and range-checked (diffexp.file_checks); a bad one
    is a CheckpointError naming the file and the field, never a silent negative epoch."""
    path = folder / CHECKPOINT_STATE
    try:
        fields = {f.name for f in dataclasses.fields(TrainingState)}
        return TrainingState(**checked_training_state(read_json(path), fields, max_epoch))
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint state {path} is unusable ({str(error).splitlines()[0]}); start a new "
            "run, or raise trainer.epochs to continue one that has trained more epochs"
        ) from error


def load_checkpoint(
    run_dir: Path, model, optimizer, rng: tf.random.Generator, max_epoch: int | None = None
) -> tuple[TrainingState, list[np.ndarray] | None]:
    """Restore model, optimizer and RNG in place; return the state and the best weights.
    `max_epoch`: the configured epochs, which the checkpoint's epoch may not exceed."""
    folder = Path(run_dir) / LAST_CHECKPOINT
    state = load_training_state(folder, max_epoch)
    try:
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        with np.load(folder / CHECKPOINT_ARRAYS, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        _assign("model", model_variable_keys(model), arrays)
        _assign("optimizer", optimizer_variable_keys(optimizer), arrays)
        rng.state.assign(arrays["rng_state"])
        best = [arrays[f"best_{i}"] for i in range(len(model.weights)) if f"best_{i}" in arrays]
        if best and len(best) != len(model.weights):
            raise ValueError(f"{len(best)} best-weight arrays for {len(model.weights)} weights")
    except Exception as error:  # noqa: BLE001 - any failure means the checkpoint is unusable
        raise CheckpointError(
            f"checkpoint {folder} is truncated or does not match the configured model "
            f"({type(error).__name__}: {first_line(str(error))}); "
            "start a new run or fix the config to match it"
        ) from error
    return state, best or None
