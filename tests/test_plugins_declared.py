"""pyproject.toml's `hydra.plugins` entry points are current: Hydra 1.4 reads them (as well as
scanning the hydra_plugins namespace package), so a stale one would warn at every start and a
missing one leaves a plugin to the scan alone, which an editable install can hide."""

from __future__ import annotations

import importlib
import inspect
import tomllib

from hydra.plugins.plugin import Plugin

from tests.conftest import REPO


def declared_entry_points() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return dict(project["entry-points"]["hydra.plugins"])


def diffexp_plugin_classes() -> set[str]:
    """'module:Class' of every concrete Hydra plugin class defined in hydra_plugins/diffexp_*."""
    found = set()
    for path in sorted((REPO / "hydra_plugins").glob("diffexp_*/*.py")):
        module_name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Plugin)
                and not inspect.isabstract(obj)
                and obj.__module__ == module_name
            ):
                found.add(f"{module_name}:{name}")
    return found


def test_every_plugin_class_is_declared_and_every_declaration_is_a_plugin():
    declared = set(declared_entry_points().values())
    classes = diffexp_plugin_classes()
    assert len(classes) >= 3  # the sweeper, the pool and the SLURM launchers
    assert declared == classes
