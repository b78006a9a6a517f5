"""`python -m benchmarks [bench.size=smoke|default] [key=value ...]`: measure, write
outputs/bench/<timestamp>/results.json and results.md, print the table."""

from __future__ import annotations

import logging
import sys

import diffexp.runtime  # noqa: F401 - sets TensorFlow's log level before it is imported
from diffexp.errors import UserError, report_user_error


def main(argv: list[str] | None = None) -> int:
    from benchmarks.config import compose_bench
    from benchmarks.runner import run_bench

    argv = sys.argv[1:] if argv is None else argv
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__.strip())
        print("Settings and sizes: conf/bench.yaml; other keys override conf/config.yaml.")
        return 0
    try:
        config = compose_bench(argv)
    except UserError as error:
        return report_user_error(error)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    results = run_bench(config)
    failed = [name for name, body in results["sections"].items() if "error" in body]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
