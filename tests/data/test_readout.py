"""The single-PE readout of generated charges (diffexp/data/readout.py): it must turn a
generator's smeared low-charge bump back into the detector's photoelectron peaks, keep the
generator's hits and bright charges, and refuse a half-given config in one line."""

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
    # ...and the readout removes >= 90 % of it (what remains: a 1-PE charge smeared past 1.5
    # is read as 2 PE, 5 % of them at this resolution)
    assert after - floor < 0.1 * (before - floor)


def test_readout_keeps_hits_zeros_and_bright_charges(simulated):
    charges = simulated[0]
    readout = PeReadout(resolve_pe_below=5.0, spe_resolution=RESOLUTION, threshold_pe=THRESHOLD)
    out = readout.apply(charges, np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == charges.shape
    np.testing.assert_array_equal(out > 0, charges > 0)  # the generator's hit count stays
    assert out[out > 0].min() >= THRESHOLD
    bright = charges >= 5.0
    np.testing.assert_array_equal(out[bright], charges[bright])
    changed = (charges > 0) & (charges < 5.0)
    assert np.mean(out[changed] != charges[changed]) > 0.99  # every low hit read out anew


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
    with pytest.raises(DataError, match="resolve_pe_below=0.3 must be > 0.5"):
        readout_from_config({"readout": {"resolve_pe_below": 0.3, "spe_resolution": 0.3}}, 0.2)


def test_the_simulated_detector_reads_out_with_its_own_resolution():
    cfg = load_data_conf("simulated", **{"physics.spe_resolution": 0.25})
    assert readout_from_config(cfg, 0.3) == PeReadout(5.0, 0.25, 0.3)
    for own in ("npz", "hdf5", "npy", "root"):  # a user's detector: off until they set it
        assert readout_from_config(load_data_conf(own, path="x"), 0.2) is None
