"""`make bench`: every speed claim of the original note measured side by side on the machine
it runs on, as ratios from the same process (shared machines are noisy; absolute times alone
mean little), each judged against the targets in conf/bench.yaml.

results = run_bench(compose_bench(["bench.size=smoke"]))
"""

from benchmarks.config import BenchConfig, compose_bench
from benchmarks.runner import run_bench

__all__ = ["BenchConfig", "compose_bench", "run_bench"]
