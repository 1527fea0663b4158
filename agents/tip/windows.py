"""Turning scan lines (trace and retrace) into the classifier's input.

A *window* is the last ``N`` scan lines of one channel (topography), trace and
retrace, each of shape ``(N, P)`` in nm. The classifier sees three planes of
shape ``(N, P)``:

0. the trace minus a plane fitted to the whole window,
1. the retrace minus the same plane,
2. trace minus retrace (feedback lag, instability),

all divided by one robust scale of the window, so that the input does not
depend on the sample's corrugation in nm (contrast augmentation relies on it).
Optionally (``detail_channel=True``) a plane of the fine detail: the mean of
trace and retrace minus its Gaussian blur (:data:`DETAIL_SIGMA` pixels along
the line, one line across), divided by its own robust scale, so that atoms,
dimers, rows and ghost copies stay visible in a window that also holds a step
edge or a large adsorbate (which set the first planes' scale). Optionally
(``scale_channel=True``) a last, constant plane carries the first planes'
scale, ``log10(scale / 10 pm)``: the corrugation in nm, which tells a blunt or
multiple tip (lower corrugation) from a sharp one on a known kind of sample.
A step between lines (a tip change) survives the plane fit; slow drift in z
does not. The network is fully convolutional with global pooling, so ``P`` may
differ between training and use.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from autoscope.errors import ConfigurationError

CLIP = 8.0
"""Normalised values are clipped to ``[-CLIP, CLIP]`` (spikes, crashes)."""

DETAIL_SIGMA = (1.0, 4.0)
"""Gaussian blur (lines, pixels) removed from the detail plane."""


def n_planes(scale_channel: bool = False, detail_channel: bool = False) -> int:
    """Number of input planes of a window with these options."""
    return 3 + int(bool(scale_channel)) + int(bool(detail_channel))


def _check_pair(trace: np.ndarray, retrace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(trace, dtype=np.float64)
    r = np.asarray(retrace, dtype=np.float64)
    if t.ndim != 2 or t.shape != r.shape:
        raise ConfigurationError(
            f"trace and retrace must be 2-D arrays of equal shape (lines, pixels); "
            f"got {t.shape} and {r.shape}"
        )
    if t.shape[0] < 2 or t.shape[1] < 8:
        raise ConfigurationError(
            f"a window needs at least 2 lines of 8 pixels; got shape {t.shape}"
        )
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(r))):
        bad = int(np.sum(~np.isfinite(t)) + np.sum(~np.isfinite(r)))
        raise ConfigurationError(
            f"trace or retrace holds NaN or infinite values ({bad} of {t.size + r.size} samples)"
        )
    return t, r


def fit_plane(z: np.ndarray) -> np.ndarray:
    """Least-squares plane ``a + b x + c y`` through ``z`` (lines x pixels), same shape."""
    n, p = z.shape
    yy, xx = np.mgrid[0:n, 0:p]
    a = np.column_stack([np.ones(z.size), xx.ravel() / p, yy.ravel() / n])
    coef, *_ = np.linalg.lstsq(a, z.ravel(), rcond=None)
    return (a @ coef).reshape(n, p)


def robust_scale(z: np.ndarray) -> float:
    """A robust spread of ``z``: 1.4826 x median absolute deviation, or the std if that is 0."""
    med = np.median(z)
    s = 1.4826 * float(np.median(np.abs(z - med)))
    if s <= 0:
        s = float(np.std(z))
    return s if s > 0 else 1.0


def make_window(
    trace: np.ndarray,
    retrace: np.ndarray,
    scale_channel: bool = False,
    detail_channel: bool = False,
) -> np.ndarray:
    """Classifier input from one window of scan lines.

    Parameters
    ----------
    trace, retrace : ndarray, shape ``(N, P)``
        Topography of the last ``N`` lines (nm), both ordered by increasing x.
    scale_channel : bool
        Add the constant plane ``log10(scale / 0.01 nm)`` (clipped to +-3), last.
    detail_channel : bool
        Add the fine-detail plane (fourth).

    Returns
    -------
    ndarray, float32, shape ``(n_planes(scale_channel, detail_channel), N, P)``
    """
    t, r = _check_pair(trace, retrace)
    plane = fit_plane(0.5 * (t + r))
    t0 = t - plane
    r0 = r - plane
    mean = 0.5 * (t0 + r0)
    s = robust_scale(mean)
    planes = [t0 / s, r0 / s, (t0 - r0) / s]
    if detail_channel:
        d = mean - gaussian_filter(mean, DETAIL_SIGMA, mode="nearest")
        planes.append(d / robust_scale(d))
    if scale_channel:
        planes.append(np.full(t0.shape, np.clip(np.log10(s / 0.01), -3.0, 3.0)))
    out = np.stack(planes).astype(np.float32)
    np.clip(out, -CLIP, CLIP, out=out)
    return out


def windows_from_image(
    trace: np.ndarray,
    retrace: np.ndarray,
    n_lines: int,
    stride: int = 1,
    scale_channel: bool = False,
    detail_channel: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """All windows of ``n_lines`` lines of an image, every ``stride`` lines.

    Returns
    -------
    windows : ndarray, float32, shape ``(B, n_planes, n_lines, P)`` (see :func:`make_window`)
    last_lines : ndarray, int, shape ``(B,)``
        Index of the last line of each window (the line at which a rolling
        classifier would have produced it).
    """
    t, r = _check_pair(trace, retrace)
    if n_lines < 2 or n_lines > t.shape[0]:
        raise ConfigurationError(
            f"n_lines {n_lines} must be between 2 and the image's {t.shape[0]} lines"
        )
    if stride < 1:
        raise ConfigurationError(f"stride must be >= 1; got {stride}")
    starts = np.arange(0, t.shape[0] - n_lines + 1, stride)
    out = np.stack(
        [
            make_window(t[s : s + n_lines], r[s : s + n_lines], scale_channel, detail_channel)
            for s in starts
        ]
    )
    return out, starts + n_lines - 1
