"""best_trial_overrides: phase 2 gets exactly the best trial's parameters, and clear errors."""

from __future__ import annotations

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from diffexp.tuning.analysis.best_trial import StudyError, best_trial_overrides

DISTRIBUTIONS = {
    "optimizer.lr": FloatDistribution(1e-5, 1e-2, log=True),
    "model.hidden_dim": CategoricalDistribution([128, 256, 512]),
    "model.n_layers": IntDistribution(2, 8),
    "schedule": CategoricalDistribution(["constant", "cosine", "cyclical"]),
}


def _trial(state: TrialState, value: float | None, lr: float, hidden: int, layers: int,
           schedule: str) -> optuna.trial.FrozenTrial:  # fmt: skip
    return optuna.create_trial(
        state=state,
        value=value,
        params={
            "optimizer.lr": lr,
            "model.hidden_dim": hidden,
            "model.n_layers": layers,
            "schedule": schedule,
        },
        distributions=DISTRIBUTIONS,
        intermediate_values={0: 0.01} if state == TrialState.PRUNED else {},
        user_attrs={"profile.epochs": 10},
    )


@pytest.fixture
def storage(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'optuna_study.db'}"
    study = optuna.create_study(study_name="phase1", storage=url)
    study.add_trials(
        [
            _trial(TrialState.COMPLETE, 0.30, 1e-4, 128, 2, "constant"),
            _trial(TrialState.COMPLETE, 0.12, 3.7e-4, 512, 6, "cyclical"),  # the best
            _trial(TrialState.PRUNED, None, 1e-3, 256, 4, "cosine"),  # lower report, not done
            _trial(TrialState.COMPLETE, 0.25, 5e-5, 256, 3, "cosine"),
        ]
    )
    study.add_trial(optuna.create_trial(state=TrialState.FAIL, params={}, distributions={}))
    optuna.create_study(study_name="other", storage=url)
    return url


def test_returns_exactly_the_best_trial_params_and_provenance(storage):
    overrides, provenance = best_trial_overrides("phase1", storage)
    assert overrides == {
        "optimizer.lr": "0.00037",
        "model.hidden_dim": "512",
        "model.n_layers": "6",
        "schedule": "cyclical",
    }
    assert provenance == {
        "study_name": "phase1",
        "storage": storage,
        "trial_number": 1,
        "value": 0.12,
        "parameters": [
            {"key": key, "value": value, "from": "searched in study phase1 trial 1"}
            for key, value in overrides.items()
        ],
    }


def test_overrides_parse_back_to_the_trial_values(storage):
    overrides, provenance = best_trial_overrides("phase1", storage)
    best = optuna.load_study(study_name="phase1", storage=storage).trials[
        provenance["trial_number"]
    ]
    parser = OverridesParser.create()
    parsed = parser.parse_overrides([f"{k}={v}" for k, v in overrides.items()])
    assert {o.key_or_group: o.value() for o in parsed} == best.params


def test_maximize_study_takes_the_highest_value(tmp_path):
    url = f"sqlite:///{tmp_path / 'max.db'}"
    study = optuna.create_study(study_name="score", storage=url, direction="maximize")
    study.add_trials(
        [
            _trial(TrialState.COMPLETE, 0.4, 1e-4, 128, 2, "constant"),
            _trial(TrialState.COMPLETE, 0.9, 2e-3, 256, 5, "cosine"),
        ]
    )
    overrides, provenance = best_trial_overrides("score", url)
    assert provenance["trial_number"] == 1
    assert overrides["optimizer.lr"] == "0.002"


def test_unknown_study_lists_existing_ones(storage):
    with pytest.raises(StudyError) as info:
        best_trial_overrides("phase_one", storage)
    message = str(info.value)
    assert "'phase_one'" in message and "phase1" in message and "other" in message
    assert "\n" not in message


def test_study_without_complete_trial_names_the_command(storage):
    with pytest.raises(StudyError, match="make phase1") as info:
        best_trial_overrides("other", storage)
    assert "'other'" in str(info.value)


def test_missing_storage_is_reported_and_not_created(tmp_path):
    missing = tmp_path / "nowhere.db"
    with pytest.raises(StudyError, match="no such file"):
        best_trial_overrides("phase1", f"sqlite:///{missing}")
    assert not missing.exists()


def test_unreachable_database_is_one_line(tmp_path):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("this is not sqlite")
    with pytest.raises(StudyError) as info:
        best_trial_overrides("phase1", f"sqlite:///{not_a_db}")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def _staged_storage(tmp_path) -> str:
    """A phase1b study as the sweeper leaves it: searched params, and the values fixed from
    phase 1 as the trial's user attrs and as the study's `fixed_from` record."""
    from diffexp.names import FIXED_FROM_ATTR

    url = f"sqlite:///{tmp_path / 'staged.db'}"
    study = optuna.create_study(study_name="phase1b", storage=url)
    fixed = {"optimizer.lr": "0.00037", "model.hidden_dim": "96", "model.t_emb_dim": "64"}
    study.set_user_attr(
        FIXED_FROM_ATTR,
        {
            "study_name": "phase1",
            "storage": url,
            "trial_number": 7,
            "value": 0.1,
            "overrides": fixed,
        },
    )
    study.add_trial(
        optuna.create_trial(
            state=TrialState.COMPLETE,
            value=0.05,
            params={"model.n_layers": 4, "schedule": "cosine"},
            distributions={
                "model.n_layers": IntDistribution(2, 6),
                "schedule": CategoricalDistribution(["constant", "cosine"]),
            },
            user_attrs={**fixed, "profile": "smoke", "trainer.epochs": "2"},  # budget: left out
        )
    )
    return url


def test_a_staged_study_gives_the_whole_configuration_of_its_trial(tmp_path):
    overrides, provenance = best_trial_overrides("phase1b", _staged_storage(tmp_path))
    assert overrides == {
        "model.n_layers": "4",
        "schedule": "cosine",
        "optimizer.lr": "0.00037",
        "model.hidden_dim": "96",
        "model.t_emb_dim": "64",
    }
    sources = {row["key"]: row["from"] for row in provenance["parameters"]}
    assert sources["model.n_layers"] == "searched in study phase1b trial 0"
    assert sources["optimizer.lr"] == "fixed from study phase1 trial 7 (phase1b trial 0)"


@pytest.mark.slow
def test_phase_two_from_a_staged_study_trains_its_whole_configuration(tmp_path):
    """`best_of=phase1b` trains phase 1's fixed lr/hidden_dim/t_emb_dim too, and the summary
    says where each value came from."""
    import json

    from diffexp import names
    from tests.reliability.support import run_train

    url = _staged_storage(tmp_path)
    run_dir = tmp_path / "run"
    process = run_train(
        "best_of=phase1b",
        f"paths.study_storage={url}",
        "trainer.epochs=1",
        f"hydra.run.dir={run_dir}",
    )
    assert process.returncode == 0, process.stderr[-3000:]
    summary = json.loads((run_dir / names.SUMMARY_FILE).read_text())
    hyper = summary["hyperparameters"]
    assert hyper["optimizer"]["lr"] == pytest.approx(0.00037)
    assert (hyper["model"]["hidden_dim"], hyper["model"]["t_emb_dim"]) == (96, 64)
    assert hyper["model"]["n_layers"] == 4
    sources = {row["key"]: row["from"] for row in summary["best_of"]["parameters"]}
    assert sources["model.hidden_dim"].startswith("fixed from study phase1 trial 7")
    assert sources["schedule"] == "searched in study phase1b trial 0"
