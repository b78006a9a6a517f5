"""The benchmark's two configs: its own (conf/bench.yaml: size, repeats, targets) and the
training config (conf/config.yaml) it builds models and data from. One command line feeds
both: `bench.*`, `sizes.*` and `targets.*` overrides go to the first, the rest to the second."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from diffexp.cli import compose_checked
from diffexp.config_checks import ConfigError

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
        return list(self.bench.bench.sections)


def split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(benchmark overrides, training-config overrides), by the first key of each."""
    bench, train = [], []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        (bench if key.split(".", 1)[0] in BENCH_ROOT_KEYS else train).append(override)
    return bench, train


def compose_bench(overrides: list[str] = ()) -> BenchConfig:
    """Compose both configs; raise ConfigError with one line naming the bad key."""
    bench_overrides, train_overrides = split_overrides(list(overrides))
    bench = compose_checked_bench(bench_overrides)
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


def compose_checked_bench(overrides: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from diffexp.cli import CONF_DIR

    try:
        with initialize_config_dir(str(CONF_DIR)):
            cfg = compose(config_name=BENCH_CONFIG, overrides=overrides)
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(str(error).strip().splitlines()[0]) from error
    return cfg
