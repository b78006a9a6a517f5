"""What a training process imports: nothing it does not use. Keras' own import would pull in
scikit-learn (~0.7 s, for its sklearn wrappers) and matplotlib.pyplot (~0.3 s, for its plot
galleries), a plain run Optuna, and the records module pyplot; each is paid by every training
process and every sweep trial. Each check runs in a fresh interpreter, since this one has
imported all of them already."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import REPO, subprocess_env


def _run(script: str) -> dict:
    """Run `script` in a fresh interpreter; it prints one JSON object as its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=subprocess_env(),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_diffexp_entry_modules_import_no_framework():
    found = _run(
        """
        import json, sys
        import diffexp, diffexp.runtime, diffexp.train, diffexp.tuning.trial.job
        import diffexp.training.records
        heavy = ["tensorflow", "keras", "optuna", "sklearn", "matplotlib"]
        print(json.dumps({"imported": [name for name in heavy if name in sys.modules]}))
        """
    )
    assert found["imported"] == []


def test_plain_run_job_does_not_import_optuna(tmp_path):
    found = _run(
        f"""
        import json, sys
        from omegaconf import OmegaConf
        from diffexp.training.results import TrainResult
        from diffexp.tuning.trial.job import TrialJob

        cfg = OmegaConf.create({{"tuning": {{"trial_number": None}}}})
        result = TrainResult(2.0, 1, 2.5, 1.0, 1, "completed", {str(tmp_path)!r})
        value = TrialJob.from_config(cfg, {str(tmp_path)!r}).run(lambda reporter: result)
        print(json.dumps({{"value": value, "optuna": "optuna" in sys.modules}}))
        """
    )
    assert found == {"value": 2.0, "optuna": False}


def test_training_path_keeps_sklearn_and_matplotlib_out_yet_usable():
    found = _run(
        """
        import json, sys
        import numpy as np
        from diffexp import runtime
        import diffexp.train

        runtime.configure_threads(1)  # what diffexp.train's job does first
        import diffexp.training.session, diffexp.training.trainer  # noqa: E401
        absent = [name for name in ("sklearn", "matplotlib") if name not in sys.modules]

        from sklearn.linear_model import Ridge
        ridge = Ridge(alpha=1e-6).fit(np.eye(3), [0.0, 1.0, 2.0])
        import matplotlib.pyplot  # noqa: F401
        import keras
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        try:
            keras.wrappers.SKLearnRegressor(model=model)
            keras_sklearn = True
        except ImportError:
            keras_sklearn = False
        print(json.dumps({
            "absent": absent,
            "ridge": ridge.predict(np.eye(3)).round(3).tolist(),
            "keras_output_shape": list(model(np.ones((1, 3), "float32")).shape),
            "keras_sklearn_wrappers": keras_sklearn,
        }))
        """
    )
    assert found["absent"] == ["sklearn", "matplotlib"]
    assert found["ridge"] == [0.0, 1.0, 2.0]
    assert found["keras_output_shape"] == [1, 2]
    assert found["keras_sklearn_wrappers"] is False  # the price: Keras never saw sklearn


def test_sklearn_imported_first_is_left_to_keras():
    found = _run(
        """
        import json
        import sklearn  # noqa: F401
        from diffexp import runtime

        runtime.import_tensorflow()
        import keras
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        keras.wrappers.SKLearnRegressor(model=model)  # ImportError if Keras lost sklearn
        print(json.dumps({"ok": True}))
        """
    )
    assert found == {"ok": True}
