"""What every twin sample provides, and small helpers the samples share.

A sample is a pure function of position: the value at ``(x, y)`` (nm, sample
frame) does not depend on which frame asked for it. Blur arguments are the
Gaussian radius (nm) of the tip that images the sample; samples apply it
analytically (each feature is widened, its peak lowered) so no image grid is
ever needed.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from autoscope.errors import ConfigurationError


class Sample:
    """Base of all twin samples.

    Attributes
    ----------
    mode : str
        ``"stm"`` or ``"pfm"``: the backend mode that images it.
    name : str
        Short name (``"si100_h"``, ``"au111"``, ``"pfm_film"``).
    default_extent : float
        Frame width (nm) at which the sample is usually looked at.
    """

    mode: str = ""
    name: str = ""
    default_extent: float = 20.0

    def height(self, x, y, *, blur: float = 0.0, bias: float = -1.0, contrast: float = 1.0):
        """Apparent height (nm) that an ideal single-apex tip of radius ``blur`` images."""
        raise NotImplementedError

    def truth_maps(self, x, y) -> dict[str, np.ndarray]:
        """Ground-truth maps at ``(x, y)`` (never shown to an agent)."""
        raise NotImplementedError


def attenuation(k: float, blur: float) -> float:
    """Amplitude factor of a Fourier component of wavenumber ``k`` (rad/nm) seen through blur."""
    return float(np.exp(-0.5 * (k * blur) ** 2))


def gaussian_features(x, y, fx, fy, amp, sigma, blur, cutoff: float = 4.0) -> np.ndarray:
    """Sum of Gaussian bumps ``amp * exp(-r**2 / 2 sigma**2)`` blurred by a Gaussian tip.

    Parameters
    ----------
    x, y : ndarray
        Evaluation points (same shape).
    fx, fy, amp, sigma : ndarray, shape (F,)
        Feature centres (nm), peak heights and widths (nm).
    blur : float
        Tip radius (nm); widths grow to ``sqrt(sigma**2 + blur**2)`` and peaks
        shrink so that the volume is kept.
    """
    x = np.asarray(x, float)
    out = np.zeros(x.shape)
    if len(fx) == 0:
        return out
    s2 = np.asarray(sigma, float) ** 2 + blur**2
    a = np.asarray(amp, float) * np.asarray(sigma, float) ** 2 / s2
    xf, yf = x.reshape(-1), np.asarray(y, float).reshape(-1)
    dx = xf[:, None] - fx[None, :]
    dy = yf[:, None] - fy[None, :]
    r2 = dx * dx + dy * dy
    lim = (cutoff**2) * s2
    g = np.where(r2 < lim, np.exp(-0.5 * np.minimum(r2, lim) / s2), 0.0)
    return (g @ a).reshape(x.shape)


def smooth_floor(s, width) -> np.ndarray:
    """``floor(s)`` with every unit step smoothed to an erf edge of ``width`` (same units).

    The step from ``n - 1`` to ``n`` is centred on ``s = n``.
    """
    s = np.asarray(s, float)
    n = np.floor(s)
    w = max(float(width), 1e-6) * np.sqrt(2.0)
    return n - 0.5 * (1 - erf((s - n) / w)) + 0.5 * (1 + erf((s - n - 1) / w))


def defect_distance(defects, x, y, reach: float = 20.0) -> np.ndarray:
    """Distance (nm) from each point to the nearest of ``defects`` (a ``CellScatter``).

    Points with no defect within ``reach`` nm get ``inf``.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    d = defects.near(x, y, reach)
    if len(d["x"]):
        r = np.hypot(x.reshape(-1, 1) - d["x"], y.reshape(-1, 1) - d["y"]).min(1)
    else:
        r = np.full(x.size, np.inf)
    return r.reshape(x.shape)


def check_positive(name: str, value: float) -> float:
    """Return ``float(value)`` or raise ConfigurationError naming it when it is not > 0."""
    v = float(value)
    if not v > 0:
        raise ConfigurationError(f"sample parameter {name}={value!r} must be > 0")
    return v
