"""Helpers shared by the twin's physics tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, optimize

from autoscope.devices.twin import TwinSPM

QUIET = {"drift": 0.0, "creep": 0.0, "hysteresis": 0.0, "noise": 0.0, "tip_change_rate": 0.0}


def subpixel_shift(a: np.ndarray, b: np.ndarray, margin: int = 12) -> tuple[float, float]:
    """Shift (rows, cols) that moves image ``a`` onto ``b``.

    Phase correlation finds the whole-pixel shift; a least-squares fit of the
    spline-shifted image refines it below a pixel.
    """
    start = _phase_correlation(a, b)
    m = slice(margin, -margin)

    def cost(s):
        return np.mean((ndimage.shift(a, s, order=3, mode="nearest")[m, m] - b[m, m]) ** 2)

    res = optimize.minimize(
        cost, np.array(start), method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-12}
    )
    return float(res.x[0]), float(res.x[1])


def _phase_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    a = a - a.mean()
    b = b - b.mean()
    w = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa, fb = np.fft.fft2(a * w), np.fft.fft2(b * w)
    r = fb * np.conj(fa)
    c = np.real(np.fft.ifft2(r / np.maximum(np.abs(r), 1e-12)))
    i, j = np.unravel_index(np.argmax(c), c.shape)
    out = []
    for axis, k in ((0, i), (1, j)):
        n = c.shape[axis]
        idx = [(k - 1) % n, k, (k + 1) % n]
        vals = c[idx, j] if axis == 0 else c[i, idx]
        den = vals[0] - 2 * vals[1] + vals[2]
        frac = 0.5 * (vals[0] - vals[2]) / den if den != 0 else 0.0
        s = k + frac
        out.append(s - n if s > n / 2 else s)
    return out[0], out[1]


@pytest.fixture
def quiet_si():
    """An H:Si(100) twin with every instrument effect off (physics only)."""

    def make(**kw):
        opts = dict(QUIET)
        opts.update(kw)
        return TwinSPM("si100_h", seed=kw.pop("seed", 0), **opts)

    return make
