"""The benchmark's two configs: its own (conf/bench.yaml: size, repeats, targets) and the
training config (conf/config.yaml) it builds models and data from. One command line feeds
both: `bench.*`, `sizes.*` and `targets.*` overrides go to the first, the rest to the second."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from diffexp.config import compose_checked, compose_plain, override_key
from diffexp.errors import ConfigError

BENCH_CONFIG = "bench"
BENCH_ROOT_KEYS = ("bench", "sizes", "targets")
SECTIONS = (
    "validation",
    "throughput",
    "accumulation",
    "precision",
    "sampling",
    "tuning",
    "overhead",
    "warm_trial",
    "replay",
    "streaming",
    "storage_load",
)


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run needs: its settings, the chosen size and the training config."""

    bench: DictConfig  # the composed conf/bench.yaml
    size: DictConfig  # bench.sizes[bench.size]
    train: DictConfig  # the composed training config (conf/config.yaml)
    train_overrides: tuple[str, ...]  # what was passed to compose `train` (for subprocesses)

    @property
    def targets(self) -> DictConfig:
        return self.bench.targets

    @property
    def sections(self) -> list[str]:
        """bench.sections less those the chosen size skips (sizes.<size>.skip_sections)."""
        skipped = set(self.size.get("skip_sections") or [])
        return [name for name in self.bench.bench.sections if name not in skipped]


def split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(benchmark overrides, training-config overrides), by the first key of each."""
    bench, train = [], []
    for override in overrides:
        key = override_key(override)
        (bench if key.split(".", 1)[0] in BENCH_ROOT_KEYS else train).append(override)
    return bench, train


def compose_bench(overrides: list[str] = ()) -> BenchConfig:
    """Compose both configs; raise ConfigError with one line naming the bad key."""
    bench_overrides, train_overrides = split_overrides(list(overrides))
    bench = compose_plain(bench_overrides, BENCH_CONFIG)
    size_name = str(bench.bench.size)
    if size_name not in bench.sizes:
        raise ConfigError(
            f"bench.size={size_name!r} is not a size in conf/bench.yaml; "
            f"use one of: {', '.join(bench.sizes)}"
        )
    unknown = [s for s in bench.bench.sections if s not in SECTIONS]
    if unknown:
        raise ConfigError(
            f"bench.sections has unknown {', '.join(map(str, unknown))}; "
            f"use any of: {', '.join(SECTIONS)}"
        )
    size = bench.sizes[size_name]
    composed = [f"profile={size.profile}", *size.train_overrides, *train_overrides]
    train = compose_checked(composed)
    return BenchConfig(bench, size, train, tuple(composed))
