"""Process-wide setup that must happen before TensorFlow runs its first op: thread pools,
seeds and the dtype policy. Parallel trials each get their share of the cores, so they don't
fight over them (DIFFEXP_THREADS is set by the sweeper, SLURM_CPUS_PER_TASK by SLURM)."""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

THREADS_ENV = "DIFFEXP_THREADS"  # threads per trial, set by the sweeper for local launchers

# Quieter TensorFlow: must be set before the first `import tensorflow`.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Packages `import keras` (and so `import tensorflow`, which imports Keras) only probes for its
# optional scikit-learn wrappers (~0.7 s) and plot galleries (matplotlib.pyplot, ~0.3 s);
# diffexp uses neither through Keras.
KERAS_OPTIONAL_PACKAGES = ("sklearn", "matplotlib")


def import_tensorflow() -> ModuleType:
    """Import TensorFlow and Keras, the first time with Keras' optional packages hidden, so
    every training process saves ~1 s of start-up. They stay fully importable afterwards
    (diffexp.verification uses sklearn, the plots matplotlib); in this process only Keras'
    own sklearn wrappers and plot galleries then raise ImportError. A no-op for a package
    that is already imported, and for all of them once TensorFlow or Keras is."""
    if "tensorflow" not in sys.modules and "keras" not in sys.modules:
        with _hidden_from_import([n for n in KERAS_OPTIONAL_PACKAGES if n not in sys.modules]):
            import keras  # noqa: F401 - bound to the hidden packages' absence from now on
            import tensorflow  # noqa: F401
    import tensorflow as tf

    return tf


@contextmanager
def _hidden_from_import(names: list[str]) -> Iterator[None]:
    """`import name` raises ImportError inside the block: None in sys.modules is the import
    system's own "not importable" mark. Not thread-safe; meant for process start-up."""
    for name in names:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in names:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def thread_count(configured: int | None) -> int:
    """The threads this job may use: config, then the sweeper's share, then SLURM, then all."""
    if configured:
        cores = available_cores()
        if int(configured) > cores:
            log.warning(
                "runtime.threads=%d capped to the %d cores this process may run on",
                int(configured),
                cores,
            )
            return cores
        return int(configured)
    for variable in (THREADS_ENV, "SLURM_CPUS_PER_TASK"):
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return available_cores()


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def configure_threads(configured: int | None) -> int:
    """Fix TensorFlow's thread pools; entry points call it before anything imports TensorFlow,
    so this is where it is first imported (lean, see import_tensorflow)."""
    tf = import_tensorflow()
    threads = thread_count(configured)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        # The runtime is already initialised (e.g. a second run in one process): keep it.
        log.debug("TensorFlow threads already fixed; keeping them")
    return threads


_tensorflow_seed: int | None = None  # the seed seed_everything last gave TensorFlow
_seeding = threading.Lock()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, Keras (`keras.utils.set_random_seed`) and TensorFlow, TensorFlow
    only when its seed changes: setting it clears TensorFlow's kernel cache, and with it what a
    warm worker keeps of every compiled function (diffexp.training.trainer_cache), ~1 s a
    trial to instantiate again. Nothing in diffexp draws from TensorFlow's global seed (its
    in-graph draws come from seeded tf.random.Generators and Keras seed generators)."""
    global _tensorflow_seed
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    tf = import_tensorflow()
    with _seeding:
        if _tensorflow_seed != seed:
            keras.utils.set_random_seed(seed)
            _tensorflow_seed = seed
            return
        set_seed = tf.random.set_seed
        tf.random.set_seed = lambda _seed: None  # Keras' other seeds, TensorFlow's kept
        try:
            keras.utils.set_random_seed(seed)
        finally:
            tf.random.set_seed = set_seed


def gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


XLA_CACHE_FLAG = "--tf_xla_persistent_cache_directory"


def use_persistent_xla_cache(directory: str | Path | None) -> Path | None:
    """Let TensorFlow keep the executables XLA compiles under `directory` and load them in
    later processes instead of compiling again (its TF_XLA_FLAGS persistent cache; checked
    with TF 2.21 on a CPU). Only XLA compilations (`jit_compile`) use it. TensorFlow reads the
    flag once, when its runtime starts (the first op or device query), so the entry point
    calls this before that; a cache flag already in TF_XLA_FLAGS wins. Executables are machine
    code: each machine type (CPU features, GPU models) gets its own subfolder, so a folder
    shared over NFS never hands one node's code to another. Keep it where only you can write
    (outputs/). Returns the folder in use (None: disabled or set elsewhere)."""
    if directory is None or XLA_CACHE_FLAG in os.environ.get("TF_XLA_FLAGS", ""):
        return None
    folder = Path(directory) / _machine_fingerprint()
    folder.mkdir(parents=True, exist_ok=True)
    flags = os.environ.get("TF_XLA_FLAGS", "")
    os.environ["TF_XLA_FLAGS"] = f"{flags} {XLA_CACHE_FLAG}={folder}".strip()
    return folder


def _machine_fingerprint() -> str:
    """A short name for what compiled code depends on (architecture, CPU flags, GPU models),
    read from /proc without starting TensorFlow."""
    import hashlib
    import platform

    parts = [platform.machine()]
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        parts += [line for line in cpu.splitlines() if line.startswith("flags")][:1]
    except OSError:
        parts.append(platform.processor())
    for gpu in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        parts += [line for line in gpu.read_text().splitlines() if line.startswith("Model")]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]
    return f"{platform.machine()}-{digest}"


def xla_enabled(setting: bool | str | None, pays_on_cpu: bool = False) -> bool:
    """A `jit_compile: true | false | auto` setting: auto means XLA on a GPU, and on a CPU only
    where the caller has measured that it pays (XLA compiles slowly on a CPU)."""
    if setting is None or isinstance(setting, bool):
        return bool(setting)
    return pays_on_cpu or gpu_available()


def configure_precision(policy: str, force: bool) -> str:
    """Set Keras' global dtype policy; float16 without a GPU falls back to float32 (it is
    emulated on CPUs and only slows training down) unless `precision.force=true`."""
    import keras

    if policy == "mixed_float16" and not force and not gpu_available():
        log.warning(
            "precision=mixed_float16 needs a GPU; none found, falling back to float32 "
            "(set precision.force=true to use it anyway)"
        )
        policy = "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy
