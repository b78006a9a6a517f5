"""A curve recording that stops keeps what it recorded and resumes where it stopped; a file
recorded with other settings is refused with one line (no training here)."""

from __future__ import annotations

import pytest

from benchmarks.record_curves import resumable_trials, write_table
from diffexp.errors import ConfigError

HEADER = {"schema_version": 1, "profile": "default", "overrides": [], "sampling": "seed 0"}
CONFIGS = [{"lr": 1e-3}, {"lr": 1e-4}, {"lr": 1e-2}]


def _written(tmp_path, trials, **changed):
    out = tmp_path / "curves.json"
    write_table(out, {**HEADER, **changed, "recording_seconds": 12.5, "trials": trials})
    return out


def test_a_stopped_recording_resumes_after_its_last_trial(tmp_path):
    out = _written(tmp_path, [{"params": CONFIGS[0], "val_loss": [0.3]}])
    assert [p.name for p in tmp_path.iterdir()] == ["curves.json"]  # no temporary file left
    trials, previous = resumable_trials(out, HEADER, CONFIGS)
    assert [t["params"] for t in trials] == [CONFIGS[0]]
    assert previous["recording_seconds"] == 12.5  # the resumed run adds its own time to it


def test_no_file_starts_from_the_first_configuration(tmp_path):
    assert resumable_trials(tmp_path / "none.json", HEADER, CONFIGS) == ([], {})


def test_a_file_of_other_settings_or_other_points_is_refused(tmp_path):
    out = _written(tmp_path, [], profile="smoke")
    with pytest.raises(ConfigError, match="other settings"):
        resumable_trials(out, HEADER, CONFIGS)
    out = _written(tmp_path, [{"params": CONFIGS[1]}])
    with pytest.raises(ConfigError, match="trial 0 is not this Sobol point"):
        resumable_trials(out, HEADER, CONFIGS)
    out.write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        resumable_trials(out, HEADER, CONFIGS)
