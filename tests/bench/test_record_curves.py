"""`record_curves` end to end at the smoke profile: the file it writes is a table the replay
reads, with one curve per configuration and every epoch's loss and seconds."""

from __future__ import annotations

import json

import pytest

from benchmarks import curve_table


@pytest.mark.slow
def test_recording_two_configurations_writes_a_replayable_table(tmp_path):
    from benchmarks.record_curves import main

    out = tmp_path / "curves.json"
    code = main(
        [
            "--configs",
            "2",
            "--out",
            str(out),
            "profile=smoke",
            "trainer.epochs=3",
            f"paths.output_dir={tmp_path / 'outputs'}",
        ]
    )
    assert code == 0
    from diffexp.training import worker_cache

    assert not worker_cache.enabled()  # left as found: later tests in this process see it off
    raw = json.loads(out.read_text())
    assert raw["schema_version"] == curve_table.SCHEMA_VERSION and raw["profile"] == "smoke"
    assert raw["recording_seconds"] > 0 and raw["fresh_worker_seconds"] > 0
    table = curve_table.load(out)
    assert len(table.curves) == 2 and table.epochs == 3
    assert {c.params["model.hidden_dim"] for c in table.curves} <= {32, 64, 96}
    for curve in table.curves:
        assert len(curve.val_loss) == len(curve.epoch_seconds) == 3
        assert all(s >= 0 for s in curve.epoch_seconds) and curve.compile_seconds >= 0
        assert curve.startup_seconds > 0
    assert table.log_params == {"optimizer.lr"}


def test_an_unknown_search_file_is_one_line():
    from benchmarks.record_curves import main

    assert main(["--search", "no_such_space", "--configs", "1"]) == 2
