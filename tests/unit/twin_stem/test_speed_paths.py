"""The raster's fast paths equal the direct evaluations they replace (issue 16 §6)."""

from __future__ import annotations

import numpy as np

from autoscope.devices.twin.stem.imaging import Grid, splat
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


def test_probe_transform_real_part_by_cosine_and_sine_equals_the_complex_transform():
    probe = Probe(60.0, 30.0).with_aberrations(C21=40.0, C23=30.0, C12=5.0)  # not symmetric
    qx = np.fft.rfftfreq(96, 0.2)
    qy = np.fft.fftfreq(80, 0.2)
    full = probe.ft_intensity(qx, qy, n=64, sampling=0.1)
    real = probe.ft_intensity(qx, qy, n=64, sampling=0.1, real=True)
    assert real.dtype == np.float64 and np.abs(full.imag).max() > 1e-3
    np.testing.assert_allclose(real, full.real, rtol=0, atol=1e-13)


def test_padded_splat_equals_the_corner_by_corner_splat():
    rng = np.random.default_rng(1)
    g = Grid(-3.0, -2.0, 0.5, 40, 30)
    for lo, hi in ((-1.0, 15.0), (-9.0, 25.0)):  # all hits on the grid; many off it
        x, y = rng.uniform(lo, hi, 4000), rng.uniform(lo, hi, 4000)
        w = rng.random(4000)
        c, r = (x - g.x0) / g.sampling, (y - g.y0) / g.sampling
        c0, r0 = np.floor(c).astype(int), np.floor(r).astype(int)
        fc, fr = c - c0, r - r0
        ref = np.zeros(g.shape)
        for dr, dc, f in (
            (0, 0, (1 - fr) * (1 - fc)),
            (0, 1, (1 - fr) * fc),
            (1, 0, fr * (1 - fc)),
            (1, 1, fr * fc),
        ):
            rr, cc = r0 + dr, c0 + dc
            ok = (rr >= 0) & (rr < g.rows) & (cc >= 0) & (cc < g.n)
            np.add.at(ref, (rr[ok], cc[ok]), (w * f)[ok])
        np.testing.assert_allclose(splat(g, x, y, w), ref, rtol=0, atol=1e-12)


def test_sparse_grid_sampling_equals_the_full_separable_sampling():
    rng = np.random.default_rng(2)
    g = Grid(-3.0, -2.0, 0.5, 40, 30)
    x = np.linspace(-8.0, 24.0, 91)
    y = np.linspace(-6.0, 17.0, 67)
    for box in (
        (slice(10, 14), slice(5, 9)),
        (slice(0, 3), slice(36, 40)),
        (slice(29, 30), slice(0, 1)),
    ):
        image = np.zeros(g.shape)
        image[box] = rng.random(image[box].shape) + 0.1  # a patch, inside or at an edge
        np.testing.assert_array_equal(g.sample_axes_sparse(image, x, y), g.sample_axes(image, x, y))
    assert not g.sample_axes_sparse(np.zeros(g.shape), x, y).any()


def test_fast_fft_lengths_are_the_smallest_5_smooth_numbers():
    smooth = [n for n in range(1, 1200) if _is_5_smooth(n)]
    for n in range(64, 600):
        assert _good_size(n) == min(s for s in smooth if s >= n)


def _is_5_smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def test_k0_series_equals_scipy_k0_over_the_couplings_range():
    from scipy.special import k0

    from autoscope.devices.twin.stem.samples.nanoparticles import k0_of_squared

    rng = np.random.default_rng(3)
    for q in (1e-4, 1e-3, 2e-3, 5e-3):  # 5e-3 at 1000 Å: past the series, scipy's k0
        rho2 = rng.uniform(25.0, 1e6, (16, 300))
        ref = k0(q * np.sqrt(rho2))
        np.testing.assert_allclose(k0_of_squared(rho2.copy(), q), ref, rtol=1e-13, atol=0)


def _edge_shape_everywhere(e, edge, width):
    """The edge shape with erf and the power law evaluated at every energy (as before)."""
    import math

    from scipy.special import erf

    from autoscope.devices.twin.stem.eels import with_fine_structure

    s = max(width, 0.2) / (2 * math.sqrt(2 * math.log(2)))
    e0 = edge.onset
    out = 0.5 * (1 + erf((e - e0) / (math.sqrt(2) * s))) * np.clip(e / e0, 1e-3, None) ** -2.5
    # the white lines and pre-peak did not change: the step and power law are what is tested
    return with_fine_structure(out, e, edge, width)


def test_edge_shape_with_erf_only_near_the_onset_equals_it_everywhere_bit_for_bit():
    from scipy.special import erf

    from autoscope.devices.twin.stem.eels import edge_shape
    from autoscope.devices.twin.stem.samples.base import Edge

    x = np.linspace(6.0, 60.0, 10001)
    assert (erf(x) == 1.0).all() and (erf(-x) == -1.0).all()  # the window's premise
    e = np.linspace(-12.0, 900.0, 36481)
    for edge in (
        Edge("C", 284.37, 1.0, "K", prepeak=1.5, prepeak_height=0.6),
        Edge("Ti", 455.2, 1.0, "L23", split=5.6, crystal_field=1.7),
        Edge("Si", 99.5, 1.0, "L23", split=0.6),
        Edge("O", 532.0, 1.0, "K"),
    ):
        for width in (0.1, 0.35, 1.2):
            np.testing.assert_array_equal(
                edge_shape(e, edge, width), _edge_shape_everywhere(e, edge, width)
            )


def test_line_footprints_and_oxide_spectra_equal_the_per_position_ones():
    from autoscope.devices.twin.stem.samples import make_sample
    from autoscope.devices.twin.stem.samples.base import local_densities

    rng = np.random.default_rng(5)
    for name, radius in (("oxide", 1.5), ("graphene", 6.0)):
        sample = make_sample(name, seed=0)
        x, y = rng.uniform(-160, 160, 40), rng.uniform(-160, 160, 40)
        got = local_densities(sample, x, y, radius)
        assert got == [sample.local_density(float(p), float(q), radius) for p, q in zip(x, y)]
    for name in ("oxide", "graphene"):
        sample = make_sample(name, seed=3)
        assert sample.local_spectra(x, y) == [
            sample.local_spectrum(float(p), float(q)) for p, q in zip(x, y)
        ]
