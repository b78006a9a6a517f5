"""Turn a data config (OmegaConf node or plain mapping) into plain Python values.

Every public function of the data layer accepts either, so the entrypoints can pass
`cfg.data` straight through and tests can pass a dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from diffexp.data.errors import DataError


def to_plain(cfg: Mapping[str, Any] | DictConfig, name: str = "data") -> dict[str, Any]:
    """Resolve interpolations and return a plain dict; a missing `???` value is a DataError."""
    node = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    try:
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
    except MissingMandatoryValue as error:
        key = _qualified(error.full_key, name)
        raise DataError(
            f"{key} is required but not set: pass it on the command line, e.g. {key}=..."
        ) from None
    except InterpolationResolutionError as error:
        key = _qualified(error.full_key, name)
        raise DataError(
            f"{key}: cannot resolve its interpolation ({error.msg}); pass the data "
            "config inside the composed config (cfg.data) or set the value directly"
        ) from None


def _qualified(full_key: str | None, name: str) -> str:
    """`data.path` whether the node was standalone (key `path`) or `cfg.data` (`data.path`)."""
    key = full_key or "?"
    return key if key.startswith(f"{name}.") else f"{name}.{key}"


def require(cfg: Mapping[str, Any], key: str, name: str = "data") -> Any:
    """Return cfg[key], or raise a DataError naming the missing key."""
    if key not in cfg or cfg[key] is None or cfg[key] == "???":
        raise DataError(f"{name}.{key} is missing: set it in conf/data/ or on the command line")
    return cfg[key]
