"""The denoisers installed in this environment, found the way Hydra finds its plugins: by the
entry points installed packages declare (group `diffexp.denoisers` in their pyproject.toml).
diffexp's own `mlp` and `pmt` are declared the same way, so a user's package is selected
exactly like a built-in, by `model.name`.

A config string is not trusted to name code: `model.name` is looked up among the declared
names and nothing else, so `model.name=os.system` is an unknown name, not an import. This
module reads package metadata only; importing a denoiser's code is `DenoiserEntry.load`, which
the model layer calls when it builds one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

from diffexp.errors import ConfigError

DENOISER_GROUP = "diffexp.denoisers"


@dataclass(frozen=True)
class DenoiserEntry:
    """One declared denoiser: its name, the builder it points to and the package declaring it."""

    name: str
    target: str  # "module:function", as written in the declaring package's pyproject.toml
    package: str  # distribution name, what `pip install` takes
    version: str

    def load(self) -> Callable[..., Any]:
        """Import the declaring package's builder."""
        return metadata.EntryPoint(self.name, self.target, DENOISER_GROUP).load()

    def provenance(self) -> dict[str, str]:
        """What a run records, so a later process can say which package to install."""
        return {
            "name": self.name,
            "entry_point": self.target,
            "package": self.package,
            "version": self.version,
        }

    def __str__(self) -> str:
        return f"denoiser {self.name!r} ({self.package} {self.version})"


def _entry(point: metadata.EntryPoint) -> DenoiserEntry:
    dist = point.dist
    package = dist.metadata["Name"] if dist is not None else "unknown package"
    version = dist.version if dist is not None else "unknown version"
    return DenoiserEntry(point.name, point.value, package, version)


@lru_cache(maxsize=4)
def _declared(search_path: tuple[str, ...]) -> dict[str, tuple[DenoiserEntry, ...]]:
    """Every declared denoiser by name (more than one entry: declared by several packages).
    Cached per `sys.path`: validating a sweep's configs reads the metadata once."""
    found: dict[str, list[DenoiserEntry]] = {}
    for point in metadata.entry_points(group=DENOISER_GROUP):
        entry = _entry(point)
        if entry not in found.get(entry.name, []):
            found.setdefault(entry.name, []).append(entry)
    return {name: tuple(entries) for name, entries in sorted(found.items())}


def installed_denoisers() -> dict[str, tuple[DenoiserEntry, ...]]:
    """{name: its declarations} of every denoiser the installed packages declare."""
    return _declared(tuple(sys.path))


def denoiser_entry(name: str) -> DenoiserEntry:
    """The one package's declaration of denoiser `name`; ConfigError (one line) when no
    installed package declares it or when two do."""
    declared = installed_denoisers()
    entries = declared.get(str(name), ())
    if not entries:
        installed = ", ".join(declared) or "none (run `make install`)"
        raise ConfigError(
            f"model.name={name!r} is not an installed denoiser; installed: {installed}. "
            f"A denoiser is added by installing a package that declares it under the entry-point "
            f"group {DENOISER_GROUP} (docs/models.md)"
        )
    if len(entries) > 1:
        packages = " and ".join(f"{e.package} {e.version} ({e.target})" for e in entries)
        raise ConfigError(
            f"denoiser {name!r} is registered twice, by {packages}: uninstall one of the "
            "packages or rename the entry point in its pyproject.toml"
        )
    return entries[0]
