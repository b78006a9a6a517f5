"""CI=true turns a missing SLURM cluster or PostgreSQL server into a failure, not a skip."""

from __future__ import annotations

import pytest

from tests.postgres_server import postgres_unavailable
from tests.slurm.conftest import slurm_unavailable


@pytest.mark.parametrize(
    ("gate", "service"), [(slurm_unavailable, "SLURM"), (postgres_unavailable, "PostgreSQL")]
)
def test_on_ci_a_service_that_cannot_start_fails_the_test(monkeypatch, gate, service):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"CI=true needs the {service} tests"):
        gate("could not start it: the daemon died")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="the daemon died"):
        gate("could not start it: the daemon died")
