"""What the figures were measured on: CPU, cores, GPUs, load, and peak memory probes.

Peak memory: TensorFlow allocates outside Python, so tracemalloc sees nothing. On a GPU,
TensorFlow's own allocator statistics give the peak; on a CPU the process's resident-set
high-water mark (VmHWM) is reset through /proc/self/clear_refs and read back after the work,
so the figure is the growth of peak RSS over the RSS before it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from diffexp.training import environment

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def device_name() -> str:
    """The device TensorFlow places the models on: GPU:0 if there is one, else CPU."""
    import tensorflow as tf

    return "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU"


def describe() -> dict:
    """Machine facts stored with every result, including the load when it was measured."""
    info = dict(environment.hardware())
    info["device"] = device_name()
    info["load_average_1m"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return info


def _status_kib(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_memory_method() -> str:
    if device_name().startswith("GPU"):
        return "tf.config.experimental.get_memory_info('GPU:0') peak, reset before each call"
    if _can_reset_rss_peak():
        return "growth of peak RSS (VmHWM, reset via /proc/self/clear_refs) over RSS before"
    return "unavailable (no GPU and /proc/self/clear_refs not writable)"


def _can_reset_rss_peak() -> bool:
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def peak_memory_mib(fn: Callable[[], object]) -> float | None:
    """Peak memory that calling fn adds, in MiB (None where it cannot be measured)."""
    if device_name().startswith("GPU"):
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats("GPU:0")
        before = tf.config.experimental.get_memory_info("GPU:0")["current"]
        fn()
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
        return (peak - before) / 2**20
    if not _can_reset_rss_peak():
        fn()
        return None
    before = _status_kib("VmRSS")
    fn()
    peak = _status_kib("VmHWM")
    if before is None or peak is None:
        return None
    return max(peak - before, 0) / 1024
