"""The raster's fast paths equal the direct evaluations they replace (issue 16 §6)."""

from __future__ import annotations

import numpy as np

from autoscope.devices.twin.stem.imaging import Grid
from autoscope.devices.twin.stem.probe import Probe
from autoscope.devices.twin.stem.scan import ScanErrors, ScanModel
from autoscope.devices.twin.stem.twin import _good_size


def test_raster_offsets_by_angle_addition_equal_the_direct_evaluation():
    since = 50e-6 + (np.arange(512) + 0.5) * 2e-6
    t0 = 123.4 + np.arange(16) * (50e-6 + 512 * 2e-6)
    t = t0[:, None] + since
    a, b = ScanModel(ScanErrors(), seed=3), ScanModel(ScanErrors(), seed=3)
    for m in (a, b):
        m.move(100.0, 5.0, -3.0)
    fx, fy = a.offsets_lines(t, t0, since)
    dx, dy = b.offsets_lines(t, t0)
    assert np.abs(fx - dx).max() < 1e-9
    assert np.abs(fy - dy).max() < 1e-9
    # the drift alone: the wander terms match to rounding
    sx, sy = a._drift_raster(t0[:, None], since[None, :])
    ex, ey = a.drift(t)
    assert np.abs(sx - ex).max() < 1e-9 and np.abs(sy - ey).max() < 1e-9


def test_separable_grid_sampling_equals_pointwise_bilinear_sampling():
    rng = np.random.default_rng(0)
    g = Grid(-3.0, -2.0, 0.5, 40, 30)
    image = rng.random((30, 40))
    x = np.linspace(-6.0, 22.0, 77)  # past both edges: nearest edge value
    y = np.linspace(-4.0, 15.0, 51)
    xx, yy = np.meshgrid(x, y)
    direct = g.sample(image, xx.ravel(), yy.ravel()).reshape(xx.shape)
    np.testing.assert_allclose(g.sample_axes(image, x, y), direct, rtol=0, atol=1e-14)


def test_probe_transform_on_the_band_equals_the_full_matrix_transform():
    probe = Probe(60.0, 30.0)
    q = np.fft.fftfreq(128, 0.2)
    ft = probe.ft_intensity(q, q, n=64, sampling=0.1)
    p = probe.intensity(64, 0.1)
    r = (np.arange(64) - 32) * 0.1
    e = np.exp(-2j * np.pi * np.outer(q, r))
    band = np.hypot(*np.meshgrid(q, q)) <= 2.0 * 30e-3 / probe.wavelength
    np.testing.assert_allclose(ft, (e @ p @ e.T) * band, rtol=0, atol=1e-12)
    assert abs(ft[0, 0] - 1.0) < 1e-12


def test_fast_fft_lengths_are_the_smallest_5_smooth_numbers():
    smooth = [n for n in range(1, 1200) if _is_5_smooth(n)]
    for n in range(64, 600):
        assert _good_size(n) == min(s for s in smooth if s >= n)


def _is_5_smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1
