"""The study gateway (issue 25 item 1): one door to the study. A trial's end is one
`TrialOutcome` written by one `record_outcome` (state, fail_reason, trial.json with each
parameter once), and no module of the tuning wing calls the storage, retries or touches
Optuna's private API by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from diffexp.names import FAIL_REASON_ATTR, RUN_DIR_ATTR, TRIAL_FILE
from diffexp.tuning.outcome import TrialOutcome
from diffexp.tuning.study import StudyGateway
from tests.conftest import REPO


def _gateway(tmp_path: Path) -> StudyGateway:
    study = optuna.create_study(study_name="g", storage=f"sqlite:///{tmp_path / 'g.db'}")
    return StudyGateway(study)


def _job_folder(tmp_path: Path, lr: float, number: int) -> Path:
    folder = tmp_path / f"trial_{number}"
    (folder / ".hydra").mkdir(parents=True)
    lines = [f"optimizer.lr={lr}", "model.hidden_dim=64", f"tuning.trial_number={number}"]
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {x}\n" for x in lines))
    return folder


def test_a_lost_trial_is_failed_once_with_its_record_in_the_folder_its_job_recorded(tmp_path):
    gateway = _gateway(tmp_path)
    trial = gateway.ask()
    lr = trial.suggest_float("optimizer.lr", 1e-5, 1e-2, log=True)
    folder = _job_folder(tmp_path, lr, trial.number)
    gateway.set_trial_attr(trial, RUN_DIR_ATTR, str(folder))
    gateway.report(trial, 0.7, 1)
    gateway.report(trial, 0.4, 2)

    frozen = gateway.record_outcome(trial, TrialOutcome("FAIL", fail_reason="process died"))
    assert frozen is not None and frozen.state == TrialState.FAIL
    assert frozen.user_attrs[FAIL_REASON_ATTR] == "process died"
    record = json.loads((folder / TRIAL_FILE).read_text())
    assert record["state"] == "FAIL" and record["fail_reason"] == "process died"
    assert record["params"] == {"optimizer.lr": lr}  # the learning rate once, as a number
    assert record["hyperparameters"] == ["model.hidden_dim=64", "tuning.trial_number=0"]
    assert record["results"] == {"best_val_loss": 0.4}
    assert record["intermediate_values"] == {"1": 0.7, "2": 0.4}

    (folder / TRIAL_FILE).unlink()  # a second writer (another sweeper) finds it ended
    again = TrialOutcome("FAIL", fail_reason="heartbeat lost")
    assert gateway.record_outcome(trial, again) is None
    assert not (folder / TRIAL_FILE).exists()
    assert gateway.frozen(trial).user_attrs[FAIL_REASON_ATTR] == "process died"


def test_a_jobs_outcome_merges_what_it_reported_and_tells_the_study(tmp_path):
    gateway = _gateway(tmp_path)
    trial = gateway.ask()
    lr = trial.suggest_float("optimizer.lr", 1e-5, 1e-2, log=True)
    folder = _job_folder(tmp_path, lr, trial.number)
    gateway.report(trial, 0.5, 1)
    outcome = TrialOutcome(
        "COMPLETE",
        values=[0.5],
        results={"best_val_loss": 0.5, "epochs_completed": 2},
        reported={2: 0.6},  # e.g. an epoch the study does not hold
        run_dir=folder,
    )
    frozen = gateway.record_outcome(trial, outcome)
    assert frozen is not None and frozen.state == TrialState.COMPLETE and frozen.value == 0.5
    record = json.loads((folder / TRIAL_FILE).read_text())
    assert record["results"] == {"best_val_loss": 0.5, "epochs_completed": 2}
    assert record["intermediate_values"] == {"1": 0.5, "2": 0.6}
    assert "optimizer.lr" not in " ".join(record["hyperparameters"])
    with pytest.raises(ValueError, match="Cannot tell a COMPLETE trial"):
        gateway.record_outcome(trial, outcome)  # a job's own end is told strictly


def test_a_pruned_outcome_keeps_the_last_reported_value(tmp_path):
    gateway = _gateway(tmp_path)
    trial = gateway.ask()
    gateway.report(trial, 0.9, 1)
    gateway.report(trial, 0.8, 2)
    frozen = gateway.record_outcome(trial, TrialOutcome("PRUNED", pruned_at_epoch=2))
    assert frozen is not None and frozen.state == TrialState.PRUNED and frozen.value == 0.8


# ---- the one door: nothing around it calls the study by hand ------------------------------

WING = [
    *(REPO / "diffexp" / "tuning").rglob("*.py"),
    *(REPO / "hydra_plugins").rglob("*.py"),
    REPO / "diffexp" / "train.py",
]
GATEWAY = REPO / "diffexp" / "tuning" / "study.py"
STORAGE = REPO / "diffexp" / "tuning" / "storage.py"  # opens URLs; its own retries at open


def _holders(pattern: str, allowed: tuple[Path, ...]) -> list[str]:
    found = re.compile(pattern)
    return [
        str(path.relative_to(REPO))
        for path in WING
        if path not in allowed and found.search(path.read_text())
    ]


def test_no_hand_written_retry_outside_the_gateway():
    assert _holders(r"retry_on_lock\(", (GATEWAY, STORAGE)) == []


def test_optunas_private_api_is_used_in_the_gateway_only():
    private = r"\._trial_id\b|\._study_id\b|\._storage\b|storages\._|_get_stale_trial_ids"
    assert _holders(private, (GATEWAY,)) == []


def test_every_trial_end_is_written_by_record_outcome():
    ends = r"\.tell\(|set_trial_state_values|write_trial_record\(|TRIAL_FILE"
    assert _holders(ends, (GATEWAY, REPO / "diffexp" / "tuning" / "outcome.py")) == []


@pytest.mark.parametrize("planted", ["a folder with no job in it", "another trial's job folder"])
def test_a_dead_trial_writes_nothing_into_a_folder_the_study_names_but_its_job_never_had(
    tmp_path, planted
):
    """The study storage is writable by others: a `run_dir` attribute pointing at a folder that
    is not this trial's job folder (a hostile teammate's edit) gets no trial.json there."""
    gateway = _gateway(tmp_path)
    trial = gateway.ask()
    if planted == "a folder with no job in it":
        target = tmp_path / "victim"
        target.mkdir()
    else:
        target = _job_folder(tmp_path, 1e-3, trial.number + 5)
    gateway.set_trial_attr(trial, RUN_DIR_ATTR, str(target))

    frozen = gateway.record_outcome(trial, TrialOutcome("FAIL", fail_reason="heartbeat lost"))
    assert frozen is not None and frozen.state == TrialState.FAIL  # the study still learns it
    assert not (target / TRIAL_FILE).exists()
