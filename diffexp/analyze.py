"""`python -m diffexp.analyze`: explain a study and recommend the next search stage.

    python -m diffexp.analyze           # the most recent study in the configured storage
    python -m diffexp.analyze --study phase1-default --importance ped_anova --top 10

Prints TOP-k (or the Pareto front), importance and recommendations, and writes
<out>/diffusion_hyperopt_results.json and the plots. The storage and the output folder default
to the config's `paths.study_storage` and `paths.analysis_dir` (conf/paths/, DIFFEXP_ROOT),
the ones `python -m diffexp.train` writes to. Exits 2 with one line when the study or storage
does not exist or the study has no complete trial.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from diffexp.errors import UserError, report_user_error
from diffexp.secret_args import hide_command_line_passwords
from diffexp.tuning.analysis.importance import EVALUATORS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m diffexp.analyze", description=__doc__)
    parser.add_argument("--study", default=None, help="study name (default: the most recent)")
    parser.add_argument(
        "--storage",
        default=None,
        help="RDB URL or journal file path of the study (default: paths.study_storage)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for JSON+plots (default: paths.analysis_dir)"
    )
    parser.add_argument("--importance", choices=EVALUATORS, default="fanova")
    parser.add_argument("--top", type=int, default=5, help="how many best trials to list")
    parser.add_argument("--no-plots", action="store_true", help="write the JSON only")
    return parser.parse_args(argv)


def configured_paths(args: argparse.Namespace) -> tuple[str, Path]:
    """(storage, output folder): the arguments, else the composed config's `paths`."""
    if args.storage is not None and args.out is not None:
        return args.storage, args.out
    from diffexp.config import compose_checked

    paths = compose_checked([]).paths
    storage = args.storage if args.storage is not None else str(paths.study_storage)
    return storage, args.out if args.out is not None else Path(str(paths.analysis_dir))


def main(argv: list[str] | None = None) -> int:
    from diffexp.tuning.analysis.report import analyze
    from diffexp.tuning.analysis.text import format_report

    args = parse_args(argv)
    if args.top < 1:
        return report_user_error("--top must be at least 1")
    try:
        storage, out_dir = configured_paths(args)
        report = analyze(
            args.study,
            storage,
            out_dir=out_dir,
            importance=args.importance,
            top_k=args.top,
            plots=not args.no_plots,
        )
    except UserError as error:
        return report_user_error(error)
    print(format_report(report))
    return 0


if __name__ == "__main__":
    hide_command_line_passwords()
    sys.exit(main())
