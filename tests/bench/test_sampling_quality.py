"""benchmarks/sampling_quality.py: one row per sampler setting, written as it goes, a rerun
skips what is there, and the figure is drawn (the generation itself is verify's, tested in
tests/verification/test_verify_pipeline.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from benchmarks import sampling_quality
from diffexp.verification import pipeline


@pytest.fixture
def fake_verify(monkeypatch):
    """sample_quality stand-in: AUC falls with steps and rises with eta; records each call."""
    calls = []

    def quality(loaded, events, sampler, steps, eta, seed, cache_dir):
        calls.append((sampler, steps, eta))
        steps = 1000 if sampler == "ddpm" else steps
        return pipeline.SampleQuality(0.5 + 10 / steps + eta / 100, 0.01, steps * 0.004, events)

    loaded = SimpleNamespace(schedule=SimpleNamespace(n_steps=1000))
    monkeypatch.setattr(pipeline, "sample_quality", quality)
    monkeypatch.setattr("diffexp.models.loading.load_run", lambda run: loaded)
    return calls


def test_each_setting_is_a_row_and_a_rerun_skips_the_done_ones(tmp_path, fake_verify):
    args = [str(tmp_path / "run"), "--steps", "50", "200", "--etas", "0.3", "1", "--ddpm"]
    assert sampling_quality.main([*args, "--events", "100", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / sampling_quality.RESULTS).read_text())
    rows = {row["setting"]: row for row in record["rows"]}
    assert list(rows) == [
        "ddim steps=50 eta=0.3",
        "ddim steps=200 eta=0.3",
        "ddim steps=50 eta=1",
        "ddim steps=200 eta=1",
        "ddpm",
    ]
    assert rows["ddim steps=200 eta=0.3"]["auc"] == pytest.approx(0.5 + 10 / 200 + 0.003)
    assert rows["ddim steps=200 eta=0.3"]["ms_per_event"] == pytest.approx(1000 * 0.8 / 100)
    assert rows["ddpm"]["steps"] == 1000
    assert (tmp_path / sampling_quality.FIGURE).stat().st_size > 5_000

    fake_verify.clear()
    more = [*args, "--steps", "50", "400", "--events", "100", "--out", str(tmp_path)]
    assert sampling_quality.main(more) == 0
    assert fake_verify == [("ddim", 400, 0.3), ("ddim", 400, 1.0)]  # only the new settings
    assert len(json.loads((tmp_path / sampling_quality.RESULTS).read_text())["rows"]) == 7
