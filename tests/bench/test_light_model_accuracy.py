"""The light-model accuracy command runs at a tiny size and reports sane numbers."""

from __future__ import annotations

from benchmarks.light_model_accuracy import measure


def test_accuracy_command_reports_both_variants():
    results = measure(n_events=400, epochs=2, seed=3)
    assert results["training_events"] == 360
    for name in ("geometry", "conditions_only"):
        error = results[name]["median_per_pmt_relative_error"]
        assert 0.0 < error < 5.0
        assert results[name]["worst_pmt_relative_error"] >= error
    # Fed the geometry, even two passes get closer than the conditions alone.
    assert (
        results["geometry"]["median_per_pmt_relative_error"]
        < results["conditions_only"]["median_per_pmt_relative_error"]
    )
