"""The benchmark's parts on known inputs: config composition, summaries, FLOP counting, the
memory probe, target verdicts and the written table."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from benchmarks import flops, machine, report, stats, targets
from benchmarks.config import compose_bench, split_overrides
from diffexp.errors import ConfigError


def test_overrides_are_split_between_the_two_configs():
    bench, train = split_overrides(
        ["bench.size=smoke", "model.hidden_dim=64", "sizes.smoke.repeats=3", "+targets.x=1"]
    )
    assert bench == ["bench.size=smoke", "sizes.smoke.repeats=3", "+targets.x=1"]
    assert train == ["model.hidden_dim=64"]


def test_compose_uses_the_size_profile_and_user_overrides_win():
    config = compose_bench(["bench.size=smoke", "model.hidden_dim=64", "sizes.smoke.repeats=3"])
    assert config.train.profile.name == "smoke"
    assert config.train.model.hidden_dim == 64
    assert config.size.repeats == 3
    assert config.train_overrides[0] == "profile=smoke"
    assert config.train_overrides[-1] == "model.hidden_dim=64"
    assert config.targets.validation_speedup == 20.0


def test_default_size_targets_match_the_issue():
    config = compose_bench([])
    assert config.size.throughput_batch_size == 512
    assert config.train.profile.name == "default"
    assert config.sections[0] == "validation" and len(config.sections) == 11
    t = config.targets
    assert (t.fit_ratio, t.eager_ratio, t.matmul_fraction) == (1.0, 5.0, 0.6)
    assert (t.tuning_vs_sequential, t.tuning_vs_batched, t.overhead_share) == (2.5, 1.3, 0.2)
    assert (t.time_to_quality, t.close_concordance) == (1.5, 0.9)
    assert (t.streaming_peak_rss_gb, t.streaming_throughput_ratio) == (2.0, 0.7)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["bench.size=huge"], "bench.size"),
        (["bench.sections=[speed]"], "bench.sections"),
        (["optimizer.lr=-1"], "optimizer.lr"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as error:
        compose_bench(overrides)
    assert "\n" not in str(error.value)


def test_figure_summarises_repeats_and_pairs_ratios():
    fig = stats.figure([3.0, 1.0, 2.0], "s", "CPU")
    assert fig == {
        "median": 2.0,
        "min": 1.0,
        "max": 3.0,
        "repeats": 3,
        "unit": "s",
        "device": "CPU",
    }
    assert stats.ratios([4.0, 9.0], [2.0, 3.0]) == [2.0, 3.0]
    assert stats.rates(10.0, [2.0, 5.0]) == [5.0, 2.0]
    calls = []
    seconds = stats.interleaved_seconds(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=1, repeats=2
    )
    assert calls == ["a", "b"] * 3
    assert [len(v) for v in seconds.values()] == [2, 2]


def test_dense_flops_count_every_matmul():
    import keras

    inputs = keras.Input((10,))
    hidden = keras.layers.Dense(20)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.LayerNormalization()(hidden)))
    assert flops.dense_flops_per_sample(model) == 2 * (10 * 20 + 20 * 3)
    assert flops.training_gflop_per_sample(model) == pytest.approx(3 * 520 / 1e9)


def test_convolution_flops_count_every_output_position():
    import keras

    inputs = keras.Input((16, 3))
    model = keras.Model(inputs, keras.layers.Conv1D(8, 5)(inputs))  # 12 output positions
    assert flops.dense_flops_per_sample(model) == 2 * (5 * 3 * 8) * 12


def test_denoiser_flops_follow_its_config():
    from diffexp.models import build_denoiser

    cfg = OmegaConf.create(
        {
            "name": "mlp",
            "hidden_dim": 32,
            "n_layers": 2,
            "t_emb_dim": 8,
            "dropout": 0.0,
            "activation": "silu",
        }
    )
    model = build_denoiser(cfg, 16, 4)
    h = 32
    expected = 2 * ((8 + 4) * h + h * h + 16 * h + 2 * (3 * h * h) + h * 16)
    assert flops.dense_flops_per_sample(model) == expected


def test_matmul_probe_reports_its_work():
    run, gflop = flops.matmul_runner(64, 3)
    run()
    assert gflop == pytest.approx(2 * 64**3 * 3 / 1e9)


def test_peak_memory_probe_sees_an_allocation():
    if machine.peak_memory_method().startswith("unavailable"):
        pytest.skip("no way to read peak memory here")
    grown = machine.peak_memory_mib(lambda: np.ones(64 * 2**20 // 8).sum())
    assert grown is not None and grown >= 48


def _results(**medians) -> dict:
    sections: dict = {}
    for key, value in medians.items():
        section, name = key.split("__")
        body = sections.setdefault(section, {"figures": {}, "details": {}})
        body["figures"][name] = stats.figure([value], "x")
    sections["throughput"]["details"]["batch_size"] = 512
    sections["overhead"]["details"]["profile"] = "default"
    sections["tuning"] = {"available": False, "reason": "missing", "figures": {}}
    return sections


def _judged_results(outside_training_share: float) -> dict:
    """Figures that pass some targets and miss others (tuning not run)."""
    return _results(
        validation__speedup=25.0,
        validation__fast_abs_error=0.02,
        validation__naive_abs_error=0.01,
        validation__fast_close_concordance=0.95,
        validation__naive_close_concordance=0.6,
        validation__close_pairs=10.0,
        validation__naive_noise=0.01,
        throughput__vs_fit=0.9,
        throughput__vs_fit_fair=1.1,
        throughput__vs_eager=6.0,
        throughput__matmul_fraction=0.6,
        overhead__outside_training_share=outside_training_share,
        warm_trial__before_outside_share=0.4,
        warm_trial__after_outside_share=0.3,
    )


def test_targets_are_judged_pass_missed_or_not_judged():
    bench = compose_bench(["bench.size=smoke"])
    results = _judged_results(outside_training_share=0.3)
    rows = {row["target"]: row for row in targets.judge(results, bench.targets)}
    verdicts = {name: row["verdict"] for name, row in rows.items()}
    assert verdicts == {
        "validation speed-up vs naive": "PASS",
        "validation error <= naive error": "MISSED",
        "close-checkpoint ranking (pair concordance)": "PASS",
        "train loop vs fair keras fit": "PASS",
        "train loop vs keras fit (1 step a call)": "MISSED",
        "train step vs eager loop": "PASS",
        "share of the matmul rate": "PASS",
        "tuning best value no worse": "n/a",
        "tuning vs sequential": "n/a",
        "tuning vs batched": "n/a",
        "time to quality vs best peer": "n/a",
        "time outside training": "MISSED",
        "warm-worker trial outside its epochs": "MISSED",
    }
    assert "missing" in rows["tuning vs batched"]["note"]
    assert (
        "naive loop orders 0.60 of them (fails it too)"
        in (rows["close-checkpoint ranking (pair concordance)"]["note"])
    )
    assert (
        "before (compiled per trial): 40%" in (rows["warm-worker trial outside its epochs"]["note"])
    )

    results["overhead"]["details"]["profile"] = "smoke"
    results["throughput"] = {"error": "ValueError: broken"}
    rows = {row["target"]: row for row in targets.judge(results, bench.targets)}
    assert rows["time outside training"]["verdict"] == "n/a"
    assert rows["train loop vs fair keras fit"]["verdict"] == "n/a"
    assert rows["train loop vs fair keras fit"]["note"] == "ValueError: broken"


def test_markdown_states_each_verdict(tmp_path):
    bench = compose_bench(["bench.size=smoke"])
    sections = _judged_results(outside_training_share=0.1)
    results = {
        "size": "smoke",
        "timestamp": "t",
        "warmup": 1,
        "repeats": 1,
        "git_commit": None,
        "machine": {"cpu": "test cpu", "cores": 2, "gpus": [], "load_average_1m": 1.0},
        "package_versions": {"python": "3"},
        "sections": sections,
        "targets": targets.judge(sections, bench.targets),
    }
    json_path, md_path = report.write(results, tmp_path / "out")
    text = md_path.read_text()
    assert "| validation | speedup | 25.00 | 25.00 | 25.00 | x |" in text
    assert "| train loop vs keras fit (1 step a call) | >= 1 | 0.9 | **MISSED** |" in text
    assert "| time outside training | <= 0.2 | 0.1 | PASS |" in text
    assert "not available: missing" in text
    assert "test cpu, 2 cores, GPU: none" in text
    assert json_path.exists()


def test_first_epoch_excess_is_the_compilation_over_a_typical_epoch():
    from benchmarks.epochs import first_epoch_excess

    rows = [{"training_time_seconds": t} for t in (3.0, 4.0, 5.2, 6.0)]  # epochs 3, 1, 1.2, .8
    assert first_epoch_excess(rows) == pytest.approx(2.0)
    assert first_epoch_excess(rows[:1]) == 0.0


def test_trial_outside_share_counts_compilation_as_outside(tmp_path):
    from benchmarks.tuning_bench import _outside_training_share
    from diffexp.training import records

    for epoch, t in enumerate((3.0, 4.0, 5.0), start=1):
        records.append_metrics(tmp_path, {"epoch": epoch, "training_time_seconds": t})
    # 5 s of epochs of which 2 s are the first epoch's excess, in a 10 s trial
    assert _outside_training_share(tmp_path, 10.0) == pytest.approx(0.7)
    assert _outside_training_share(tmp_path / "empty", 10.0) is None
