"""Window preprocessing and augmentation keep the physics of a raster scan."""

import numpy as np
import pytest

from autoscope.agents.tip.augment import AugmentConfig, augment_image
from autoscope.agents.tip.windows import make_window, windows_from_image
from autoscope.errors import ConfigurationError


def _image(seed=0, h=32, w=96):
    rng = np.random.default_rng(seed)
    x = np.arange(w) * 0.1
    y = np.arange(h)[:, None] * 0.1
    z = 0.05 * np.sin(2 * np.pi * x / 0.4) * np.cos(2 * np.pi * y / 0.4)
    z = z + rng.normal(0, 0.003, (h, w))
    return z, z + 0.002


def test_window_ignores_plane_offset_and_contrast():
    t, r = _image()
    t, r = t[:16], r[:16]
    yy, xx = np.mgrid[0:16, 0:96]
    plane = 0.3 + 0.01 * xx - 0.02 * yy
    a = make_window(t, r)
    b = make_window(3.0 * t + plane, 3.0 * r + plane)
    assert a.shape == (3, 16, 96) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_scale_plane_carries_the_corrugation_in_nm():
    t, r = _image()
    t, r = t[:16], r[:16]
    a = make_window(t, r, scale_channel=True)
    b = make_window(3.0 * t + 0.7, 3.0 * r + 0.7, scale_channel=True)
    assert a.shape == (4, 16, 96)
    np.testing.assert_allclose(a[:3], b[:3], atol=1e-4)
    assert np.ptp(a[3]) == 0
    assert b[3, 0, 0] - a[3, 0, 0] == pytest.approx(np.log10(3.0), abs=1e-5)


def test_detail_plane_keeps_fine_structure_beside_a_step_edge():
    t, r = _image()
    t, r = t[:16].copy(), r[:16].copy()
    t[:, 48:] -= 1.0  # a step edge 20x the corrugation, down the middle of the window
    r[:, 48:] -= 1.0
    w = make_window(t, r, scale_channel=True, detail_channel=True)
    assert w.shape == (5, 16, 96)
    far = np.r_[0:36, 60:96]  # away from the edge
    # in the levelled planes the 0.4 nm pattern is a ripple on the step and the plane's
    # tilt; in the detail plane it has unit scale and follows the true pattern
    truth = np.sin(2 * np.pi * np.arange(96) * 0.1 / 0.4)[None, :] * np.cos(
        2 * np.pi * np.arange(16)[:, None] * 0.1 / 0.4
    )
    c0 = np.corrcoef(w[0][:, far].ravel(), truth[:, far].ravel())[0, 1]
    c = np.corrcoef(w[3][:, far].ravel(), truth[:, far].ravel())[0, 1]
    assert c0 < 0.3 and c > 0.8 and 0.5 < np.std(w[3][:, far]) < 5.0
    np.testing.assert_allclose(w[4], w[4, 0, 0])  # the scale plane stays last


def test_window_keeps_a_step_between_lines():
    t, r = _image()
    t, r = t[:16].copy(), r[:16].copy()
    t[8:] += 0.2
    r[8:] += 0.2
    w = make_window(t, r)
    jumps = np.abs(np.diff(w[0].mean(axis=1)))
    assert int(np.argmax(jumps)) == 7
    assert jumps[7] > 5 * np.median(np.delete(jumps, 7))


def test_window_rejects_bad_input():
    with pytest.raises(ConfigurationError, match="equal shape"):
        make_window(np.zeros((16, 64)), np.zeros((16, 32)))
    bad = np.zeros((16, 64))
    bad[3, 3] = np.nan
    with pytest.raises(ConfigurationError, match="NaN"):
        make_window(bad, bad)
    with pytest.raises(ConfigurationError, match="n_lines 40"):
        windows_from_image(*_image(), n_lines=40)


def test_windows_from_image_last_lines():
    t, r = _image()
    x, last = windows_from_image(t, r, n_lines=16, stride=4)
    assert x.shape == (5, 3, 16, 96)
    assert list(last) == [15, 19, 23, 27, 31]


def test_hflip_swaps_trace_and_retrace():
    t, r = _image()
    only_flip = AugmentConfig(
        out_width=96,
        max_zoom=1.0,
        p_hflip=1.0,
        p_vflip=0.0,
        max_drift=0.0,
        contrast_sigma=0.0,
        max_tilt=0.0,
        max_noise=0.0,
        p_line_offsets=0.0,
        p_spikes=0.0,
    )
    t2, r2, order, zoom = augment_image(t, r, np.random.default_rng(1), only_flip)
    assert zoom == 1.0
    off = t2.mean() - r[:, ::-1].mean()  # the random offset is the only change left
    np.testing.assert_allclose(t2 - off, r[:, ::-1], atol=1e-9)
    np.testing.assert_allclose(r2 - off, t[:, ::-1], atol=1e-9)
    assert list(order) == list(range(32))


def test_vflip_reports_line_order_and_is_seeded():
    t, r = _image()
    cfg = AugmentConfig(out_width=64, p_vflip=1.0)
    a = augment_image(t, r, np.random.default_rng(5), cfg)
    b = augment_image(t, r, np.random.default_rng(5), cfg)
    assert a[0].shape == (32, 64)
    assert list(a[2]) == list(range(31, -1, -1))
    np.testing.assert_array_equal(a[0], b[0])
    c = augment_image(t, r, np.random.default_rng(6), cfg)
    assert not np.allclose(a[0], c[0])
