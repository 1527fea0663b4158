"""Choosing where to condition the tip.

Conditioning (a pulse, a dip) marks the surface. Like DeepSPM, autoscope
conditions the tip on a spot away from the region of interest, away from the
spots used before and from areas known to be damaged, and keeps the whole
check image inside the reachable scan range.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autoscope.errors import ConfigurationError


def _dist_to_rect(x: np.ndarray, y: np.ndarray, rect: Sequence[float]) -> np.ndarray:
    x0, y0, x1, y1 = rect
    dx = np.maximum(np.maximum(x0 - x, 0), x - x1)
    dy = np.maximum(np.maximum(y0 - y, 0), y - y1)
    return np.hypot(dx, dy)


def choose_conditioning_spot(
    scan_range: float,
    roi: Sequence[float],
    previous: Sequence[tuple[float, float]] = (),
    damaged: Sequence[tuple[float, float, float]] = (),
    check_size: float = 10.0,
    clearance: float = 20.0,
    rng: np.random.Generator | None = None,
    grid: int = 41,
) -> tuple[float, float]:
    """A spot (x, y) in nm for conditioning, as far as possible from everything to avoid.

    Parameters
    ----------
    scan_range : float
        Full width of the reachable area (nm), centred on (0, 0).
    roi : (x0, y0, x1, y1)
        Region of interest to protect (nm).
    previous : sequence of (x, y)
        Earlier conditioning spots (nm).
    damaged : sequence of (x, y, radius)
        Areas known to be damaged (nm).
    check_size : float
        Width of the check image to be taken around the spot (nm); the whole
        check image stays inside the range.
    clearance : float
        Minimum distance (nm) from the ROI, earlier spots and damaged areas.
    rng : numpy.random.Generator, optional
        Breaks ties between equally good spots (seeded by the caller).
    grid : int
        Candidates per axis.

    Raises
    ------
    ConfigurationError
        If no candidate keeps ``clearance`` from everything.
    """
    if not (scan_range > 0 and check_size > 0 and clearance >= 0):
        raise ConfigurationError(
            f"scan_range ({scan_range}) and check_size ({check_size}) must be > 0 "
            f"and clearance ({clearance}) >= 0"
        )
    if len(roi) != 4 or roi[0] > roi[2] or roi[1] > roi[3]:
        raise ConfigurationError(f"roi must be (x0, y0, x1, y1) with x0 <= x1, y0 <= y1; got {roi}")
    half = scan_range / 2 - check_size / 2
    if half <= 0:
        raise ConfigurationError(
            f"check size {check_size} nm does not fit in scan range {scan_range} nm"
        )
    axis = np.linspace(-half, half, grid)
    x, y = (a.ravel() for a in np.meshgrid(axis, axis))
    # a spot's check image must not overlap the ROI: distance from the ROI grown by half a check
    r = check_size / 2
    grown = (roi[0] - r, roi[1] - r, roi[2] + r, roi[3] + r)
    d = _dist_to_rect(x, y, grown)
    for px, py in previous:
        d = np.minimum(d, np.hypot(x - px, y - py) - r)
    for dx, dy, dr in damaged:
        d = np.minimum(d, np.hypot(x - dx, y - dy) - dr - r)
    best = float(d.max())
    if best < clearance:
        raise ConfigurationError(
            f"no conditioning spot keeps {clearance} nm clear of the ROI {tuple(roi)}, "
            f"{len(previous)} earlier spots and {len(damaged)} damaged areas within the "
            f"{scan_range} nm range (best {best:.1f} nm)"
        )
    # among spots that keep the clearance, prefer those nearest the ROI's centre
    # (short moves, less creep), then far from everything, then chance
    ok = np.flatnonzero(d >= clearance)
    cx, cy = (roi[0] + roi[2]) / 2, (roi[1] + roi[3]) / 2
    travel = np.hypot(x[ok] - cx, y[ok] - cy)
    jitter = (rng or np.random.default_rng(0)).random(ok.size) * 1e-6
    i = ok[np.lexsort((jitter, -d[ok], np.round(travel, 6)))[0]]
    return float(x[i]), float(y[i])
