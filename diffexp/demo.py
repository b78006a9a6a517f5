"""`python -m diffexp.demo [profile=default] [launcher=pool]`: the whole workflow
at laptop scale, one phase after another, each as the command a user would type:
phase 1 (parallel pruned search) -> analyze -> phase 2 (train the best) -> phase 3 (physics).
The phase commands come from diffexp.phases, the same ones `make phase1|phase2|phase3` run.
Ends with where everything was written."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from diffexp import phases
from diffexp.errors import exit_with_user_error
from diffexp.names import (
    ANALYSIS_RESULTS_FILE,
    BEST_WEIGHTS,
    CURVES_FILE,
    METRICS_FILE,
    SUMMARY_FILE,
    TRIAL_FILE,
    VERIFICATION_FILE,
)
from diffexp.secret_args import hide_command_line_passwords

STEPS = (
    "phase 1: parallel, pruned search",
    "analyze the study",
    "phase 2: train the best configuration",
    "phase 3: verify the physics",
)
DEMO_DEFAULTS = phases.PhaseOptions(output_dir="outputs")


def parse_args(argv: list[str]) -> phases.PhaseOptions:
    options, unknown = phases.parse_options(argv, DEMO_DEFAULTS)
    if unknown:
        exit_with_user_error(
            f"demo: unknown argument {unknown[0]!r}; use profile=..., launcher=..., output_dir=..."
        )
    return options


def plan(options: phases.PhaseOptions, phase2_dir: Path) -> list[list[str]]:
    """The four commands of the demo, in order (phase commands from diffexp.phases)."""
    out = Path(options.output_dir)
    return [
        phases.search("phase1", options),
        [
            "diffexp.analyze",
            "--study",
            phases.study_name("phase1", options.profile),
            "--storage",
            storage_url(out),
            "--out",
            str(out / "optuna_results"),
        ],
        phases.refine(options, [f"hydra.run.dir={phase2_dir}"]),
        phases.verify(phase2_dir),
    ]


def storage_url(out: Path) -> str:
    return f"sqlite:///{out}/optuna_study.db"


def banner(index: int, text: str) -> None:
    print(f"\n\033[1m[demo {index}/{len(STEPS)}] {text}\033[0m", flush=True)


def run(command: list[str]) -> float:
    print("$ " + phases.shown(command), flush=True)
    started = time.perf_counter()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-m", *command], env=env)
    if result.returncode != 0:
        exit_with_user_error(
            f"demo step failed (exit {result.returncode}): {phases.shown(command)}"
        )
    return time.perf_counter() - started


def main(argv: list[str]) -> None:
    options = parse_args(argv)
    out = Path(options.output_dir)
    phase2_dir = out / "runs" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}_phase2"
    durations = []
    for index, (step, command) in enumerate(zip(STEPS, plan(options, phase2_dir), strict=True)):
        banner(index + 1, step)
        durations.append(run(command))

    print("\n\033[1mdemo finished\033[0m")
    for step, seconds in zip(STEPS, durations, strict=True):
        print(f"  {step:<40} {seconds:7.1f} s")
    print(f"  {'total':<40} {sum(durations):7.1f} s\n")
    print("where everything was written:")
    print(f"  study storage       {storage_url(out)}   (make dashboard)")
    print(f"  phase-1 trials      {out}/sweeps/*_phase1/trial_*/{TRIAL_FILE}")
    print(f"  analysis            {out}/optuna_results/{ANALYSIS_RESULTS_FILE} + *.png")
    print(f"  phase-2 model       {phase2_dir}/{BEST_WEIGHTS}, {SUMMARY_FILE},")
    print(f"                      {METRICS_FILE}, {CURVES_FILE}")
    print(f"  phase-3 physics     {phase2_dir}/{VERIFICATION_FILE} + plots")


if __name__ == "__main__":
    hide_command_line_passwords()
    main(sys.argv[1:])
