"""The example package's denoiser (examples/ring_conv_denoiser, installed by `make install`)
through everything diffexp does, with its config files added by `hydra.searchpath` and no
change to diffexp: PMT selection, a phase-1 sweep of its own keys, phase 2 (`best_of=`),
verification of a run loaded from its folder alone and the benchmark's throughput section.
(Resume after SIGKILL: tests/reliability/test_killed_training.py.)"""

from __future__ import annotations

import json

import optuna
import pytest
from optuna.trial import TrialState

from diffexp import names
from tests.bench.test_bench_smoke import SECTION_FIGURES
from tests.conftest import run_module
from tests.reliability.support import SHARED_CACHE
from tests.reliability.test_killed_training import EXAMPLE_DENOISER as EXAMPLE

pytestmark = pytest.mark.slow

OWN_KEYS = {"optimizer.lr", "model.channels", "model.kernel_size"}  # search/ring_conv.yaml
RECORD = {  # what a run records of the denoiser that built it
    "name": "ring_conv",
    "entry_point": "ring_conv_denoiser.model:build",
    "package": "ring-conv-denoiser",
    "version": "0.1.0",
}
N_KEPT = 16  # PMTs kept from select_pmts' ranking


def _summary(run_dir) -> dict:
    return json.loads((run_dir / names.SUMMARY_FILE).read_text())


def test_select_then_phase1_then_phase2_then_verify(tmp_path):
    selection = tmp_path / "selection"
    selected = run_module(
        "diffexp.select_pmts",
        "n_events=40",
        "n_random=2",
        "k_values=[16]",
        f"output_dir={selection}",
    )
    assert selected.returncode == 0, selected.stderr[-3000:]
    data = (
        f"data.pmt_selection={selection / 'pmt_selection.json'}",
        f"data.n_pmts_kept={N_KEPT}",
        f"paths.cache_dir={SHARED_CACHE}",
    )
    env = {"DIFFEXP_ROOT": str(tmp_path)}
    sweep = run_module(
        "diffexp.train",
        "-m",
        *EXAMPLE,
        "search=ring_conv",
        "hydra/sweeper=optuna",
        "hydra/launcher=pool",
        "profile=smoke",
        "profile.n_trials=3",
        *data,
        env=env,
    )
    assert sweep.returncode == 0, sweep.stdout[-3000:] + sweep.stderr[-3000:]
    storage = f"sqlite:///{tmp_path / 'outputs' / 'optuna_study.db'}"
    study = optuna.load_study(study_name="ring_conv-smoke", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert all(set(t.params) == OWN_KEYS for t in study.trials)
    for trial in study.trials:
        run = tmp_path / "outputs" / "sweeps"
        (trial_dir,) = run.glob(f"*/trial_{trial.number}")
        summary = _summary(trial_dir)
        assert summary["denoiser"] == RECORD
        assert summary["hyperparameters"]["model"]["channels"] == trial.params["model.channels"]

    phase2 = tmp_path / "phase2"
    refined = run_module(
        "diffexp.train",
        *EXAMPLE,
        "best_of=ring_conv-smoke",
        "trainer=refine",
        "profile=smoke",
        f"hydra.run.dir={phase2}",
        *data,
        env=env,
    )
    assert refined.returncode == 0, refined.stderr[-3000:]
    summary = _summary(phase2)
    best = study.best_trial
    assert summary["best_of"]["trial_number"] == best.number
    model_keys = summary["hyperparameters"]["model"]
    assert model_keys["kernel_size"] == best.params["model.kernel_size"]
    assert model_keys["channels"] == best.params["model.channels"]

    # verify from another folder with no search path: the run folder alone rebuilds the model
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    verified = run_module(
        "diffexp.verify",
        f"run={phase2}",
        "steps=5",
        "reconstruction.n_train_events=1000",
        cwd=elsewhere,
    )
    assert verified.returncode == 0, verified.stderr[-3000:]
    written = json.loads((phase2 / names.VERIFICATION_FILE).read_text())
    assert 0.0 <= written["score"] <= 1.0 and 0.0 <= written["classifier_auc"] <= 1.0

    from diffexp.models.loading import load_run

    loaded = load_run(phase2)
    assert loaded.model.name == "ring_conv_denoiser"
    assert loaded.model.output.shape == (None, N_KEPT)
    kernel = loaded.model.get_layer("ring0_conv").kernel.shape
    assert tuple(kernel) == (
        best.params["model.kernel_size"],
        best.params["model.channels"],
        best.params["model.channels"],
    )


def test_bench_throughput_measures_the_example(tmp_path):
    from benchmarks import report
    from benchmarks.__main__ import main

    out = tmp_path / "bench"
    code = main(
        [
            "bench.size=smoke",
            "bench.sections=[throughput]",
            f"bench.output_dir={out}",
            f"paths.output_dir={tmp_path / 'outputs'}",
            *EXAMPLE,
        ]
    )
    assert code == 0
    (folder,) = out.glob("20*")
    results = json.loads((folder / report.JSON_FILE).read_text())
    assert results["denoiser"] == RECORD
    throughput = results["sections"]["throughput"]
    assert SECTION_FIGURES["throughput"] <= throughput["figures"].keys()
    assert throughput["figures"]["diffexp_gflops"]["min"] > 0
    assert throughput["details"]["parameter_count"] > 0
