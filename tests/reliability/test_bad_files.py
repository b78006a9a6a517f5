"""Bad files through the real CLI: a broken `.npz`, a truncated or mismatched checkpoint. Each
gives one `diffexp: error:` line naming the file, exit 2, and overwrites nothing. The data
layer's own tests (tests/data) cover every npz message in-process; here the CLI path."""

from __future__ import annotations

import numpy as np
import pytest

from diffexp import names
from diffexp.training import records
from tests.reliability.support import assert_one_line_error, run_train, snapshot

N_EVENTS, N_PMT = 200, 16


def _good() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "charges": rng.poisson(2.0, (N_EVENTS, N_PMT)).astype(np.float32),
        "conditions": rng.normal(size=(N_EVENTS, 4)).astype(np.float32),
    }


def _broken(kind: str) -> dict[str, np.ndarray]:
    arrays = _good()
    if kind == "wrong shape":
        arrays["conditions"] = arrays["conditions"][:-7]
    elif kind == "nan":
        arrays["charges"][5, 3] = np.nan
    elif kind == "negative":
        arrays["charges"][2, 2] = -1.0
    elif kind == "missing array":
        del arrays["conditions"]
    return arrays


@pytest.mark.parametrize(
    "kind, words",
    [
        ("wrong shape", ("200 events in 'charges' but 193 in 'conditions'",)),
        ("nan", ("NaN/inf",)),
        ("negative", ("negative charges",)),
        ("missing array", ("no array 'conditions'",)),
    ],
)
def test_broken_npz_is_one_line_and_trains_nothing(tmp_path, kind, words):
    path = tmp_path / "events.npz"
    np.savez(path, **_broken(kind))
    run_dir = tmp_path / "run"
    process = run_train("data=npz", f"data.path={path}", f"hydra.run.dir={run_dir}")
    assert_one_line_error(process, str(path), *words)
    assert process.returncode == 2
    assert snapshot(run_dir) == {}  # no transform, metrics, checkpoint or summary


@pytest.mark.slow
def test_truncated_checkpoint_is_named_and_nothing_is_overwritten(run_copy):
    weights = run_copy / names.LAST_CHECKPOINT / names.CHECKPOINT_ARRAYS
    with open(weights, "r+b") as handle:
        handle.truncate(weights.stat().st_size // 3)
    before = snapshot(run_copy)
    process = run_train(f"hydra.run.dir={run_copy}", "trainer.resume=true", "trainer.epochs=3")
    assert_one_line_error(process, "last_checkpoint", "truncated")
    assert process.returncode == 2
    assert snapshot(run_copy) == before  # summary, metrics, best weights: byte for byte


@pytest.mark.slow
def test_checkpoint_of_another_model_is_refused_and_nothing_is_overwritten(run_copy):
    before = snapshot(run_copy)
    hidden = 2 * int(
        [
            line
            for line in (run_copy / ".hydra" / "config.yaml").read_text().splitlines()
            if line.strip().startswith("hidden_dim:")
        ][0].split(":")[1]
    )
    process = run_train(
        f"hydra.run.dir={run_copy}",
        "trainer.resume=true",
        "trainer.epochs=3",
        f"model.hidden_dim={hidden}",
    )
    assert_one_line_error(process, "last_checkpoint", "does not match the configured model")
    assert snapshot(run_copy) == before
    assert [r["epoch"] for r in records.read_metrics(run_copy)] == [1, 2]


def test_resume_of_a_folder_without_checkpoint_is_one_line(tmp_path):
    process = run_train(f"hydra.run.dir={tmp_path / 'run'}", "trainer.resume=true")
    assert_one_line_error(process, "has no checkpoint", "hydra.run.dir=")
    assert snapshot(tmp_path / "run") == {}
