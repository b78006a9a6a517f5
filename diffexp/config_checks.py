"""Refuse impossible configs before anything is trained or written, with one line that
names the key, what it was and what is allowed.

The rules read a resolved plain tree (`Tree`, `OmegaConf.to_container(resolve=True)`), so the
precheck resolves a composed config once and checks each value of a search parameter in
microseconds (a `choice` of 1,000 values checks in linear time, with no composition each)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from omegaconf import DictConfig, OmegaConf

from diffexp.errors import ConfigError
from diffexp.names import RUN_CONFIG_FILE
from diffexp.registry import denoiser_entry
from diffexp.security import check_path_component

Tree = dict[str, Any]
MISSING = "???"


def tree_of(cfg: DictConfig) -> Tree:
    """The config resolved into plain dicts (`???` stays a string, read as absent)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)  # type: ignore[return-value]


def get(tree: Any, key: str) -> Any:
    """The value at dotted `key` of a tree, None when absent or `???`."""
    node = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if node == MISSING else node


def _number(cfg: Tree, key: str, kind: type = float) -> Any:
    value = get(cfg, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        expected = "an integer" if kind is int else "a number"
        raise ConfigError(f"{key}={value!r} has the wrong type: expected {expected}")
    if kind is int and (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"{key}={value!r} has the wrong type: expected an integer")
    return kind(value)


def _choice(cfg: Tree, key: str, allowed: tuple[str, ...]) -> None:
    value = get(cfg, key)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; use one of: {', '.join(allowed)}")


# The options of keys read below this layer (tests/training/test_bad_input.py checks that they
# match models.detector_prior.PRIOR_MODES and training.schedules.CYCLICAL_MODES).
PRIOR_MODES = ("expectation", "learned", "geometry", "none")
CYCLICAL_MODES = ("triangular", "triangular2", "exp_range")

Check = tuple[str, type, Callable[[Any], bool], str]

# key, type, predicate, allowed values in words
_NUMERIC_CHECKS: tuple[Check, ...] = (
    ("optimizer.lr", float, lambda v: v > 0, "a number > 0"),
    ("optimizer.weight_decay", float, lambda v: v >= 0, "a number >= 0"),
    ("optimizer.beta_1", float, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    ("optimizer.beta_2", float, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    ("optimizer.epsilon", float, lambda v: v > 0, "a number > 0"),
    ("optimizer.gradient_clip", float, lambda v: v > 0, "a number > 0 or null"),
    ("optimizer.accumulation_steps", int, lambda v: v >= 1, "an integer >= 1"),
    ("trainer.ema_momentum", float, lambda v: 0 < v < 1, "a number in (0, 1) or null"),
    ("model.hidden_dim", int, lambda v: v >= 1, "an integer >= 1"),
    ("model.n_layers", int, lambda v: v >= 0, "an integer >= 0"),
    ("model.t_emb_dim", int, lambda v: v >= 2 and v % 2 == 0, "an even integer >= 2"),
    ("model.dropout", float, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    ("diffusion.n_steps", int, lambda v: v >= 2, "an integer >= 2"),
    ("trainer.epochs", int, lambda v: v >= 1, "an integer >= 1"),
    ("trainer.steps_per_epoch", int, lambda v: v >= 1, "an integer >= 1"),
    ("trainer.batch_size", int, lambda v: v >= 1, "an integer >= 1"),
    ("trainer.checkpoint_every_epochs", int, lambda v: v >= 1, "an integer >= 1"),
    ("trainer.steps_per_execution", int, lambda v: v >= 1, "an integer >= 1"),
    ("trainer.early_stopping.patience", int, lambda v: v >= 1, "an integer >= 1 or null"),
    ("trainer.sample_metric_every_epochs", int, lambda v: v >= 1, "an integer >= 1"),
    ("trainer.sample_metric_events", int, lambda v: v >= 40, "an integer >= 40"),
    ("trainer.lr_find_steps", int, lambda v: v >= 10, "an integer >= 10"),
    ("trainer.lr_find_min_lr", float, lambda v: v > 0, "a number > 0"),
    ("validation.n_batches", int, lambda v: v >= 1, "an integer >= 1"),
    ("validation.batch_size_factor", int, lambda v: v >= 1, "an integer >= 1"),
    ("data.val_fraction", float, lambda v: 0 < v < 1, "a number in (0, 1)"),
    ("runtime.threads", int, lambda v: v >= 1, "an integer >= 1 or null"),
    ("runtime.max_memory_gb", float, lambda v: v > 0, "a number > 0 or null"),
    ("tuning.sample_auc_events", int, lambda v: v >= 40, "an integer >= 40"),
)


def find_targets(node: Any, path: str = "") -> list[str]:
    """Every `_target_` key in a job config tree: diffexp builds its objects from names and
    never instantiates the job config, so a `_target_` there would do nothing; refused so that
    nobody believes it does."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            child_path = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                found.append(child_path)
            else:
                found.extend(find_targets(value, child_path))
    return found


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first impossible value of a composed job config."""
    validate_tree(tree_of(cfg))


def validate_tree(cfg: Tree) -> None:
    """`validate_config` of a resolved tree (see `tree_of`)."""
    targets = find_targets(cfg)
    if targets:
        raise ConfigError(
            f"{targets[0]} is refused: diffexp configs never instantiate classes from config; "
            "choose a config group option instead (e.g. model=mlp)"
        )
    if get(cfg, "experiment_name") is not None:  # a part of run folder names
        check_path_component("experiment_name", get(cfg, "experiment_name"))
    for key, kind, predicate, allowed in _NUMERIC_CHECKS:
        value = _number(cfg, key, kind)
        if value is not None and not predicate(value):
            raise ConfigError(f"{key}={value!r} is out of range; allowed: {allowed}")
    for key, allowed in (
        ("optimizer.name", ("adam", "adamw")),
        ("schedule.name", ("constant", "cosine", "cyclical", "cosine_restarts")),
        ("precision.policy", ("float32", "mixed_bfloat16", "mixed_float16")),
        ("validation.mode", ("fast", "naive")),
        ("diffusion.beta_schedule", ("linear", "cosine")),
        ("tuning.objective", ("val_loss", "sample_auc", "both")),
        ("trainer.checkpoint_metric", ("val_loss", "sample_auc")),
    ):
        _choice(cfg, key, allowed)
    denoiser_entry(str(get(cfg, "model.name")))  # an installed denoiser's name, never a path
    if "prior" in (get(cfg, "model") or {}):
        _choice(cfg, "model.prior", PRIOR_MODES)
    if get(cfg, "schedule.name") == "cyclical":
        _choice(cfg, "schedule.mode", CYCLICAL_MODES)
    for key in ("trainer.resume", "trainer.jit_compile", "validation.jit_compile"):
        value = get(cfg, key)
        if value not in (True, False, "auto", None):
            raise ConfigError(f"{key}={value!r} is not allowed; use one of: true, false, auto")
    if get(cfg, "optimizer.name") == "adam" and float(get(cfg, "optimizer.weight_decay")) != 0:
        raise ConfigError(
            "optimizer.weight_decay is set but optimizer=adam ignores it; use optimizer=adamw"
        )
    batch = int(get(cfg, "trainer.batch_size"))
    accumulation = int(get(cfg, "optimizer.accumulation_steps"))
    if batch % accumulation:
        raise ConfigError(
            f"trainer.batch_size={batch} must be divisible by "
            f"optimizer.accumulation_steps={accumulation} (micro-batch = batch / steps)"
        )


def check_max_failure_rate(rate: Any) -> None:
    """`hydra.sweeper.max_failure_rate`: None (not a diffexp sweep) or a number in [0, 1].
    Checked by the command-line precheck and by the sweeper plugin (a sweep started by an
    app of its own has no precheck)."""
    if rate is not None and not (
        isinstance(rate, int | float) and not isinstance(rate, bool) and 0 <= rate <= 1
    ):
        raise ConfigError(
            f"hydra.sweeper.max_failure_rate={rate!r} is out of range; allowed: a number in [0, 1]"
        )


def check_run_folder(run: Any, key: str = "run") -> Path:
    """The training run folder `run`, or ConfigError: it must exist and hold the config Hydra
    saved there (`.hydra/config.yaml`), so nothing is written into a folder that is not a run."""
    if run in (None, "", "???", "null"):
        raise ConfigError(
            f"{key}=<training run folder> is required, e.g. python -m diffexp.verify "
            f"{key}=outputs/runs/<run> visualize=true"
        )
    run_dir = Path(str(run)).expanduser()
    if not run_dir.is_dir():
        raise ConfigError(
            f"{key}={run_dir}: no such run folder; pass a folder written by python -m diffexp.train"
        )
    if not (run_dir / RUN_CONFIG_FILE).is_file():
        raise ConfigError(
            f"{key}={run_dir} is not a training run folder (no {RUN_CONFIG_FILE}); nothing is "
            "written there; pass a folder written by python -m diffexp.train"
        )
    return run_dir


def check_relative_file(key: str, value: Any) -> None:
    """A file name written inside a run folder: relative, and never climbing out (`..`)."""
    path = PurePath(str(value))
    if str(value).strip() in ("", ".") or path.is_absolute() or ".." in path.parts:
        raise ConfigError(
            f"{key}={value!r} is refused: it is written inside the run folder; give a relative "
            "file name without .., e.g. verification_ddpm.json"
        )


def check_verify_request(cfg: Tree) -> None:
    """`python -m diffexp.verify`: a real run folder, an output file inside it."""
    check_run_folder(get(cfg, "run"))
    check_relative_file("output_file", get(cfg, "output_file"))
