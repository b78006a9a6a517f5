"""Which policy the replay says beats the default: only one whose speed-up is clear of the
bootstrap interval (a policy that changes the defaults must win beyond the noise)."""

from __future__ import annotations

from benchmarks.replay_bench import beats_default


def test_a_policy_beats_the_default_only_beyond_its_interval():
    summary = {
        2: {
            "faster": {"default_speedup": 0.5, "default_speedup_95": [0.4, 0.8]},
            "noisy": {"default_speedup": 0.7, "default_speedup_95": [0.3, 1.2]},
            "diffexp_median": {},
        }
    }
    assert [w["policy"] for w in beats_default(summary)] == ["faster"]
