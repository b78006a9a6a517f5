"""The README is a front page and the docs it links to are there: every relative link in
README.md and docs/*.md reaches a file (and a heading, for `#anchor` links), and no project
file points outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

FRONT_PAGE_MAX_LINES = 150
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# Pages being written on other branches at the same time as this test; drop each name once
# its page is on main (the test then checks its links like any other).
PAGES_IN_FLIGHT = {"docs/security.md", "docs/models.md", "docs/your-detector.md"}


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors: headings lower-cased, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in page.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def broken_links(page: Path, repo: Path = REPO) -> list[str]:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked here
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if str(resolved.relative_to(repo.resolve())) in PAGES_IN_FLIGHT:
            continue
        if not resolved.exists():
            broken.append(f"{page.name}: {target} (no such file)")
        elif anchor and anchor not in heading_anchors(resolved):
            broken.append(f"{page.name}: {target} (no such heading)")
    return broken


def test_the_readme_is_a_front_page():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= FRONT_PAGE_MAX_LINES
    text = "\n".join(lines)
    assert "make demo" in text and "make test" in text
    assert re.search(r"!\[[^\]]+\]\(docs/images/\w+\.png\)", text)


@pytest.mark.parametrize("page", pages(), ids=lambda page: page.name)
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "README.md"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Real heading\n")
    page.write_text("[a](docs/a.md#real-heading) [b](docs/b.md) [c](docs/a.md#nope)\n")
    assert broken_links(page, tmp_path) == [
        "README.md: docs/b.md (no such file)",
        "README.md: docs/a.md#nope (no such heading)",
    ]


def test_no_project_file_points_outside_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = [
        name
        for name in tracked
        if (REPO / name).is_file()
        and name != "tests/test_docs.py"
        and "../shared" in (REPO / name).read_text(errors="ignore")
    ]
    assert outside == []
