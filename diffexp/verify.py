"""`python -m diffexp.verify run=<run folder> [sampler=ddim steps=50 n_events=... visualize=true]`:
phase 3. Generate events from a trained run for fresh simulated conditions, compute the
physics score (diffexp/verification/score.py) and write verification.json and, with
`visualize=true`, PNG plots into the run folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

import diffexp.runtime  # noqa: F401 - sets TensorFlow's log level before it is imported
from diffexp import runtime
from diffexp.config_checks import check_verify_request
from diffexp.errors import exit_on_user_error
from diffexp.precheck import run_checked
from diffexp.security import EXECUTION_WHITELIST

log = logging.getLogger("diffexp.verify")


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
    """Refuse a missing folder, one that is not a training run, or an output file outside it
    (for every `run=` of a `-m` sweep too) before Hydra writes its log into the folder."""
    run_checked(main, "verify", check_verify_request)


if __name__ == "__main__":
    cli()
