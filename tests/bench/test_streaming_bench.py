"""The streaming bench section at 5 k events (the real size writes a 5 GB file): every
figure and both targets written, the measured processes really streamed and really loaded
whole, the file deleted afterwards, and the smoke size leaves the section out. No timing is
asserted."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from benchmarks.config import compose_bench
from benchmarks.streaming_bench import write_event_file
from diffexp.data import simulate_events
from tests.data.conftest import load_data_conf

FIGURES = {
    "streamed_peak_rss_gb",
    "in_memory_peak_rss_gb",
    "streamed_events_per_second",
    "in_memory_events_per_second",
    "streamed_vs_in_memory",
}


def test_the_file_is_written_in_chunks_from_the_base_events(tmp_path, monkeypatch):
    import benchmarks.streaming_bench as bench

    monkeypatch.setattr(bench, "WRITE_CHUNK_EVENTS", 70)
    base = simulate_events(load_data_conf("simulated"), 50, seed=1)
    path = write_event_file(tmp_path / "e.h5", 230, base, seed=2)
    with h5py.File(path) as handle:
        charges, conditions = handle["charges"][()], handle["conditions"][()]
    assert charges.shape == (230, 128) and conditions.shape == (230, 4)
    base_rows = {row.tobytes(): i for i, row in enumerate(base.charges)}
    picked = [base_rows[row.tobytes()] for row in charges]  # every row is a base event
    np.testing.assert_array_equal(conditions, base.conditions[picked])


def test_smoke_size_skips_the_section_and_default_runs_it():
    assert "streaming" not in compose_bench(["bench.size=smoke"]).sections
    assert "streaming" in compose_bench(["bench.size=default"]).sections


@pytest.mark.slow
def test_streaming_section_at_5k_events(tmp_path):
    from benchmarks.runner import run_bench

    config = compose_bench(
        [
            "bench.size=smoke",
            "bench.sections=[streaming]",
            "sizes.smoke.skip_sections=[]",
            "sizes.smoke.streaming_events=5000",
            "sizes.smoke.streaming_memory_events=2000",
            f"bench.output_dir={tmp_path / 'bench'}",
            f"paths.output_dir={tmp_path / 'outputs'}",
        ]
    )
    results = run_bench(config, print_table=False)
    section = results["sections"]["streaming"]
    assert "error" not in section, section.get("error")
    assert set(section["figures"]) == FIGURES
    details = section["details"]
    streamed, memory = details["streamed"], details["in_memory"]
    assert streamed["streamed"] is True and memory["streamed"] is False
    assert (streamed["n_train"], streamed["n_val"]) == (4500, 500)
    assert (memory["n_train"], memory["n_val"]) == (1800, 200)
    assert details["streamed_steps"] == 4500 // 32 and details["streamed_whole_epoch"]
    assert np.isfinite(streamed["val_loss"]) and np.isfinite(streamed["last_train_loss"])
    ratio = streamed["events_per_second"] / memory["events_per_second"]
    assert section["figures"]["streamed_vs_in_memory"]["median"] == pytest.approx(ratio)
    assert section["figures"]["streamed_peak_rss_gb"]["median"] > 0.1  # TensorFlow alone
    rows = {row["target"]: row for row in results["targets"]}
    assert set(rows) == {"streamed epoch peak memory", "streamed vs in-memory throughput"}
    assert {row["verdict"] for row in rows.values()} <= {"PASS", "MISSED"}
    (folder,) = (tmp_path / "bench").glob("20*")
    assert not list(folder.glob("streaming_*"))  # the event files are deleted
