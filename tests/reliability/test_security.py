"""Configs are user input: nothing in the tree evaluates strings, executes code or unpickles
user files; checkpoints are weights files; the dashboard listens on 127.0.0.1 only. (The
refused `_target_` overrides are in test_refused_before_training.py.)"""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

SOURCES = sorted(
    p for folder in ("diffexp", "hydra_plugins") for p in (REPO / folder).rglob("*.py")
)


def _code_lines(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    hits = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if regex.search(code):
                hits.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    return hits


@pytest.mark.parametrize(
    "pattern",
    [
        r"\beval\(",
        r"\bexec\(",
        r"yaml\.load\(",
        r"yaml\.unsafe_load",
    ],
)
def test_no_code_from_data(pattern):
    assert [hit for hit in _code_lines(pattern) if not hit.startswith(POOL_IPC)] == []


# Every loader that unpickles: a file anyone who can write outputs/ controls would run code.
PICKLE_LOADERS = [
    r"\b(import|from)\s+(cloud)?pickle\b|\b(cloud)?pickle\.(loads?|Unpickler)\b",
    r"\b(import|from)\s+joblib\b|\bjoblib\.load\b",
    r"\b(import|from)\s+dill\b|\bdill\.loads?\b",
    r"\bmarshal\.loads?\(",
    r"\b(import|from)\s+shelve\b|\bshelve\.open\(",
    r"torch\.load",
    r"read_pickle",
    r"allow_pickle\s*=\s*True",
    r"\.loads?\(.*\bUnpickler\b|\bUnpickler\(",
]


@pytest.mark.parametrize("pattern", PICKLE_LOADERS)
def test_no_pickle_based_loader(pattern):
    assert [hit for hit in _code_lines(pattern) if not hit.startswith(POOL_IPC)] == []


def test_the_pickle_scan_finds_each_loader(tmp_path):
    """The patterns catch every loader the issue named (a scan that cannot fail protects
    nothing)."""
    samples = [
        "import joblib",
        "model = joblib.load(path)",
        "import pickle",
        "pickle.loads(blob)",
        "import cloudpickle",
        "np.load(path, allow_pickle=True)",
        "torch.load(path)",
        "import dill",
        "pd.read_pickle(path)",
    ]
    for sample in samples:
        assert any(re.search(pattern, sample) for pattern in PICKLE_LOADERS), sample


# The pool launcher hands the parent's own job payloads (Hydra config, task function) to its
# worker processes over a pipe, as submitit does: pickles that diffexp made in this sweep,
# never a file a user could have placed.
POOL_IPC = "hydra_plugins/diffexp_pool_launcher/"


def test_pool_launcher_unpickles_only_from_its_pipes():
    for path in (REPO / POOL_IPC).glob("*.py"):
        code = path.read_text()
        assert "pickle.load(" not in code and "cloudpickle.load(" not in code  # no file handles


def test_every_np_load_refuses_pickles():
    loads = _code_lines(r"np\.load\(")
    assert loads, "the data layer and checkpoints use np.load"
    assert [line for line in loads if "allow_pickle=False" not in line] == []


def test_keras_loads_weights_not_whole_models():
    """`keras.models.load_model` can deserialize code (Lambda layers); weights files cannot."""
    assert _code_lines(r"load_model\(|safe_mode\s*=\s*False") == []


def test_no_instantiate_from_user_config():
    """The job config is refused if it holds any `_target_` (config_checks); the only
    instantiate calls build the sweeper's own sampler/pruner from its fixed config groups."""
    for line in _code_lines(r"\binstantiate\("):
        assert "diffexp/tuning" in line or "hydra_plugins" in line, line


def test_dashboard_target_binds_localhost():
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\ndashboard:", 1)[1].split("\n\n", 1)[0]
    assert "optuna-dashboard" in recipe
    assert "--host 127.0.0.1" in recipe
    assert "0.0.0.0" not in recipe


def test_keys_that_say_where_things_go_are_never_taken_from_a_study():
    """Every key that names a place (the paths group, the trial's study binding, the folder
    name, what best_of reads) is refused by the rule `best_of=` applies to a study's keys, so a
    new key there cannot slip past it."""
    from diffexp import names
    from diffexp.config import compose_checked
    from diffexp.security import untrusted_key_problem

    cfg = compose_checked([])
    keys = [f"paths.{key}" for key in cfg.paths]
    keys += [names.TUNING_STUDY_NAME, names.TUNING_STORAGE, names.TUNING_TRIAL_NUMBER]
    keys += ["experiment_name", "best_of", "hydra.run.dir", "hydra/launcher", "search"]
    assert [key for key in keys if untrusted_key_problem(key) is None] == []
    assert untrusted_key_problem("model.hidden_dim") is None  # a search parameter passes
