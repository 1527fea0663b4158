"""Band-excitation switching spectroscopy (BE-SS PFM): waveform, loop model, measurement.

The DC waveform runs 0 -> ``stop`` -> ``start`` -> 0 (a triangle). At every
step the band-excitation response is read (off-field): a complex number whose
real part along the phase reference is the piezoresponse.

Loop model (nine parameters per point, see
:meth:`~autoscope.devices.twin.samples.pfm_film.PFMFilm.loop_params`)::

    ascending branch:  R = a0 + a1 * tanh((V - a3) / w_up)   + a4 * V,  w_up = b2 (V < a3) or b3
    descending branch: R = a0 + a1 * tanh((V - a2) / w_down) + a4 * V,  w_down = b0 (V > a2) or b1

so ``a3`` and ``a2`` are the positive and negative coercive biases, their mean
the imprint, and the loop area is about ``2 a1 (a3 - a2)`` for a saturated loop.
The twin reports the steady-state loop of repeated cycles (a real BE-SS
measurement discards its first cycle, which depends on the as-grown
polarisation); :func:`loop_model` can model that first cycle with ``initial_up``.
"""

from __future__ import annotations

import numpy as np

from autoscope.devices.twin.config import PFM_PHASE_REFERENCE
from autoscope.errors import ConfigurationError
from autoscope.io.pfm import piezoresponse


def triangle_waveform(start: float, stop: float, points: int) -> np.ndarray:
    """DC biases (V) of the switching waveform 0 -> stop -> start -> 0, shape ``(points,)``."""
    points = int(points)
    if points < 8:
        raise ConfigurationError(f"PFM waveform needs >= 8 points, got {points}")
    if not (start < 0 < stop):
        raise ConfigurationError(
            f"PFM waveform needs start < 0 < stop, got start={start} V, stop={stop} V"
        )
    # piecewise-linear path through the corners, sampled uniformly in path length
    corners = np.array([0.0, stop, start, 0.0])
    seg = np.abs(np.diff(corners))
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = (np.arange(points) + 0.5) / points * cum[-1]
    return np.interp(s, cum, corners)


def branch_masks(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ascending, first_quarter)`` boolean masks of a triangle waveform."""
    dv = np.gradient(v)
    asc = dv > 0
    top = int(np.argmax(v))
    first = np.zeros(v.shape, bool)
    first[: top + 1] = True
    return asc, first


def loop_model(
    v: np.ndarray, params: np.ndarray, initial_up: np.ndarray | None = None
) -> np.ndarray:
    """Noise-free piezoresponse loops.

    Parameters
    ----------
    v : ndarray, shape (K,)
        Triangle waveform from :func:`triangle_waveform`.
    params : ndarray, shape (P, 9)
        Loop parameters per point.
    initial_up : ndarray of bool, shape (P,), optional
        Polarisation before the waveform (True: up). Default: down.

    Returns
    -------
    ndarray, shape (P, K)
    """
    p = np.atleast_2d(params)
    a0, a1, a2, a3, a4, b0, b1, b2, b3 = (p[:, i : i + 1] for i in range(9))
    asc, first = branch_masks(v)
    vv = v[None, :]
    w_up = np.where(vv < a3, b2, b3)
    w_dn = np.where(vv > a2, b0, b1)
    up = a0 + a1 * np.tanh((vv - a3) / w_up) + a4 * vv
    dn = a0 + a1 * np.tanh((vv - a2) / w_dn) + a4 * vv
    out = np.where(asc[None, :], up, dn)
    if initial_up is not None:
        keep_up = np.asarray(initial_up, bool)[:, None] & first[None, :]
        out = np.where(keep_up, dn, out)
    return out


def loop_area(v: np.ndarray, loops: np.ndarray) -> np.ndarray:
    """Area (a.u. * V) enclosed by loops measured on the closed triangle waveform 0 -> 0.

    ``-sum(R dV)``: positive when the descending branch lies above the
    ascending one. ``loops`` has shape (..., K); the result has shape (...,).
    """
    dv = np.gradient(v)
    return -np.sum(loops * dv, axis=-1)


def measure_be_ss(
    response: np.ndarray,
    loops: np.ndarray,
    rng: np.random.Generator,
    noise: float = 0.04,
    phase_reference: float = PFM_PHASE_REFERENCE,
    telegraph: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Turn noise-free loops into the measured channels.

    Parameters
    ----------
    response : ndarray, shape (P,)
        Complex vertical response of the point (sets the in-plane/quadrature part).
    loops : ndarray, shape (P, K)
        Noise-free piezoresponse (in-phase) loops.
    noise : float
        Standard deviation of the complex read-out noise per point, a.u.
    phase_reference : float
        Phase of the instrument's reference, degrees (an up domain reads this phase).
    telegraph : ndarray, shape (P, K), optional
        Multiplicative amplitude factor of an unstable tip.

    Returns
    -------
    dict with ``piezoresponse`` (a.u.), ``amplitude`` (a.u.), ``phase`` (deg), each (P, K).
    """
    quad = np.imag(np.asarray(response))[:, None]
    sig = loops + 1j * quad
    if telegraph is not None:
        sig = sig * telegraph
    sig = sig + noise * (rng.standard_normal(sig.shape) + 1j * rng.standard_normal(sig.shape))
    meas = sig * np.exp(1j * np.deg2rad(phase_reference))
    amp = np.abs(meas)
    phase = np.rad2deg(np.angle(meas))
    pr = piezoresponse(amp, phase, phase_reference)
    return {"piezoresponse": pr, "amplitude": amp, "phase": phase}
