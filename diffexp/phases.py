"""The workflow's phases as the commands a user would type, defined once: `make phase1`,
`make phase1b`, `make phase2` and `make phase3` run `python -m diffexp.phases <phase>`, and
`python -m diffexp.demo` runs the same commands one after another, so the two cannot drift.

`python -m diffexp.phases PHASE [profile=default] [launcher=pool] [output_dir=DIR] [override ...]`
prints the command it stands for and runs it; every other argument goes to that command as a
Hydra override. phase3 verifies the latest phase-2 run unless `run=<folder>` names one."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from diffexp.errors import UserError, exit_with_user_error

PHASES = ("phase1", "phase1b", "phase2", "phase3")
PHASE2_RUN_GLOB = "*_phase2"  # run folders end in _<experiment_name> (conf/config.yaml)


@dataclass(frozen=True)
class PhaseOptions:
    """What the phase commands share: the budget, where trials run and where outputs go."""

    profile: str = "default"  # conf/profile/ option; also names the studies (phase1-<profile>)
    launcher: str = "pool"  # conf/hydra/launcher/ option of the searches
    output_dir: str | None = None  # paths.output_dir; None: the config's default (outputs/)

    def path_overrides(self) -> list[str]:
        return [] if self.output_dir is None else [f"paths.output_dir={self.output_dir}"]

    def runs_dir(self) -> Path:
        """Where single runs land when paths.runs_dir keeps its default."""
        root = Path(os.environ.get("DIFFEXP_ROOT", "."))
        return Path(self.output_dir) / "runs" if self.output_dir else root / "outputs" / "runs"


def parse_options(
    argv: list[str], defaults: PhaseOptions = PhaseOptions()
) -> tuple[PhaseOptions, list[str]]:
    """(the options named in `argv`, the remaining arguments in their order)."""
    values = {"profile": defaults.profile, "launcher": defaults.launcher}
    values["output_dir"] = defaults.output_dir
    rest = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in values:
            values[key] = value
        else:
            rest.append(arg)
    return PhaseOptions(**values), rest


def study_name(search_space: str, profile: str) -> str:
    """The study a search writes (conf/search/<space>.yaml: `<space>-${profile.name}`)."""
    return f"{search_space}-{profile}"


def search(search_space: str, options: PhaseOptions, overrides: list[str] = ()) -> list[str]:
    """A parallel, pruned Optuna search over conf/search/<search_space>.yaml."""
    return [
        "diffexp.train",
        "-m",
        "hydra/sweeper=optuna",
        f"search={search_space}",
        f"hydra/launcher={options.launcher}",
        f"profile={options.profile}",
        *options.path_overrides(),
        f"experiment_name={search_space}",
        *overrides,
    ]


def refine(options: PhaseOptions, overrides: list[str] = ()) -> list[str]:
    """Phase 2: phase 1's best trial trained with the profile's refine budget."""
    return [
        "diffexp.train",
        f"best_of={study_name('phase1', options.profile)}",
        "trainer=refine",
        f"profile={options.profile}",
        *options.path_overrides(),
        "experiment_name=phase2",
        *overrides,
    ]


def verify(run_dir: Path | str, overrides: list[str] = ()) -> list[str]:
    """Phase 3: the physics verification of one finished run, with its plots."""
    return ["diffexp.verify", f"run={run_dir}", "visualize=true", *overrides]


def latest_phase2_run(runs_dir: Path) -> Path:
    """The most recently written phase-2 run folder; UserError when there is none."""
    runs = [path for path in runs_dir.glob(PHASE2_RUN_GLOB) if path.is_dir()]
    if not runs:
        raise UserError(
            f"no phase-2 run under {runs_dir}; run `make phase2` first, or name one with "
            "run=<run folder>"
        )
    return max(runs, key=lambda path: path.stat().st_mtime)


def command(phase: str, options: PhaseOptions, overrides: list[str] = ()) -> list[str]:
    """The `python -m` arguments of one phase."""
    if phase in ("phase1", "phase1b"):
        return search(phase, options, overrides)
    if phase == "phase2":
        return refine(options, overrides)
    if phase == "phase3":
        named = [o.partition("=")[2] for o in overrides if o.startswith("run=")]
        rest = [o for o in overrides if not o.startswith("run=")]
        return verify(named[-1] if named else latest_phase2_run(options.runs_dir()), rest)
    raise UserError(f"unknown phase {phase!r}; use one of: {', '.join(PHASES)}")


def shown(arguments: list[str]) -> str:
    """A command as the user would type it."""
    return "python -m " + " ".join(arguments)


def main(argv: list[str]) -> None:
    if not argv:
        exit_with_user_error(f"phases: name a phase: {', '.join(PHASES)}")
    options, overrides = parse_options(argv[1:])
    try:
        arguments = command(argv[0], options, overrides)
    except UserError as error:
        exit_with_user_error(error)
    print("$ " + shown(arguments), flush=True)
    os.execv(sys.executable, [sys.executable, "-m", *arguments])


if __name__ == "__main__":
    main(sys.argv[1:])
