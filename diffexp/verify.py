"""`python -m diffexp.verify run=<run folder> [sampler=ddim steps=50 n_events=... visualize=true]`:
phase 3. Generate events from a trained run for fresh simulated conditions, compute the
physics score (diffexp/verification/score.py) and write verification.json and, with
`visualize=true`, PNG plots into the run folder.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

import diffexp.runtime  # noqa: F401 - sets TensorFlow's log level before it is imported
from diffexp import runtime
from diffexp.errors import exit_on_user_error, exit_with_user_error
from diffexp.precheck import check_hydra_or_exit
from diffexp.security import EXECUTION_WHITELIST

log = logging.getLogger("diffexp.verify")


def precheck(argv: list[str]) -> None:
    """Refuse a missing or absent run folder before Hydra creates it for its log."""
    if any(arg.startswith("-") for arg in argv):
        return  # --help, --cfg, ...: Hydra's own
    runs = [arg.split("=", 1)[1] for arg in argv if arg.startswith("run=")]
    if not runs or runs[-1] in ("", "???", "null"):
        exit_with_user_error(
            "run=<training run folder> is required, e.g. python -m diffexp.verify "
            "run=outputs/runs/<run> visualize=true"
        )
    run_dir = Path(runs[-1]).expanduser()
    if not run_dir.is_dir():
        exit_with_user_error(
            f"run={run_dir}: no such run folder; pass a folder written by python -m diffexp.train"
        )


@hydra.main(config_path="../conf", config_name="verify", execution_whitelist=EXECUTION_WHITELIST)
def main(cfg: DictConfig) -> float:
    from diffexp.verification.pipeline import verify_run

    runtime.configure_threads(None)
    with exit_on_user_error():
        result = verify_run(cfg)
    components = ", ".join(
        f"{name} {'skipped' if c['score'] is None else format(c['score'], '.2f')}"
        for name, c in result["components"].items()
    )
    log.info("%s: %s", result["headline"], components)
    print(f"{result['headline']}: {components}")
    if result.get("sample_note"):
        print(f"note: {result['sample_note']}")
    print(f"wrote {Path(cfg.run) / cfg.output_file}")
    return float(result["score"])


def cli() -> None:
    check_hydra_or_exit(sys.argv[1:], "verify")
    precheck(sys.argv[1:])
    main()


if __name__ == "__main__":
    cli()
