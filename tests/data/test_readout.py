"""The single-PE readout of generated charges (diffexp/data/readout.py): it must turn a
generator's smeared low-charge bump back into the detector's photoelectron peaks, keep the
generator's hits and bright charges, leave the detector's own events unchanged in law, and
refuse a half-given config in one line."""

from __future__ import annotations

import numpy as np
import pytest

from diffexp.data.errors import DataError
from diffexp.data.geometry import build_geometry
from diffexp.data.readout import PeReadout, readout_from_config
from diffexp.data.simulator import DetectorSimulator
from tests.data.conftest import load_data_conf

THRESHOLD, RESOLUTION = 0.3, 0.3


@pytest.fixture(scope="module")
def simulated():
    """Charges of the default detector at low light (most hits 1-3 PE), twice: a reference
    and an independent sample standing in for a perfect generator's counts."""
    cfg = load_data_conf("simulated")
    physics = {**cfg.physics, "light_yield_pe_per_mev": 1500.0}
    simulator = DetectorSimulator(build_geometry(cfg.geometry), physics, (1.0, 10.0), 0.25)
    conditions = simulator.sample_conditions(3000, np.random.default_rng(0))
    return [simulator.simulate(conditions, np.random.default_rng(seed)) for seed in (1, 2)]


@pytest.fixture(scope="module")
def expected(simulated):
    """The simulator's mean photoelectrons of the fixture's events."""
    cfg = load_data_conf("simulated")
    physics = {**cfg.physics, "light_yield_pe_per_mev": 1500.0}
    simulator = DetectorSimulator(build_geometry(cfg.geometry), physics, (1.0, 10.0), 0.25)
    return simulator.expected_pe(simulator.sample_conditions(3000, np.random.default_rng(0)))


def _low_charge_histogram(charges: np.ndarray) -> np.ndarray:
    """Shares of hits in 0.1-PE bins from the threshold to 4 PE (the 1..3-PE peaks)."""
    hits = charges[charges > 0]
    counts, _ = np.histogram(hits, bins=np.arange(0.3, 4.0 + 1e-9, 0.1))
    return counts / hits.size


def test_readout_restores_the_photoelectron_peaks_a_generator_smeared(simulated):
    reference, sample = simulated
    rng = np.random.default_rng(3)
    # A generator that got the charge in each whole-PE bin right but not the shape inside it:
    # flat between the peaks (a dequantised model that never learnt the readout).
    whole = np.maximum(np.rint(sample), 1.0)
    flat = np.clip(whole + rng.uniform(-0.5, 0.5, sample.shape), THRESHOLD + 0.01, None)
    blurred = np.where(sample > 0, flat, 0.0).astype(np.float32)
    readout = PeReadout(resolve_pe_below=5.0, spe_resolution=RESOLUTION, threshold_pe=THRESHOLD)
    read_out = readout.apply(blurred, np.random.default_rng(4))

    target = _low_charge_histogram(reference)
    floor = np.abs(_low_charge_histogram(sample) - target).sum()  # sampling noise alone
    before = np.abs(_low_charge_histogram(blurred) - target).sum()
    after = np.abs(_low_charge_histogram(read_out) - target).sum()
    assert before > 10 * floor  # the flat shape is visible
    # ...and the readout removes >= 90 % of it
    assert after - floor < 0.1 * (before - floor)


def test_readout_leaves_the_detectors_own_events_unchanged_in_law(simulated):
    # A perfect generator must come out as it went in: the readout is one Gibbs step of the
    # readout law, so the simulator's events keep their charge spectrum. Rounding to the
    # nearest PE (this module's first version) moves 2-PE hits to 1 PE and fails this.
    reference, sample = simulated
    readout = PeReadout(resolve_pe_below=5.0, spe_resolution=RESOLUTION, threshold_pe=THRESHOLD)
    read_out = readout.apply(sample, np.random.default_rng(5))
    bins = np.arange(THRESHOLD, readout.window_pe() + 1.0, 0.1)
    want, _ = np.histogram(reference[reference > 0], bins=bins)
    got, _ = np.histogram(read_out[read_out > 0], bins=bins)
    before, _ = np.histogram(sample[sample > 0], bins=bins)

    def chi2_per_bin(a: np.ndarray) -> float:
        return float(np.mean((a - want) ** 2 / np.maximum(a + want, 1)))

    assert chi2_per_bin(before) < 1.5  # two samples of one law: chi2 per bin about 1
    assert chi2_per_bin(got) < 1.5


def test_readout_with_the_expectation_keeps_each_pmts_law(simulated, expected):
    # The spectrum of all PMTs together is not enough: a dim PMT's charge of 1.5 PE is one
    # photoelectron far more often than a bright one's. With the expectation as the count
    # prior the simulator's own dim PMTs keep their share of 2-PE-like hits; the prior
    # deconvolved from all hits gives them too many (measured: the classifier then tells
    # the simulator's own events from themselves at AUC 0.61).
    reference, sample = simulated
    readout = PeReadout(resolve_pe_below=5.0, spe_resolution=RESOLUTION, threshold_pe=THRESHOLD)
    dim = expected < 0.3

    def two_pe_share(charges: np.ndarray) -> float:
        hits = charges[dim & (charges > 0)]
        return float(np.mean(hits > 1.5))

    want = two_pe_share(reference)
    noise = np.sqrt(want * (1 - want) / np.count_nonzero(dim & (reference > 0)))
    with_expectation = readout.apply(sample, np.random.default_rng(7), expected)
    assert abs(two_pe_share(with_expectation) - want) < 4 * noise
    spectrum_only = readout.apply(sample, np.random.default_rng(7))
    assert two_pe_share(spectrum_only) - want > 10 * noise


def test_count_prior_recovers_the_photoelectron_counts_of_a_known_mixture():
    readout = PeReadout(resolve_pe_below=5.0, spe_resolution=RESOLUTION, threshold_pe=THRESHOLD)
    rng = np.random.default_rng(6)
    truth = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])  # P(n = 1..6)
    n_pe = rng.choice(np.arange(1, 7), size=200_000, p=truth).astype(np.float64)
    charge = n_pe + RESOLUTION * np.sqrt(n_pe) * rng.standard_normal(n_pe.size)
    seen = charge[(charge > THRESHOLD) & (charge < readout.window_pe())]
    prior = readout.count_prior(seen)
    np.testing.assert_allclose(prior[:6], truth, atol=0.01)
    assert prior[6:].sum() < 0.01


def test_readout_keeps_hits_zeros_and_bright_charges(simulated):
    charges = simulated[0]
    readout = PeReadout(resolve_pe_below=5.0, spe_resolution=RESOLUTION, threshold_pe=THRESHOLD)
    out = readout.apply(charges, np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == charges.shape
    np.testing.assert_array_equal(out > 0, charges > 0)  # the generator's hit count stays
    assert out[out > 0].min() >= THRESHOLD
    bright = charges >= readout.window_pe()
    assert bright.any()
    np.testing.assert_array_equal(out[bright], charges[bright])
    low = (charges > 0) & (charges < 4.0)  # a count below 5 PE: read out anew
    assert np.mean(out[low] != charges[low]) > 0.99


def test_readout_without_smearing_gives_whole_photoelectrons():
    charges = np.array([[0.0, 0.35, 1.4, 1.6, 4.49, 7.3]], np.float32)
    out = PeReadout(5.0, 0.0, THRESHOLD).apply(charges, np.random.default_rng(0))
    np.testing.assert_array_equal(out, np.array([[0.0, 1.0, 1.0, 2.0, 4.0, 7.3]], np.float32))


def test_readout_config_is_off_when_unset_and_complete_when_set():
    assert readout_from_config({"source": "npz"}, 0.2) is None  # a run from before the key
    off = {"readout": {"resolve_pe_below": None, "spe_resolution": None}}
    assert readout_from_config(off, 0.2) is None
    on = {"readout": {"resolve_pe_below": 5, "spe_resolution": 0.25}}
    assert readout_from_config(on, 0.2) == PeReadout(5.0, 0.25, 0.2)
    with pytest.raises(DataError, match="data.readout.spe_resolution"):
        readout_from_config({"readout": {"resolve_pe_below": 5, "spe_resolution": None}}, 0.2)
    with pytest.raises(DataError, match="resolve_pe_below=0.8 must be > 1 PE"):
        readout_from_config({"readout": {"resolve_pe_below": 0.8, "spe_resolution": 0.3}}, 0.2)


def test_the_simulated_detector_reads_out_with_its_own_resolution():
    cfg = load_data_conf("simulated", **{"physics.spe_resolution": 0.25})
    assert readout_from_config(cfg, 0.3) == PeReadout(5.0, 0.25, 0.3)
    for own in ("npz", "hdf5", "npy", "root"):  # a user's detector: off until they set it
        assert readout_from_config(load_data_conf(own, path="x"), 0.2) is None
