"""The test suite itself: every registered marker marks a test, and no test skips itself for
a module that is always installed (an importorskip that never skips hides nothing but reads
as if it could)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.conftest import REPO

THIS = Path(__file__).resolve()
TESTS = {p: p.read_text() for p in (REPO / "tests").rglob("*.py") if p.resolve() != THIS}


def test_every_registered_marker_is_used():
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    markers = [line.split(":", 1)[0] for line in options["markers"]]
    code = "\n".join(TESTS.values())
    unused = [m for m in markers if not re.search(rf"pytest\.mark\.{m}\b", code)]
    assert unused == []


def test_no_importorskip_of_an_installed_dependency():
    calls = [
        f"{path.relative_to(REPO)}: {line.strip()}"
        for path, text in TESTS.items()
        for line in text.splitlines()
        if "importorskip(" in line
    ]
    assert calls == []
