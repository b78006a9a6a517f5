"""Each sweeper draws from its own seed stream.

The sampler config's `seed` (the official default is 123) is the same for every run and
every sweeper of a study, so N sweepers on one study, or a sweeper re-run after a crash,
replayed the same random start-up trials: 6 of 14 trials repeated another's parameters. The
study's first sweeper keeps the configured seed (a fresh sweep reproduces the official
sweeper's trials); every later sweeper and re-run derives its seed from the configured one,
the study, its start time, host and process. The seed is logged and kept on each trial the
sweeper launches (user attr `diffexp.names.SEED_ATTR`), so a run stays explainable while no two
sweepers share a stream.

The grid and QMC samplers are the exception: they map trial number n to the n-th point of
an order the seed shuffles, so all sweepers of a study must share one seed, and the shared
study lock (`diffexp.tuning.study_lock`) then hands each grid point out once.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from typing import Any


def derive_seed(configured: Any, study_name: str, started_ns: int | None = None) -> int:
    """A 32-bit seed for this sweeper: the configured seed, the study, this start."""
    started_ns = time.time_ns() if started_ns is None else started_ns
    text = f"{configured}|{study_name}|{started_ns}|{socket.gethostname()}|{os.getpid()}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def shared_seed(configured: Any, study_name: str) -> int:
    """The configured seed, or one derived from the study alone: the same for every sweeper
    of the study (samplers whose draws follow the trial number need one order)."""
    if configured is not None:
        return int(configured)
    return int.from_bytes(hashlib.sha256(f"shared|{study_name}".encode()).digest()[:4], "big")
