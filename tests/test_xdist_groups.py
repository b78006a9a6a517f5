"""Under `make test`'s workers, the tests that share a fixture wider than one test run on one
worker, so the fixture is built once (tests/xdist_groups.py). Checked on a small suite run
through pytest-xdist itself."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, subprocess_env

CONFTEST = """
import pytest

pytest_plugins = ["tests.xdist_groups"]

@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with open({builds!r}, "a") as log:
        log.write("server\\n")
    return "up"
"""
SERVER_TESTS = """
import pytest

@pytest.fixture(scope="module")
def prepared(server):
    return server

@pytest.mark.parametrize("n", range(4))
def test_uses_the_server(prepared, n):
    assert prepared == "up"
"""
OTHER_TESTS = """
import pytest

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with open({builds!r}, "a") as log:
        log.write("run\\n")
    return 1

@pytest.mark.parametrize("n", range(4))
def test_uses_the_run(run, n):
    assert run == 1

@pytest.mark.usefixtures("server")
def test_joins_the_server_group_by_usefixtures():
    pass

@pytest.mark.parametrize("n", range(6))
def test_shares_nothing(n):
    pass
"""


def test_tests_sharing_a_fixture_share_a_worker_and_build_it_once(tmp_path):
    builds = tmp_path / "builds.log"
    suite = tmp_path / "tests"
    suite.mkdir()
    (suite / "conftest.py").write_text(CONFTEST.format(builds=str(builds)))
    (suite / "test_server.py").write_text(SERVER_TESTS)
    (suite / "test_other.py").write_text(OTHER_TESTS.format(builds=str(builds)))
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v"],
        cwd=tmp_path,
        env=subprocess_env() | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stdout[-3000:]
    workers: dict[str, set[str]] = {}
    for line in process.stdout.splitlines():
        if line.startswith("[gw") and "PASSED" in line:
            worker, test = line.split("]", 1)[0][1:], line.split()[-1]
            workers.setdefault(test.split("::")[1].split("[")[0], set()).add(worker)
    assert len(workers["test_uses_the_server"]) == 1
    assert workers["test_joins_the_server_group_by_usefixtures"] == workers["test_uses_the_server"]
    assert len(workers["test_uses_the_run"]) == 1
    assert sorted(builds.read_text().split()) == ["run", "server"]  # each built once


DUMP_PLUGIN = """
import json
from tests.xdist_groups import worker_groups

def pytest_collection_finish(session):
    with open({out!r}, "w") as handle:
        json.dump(worker_groups(session.items), handle)
"""


def test_this_suites_cluster_and_server_tests_share_one_worker(tmp_path):
    """The SLURM tests never run on two workers at once (one cluster, jobs of one test at a
    time), and the tests of each expensive shared fixture stay together."""
    out = tmp_path / "groups.json"
    (tmp_path / "dump_groups.py").write_text(DUMP_PLUGIN.format(out=str(out)))
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "dump_groups"],
        cwd=REPO,
        env=subprocess_env() | {"PYTHONPATH": f"{REPO}:{tmp_path}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stdout[-3000:]
    groups = json.loads(out.read_text())

    def group_of(prefix: str) -> set[str]:
        return {group for nodeid, group in groups.items() if nodeid.startswith(prefix)}

    cluster_files = tuple(
        f"tests/slurm/{name}.py"
        for name in ("test_slurm_faults", "test_slurm_sweep", "test_two_node_sweep")
    )
    cluster_tests = [nodeid for nodeid in groups if nodeid.startswith(cluster_files)]
    assert len(cluster_tests) == 4 and len({groups[n] for n in cluster_tests}) == 1
    assert group_of("tests/postgres/test_postgres_workflow.py") == {groups[cluster_tests[0]]}
    assert len(group_of("tests/bench/test_bench_smoke.py")) == 1
    assert len(group_of("tests/reliability/test_bad_files.py::test_")) == 1  # finished_run
    assert not any(n.startswith("tests/test_layers.py") for n in groups)  # shares nothing
