"""`python -m diffexp.analyze`: explain a study and recommend the next search stage.

    python -m diffexp.analyze                       # the most recent study in the default storage
    python -m diffexp.analyze --study phase1 --importance ped_anova --top 10

Prints TOP-k (or the Pareto front), importance and recommendations, and writes
<out>/diffusion_hyperopt_results.json and the plots. Exits 2 with one line when the study or
storage does not exist or the study has no complete trial.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from diffexp.tuning.analysis import DEFAULT_OUT_DIR, analyze
from diffexp.tuning.analysis_importance import EVALUATORS
from diffexp.tuning.analysis_storage import DEFAULT_STORAGE, StudyError
from diffexp.tuning.analysis_text import format_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m diffexp.analyze", description=__doc__)
    parser.add_argument("--study", default=None, help="study name (default: the most recent)")
    parser.add_argument(
        "--storage", default=DEFAULT_STORAGE, help="RDB URL or journal file path of the study"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help="folder for JSON+plots")
    parser.add_argument("--importance", choices=EVALUATORS, default="fanova")
    parser.add_argument("--top", type=int, default=5, help="how many best trials to list")
    parser.add_argument("--no-plots", action="store_true", help="write the JSON only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.top < 1:
        print("error: --top must be at least 1", file=sys.stderr)
        return 2
    try:
        report = analyze(
            args.study,
            args.storage,
            out_dir=args.out,
            importance=args.importance,
            top_k=args.top,
            plots=not args.no_plots,
        )
    except StudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
