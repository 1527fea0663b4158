"""Scalarizers: turn a spectrum into the one number a campaign optimises.

A scalarizer is chosen by name (``"loop_area"``, ``"band_integral:-0.5:0.5"``,
``"peak_prominence"``, ``"peak_position"``, ``"adhesion"``) or given as any callable
``f(spectrum (K,), axis (K,)) -> float``. :func:`get_scalarizer` turns either
into a :class:`Scalarizer`, whose :meth:`Scalarizer.apply` works on any stack of
spectra ``(..., K)``.

Bad spectra (a NaN or inf sample, or a saturated channel: a flat run at the
extreme of the spectrum or samples at or beyond a given saturation limit) are
flagged, their scalar is NaN, and an :class:`InvalidSpectrumWarning` says how
many were left out. They are never silently used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from autoscope.errors import ConfigurationError, InvalidSpectrumWarning

__all__ = [
    "SCALARIZERS",
    "InvalidSpectrumWarning",
    "Scalarizer",
    "adhesion",
    "band_integral",
    "check_spectra",
    "get_scalarizer",
    "loop_area",
    "peak_position",
    "peak_prominence",
    "register_scalarizer",
]


# --------------------------------------------------------------------------- checks


def check_spectra(
    spectra: np.ndarray,
    saturation: float | None = None,
    flat_run: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Flag spectra that must not be used.

    Parameters
    ----------
    spectra : array, shape ``(..., K)``
    saturation : float, optional
        Absolute limit of the channel (e.g. the ADC range). A sample with
        ``|value| >= saturation`` marks the spectrum saturated.
    flat_run : int
        A spectrum whose maximum or minimum is held by ``flat_run`` or more
        consecutive identical samples is taken as clipped (saturated). A
        spectrum that is constant throughout is flagged the same way.

    Returns
    -------
    valid : bool array, shape ``(...)``
    reason : str array, shape ``(...)``, ``""`` for valid spectra, else
        ``"nan"``, ``"inf"`` or ``"saturated"``.
    """
    s = np.asarray(spectra, dtype=float)
    if s.ndim < 1 or s.shape[-1] < 2:
        raise ConfigurationError(f"spectra must have shape (..., K) with K >= 2, got {s.shape}")
    reason = np.full(s.shape[:-1], "", dtype=object)
    has_nan = np.isnan(s).any(axis=-1)
    has_inf = np.isinf(s).any(axis=-1)
    reason[has_inf] = "inf"
    reason[has_nan] = "nan"
    finite = ~(has_nan | has_inf)
    sat = np.zeros(s.shape[:-1], dtype=bool)
    if saturation is not None:
        sat |= (np.abs(np.where(np.isfinite(s), s, 0.0)) >= saturation).any(axis=-1)
    if flat_run > 1:
        safe = np.where(np.isfinite(s), s, 0.0)
        for extreme in (safe.max(axis=-1, keepdims=True), safe.min(axis=-1, keepdims=True)):
            at = safe == extreme
            sat |= _longest_run(at) >= flat_run
    sat &= finite
    reason[sat] = "saturated"
    valid = reason == ""
    return valid.astype(bool), reason


def _longest_run(mask: np.ndarray) -> np.ndarray:
    """Longest run of True along the last axis, shape ``mask.shape[:-1]``."""
    run = np.zeros(mask.shape[:-1], dtype=int)
    best = np.zeros(mask.shape[:-1], dtype=int)
    for k in range(mask.shape[-1]):
        run = np.where(mask[..., k], run + 1, 0)
        best = np.maximum(best, run)
    return best


# ---------------------------------------------------------------------- scalarizers


def loop_area(spectrum: np.ndarray, axis: np.ndarray) -> float:
    """Area enclosed by a hysteresis loop, response against bias.

    The axis is the bias of every point of the (triangular) waveform in the
    order it was applied; the loop is closed from the last point back to the
    first. The area is the absolute shoelace integral, in units of
    ``response x bias``.
    """
    v = np.asarray(axis, dtype=float)
    r = np.asarray(spectrum, dtype=float)
    v1, r1 = np.roll(v, -1), np.roll(r, -1)
    return float(0.5 * abs(np.sum(v * r1 - v1 * r)))


def band_integral(spectrum: np.ndarray, axis: np.ndarray, lo: float, hi: float) -> float:
    """Integral of the spectrum over ``lo <= axis <= hi`` (trapezoid, axis units)."""
    v = np.asarray(axis, dtype=float)
    r = np.asarray(spectrum, dtype=float)
    inside = (v >= lo) & (v <= hi)
    if inside.sum() < 2:
        raise ConfigurationError(
            f"band_integral window {lo:g}:{hi:g} holds {int(inside.sum())} points of the spectral "
            f"axis (range {v.min():g} to {v.max():g}); it needs at least 2"
        )
    order = np.argsort(v[inside], kind="stable")
    return float(np.trapezoid(r[inside][order], v[inside][order]))


def _smooth(r: np.ndarray, sigma_points: float) -> np.ndarray:
    return gaussian_filter1d(np.asarray(r, dtype=float), sigma_points, mode="nearest")


def peak_prominence(spectrum: np.ndarray, axis: np.ndarray, smooth: float = 2.0) -> float:
    """Prominence of the most prominent peak of the smoothed spectrum (response units).

    The spectrum is ordered by the axis and smoothed with a Gaussian of
    ``smooth`` points before peaks are found; 0 when there is no peak.
    """
    v = np.asarray(axis, dtype=float)
    order = np.argsort(v, kind="stable")
    r = _smooth(np.asarray(spectrum, dtype=float)[order], smooth)
    _, props = find_peaks(r, prominence=0.0)
    if len(props["prominences"]) == 0:
        return 0.0
    return float(np.max(props["prominences"]))


def peak_position(
    spectrum: np.ndarray, axis: np.ndarray, smooth: float = 2.0, half_width: int = 6
) -> float:
    """Position on the axis of the spectrum's maximum, from a local quadratic fit.

    The spectrum is ordered by the axis, smoothed with a Gaussian of
    ``smooth`` points, and a parabola is fitted by least squares to the raw
    samples within ``half_width`` points of the smoothed maximum. The vertex is
    returned when the parabola opens downwards and the vertex lies in the
    fitting window; otherwise (a maximum at the edge, a flat top) the position
    of the smoothed maximum.
    """
    v = np.asarray(axis, dtype=float)
    order = np.argsort(v, kind="stable")
    v = v[order]
    raw = np.asarray(spectrum, dtype=float)[order]
    k = int(np.argmax(_smooth(raw, smooth)))
    lo, hi = max(0, k - half_width), min(len(v), k + half_width + 1)
    if hi - lo >= 3:
        x0 = v[k]
        scale = max(float(v[hi - 1] - v[lo]), np.finfo(float).tiny)
        u = (v[lo:hi] - x0) / scale
        a, b, _ = np.polyfit(u, raw[lo:hi], 2)
        if a < 0:
            vertex = x0 + scale * (-b / (2 * a))
            if v[lo] <= vertex <= v[hi - 1]:
                return float(vertex)
    return float(v[k])


def adhesion(spectrum: np.ndarray, axis: np.ndarray, baseline: float = 0.2) -> float:
    """Adhesion of an AFM retract curve: how far its force dips below the free baseline.

    ``spectrum`` is the retract force against ``axis``, the tip's (or the piezo's)
    height above the surface, growing away from it (as
    :func:`autoscope.io.forcemap.read_force_map` gives it). The baseline is the
    median force of the samples at the largest ``baseline`` share of the axis
    (the tip free of the surface); the adhesion is the baseline minus the minimum
    force, in force units (0 when the curve never dips below its baseline).
    """
    v = np.asarray(axis, dtype=float)
    r = np.asarray(spectrum, dtype=float)
    if not 0.0 < baseline < 1.0:
        raise ConfigurationError(f"adhesion baseline share {baseline:g} must be in (0, 1)")
    far = v >= np.quantile(v, 1.0 - baseline)
    return float(max(np.median(r[far]) - np.min(r), 0.0))


# ------------------------------------------------------------------------- registry

ScalarFunction = Callable[[np.ndarray, np.ndarray], float]

SCALARIZERS: dict[str, Callable[..., float]] = {
    "loop_area": loop_area,
    "band_integral": band_integral,
    "peak_prominence": peak_prominence,
    "peak_position": peak_position,
    "adhesion": adhesion,
}

_ARGS_REQUIRED = {"band_integral": 2}


def register_scalarizer(name: str, function: Callable[..., float]) -> None:
    """Make ``function(spectrum, axis, *args)`` available as ``name[:ARG:ARG...]``."""
    if not name.isidentifier():
        raise ConfigurationError(f"scalarizer name {name!r} must be a Python identifier")
    SCALARIZERS[name] = function


@dataclass
class Scalarizer:
    """A named spectrum-to-number function with the bad-spectrum checks around it.

    Parameters
    ----------
    function : callable ``(spectrum (K,), axis (K,)) -> float``
    name : str
        As written on the command line, e.g. ``"band_integral:-0.5:0.5"``.
    saturation : float, optional
        Absolute channel limit, see :func:`check_spectra`.
    flat_run : int
        Clipping detection, see :func:`check_spectra`.
    """

    function: ScalarFunction
    name: str
    saturation: float | None = None
    flat_run: int = 3
    last_reasons: dict[str, int] = field(default_factory=dict)

    def __call__(self, spectrum: np.ndarray, axis: np.ndarray) -> float:
        """Scalar of one spectrum, NaN (with a warning) if it is flagged."""
        return float(self.apply(np.asarray(spectrum)[None, :], axis)[0])

    def apply(self, spectra: np.ndarray, axis: np.ndarray) -> np.ndarray:
        """Scalars of a stack of spectra.

        Parameters
        ----------
        spectra : array, shape ``(..., K)``
        axis : array, shape ``(K,)``

        Returns
        -------
        float64 array, shape ``(...)``; NaN where the spectrum was flagged
        (an :class:`InvalidSpectrumWarning` names how many and why).
        """
        s = np.asarray(spectra, dtype=float)
        axis = np.asarray(axis, dtype=float)
        if axis.ndim != 1 or s.shape[-1] != axis.shape[0]:
            raise ConfigurationError(
                f"spectra of shape {s.shape} do not match a spectral axis of shape {axis.shape}"
            )
        valid, reason = check_spectra(s, self.saturation, self.flat_run)
        out = np.full(s.shape[:-1], np.nan)
        flat_s = s.reshape(-1, s.shape[-1])
        flat_valid = valid.reshape(-1)
        flat_out = out.reshape(-1)
        for i in np.flatnonzero(flat_valid):
            flat_out[i] = float(self.function(flat_s[i], axis))
        bad = ~np.isfinite(flat_out) & flat_valid
        if bad.any():  # the function itself gave NaN/inf: flag it too
            flat_out[bad] = np.nan
            reason.reshape(-1)[bad] = "scalar not finite"
        self.last_reasons = {
            str(r): int(n) for r, n in zip(*np.unique(reason[reason != ""], return_counts=True))
        }
        if self.last_reasons:
            n_bad = sum(self.last_reasons.values())
            warnings.warn(
                InvalidSpectrumWarning(
                    f"{n_bad} of {flat_out.size} spectra left out by scalarizer {self.name!r}: "
                    + ", ".join(f"{n} {r}" for r, n in sorted(self.last_reasons.items()))
                ),
                stacklevel=2,
            )
        return flat_out.reshape(s.shape[:-1])


def get_scalarizer(
    spec: str | Callable[..., float] | Scalarizer,
    saturation: float | None = None,
    flat_run: int = 3,
) -> Scalarizer:
    """A :class:`Scalarizer` from a name (``"NAME[:ARG:ARG...]"``) or a callable.

    Raises
    ------
    ConfigurationError
        Unknown name, wrong number of arguments or an argument that is not a number.
    """
    if isinstance(spec, Scalarizer):
        return spec
    if callable(spec):
        name = getattr(spec, "__name__", repr(spec))
        return Scalarizer(spec, name, saturation, flat_run)
    if not isinstance(spec, str) or not spec:
        raise ConfigurationError(f"scalarizer must be a name or a callable, got {spec!r}")
    name, *raw_args = spec.split(":")
    if name not in SCALARIZERS:
        raise ConfigurationError(
            f"unknown scalarizer {name!r}; known: {', '.join(sorted(SCALARIZERS))}"
        )
    try:
        args = [float(a) for a in raw_args]
    except ValueError:
        raise ConfigurationError(
            f"scalarizer {spec!r}: arguments must be numbers, got {raw_args}"
        ) from None
    needed = _ARGS_REQUIRED.get(name)
    if needed is not None and len(args) != needed:
        raise ConfigurationError(
            f"scalarizer {name!r} takes {needed} arguments ({name}:LO:HI), got {spec!r}"
        )
    if name == "band_integral" and args[0] >= args[1]:
        raise ConfigurationError(f"band_integral window {spec!r}: LO must be below HI")
    function = SCALARIZERS[name]

    def bound(spectrum: np.ndarray, axis: np.ndarray) -> float:
        return function(spectrum, axis, *args)

    return Scalarizer(bound, spec, saturation, flat_run)
