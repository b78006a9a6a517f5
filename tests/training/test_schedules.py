"""Each LR schedule has its documented shape (in optimizer steps)."""

from __future__ import annotations

import numpy as np
import pytest

from diffexp.training.schedules import (
    CyclicalLR,
    PerOptimizerStep,
    build_schedule,
    exponential_ramp,
)

LR = 1e-3


def values(schedule, n):
    return np.array([float(schedule(s)) for s in range(n)])


def test_constant_is_flat(make_config):
    cfg = make_config(["schedule=constant"])
    np.testing.assert_allclose(values(build_schedule(cfg.schedule, LR, 10, 5), 60), LR, rtol=1e-6)


def test_cosine_warms_up_then_decays_to_alpha(make_config):
    cfg = make_config(["schedule=cosine", "schedule.warmup_fraction=0.1", "schedule.alpha=0.01"])
    lrs = values(build_schedule(cfg.schedule, LR, 10, 10), 101)
    assert lrs[0] == pytest.approx(0.0, abs=1e-9)
    assert np.all(np.diff(lrs[:11]) > 0)  # warmup: 10 of 100 steps
    assert lrs[10] == pytest.approx(LR, rel=1e-5)
    assert np.all(np.diff(lrs[10:]) <= 1e-12)  # monotone decay afterwards
    assert lrs[100] == pytest.approx(0.01 * LR, rel=1e-3)
    assert lrs[55] == pytest.approx(LR * (0.01 + 0.99 * 0.5), rel=1e-3)  # half-way: cosine midpoint


def test_triangular_cycles_between_bounds():
    lrs = values(CyclicalLR(1e-4, 1e-3, step_size=10), 41)
    assert lrs[0] == pytest.approx(1e-4) and lrs[10] == pytest.approx(1e-3)
    assert lrs[20] == pytest.approx(1e-4) and lrs[30] == pytest.approx(1e-3)
    assert lrs[5] == pytest.approx(5.5e-4)


def test_triangular2_halves_the_amplitude_each_cycle():
    lrs = values(CyclicalLR(1e-4, 1e-3, step_size=10, mode="triangular2"), 51)
    assert lrs[10] - 1e-4 == pytest.approx(9e-4)
    assert lrs[30] - 1e-4 == pytest.approx(4.5e-4)
    assert lrs[50] - 1e-4 == pytest.approx(2.25e-4)


def test_exp_range_decays_the_amplitude_by_gamma():
    lrs = values(CyclicalLR(1e-4, 1e-3, step_size=10, mode="exp_range", gamma=0.99), 31)
    assert lrs[10] - 1e-4 == pytest.approx(9e-4 * 0.99**10, rel=1e-4)
    assert lrs[30] - 1e-4 == pytest.approx(9e-4 * 0.99**30, rel=1e-4)


def test_cosine_restarts_restart_at_the_peak_times_m_mul(make_config):
    cfg = make_config(
        [
            "schedule=cosine_restarts",
            "schedule.first_decay_epochs=1",
            "schedule.t_mul=2",
            "schedule.m_mul=0.5",
            "schedule.alpha=0",
        ]
    )
    lrs = values(build_schedule(cfg.schedule, LR, 10, 10), 40)
    assert lrs[0] == pytest.approx(LR)
    assert lrs[9] < 0.05 * LR  # end of the first 10-step cycle
    assert lrs[10] == pytest.approx(0.5 * LR, rel=1e-4)  # restart, second cycle 20 steps
    assert lrs[30] == pytest.approx(0.25 * LR, rel=1e-4)


def test_per_optimizer_step_divides_micro_steps():
    inner = CyclicalLR(0.0, 1.0, step_size=4)
    wrapped = PerOptimizerStep(inner, accumulation_steps=4)
    assert [float(wrapped(s)) for s in (0, 3, 4, 8, 15, 16)] == pytest.approx(
        [float(inner(s)) for s in (0, 0, 1, 2, 3, 4)]
    )


def test_exponential_ramp_spans_min_to_max():
    ramp = exponential_ramp(1e-7, 1.0, 100)
    assert float(ramp(0)) == pytest.approx(1e-7)
    assert float(ramp(50)) == pytest.approx(1e-7 * 1e7**0.5, rel=1e-4)
    assert float(ramp(100)) == pytest.approx(1.0, rel=1e-4)


def test_unknown_cyclical_mode_is_refused():
    with pytest.raises(ValueError, match="schedule.mode='sawtooth'"):
        CyclicalLR(0.1, 1.0, 10, mode="sawtooth")
