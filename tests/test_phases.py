"""The phase commands are defined once (diffexp.phases): the Makefile's phase targets call
them, the demo runs the same ones, and each is the command docs/sweeper.md shows."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from diffexp import demo, phases
from tests.conftest import REPO


def make_recipe(target: str) -> str:
    makefile = (REPO / "Makefile").read_text()
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert match, f"no target {target} in the Makefile"
    return match.group(1)


@pytest.mark.parametrize("phase", phases.PHASES)
def test_each_make_target_calls_the_one_definition(phase):
    recipe = make_recipe(phase)
    assert f"-m diffexp.phases {phase} " in recipe
    assert "diffexp.train" not in recipe and "diffexp.verify" not in recipe


def test_the_demo_runs_the_same_phase_commands(tmp_path):
    options = demo.parse_args(["profile=smoke", "launcher=basic", f"output_dir={tmp_path}"])
    phase2_dir = tmp_path / "runs" / "x_phase2"
    search, analyze, refine, verify = demo.plan(options, phase2_dir)
    assert search == phases.command("phase1", options)
    assert refine == phases.command("phase2", options, [f"hydra.run.dir={phase2_dir}"])
    assert verify == phases.command("phase3", options, [f"run={phase2_dir}"])
    assert analyze[analyze.index("--study") + 1] == "phase1-smoke"


def test_phase1_is_the_documented_search_command():
    options, rest = phases.parse_options(["profile=smoke", "launcher=basic", "search.n_trials=3"])
    assert phases.shown(phases.command("phase1", options, rest)) == (
        "python -m diffexp.train -m hydra/sweeper=optuna search=phase1 hydra/launcher=basic "
        "profile=smoke experiment_name=phase1 search.n_trials=3"
    )


def test_phase2_trains_the_best_of_its_profiles_phase1_study():
    options, _ = phases.parse_options(["profile=cluster", "output_dir=/data/out"])
    assert phases.command("phase2", options) == [
        "diffexp.train",
        "best_of=phase1-cluster",
        "trainer=refine",
        "profile=cluster",
        "paths.output_dir=/data/out",
        "experiment_name=phase2",
    ]


def test_phase3_verifies_the_newest_phase2_run(tmp_path):
    runs = tmp_path / "runs"
    for age, name in enumerate(["b_phase2", "a_phase2", "c_phase1"]):
        (runs / name).mkdir(parents=True)
        os.utime(runs / name, (1000 - age * 100, 1000 - age * 100))
    options = phases.PhaseOptions(output_dir=str(tmp_path))
    assert phases.command("phase3", options, ["n_events=10"]) == [
        "diffexp.verify",
        f"run={runs / 'b_phase2'}",
        "visualize=true",
        "n_events=10",
    ]
    named = phases.command("phase3", options, ["run=/elsewhere"])
    assert named == ["diffexp.verify", "run=/elsewhere", "visualize=true"]


def test_phase3_without_a_phase2_run_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        phases.main(["phase3", f"output_dir={tmp_path}"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no phase-2 run under" in err and "make phase2" in err


def test_an_unknown_phase_names_the_phases(capsys):
    with pytest.raises(SystemExit) as stop:
        phases.main(["phase4"])
    assert stop.value.code == 2
    assert "use one of: phase1, phase1b, phase2, phase3" in capsys.readouterr().err


def test_main_prints_and_runs_the_command(monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(os, "execv", lambda path, argv: ran.append((path, argv)))
    phases.main(["phase2", "profile=smoke", "trainer.epochs=1"])
    expected = phases.command("phase2", phases.PhaseOptions(profile="smoke"), ["trainer.epochs=1"])
    assert ran == [(sys.executable, [sys.executable, "-m", *expected])]
    assert capsys.readouterr().out == "$ " + phases.shown(expected) + "\n"


def test_the_demo_refuses_what_is_not_its_option(capsys):
    with pytest.raises(SystemExit):
        demo.parse_args(["n_trials=3"])
    assert "unknown argument 'n_trials=3'" in capsys.readouterr().err


def test_runs_dir_follows_diffexp_root(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFEXP_ROOT", str(tmp_path))
    assert phases.PhaseOptions().runs_dir() == Path(tmp_path) / "outputs" / "runs"
