"""The same seed gives identical data; another seed does not."""

import numpy as np

from autoscope.devices.backend import ScanFrame, SpectroscopySettings
from autoscope.devices.twin import TwinSPM, make_dataset

FRAME = ScanFrame(width=15.0, height=15.0, pixels=64, lines=12, line_time=0.5)


def _run(seed, sample="si100_h"):
    tw = TwinSPM(sample, seed=seed, tip_change_rate=0.05)
    frame = (
        FRAME
        if tw.mode == "stm"
        else ScanFrame(width=2000, height=2000, pixels=64, lines=12, line_time=0.5)
    )
    ch, labels = tw.scan_frame(frame)
    s = tw.spectrum(1.0, -2.0, SpectroscopySettings(points=64))
    tw.bias_pulse(3.0, 0.05)
    tw.dip(0.5)
    return ch, labels, s, tw.truth.tip_history, tw.time()


def test_same_seed_identical_and_other_seed_differs():
    for sample in ("si100_h", "pfm_film", "au111"):
        a, b, c = _run(7, sample), _run(7, sample), _run(8, sample)
        for k in a[0]:
            assert np.array_equal(a[0][k][0], b[0][k][0]) and np.array_equal(a[0][k][1], b[0][k][1])
            assert not np.array_equal(a[0][k][0], c[0][k][0])
        for k in a[2].channels:
            assert np.array_equal(a[2].channels[k], b[2].channels[k])
        assert a[1]["kind"] == b[1]["kind"] and a[3] == b[3] and a[4] == b[4]


def test_dataset_deterministic():
    a = make_dataset("pfm", size=12, seed=3, points=24)
    b = make_dataset("pfm", size=12, seed=3, points=24)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["spectra"], b["spectra"])
    assert not np.array_equal(
        a["spectra"], make_dataset("pfm", size=12, seed=4, points=24)["spectra"]
    )


def test_sample_is_pure_function_of_position():
    tw = TwinSPM("si100_h", seed=1)
    x = np.linspace(-5, 5, 101)
    y = np.full_like(x, 2.0)
    whole = tw.sample.height(x, y, blur=0.1)
    parts = np.concatenate(
        [tw.sample.height(x[:40], y[:40], blur=0.1), tw.sample.height(x[40:], y[40:], blur=0.1)]
    )
    assert np.array_equal(whole, parts)
