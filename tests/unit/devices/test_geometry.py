"""Frame geometry has one home, autoscope.devices.geometry: positions, corners, bounds, rotation."""

import math

import numpy as np
import pytest

from autoscope.devices import geometry
from autoscope.devices.backend import ScanFrame
from autoscope.devices.spm.limits import frame_corners


def test_corners_of_an_unrotated_frame_by_hand():
    f = ScanFrame(center_x=3.0, center_y=-1.0, width=4.0, height=2.0)
    expected = [[1.0, -2.0], [5.0, -2.0], [5.0, 0.0], [1.0, 0.0]]  # ccw from line 0's start
    assert np.array_equal(geometry.corners(f), expected)
    assert geometry.bounds(f) == (1.0, -2.0, 5.0, 0.0)
    assert geometry.half_extents(f) == (2.0, 1.0)


def test_rotation_by_90_and_30_degrees_by_hand():
    f = ScanFrame(center_x=10.0, center_y=20.0, width=4.0, height=2.0, angle=90.0)
    # (u, v) -> (-v, u): the bottom-left (-2, -1) lands at (+1, -2) from the centre
    np.testing.assert_allclose(
        geometry.corners(f), [[11.0, 18.0], [11.0, 22.0], [9.0, 22.0], [9.0, 18.0]], atol=1e-12
    )
    np.testing.assert_allclose(geometry.bounds(f), (9.0, 18.0, 11.0, 22.0), atol=1e-12)
    g = ScanFrame(width=4.0, height=2.0, angle=30.0)
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    np.testing.assert_allclose(geometry.corners(g)[1], [2 * c + s, 2 * s - c], rtol=1e-15)
    np.testing.assert_allclose(geometry.half_extents(g), (2 * c + s, 2 * s + c), rtol=1e-15)


@pytest.mark.parametrize("angle", [0.0, 17.0, 90.0, 135.0, -200.5])
def test_bounds_enclose_the_corners_exactly(angle):
    f = ScanFrame(center_x=-5.0, center_y=7.0, width=30.0, height=12.0, angle=angle)
    c = geometry.corners(f)
    x0, y0, x1, y1 = geometry.bounds(f)
    np.testing.assert_allclose([x0, y0, x1, y1], [*c.min(0), *c.max(0)], rtol=0, atol=1e-12)


def test_pixel_positions_are_the_documented_formula_bit_for_bit():
    f = ScanFrame(center_x=4.0, center_y=-2.0, width=9.0, height=5.0, angle=33.0, pixels=7, lines=3)
    for line in range(f.lines):
        u = -f.width / 2 + (np.arange(f.pixels) + 0.5) * f.width / f.pixels
        v = np.full(f.pixels, -f.height / 2 + (line + 0.5) * f.height / f.lines)
        a = np.deg2rad(f.angle)
        x = f.center_x + u * np.cos(a) - v * np.sin(a)
        y = f.center_y + u * np.sin(a) + v * np.cos(a)
        gx, gy = geometry.pixel_xy(f, line)
        assert np.array_equal(gx, x) and np.array_equal(gy, y)
        nx, ny = f.nominal_xy(line)
        assert np.array_equal(nx, x) and np.array_equal(ny, y)


def test_the_frame_the_limits_and_the_tip_watch_use_the_same_geometry():
    f = ScanFrame(width=8.0, height=3.0, angle=-62.0, center_x=1.5)
    assert np.array_equal(frame_corners(f), geometry.corners(f))
    assert np.array_equal(f.corners(), geometry.corners(f))
    assert f.bounds() == geometry.bounds(f)
    # the tip watcher's region of interest: the formula it used to write out
    a = np.deg2rad(f.angle)
    hw = 0.5 * abs(f.width * np.cos(a)) + 0.5 * abs(f.height * np.sin(a))
    hh = 0.5 * abs(f.width * np.sin(a)) + 0.5 * abs(f.height * np.cos(a))
    assert geometry.bounds(f) == (
        f.center_x - hw,
        f.center_y - hh,
        f.center_x + hw,
        f.center_y + hh,
    )
