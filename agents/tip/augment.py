"""Realistic augmentation of labelled scan images (trace and retrace together).

Every operation keeps the physics of a raster scan: a horizontal mirror swaps
the roles of trace and retrace (the feedback lag changes side), drift shifts
whole lines, contrast and tilt act on both directions alike, and scan-line
artefacts are what a good tip also shows now and then (a line offset, a spike).
Rotations of the sample under the scan are made by the twin itself (frame
angle), which is the only way to rotate without turning the fast scan axis.

All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoscope.errors import ConfigurationError


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; probabilities are per image.

    Attributes
    ----------
    out_width : int
        Pixels per line after cropping and resampling.
    max_zoom : float
        Largest crop width as a multiple of ``out_width`` (resampled down).
    min_zoom : float
        Smallest crop width as a multiple of ``out_width`` (below 1: resampled
        up, finer pixels); with ``max_zoom`` it spreads the pixel sizes.
    p_hflip, p_vflip : float
        Probability of mirroring the fast axis (swaps trace and retrace) and
        of reversing the line order.
    max_drift : float
        Largest lateral drift, pixels per line.
    contrast_sigma : float
        Std of the log of the contrast factor.
    max_tilt : float
        Largest plane tilt across the image, in units of the image's spread.
    max_noise : float
        Largest added white noise, in units of the image's spread.
    p_line_offsets, p_spikes : float
        Probability of random line offsets and of single-pixel spikes.
    """

    out_width: int = 64
    max_zoom: float = 1.5
    min_zoom: float = 1.0
    p_hflip: float = 0.5
    p_vflip: float = 0.5
    max_drift: float = 0.3
    contrast_sigma: float = 0.5
    max_tilt: float = 3.0
    max_noise: float = 0.08
    p_line_offsets: float = 0.3
    p_spikes: float = 0.2


def _resample_lines(z: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """Linear interpolation of every line of ``z`` at fractional pixels ``x_new`` (per line)."""
    p = z.shape[1]
    x = np.arange(p)
    return np.stack([np.interp(xn, x, row) for xn, row in zip(x_new, z)])


def augment_image(
    trace: np.ndarray,
    retrace: np.ndarray,
    rng: np.random.Generator,
    config: AugmentConfig = AugmentConfig(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One random augmentation of an image.

    Parameters
    ----------
    trace, retrace : ndarray, shape ``(H, W)``
        Topography (nm), both ordered by increasing x.
    rng : numpy.random.Generator
    config : AugmentConfig

    Returns
    -------
    trace, retrace : ndarray, float64, shape ``(H, config.out_width)``
    line_order : ndarray of int, shape ``(H,)``
        For each output line, the input line it came from (labels follow it).
    zoom : float
        Output pixel size over input pixel size (> 1: the crop was resampled down,
        < 1: up).
    """
    t = np.array(trace, dtype=np.float64)
    r = np.array(retrace, dtype=np.float64)
    if t.ndim != 2 or t.shape != r.shape:
        raise ConfigurationError(
            f"trace and retrace must be 2-D of equal shape; got {t.shape}, {r.shape}"
        )
    h, w = t.shape
    if not 0 < config.min_zoom <= config.max_zoom:
        raise ConfigurationError(
            f"min_zoom {config.min_zoom} must be > 0 and <= max_zoom {config.max_zoom}"
        )
    smallest = max(2, int(np.ceil(min(config.min_zoom, 1.0) * config.out_width)))
    if w < smallest:
        raise ConfigurationError(
            f"image width {w} px is below the output width {config.out_width} px"
            + (f" times min_zoom {config.min_zoom}" if config.min_zoom < 1 else "")
        )
    order = np.arange(h)

    if rng.random() < config.p_hflip:
        t, r = r[:, ::-1].copy(), t[:, ::-1].copy()
    if rng.random() < config.p_vflip:
        t, r, order = t[::-1], r[::-1], order[::-1]

    spread = float(np.std(t)) or 1.0

    # crop (with zoom) and lateral drift, as one resampling per line
    crop = int(rng.integers(smallest, int(min(w, config.max_zoom * config.out_width)) + 1))
    drift = rng.uniform(-config.max_drift, config.max_drift) * np.arange(h)
    drift -= drift.mean()
    start = rng.uniform(0, w - crop)
    base = np.linspace(0, crop - 1, config.out_width)
    x_new = np.clip(start + drift[:, None] + base[None, :], 0, w - 1)
    t = _resample_lines(t, x_new)
    r = _resample_lines(r, x_new)

    # contrast and tilt
    gain = float(np.exp(rng.normal(0.0, config.contrast_sigma)))
    yy, xx = np.mgrid[0:h, 0 : config.out_width]
    tilt = (
        spread
        * config.max_tilt
        * (rng.uniform(-1, 1) * xx / config.out_width + rng.uniform(-1, 1) * yy / h)
    )
    offset = rng.normal(0.0, 10 * spread)
    t = gain * (t + tilt) + offset
    r = gain * (r + tilt) + offset
    spread *= gain

    # white noise
    sigma = rng.uniform(0, config.max_noise) * spread
    t = t + rng.normal(0.0, sigma, t.shape)
    r = r + rng.normal(0.0, sigma, r.shape)

    # scan-line artefacts that a good tip also shows
    if rng.random() < config.p_line_offsets:
        k = int(rng.integers(1, max(2, h // 16) + 1))
        lines = rng.choice(h, size=k, replace=False)
        jump = rng.normal(0.0, 0.2 * spread, size=k)
        t[lines] += jump[:, None]
        r[lines] += jump[:, None]
    if rng.random() < config.p_spikes:
        k = int(rng.integers(1, 4))
        ii = rng.integers(0, h, size=k)
        jj = rng.integers(0, config.out_width, size=k)
        t[ii, jj] += rng.choice([-1.0, 1.0], size=k) * rng.uniform(1, 4, size=k) * spread
    zoom = (crop - 1) / (config.out_width - 1) if config.out_width > 1 else 1.0
    return t, r, order, float(zoom)
