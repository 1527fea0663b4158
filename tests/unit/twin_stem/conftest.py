"""Helpers of the STEM twin's tests."""

from __future__ import annotations

import numpy as np

from autoscope.devices.twin.stem.scan import ScanErrors

STILL = ScanErrors(
    drift_velocity=(0.0, 0.0),
    drift_wander=0.0,
    creep_gamma=0.0,
    flyback_amplitude=0.0,
    line_jitter=0.0,
)


def phase_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Shift (rows, cols) of image ``b`` relative to ``a``, with a parabolic sub-pixel fit."""
    fa, fb = np.fft.fft2(a - a.mean()), np.fft.fft2(b - b.mean())
    r = fb * np.conj(fa)
    c = np.fft.ifft2(r / (np.abs(r) + 1e-12)).real
    i, j = np.unravel_index(np.argmax(c), c.shape)
    n0, n1 = c.shape

    def fit(m, p, z):
        den = m - 2 * z + p
        return 0.0 if den == 0 else 0.5 * (m - p) / den

    di = fit(c[(i - 1) % n0, j], c[(i + 1) % n0, j], c[i, j])
    dj = fit(c[i, (j - 1) % n1], c[i, (j + 1) % n1], c[i, j])
    si = (i + di + n0 / 2) % n0 - n0 / 2
    sj = (j + dj + n1 / 2) % n1 - n1 / 2
    return float(si), float(sj)
