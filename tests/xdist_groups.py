"""Which tests share a pytest-xdist worker under `make test` (`-n 2 --dist loadgroup`): the
tests that share a fixture wider than one test. Such a fixture is built once per worker that
needs it, so the tests sharing one (a finished smoke run, the bench smoke run, the SLURM
cluster, the PostgreSQL server) go to one worker: the fixture is built once, and the cluster is
never started, nor its jobs mixed, by two workers at once. Tests are joined transitively (a
test that uses two shared fixtures joins their groups into one); an explicit
`xdist_group(name)` mark joins its group too. Autouse fixtures join nothing (they apply to
whole folders and are cheap here). A fixture asked for with `request.getfixturevalue` is not
seen, so such a fixture must be safe to build in each worker (the PostgreSQL server is: each
worker's is its own, on its own port).

A pytest plugin: tests/conftest.py loads it with `pytest_plugins`. How: only a worker sees
fixtures, only the controller schedules. Each worker writes the
groups it computed from its collection (the same in every worker) to a file the controller
named; the controller's scheduler (xdist's load-scope scheduling, largest group first) reads
it. xdist's own loadgroup marks the group by rewriting a test's node id, which pytest 9.2's
structured node ids ignore, so it is not used."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

GROUPS_FILE_ENV = "DIFFEXP_XDIST_GROUPS_FILE"  # set by the controller, inherited by workers
GROUPS_FILE = pytest.StashKey[Path]()  # the file this controller named
MARK = "xdist_group"


def requested_names(item: pytest.Item) -> set[str]:
    """The fixtures the test asks for (arguments, `usefixtures`) and those they ask for."""
    info = item._fixtureinfo  # pytest has no public map from a test to its FixtureDefs
    wanted = list(info.argnames)
    for mark in item.iter_markers("usefixtures"):
        wanted.extend(mark.args)
    seen: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in seen or name not in info.name2fixturedefs:
            continue
        seen.add(name)
        wanted.extend(info.name2fixturedefs[name][-1].argnames)
    return seen


def shared_fixtures(item: pytest.Item) -> set[str]:
    """What joins `item` to other tests: the fixtures wider than one test it uses that are
    defined in the test tree (plugins' fixtures have no base id), as '<where>::<name>', and
    its explicit `xdist_group` marks."""
    shared = {f"{MARK}:{mark.args[0]}" for mark in item.iter_markers(MARK) if mark.args}
    for name in requested_names(item):
        fixturedef = item._fixtureinfo.name2fixturedefs[name][-1]
        if fixturedef.scope != "function" and fixturedef.baseid:
            shared.add(f"{fixturedef.baseid}::{name}")
    return shared


def worker_groups(items: list[pytest.Item]) -> dict[str, str]:
    """nodeid -> group for every test that shares something with others; a group is named
    after its first fixture in sort order."""
    parent: dict[str, str] = {}

    def root(fixture: str) -> str:
        while parent[fixture] != fixture:
            fixture = parent[fixture]
        return fixture

    uses = {item.nodeid: sorted(shared_fixtures(item)) for item in items}
    for fixtures in uses.values():
        for fixture in fixtures:
            parent.setdefault(fixture, fixture)
        for fixture in fixtures[1:]:
            first, other = sorted((root(fixtures[0]), root(fixture)))
            parent[other] = first
    return {nodeid: root(fixtures[0]) for nodeid, fixtures in uses.items() if fixtures}


def name_groups_file(config: pytest.Config) -> None:
    """Controller, before the workers start: where they will write the groups."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return
    if config.getoption("dist", "no") != "loadgroup":
        return
    target = Path(tempfile.mkdtemp(prefix="diffexp-xdist-")) / "groups.json"
    config.stash[GROUPS_FILE] = target
    os.environ[GROUPS_FILE_ENV] = str(target)


def remove_groups_file(config: pytest.Config) -> None:
    """Controller, at the end: the groups file and the folder it made go (a pytest run
    inside a test leaves its caller's file alone)."""
    target = config.stash.get(GROUPS_FILE, None)
    if target is not None:
        target.unlink(missing_ok=True)
        target.parent.rmdir()


def write_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Worker, after collection: the groups for the controller's scheduler."""
    target = os.environ.get(GROUPS_FILE_ENV)
    if not target or not hasattr(config, "workerinput"):
        return
    fd, temporary = tempfile.mkstemp(dir=Path(target).parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(worker_groups(items), handle)
    os.replace(temporary, target)


def make_scheduler(config: pytest.Config, log):
    """Controller: xdist's load-scope scheduling with the workers' groups as scopes (a test
    in no group is a scope of its own), or None for any --dist but loadgroup."""
    target = config.stash.get(GROUPS_FILE, None)
    if target is None:
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FixtureGroupScheduling(LoadScopeScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = json.loads(target.read_text()) if target.exists() else {}
            return self.groups.get(nodeid, nodeid)

    return FixtureGroupScheduling(config, log)


# The plugin's hooks.


def pytest_configure(config: pytest.Config) -> None:
    name_groups_file(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    remove_groups_file(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    write_groups(config, items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    return make_scheduler(config, log)
