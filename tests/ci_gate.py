"""Tests that need a system service (SLURM, PostgreSQL) skip where it cannot run, saying why;
on CI (CI=true) they fail instead, so a CI run never passes without having run them."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(service: str, reason: str) -> NoReturn:
    """Skip with `reason`; fail on CI, naming the `service` whose tests could not run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true needs the {service} tests, but {reason}", pytrace=False)
    print(f"SKIP: {reason}")
    pytest.skip(reason)
