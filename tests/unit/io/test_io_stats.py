"""Image statistics on synthetic images whose answers are known."""

import numpy as np
import pytest

from autoscope.errors import ConfigurationError
from autoscope.io import stats


def _self_affine(n: int, beta: float, seed: int) -> np.ndarray:
    """Isotropic surface whose 2-D PSD falls as f**-beta (FFT-filtered white noise)."""
    rng = np.random.default_rng(seed)
    f = np.sqrt(np.fft.fftfreq(n)[:, None] ** 2 + np.fft.fftfreq(n)[None, :] ** 2)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    noise = np.fft.fft2(rng.normal(size=(n, n)))
    z = np.real(np.fft.ifft2(noise * amp))
    return z / z.std()


@pytest.mark.parametrize("beta", [2.0, 3.0])
def test_psd_slope_recovers_self_affine_exponent(beta):
    z = _self_affine(256, beta, seed=1)
    assert stats.psd_slope(z) == pytest.approx(-beta, abs=0.2)


def test_psd_slope_of_white_noise_is_flat_and_pixel_size_only_scales_frequency():
    z = np.random.default_rng(2).normal(size=(256, 256))
    assert stats.psd_slope(z) == pytest.approx(0.0, abs=0.1)
    f1, p1 = stats.radial_psd(z, pixel_size=1.0)
    f2, p2 = stats.radial_psd(z, pixel_size=0.5)
    np.testing.assert_allclose(f2, 2 * f1)
    # Parseval-like normalisation: white noise of variance 1 gives a PSD near 1 per cycle/pixel^2
    assert np.median(p1) == pytest.approx(1.0, rel=0.15)


def test_psd_slope_of_a_constant_image_is_nan_and_bad_band_rejected():
    assert np.isnan(stats.psd_slope(np.full((32, 32), 3.0)))
    with pytest.raises(ConfigurationError, match="band"):
        stats.psd_slope(np.ones((32, 32)), band=(0.3, 0.2))


def test_height_rms_ignores_plane_and_line_level_removes_line_offsets():
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:128, :128]
    rough = rng.normal(0, 0.05, size=(128, 128))
    tilted = rough + 0.01 * xx - 0.02 * yy + 5.0
    assert stats.height_rms(tilted, "plane") == pytest.approx(0.05, rel=0.05)
    offsets = rng.normal(0, 0.3, size=(128, 1))
    streaky = rough + offsets
    assert stats.height_rms(streaky, "plane") > 0.25
    assert stats.height_rms(streaky, "line") == pytest.approx(0.05, rel=0.05)
    with pytest.raises(ConfigurationError, match="level"):
        stats.height_rms(rough, "sphere")


def test_line_to_line_noise_measures_random_line_offsets_not_the_smooth_surface():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:200, :200]
    smooth = 0.5 * np.sin(2 * np.pi * xx / 50.0) * np.cos(2 * np.pi * yy / 80.0)
    assert stats.line_to_line_noise(smooth) < 0.01
    sigma = 0.04
    noisy = smooth + rng.normal(0, sigma, size=(200, 1))
    assert stats.line_to_line_noise(noisy) == pytest.approx(sigma, rel=0.2)


def test_pixel_noise_estimates_white_noise_on_a_smooth_surface():
    rng = np.random.default_rng(6)
    yy, xx = np.mgrid[:128, :256]
    smooth = np.sin(2 * np.pi * xx / 64.0) + 0.01 * yy
    assert stats.pixel_noise(smooth) < 0.01
    assert stats.pixel_noise(smooth + rng.normal(0, 0.1, size=smooth.shape)) == pytest.approx(
        0.1, rel=0.1
    )


def test_trace_retrace_rms_and_shift_of_a_lagged_retrace():
    z = _self_affine(128, 3.0, seed=7)
    lag = 3
    retrace = np.roll(z, lag, axis=1)
    assert stats.trace_retrace_rms(z, z + 1.0) == pytest.approx(0.0, abs=1e-12)
    assert stats.trace_retrace_rms(z, retrace) > 0.05
    assert stats.trace_retrace_shift(z, retrace) == pytest.approx(lag, abs=0.3)
    assert stats.trace_retrace_shift(z, np.roll(z, -2, axis=1)) == pytest.approx(-2, abs=0.3)
    assert stats.trace_retrace_shift(z, z) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ConfigurationError, match="differ in shape"):
        stats.trace_retrace_rms(z, z[:, :-1])


def test_nan_lines_of_an_aborted_frame_are_ignored():
    rng = np.random.default_rng(8)
    z = rng.normal(0, 0.1, size=(64, 64))
    z_part = z.copy()
    z_part[40:] = np.nan
    out = stats.image_stats(z_part, z_part + 0.01)
    assert all(np.isfinite(v) for v in out.values())
    assert out["height_rms_plane"] == pytest.approx(0.1, rel=0.1)
    assert out["trace_retrace_rms"] == pytest.approx(0.0, abs=1e-9)


def test_bad_images_rejected():
    with pytest.raises(ConfigurationError, match="2-D"):
        stats.height_rms(np.zeros(10))
    with pytest.raises(ConfigurationError, match="no finite values"):
        stats.pixel_noise(np.full((4, 4), np.nan))
