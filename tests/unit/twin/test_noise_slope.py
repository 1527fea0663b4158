"""The twin's gap noise: the slope of its power spectrum is a parameter (default -1, 1/f)."""

import numpy as np
import pytest

from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TwinSPM
from autoscope.devices.twin.imaging import DEFAULT_NOISE_SLOPE, noise_exponent
from autoscope.devices.twin.instrument import NoiseSource
from autoscope.errors import ConfigurationError
from autoscope.io.stats import psd_slope


def noise_raster(slope, seed, pixels=128, lines=96, dt=0.004):
    """An image of the gap noise alone: trace lines of ``pixels`` samples, the retrace's
    time skipped, as a scan sees it."""
    src = NoiseSource(np.random.default_rng(seed), flicker=1.0, exponent=noise_exponent(slope))
    return np.array([src.sample(i * 2 * pixels * dt, dt, pixels) for i in range(lines)])


def line_psd_slope(z, band=(0.02, 0.25)):
    """Log-log slope of the mean power spectrum of the lines (fast axis), Hann-windowed."""
    z = z - z.mean(axis=1, keepdims=True)
    spec = np.abs(np.fft.rfft(z * np.hanning(z.shape[1]), axis=1)) ** 2
    f = np.fft.rfftfreq(z.shape[1])
    sel = (f >= band[0]) & (f <= band[1])
    return np.polyfit(np.log10(f[sel]), np.log10(spec.mean(0)[sel]), 1)[0]


@pytest.mark.parametrize("slope", [-0.5, -1.0, -2.0, -3.0])
def test_a_line_of_the_noise_has_the_slope_asked_for(slope):
    got = np.median([line_psd_slope(noise_raster(slope, seed)) for seed in range(3)])
    assert got == pytest.approx(slope, abs=0.3)


def test_a_twin_frame_is_steeper_with_drift_like_noise_than_with_the_1_over_f_default():
    # docs/twin_vs_real.md: the 1/f twin's images are flatter than real Z channels
    assert DEFAULT_NOISE_SLOPE == -1.0
    frame = ScanFrame(
        center_x=0.0,
        center_y=0.0,
        width=5.0,
        height=5.0,
        angle=0.0,
        pixels=128,
        lines=128,
        line_time=0.2,
    )
    slopes = {}
    for s in (DEFAULT_NOISE_SLOPE, -2.0):
        ch, _ = TwinSPM("au111", seed=0, noise_slope=s).scan_frame(frame)
        slopes[s] = psd_slope(ch["topography"][0])
    assert slopes[-2.0] < slopes[DEFAULT_NOISE_SLOPE] - 0.3, slopes


def test_the_default_source_draws_what_the_former_1_over_f_source_drew():
    # values of the NoiseSource before the exponent existed (commit d6eb535), same seed
    src = NoiseSource(np.random.default_rng(4), white=0.1, flicker=1.0, mains=0.2)
    first = [-1.4295612560127677, -5.122988090834977, -2.3580170997694174]
    first += [-2.8660192208914657, -5.351953864471633, -5.707968911438028]
    np.testing.assert_allclose(src.sample(0.0, 0.01, 6), first, rtol=1e-12)
    later = [-2.871380270426869, -2.8896894143843133, -1.9924259604223704]
    np.testing.assert_allclose(src.sample(0.5, 0.01, 3), later, rtol=1e-12)


def test_the_steep_source_keeps_its_variance_across_calls_and_gaps():
    src = NoiseSource(np.random.default_rng(2), flicker=1.0, exponent=2.5)
    parts = [src.sample(t0, 0.01, 200) for t0 in np.arange(0.0, 4000.0, 10.0)]
    z = np.concatenate(parts)
    assert np.all(np.isfinite(z))
    # stationary: the two halves of a long record have a like spread
    a, b = z[: z.size // 2].std(), z[z.size // 2 :].std()
    assert 0.3 < a / b < 3.0


@pytest.mark.parametrize("bad", [-3.5, 0.5, float("nan")])
def test_a_slope_outside_the_range_is_refused_by_value(bad):
    with pytest.raises(ConfigurationError, match=f"noise_slope={bad}"):
        TwinSPM("au111", noise_slope=bad)


@pytest.mark.parametrize("bad", [-0.1, 4.5])
def test_an_exponent_outside_the_range_is_refused_by_value(bad):
    with pytest.raises(ConfigurationError, match=f"exponent {bad}"):
        NoiseSource(np.random.default_rng(0), exponent=bad)
