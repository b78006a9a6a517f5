"""Text printed to users or shipped in conf/ and the README says what the code does."""

from __future__ import annotations

import re

from omegaconf import OmegaConf

from tests.conftest import CONF_DIR, REPO

SOURCES = "\n".join(p.read_text() for p in (REPO / "diffexp").rglob("*.py"))


def test_every_runtime_key_is_read_by_the_code():
    runtime = OmegaConf.load(CONF_DIR / "config.yaml").runtime
    unread = [key for key in runtime if not re.search(rf"\b{key}\b", SOURCES)]
    assert unread == [], f"runtime keys nothing reads: {unread}"


def test_the_slurm_launcher_tells_requeued_users_resume_auto():
    text = (CONF_DIR / "hydra" / "launcher" / "submitit_slurm.yaml").read_text()
    line = next(line for line in text.splitlines() if line.startswith("max_num_timeout"))
    assert "trainer.resume=auto" in line
    assert "only with trainer.resume=true" not in line


def test_the_docs_say_how_hydra_finds_the_plugins():
    """Hydra 1.4 both scans the namespace package and reads the entry points."""
    layout = (REPO / "docs" / "development.md").read_text()
    assert "no registration" not in layout
    assert "hydra_plugins namespace package" in layout
    assert "`hydra.plugins` entry points in pyproject.toml" in layout


def test_the_readme_demo_time_is_a_measured_range_with_its_command():
    readme = (REPO / "README.md").read_text()
    assert re.search(r"`make demo` took [\d.]+ minutes", readme)
    assert "`time make demo`" in readme
