"""A checkpoint's state.json is checked against its schema and ranges before a run resumes
(issue 22, item 7): a negative epoch, one beyond the configured epochs, a wrong type or a
`null` file is one `diffexp: error:` line naming the file and the field, and nothing of the
run is overwritten; before, epoch -100 trained 102 epochs with negative numbers."""

from __future__ import annotations

import json
import math

import pytest

from diffexp import names
from diffexp.training.checkpoints import CheckpointError, TrainingState, load_training_state
from tests.reliability.support import assert_one_line_error, run_train, snapshot

GOOD = {
    "epoch": 2,
    "step": 10,
    "best_val_loss": 0.5,
    "best_epoch": 2,
    "epochs_without_improvement": 0,
    "patience_reference_loss": 0.5,
    "training_time_seconds": 3.0,
}


def _write_state(folder, state) -> None:
    (folder / names.CHECKPOINT_STATE).write_text(json.dumps(state))


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({**GOOD, "epoch": -100}, "epoch=-100 is not an integer >= 0"),
        ({**GOOD, "epoch": 50}, "epoch=50 is beyond the configured 3 epochs"),
        ({**GOOD, "step": 2.5}, "step=2.5"),
        ({**GOOD, "epoch": True}, "epoch=True"),
        ({**GOOD, "best_epoch": 7}, "best_epoch=7 exceeds epoch=2"),
        ({**GOOD, "best_val_loss": math.nan}, "best_val_loss=nan"),
        ({**GOOD, "training_time_seconds": -1.0}, "training_time_seconds=-1.0"),
        ({**GOOD, "run_code": "x"}, "unknown fields run_code"),
        (None, "a JSON NoneType instead of an object"),
    ],
)
def test_a_bad_state_is_one_error_naming_the_field(tmp_path, state, words):
    _write_state(tmp_path, state)
    with pytest.raises(CheckpointError, match="state.json") as raised:
        load_training_state(tmp_path, max_epoch=3)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_a_good_state_and_infinite_losses_of_a_fresh_run_load(tmp_path):
    _write_state(tmp_path, GOOD)
    assert load_training_state(tmp_path, max_epoch=3) == TrainingState(**GOOD)
    fresh = {**GOOD, "epoch": 0, "best_epoch": 0, "best_val_loss": math.inf}
    _write_state(tmp_path, fresh)
    assert load_training_state(tmp_path, max_epoch=3).best_val_loss == math.inf


@pytest.mark.slow
@pytest.mark.parametrize(("epoch", "words"), [(-100, "epoch=-100"), (50, "epoch=50")])
def test_resuming_from_a_bad_state_is_one_line_and_overwrites_nothing(run_copy, epoch, words):
    folder = run_copy / names.LAST_CHECKPOINT
    state = json.loads((folder / names.CHECKPOINT_STATE).read_text())
    _write_state(folder, {**state, "epoch": epoch})
    before = snapshot(run_copy)
    process = run_train(f"hydra.run.dir={run_copy}", "trainer.resume=true", "trainer.epochs=3")
    assert_one_line_error(process, names.CHECKPOINT_STATE, words)
    assert process.returncode == 2
    assert snapshot(run_copy) == before
