"""The tests' PostgreSQL server: Optuna can keep a study in it, and it is reachable from this
machine only (127.0.0.1), with a password."""

from __future__ import annotations

import importlib.util

import optuna
import pytest

from tests.postgres_server import LOCALHOST, postgres_unavailable


@pytest.fixture(autouse=True)
def _driver():
    """The driver is part of the dev install; without it skip (on CI fail) saying so."""
    if importlib.util.find_spec("psycopg") is None:
        postgres_unavailable("no PostgreSQL driver: pip install -e .[postgres]")


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on `port`, from /proc/net/tcp{,6}."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                local, state = row.split()[1], row.split()[3]
                address, port_hex = local.rsplit(":", 1)
                if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                    addresses.add(address)
    return addresses


def test_a_study_lives_in_the_fixture_database(postgres_url):
    study = optuna.create_study(study_name="smoke", storage=postgres_url.url)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1) ** 2, n_trials=3)
    again = optuna.load_study(study_name="smoke", storage=postgres_url.url)
    assert [t.state.name for t in again.trials] == ["COMPLETE"] * 3
    assert postgres_url.password not in postgres_url.url_without_password
    assert postgres_url.url.replace(f":{postgres_url.password}@", "@") == (
        postgres_url.url_without_password
    )


def test_each_test_gets_an_empty_database(postgres_url):
    assert optuna.get_all_study_names(storage=postgres_url.url) == []


def test_the_server_listens_on_localhost_only(postgres_url):
    # 0100007F is 127.0.0.1 in /proc's little-endian hex; no IPv6 or wildcard listener.
    assert _listening_addresses(postgres_url.port) == {"0100007F"}
    assert LOCALHOST in postgres_url.url


def test_a_wrong_password_is_refused(postgres_url):
    wrong = postgres_url.url.replace(postgres_url.password, "not-the-password")
    with pytest.raises(Exception, match="password authentication failed"):
        optuna.create_study(storage=wrong)
