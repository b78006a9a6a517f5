"""`python -m diffexp.demo [profile=default] [launcher=pool]`: the whole workflow
at laptop scale, one phase after another, each as the command a user would type:
phase 1 (parallel pruned search) -> analyze -> phase 2 (train the best) -> phase 3 (physics).
Ends with where everything was written."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

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


def parse_args(argv: list[str]) -> dict[str, str]:
    options = {"profile": "default", "launcher": "pool", "output_dir": "outputs"}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in options:
            exit_with_user_error(
                f"demo: unknown argument {arg!r}; use {', '.join(k + '=...' for k in options)}"
            )
        options[key] = value
    return options


def banner(index: int, text: str) -> None:
    print(f"\n\033[1m[demo {index}/{len(STEPS)}] {text}\033[0m", flush=True)


def run(command: list[str]) -> float:
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-m", *command], env=env)
    if result.returncode != 0:
        exit_with_user_error(
            f"demo step failed (exit {result.returncode}): python -m {' '.join(command)}"
        )
    return time.perf_counter() - started


def main(argv: list[str]) -> None:
    options = parse_args(argv)
    out = Path(options["output_dir"])
    profile = f"profile={options['profile']}"
    paths = f"paths.output_dir={out}"
    phase2_dir = out / "runs" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}_phase2"
    storage = f"sqlite:///{out}/optuna_study.db"
    durations = []

    banner(1, STEPS[0])
    durations.append(
        run(
            [
                "diffexp.train",
                "-m",
                "hydra/sweeper=optuna",
                "search=phase1",
                f"hydra/launcher={options['launcher']}",
                profile,
                paths,
                "experiment_name=phase1",
            ]
        )
    )
    banner(2, STEPS[1])
    durations.append(
        run(
            [
                "diffexp.analyze",
                "--study",
                f"phase1-{options['profile']}",
                "--storage",
                storage,
                "--out",
                str(out / "optuna_results"),
            ]
        )
    )
    banner(3, STEPS[2])
    durations.append(
        run(
            [
                "diffexp.train",
                f"best_of=phase1-{options['profile']}",
                "trainer=refine",
                profile,
                paths,
                "experiment_name=phase2",
                f"hydra.run.dir={phase2_dir}",
            ]
        )
    )
    banner(4, STEPS[3])
    durations.append(run(["diffexp.verify", f"run={phase2_dir}", "visualize=true"]))

    print("\n\033[1mdemo finished\033[0m")
    for step, seconds in zip(STEPS, durations, strict=True):
        print(f"  {step:<40} {seconds:7.1f} s")
    print(f"  {'total':<40} {sum(durations):7.1f} s\n")
    print("where everything was written:")
    print(f"  study storage       {storage}   (make dashboard)")
    print(f"  phase-1 trials      {out}/sweeps/*_phase1/trial_*/{TRIAL_FILE}")
    print(f"  analysis            {out}/optuna_results/{ANALYSIS_RESULTS_FILE} + *.png")
    print(f"  phase-2 model       {phase2_dir}/{BEST_WEIGHTS}, {SUMMARY_FILE},")
    print(f"                      {METRICS_FILE}, {CURVES_FILE}")
    print(f"  phase-3 physics     {phase2_dir}/{VERIFICATION_FILE} + plots")


if __name__ == "__main__":
    hide_command_line_passwords()
    main(sys.argv[1:])
