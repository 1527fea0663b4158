"""Statistics of one tunnelling spectrum, for comparing twin spectra with real ones.

Inputs are 1-D arrays over a bias axis (V), ascending or descending, on a
uniform grid. Currents in pA, dI/dV in whatever unit the instrument gives
(lock-in pA, or pA/V from a numerical derivative).

- :func:`noise_level`: white-noise level from second differences.
- :func:`numerical_didv`: Savitzky-Golay derivative of I(V).
- :func:`didv_peaks`: bias positions of the peaks of dI/dV, by prominence.
- :func:`bias_asymmetry`: how much stronger the signal is at positive than at
  negative bias.
- :func:`spectrum_stats`: all of them in one dict.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks, savgol_filter

from autoscope.errors import ConfigurationError

_MAD_TO_SIGMA = 1.482602218505602


def _check_pair(bias: np.ndarray, values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(bias, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or y.shape != v.shape:
        raise ConfigurationError(f"{name}: bias {v.shape} and values {y.shape} must be equal 1-D")
    if v.size < 7:
        raise ConfigurationError(f"{name}: needs at least 7 points, got {v.size}")
    ok = np.isfinite(v) & np.isfinite(y)
    v, y = v[ok], y[ok]
    order = np.argsort(v)
    v, y = v[order], y[order]
    step = np.diff(v)
    if np.any(step <= 0):
        raise ConfigurationError(f"{name}: bias values must be distinct")
    if np.ptp(step) > 0.05 * np.median(step):
        raise ConfigurationError(
            f"{name}: bias grid must be uniform (steps {step.min()}..{step.max()})"
        )
    return v, y


def noise_level(values: np.ndarray) -> float:
    """White-noise standard deviation of a sampled curve, from second differences.

    For white noise of standard deviation ``s`` the second difference has
    standard deviation ``s * sqrt(6)``; a curve smooth on the point scale adds
    little. MAD-based, so isolated spikes do not dominate.
    """
    y = np.asarray(values, dtype=np.float64)
    y = y[np.isfinite(y)]
    if y.size < 3:
        raise ConfigurationError(f"noise_level needs at least 3 finite values, got {y.size}")
    d2 = y[:-2] - 2.0 * y[1:-1] + y[2:]
    return float(_MAD_TO_SIGMA * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6.0))


def _window(n: int, fraction: float) -> int:
    w = max(5, int(round(fraction * n)) | 1)
    return min(w, n - 1 if (n - 1) % 2 else n - 2)


def numerical_didv(bias: np.ndarray, current: np.ndarray, window_fraction: float = 0.03):
    """Savitzky-Golay derivative dI/dV (quadratic, window a fraction of the sweep).

    Parameters
    ----------
    bias, current : numpy.ndarray
        ``(K,)``; bias in V on a uniform grid.
    window_fraction : float
        Window length as a fraction of the points (at least 5 points).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Bias sorted ascending and dI/dV in current-unit per V.
    """
    v, i = _check_pair(bias, current, "numerical_didv")
    w = _window(v.size, window_fraction)
    return v, savgol_filter(i, w, 2, deriv=1, delta=float(np.median(np.diff(v))))


def didv_peaks(
    bias: np.ndarray,
    didv: np.ndarray,
    prominence: float = 0.1,
    window_fraction: float = 0.02,
    max_peaks: int = 3,
) -> list[float]:
    """Bias positions of the most prominent dI/dV peaks.

    The curve is smoothed (Savitzky-Golay, quadratic), scaled to its range,
    and peaks with a prominence of at least ``prominence`` of that range are
    kept, the most prominent first. Peaks on the first or last point are not
    counted.

    Returns
    -------
    list of float
        Up to ``max_peaks`` biases in V.
    """
    v, y = _check_pair(bias, didv, "didv_peaks")
    w = _window(v.size, window_fraction)
    smooth = savgol_filter(y, w, 2)
    span = np.ptp(smooth)
    if span <= 1e-9 * max(float(np.max(np.abs(smooth))), np.finfo(float).tiny):
        return []
    idx, props = find_peaks((smooth - smooth.min()) / span, prominence=prominence)
    order = np.argsort(props["prominences"])[::-1][:max_peaks]
    return [float(v[idx[k]]) for k in order]


def bias_asymmetry(bias: np.ndarray, values: np.ndarray) -> float:
    """``(S+ - S-) / (S+ + S-)`` with ``S±`` the integral of ``|values|`` at ±bias.

    Integrated over the symmetric range ``|V| <= min(-V_min, V_max)``; +1 means
    signal at positive bias only, -1 at negative bias only.

    Raises
    ------
    ConfigurationError
        If the sweep does not cross zero bias.
    """
    v, y = _check_pair(bias, values, "bias_asymmetry")
    limit = min(-v[0], v[-1])
    if not limit > 0:
        raise ConfigurationError(
            f"bias_asymmetry: sweep {v[0]:.3g}..{v[-1]:.3g} V does not cross zero"
        )
    grid = np.linspace(0.0, limit, max(16, v.size // 2))
    pos = np.abs(np.interp(grid, v, y))
    neg = np.abs(np.interp(-grid, v, y))
    s_pos, s_neg = np.trapezoid(pos, grid), np.trapezoid(neg, grid)
    if s_pos + s_neg == 0:
        return 0.0
    return float((s_pos - s_neg) / (s_pos + s_neg))


def spectrum_stats(
    bias: np.ndarray, current: np.ndarray, didv: np.ndarray | None = None
) -> dict[str, object]:
    """All statistics of one spectrum.

    Parameters
    ----------
    bias, current : numpy.ndarray
        ``(K,)``: V and pA.
    didv : numpy.ndarray, optional
        Lock-in dI/dV on the same axis; without it the numerical derivative
        of the current is used.

    Returns
    -------
    dict
        ``current_noise`` (pA), ``current_range`` (pA), ``current_rel_noise``
        (noise / range), ``current_nsr`` (noise / mean ``|I|``),
        ``current_asymmetry``, ``didv_source`` (``"lock-in"`` or
        ``"numerical"``), ``didv_sign_flipped`` (the dI/dV had a negative
        mean, as a lock-in X channel has with its phase off by 180 degrees,
        and was negated before the dI/dV statistics), ``didv_rel_noise``
        (noise / range), ``didv_nsr``
        (noise / mean ``|dI/dV|``: the inverse of a signal-to-noise ratio that
        stays meaningful for a flat spectrum), ``didv_asymmetry``,
        ``didv_peaks`` (list of V), ``zero_bias_current`` (pA, interpolated),
        ``bias_range`` ((V_min, V_max)), ``points``.
    """
    v, i = _check_pair(bias, current, "spectrum_stats")
    if didv is None:
        v_d, d = numerical_didv(v, i)
        source = "numerical"
    else:
        v_d, d = _check_pair(bias, didv, "spectrum_stats (didv)")
        source = "lock-in"
    # a lock-in's X output is negative when its reference phase is off by 180 deg
    flipped = bool(np.mean(d) < 0)
    if flipped:
        d = -d
    i_range = float(np.ptp(i))
    d_range = float(np.ptp(d))
    i_noise, d_noise = noise_level(i), noise_level(d)
    i_mean, d_mean = float(np.mean(np.abs(i))), float(np.mean(np.abs(d)))
    crosses = v[0] < 0 < v[-1]
    return {
        "points": int(v.size),
        "bias_range": (float(v[0]), float(v[-1])),
        "current_noise": i_noise,
        "current_range": i_range,
        "current_rel_noise": i_noise / i_range if i_range else float("nan"),
        "current_nsr": i_noise / i_mean if i_mean else float("nan"),
        "didv_nsr": d_noise / d_mean if d_mean else float("nan"),
        "current_asymmetry": bias_asymmetry(v, i) if crosses else float("nan"),
        "zero_bias_current": float(np.interp(0.0, v, i)) if crosses else float("nan"),
        "didv_source": source,
        "didv_sign_flipped": flipped,
        "didv_rel_noise": d_noise / d_range if d_range else float("nan"),
        "didv_asymmetry": bias_asymmetry(v_d, d) if crosses else float("nan"),
        "didv_peaks": didv_peaks(v_d, d),
    }


def find_didv_channel(channel_names) -> str | None:
    """Name of the lock-in channel that holds dI/dV in a Nanonis spectrum, if any.

    Nanonis names the first-harmonic in-phase lock-in output ``LI Demod 1 X``
    (Generic 5) or ``LIX 1 omega`` (Generic 4). Forward sweep channels only.
    """
    names = [n for n in channel_names if "[" not in n]
    for preferred in ("LI Demod 1 X", "LIX 1 omega"):
        if preferred in names:
            return preferred
    for n in names:
        if n.startswith("LI") and "X" in n:
            return n
    return None
