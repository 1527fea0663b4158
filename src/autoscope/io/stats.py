"""Image statistics a microscopist looks at, for comparing twin images with real ones.

Every function takes a 2-D array ``(lines, pixels)`` in autoscope's
orientation (row = scan line, column = position along the fast axis); NaN
marks pixels that were not measured and is ignored. Heights are in whatever
unit the array is in (nm for topography).

- :func:`plane_level`, :func:`line_level`: the levelling done before anything else.
- :func:`height_rms`: width of the height distribution after levelling (Sq).
- :func:`line_to_line_noise`: scatter of the offsets between consecutive lines
  (the streaks a feedback or a tip change leaves).
- :func:`pixel_noise`: white-noise level along the fast axis, from second differences.
- :func:`trace_retrace_rms`, :func:`trace_retrace_shift`: how trace and retrace
  differ (feedback lag, tip instability).
- :func:`radial_psd`, :func:`psd_slope`: radially averaged power spectrum and the
  slope of its log-log fit over a band (about -2 to -4 for rough or
  self-affine surfaces, 0 for white noise).
- :func:`image_stats`: all of the above in one dict.
"""

from __future__ import annotations

import numpy as np

from autoscope.errors import ConfigurationError

#: MAD -> standard deviation for a Gaussian.
_MAD_TO_SIGMA = 1.482602218505602


def _check_image(img: np.ndarray, name: str = "image") -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 3:
        raise ConfigurationError(f"{name} must be 2-D with at least 2x3 pixels, got {a.shape}")
    if not np.isfinite(a).any():
        raise ConfigurationError(f"{name} holds no finite values")
    return a


def _is_constant(img: np.ndarray) -> bool:
    a = np.asarray(img, dtype=np.float64)
    a = a[np.isfinite(a)]
    return a.size == 0 or float(np.ptp(a)) == 0.0


def _robust_sigma(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan")
    return float(_MAD_TO_SIGMA * np.median(np.abs(v - np.median(v))))


def plane_level(img: np.ndarray) -> np.ndarray:
    """Subtract the least-squares plane ``a + b*x + c*y`` (NaN pixels ignored).

    Parameters
    ----------
    img : numpy.ndarray
        ``(lines, pixels)``.

    Returns
    -------
    numpy.ndarray
        float64, same shape, NaN where the input is NaN.
    """
    a = _check_image(img)
    yy, xx = np.mgrid[: a.shape[0], : a.shape[1]]
    ok = np.isfinite(a)
    design = np.column_stack([np.ones(ok.sum()), xx[ok], yy[ok]])
    coef, *_ = np.linalg.lstsq(design, a[ok], rcond=None)
    return a - (coef[0] + coef[1] * xx + coef[2] * yy)


def line_level(img: np.ndarray, order: int = 1) -> np.ndarray:
    """Subtract from every line its own least-squares polynomial of ``order``.

    The usual first step on raw SPM data ("align rows"): it removes the
    offset (and tilt) each line gets from drift, creep and feedback. It also
    removes real height differences between lines, so :func:`height_rms` after
    it measures the roughness along the fast axis.

    Parameters
    ----------
    img : numpy.ndarray
        ``(lines, pixels)``.
    order : int
        0 (offset only), 1 (offset and slope) or higher.

    Returns
    -------
    numpy.ndarray
        float64, same shape; lines with fewer than ``order + 2`` finite pixels
        become NaN.
    """
    if order < 0:
        raise ConfigurationError(f"line_level order must be >= 0, got {order}")
    a = _check_image(img)
    out = np.full_like(a, np.nan)
    x = np.linspace(-1.0, 1.0, a.shape[1])
    full = np.vander(x, order + 1)
    finite_rows = np.isfinite(a).all(axis=1)
    if finite_rows.any():
        coef, *_ = np.linalg.lstsq(full, a[finite_rows].T, rcond=None)
        out[finite_rows] = a[finite_rows] - (full @ coef).T
    for i in np.flatnonzero(~finite_rows):
        ok = np.isfinite(a[i])
        if ok.sum() >= order + 2:
            c, *_ = np.linalg.lstsq(full[ok], a[i, ok], rcond=None)
            out[i] = a[i] - full @ c
    return out


def height_rms(img: np.ndarray, level: str = "plane") -> float:
    """Root-mean-square height (Sq) after levelling: the height distribution's width.

    Parameters
    ----------
    img : numpy.ndarray
        ``(lines, pixels)`` heights.
    level : {"plane", "line"}
        Plane levelling (keeps steps and large-scale shape) or line-by-line
        levelling of order 1 (removes line offsets too).

    Returns
    -------
    float
        In the unit of ``img``.
    """
    if level == "plane":
        z = plane_level(img)
    elif level == "line":
        z = line_level(img, order=1)
    else:
        raise ConfigurationError(f"level must be 'plane' or 'line', got {level!r}")
    z = z[np.isfinite(z)]
    return float(np.sqrt(np.mean((z - z.mean()) ** 2)))


def line_to_line_noise(img: np.ndarray) -> float:
    """Robust scatter of the offset between consecutive lines.

    For each pair of neighbouring lines the offset is the median over pixels
    of their difference; the result is the MAD-based standard deviation of
    those offsets divided by sqrt(2), so that independent random line offsets
    of standard deviation ``s`` give ``s``. A smooth surface contributes its
    slope only, which plane levelling removes first.

    Parameters
    ----------
    img : numpy.ndarray
        ``(lines, pixels)``; at least 3 lines.

    Returns
    -------
    float
        In the unit of ``img``.
    """
    z = plane_level(img)
    if z.shape[0] < 3:
        raise ConfigurationError(f"line_to_line_noise needs at least 3 lines, got {z.shape[0]}")
    diff = z[1:] - z[:-1]
    diff = diff[np.isfinite(diff).any(axis=1)]
    if diff.shape[0] < 2:
        return float("nan")
    offsets = np.nanmedian(diff, axis=1)
    return float(_robust_sigma(offsets) / np.sqrt(2.0))


def pixel_noise(img: np.ndarray) -> float:
    """White-noise level along the fast axis, from second differences.

    For white noise of standard deviation ``s`` the second difference
    ``z[j-1] - 2 z[j] + z[j+1]`` has standard deviation ``s * sqrt(6)``; a
    surface that is smooth on the pixel scale adds little. The MAD-based
    estimate is used, so isolated spikes and step edges do not dominate.

    Returns
    -------
    float
        In the unit of ``img``.
    """
    a = _check_image(img)
    d2 = a[:, :-2] - 2.0 * a[:, 1:-1] + a[:, 2:]
    return float(_robust_sigma(d2.ravel()) / np.sqrt(6.0))


def trace_retrace_rms(trace: np.ndarray, retrace: np.ndarray) -> float:
    """RMS of the trace minus retrace difference after removing each line's mean offset.

    Both images in the same orientation (retrace flipped back to increasing
    x, as :func:`autoscope.io.sxm.read_sxm` and the twin give it).

    Returns
    -------
    float
        In the unit of the images.
    """
    t = _check_image(trace, "trace")
    r = _check_image(retrace, "retrace")
    if t.shape != r.shape:
        raise ConfigurationError(f"trace {t.shape} and retrace {r.shape} differ in shape")
    d = t - r
    d = d[np.isfinite(d).any(axis=1)]
    if d.size == 0:
        return float("nan")
    d = d - np.nanmean(d, axis=1, keepdims=True)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean(d**2)))


def trace_retrace_shift(
    trace: np.ndarray, retrace: np.ndarray, max_shift: int | None = None
) -> float:
    """Lateral shift of the retrace relative to the trace, in pixels (sub-pixel).

    Found from the cross-correlation of the x-derivatives, summed over all
    lines, refined by a parabola through the peak. A positive value means the
    retrace features appear at larger x than the trace features. A lagging
    feedback gives a negative value: each direction records a feature late,
    the trace (moving to +x) at larger x, the retrace (moving to -x) at
    smaller x.

    Parameters
    ----------
    trace, retrace : numpy.ndarray
        ``(lines, pixels)``, both ordered by increasing x.
    max_shift : int, optional
        Largest shift searched, in pixels (default 5 % of the line). On a
        periodic lattice the correlation has a peak every period; the search
        window keeps the one nearest zero.

    Returns
    -------
    float
        Shift in pixels; 0 for identical images, NaN for a constant image.
    """
    t = _check_image(trace, "trace")
    r = _check_image(retrace, "retrace")
    if t.shape != r.shape:
        raise ConfigurationError(f"trace {t.shape} and retrace {r.shape} differ in shape")
    rows = np.isfinite(t).all(axis=1) & np.isfinite(r).all(axis=1)
    if not rows.any() or np.ptp(t[rows]) == 0 or np.ptp(r[rows]) == 0:
        return float("nan")
    dt = np.diff(t[rows], axis=1)
    dr = np.diff(r[rows], axis=1)
    dt -= dt.mean(axis=1, keepdims=True)
    dr -= dr.mean(axis=1, keepdims=True)
    n = dt.shape[1]
    size = 2 * n
    spec = np.fft.rfft(dr, size, axis=1) * np.conj(np.fft.rfft(dt, size, axis=1))
    cc = np.fft.irfft(spec.sum(axis=0), size)
    cc = np.concatenate([cc[-(n - 1) :], cc[:n]])  # lags -(n-1) .. n-1
    lags = np.arange(-(n - 1), n)
    limit = max(1, int(round(0.05 * n))) if max_shift is None else int(max_shift)
    cc = np.where(np.abs(lags) <= limit, cc, -np.inf)
    k = int(np.argmax(cc))
    shift = float(lags[k])
    if 0 < k < cc.size - 1:
        y0, y1, y2 = cc[k - 1], cc[k], cc[k + 1]
        denom = y0 - 2.0 * y1 + y2
        if np.isfinite(denom) and denom != 0:
            shift += 0.5 * (y0 - y2) / denom
    return float(shift)


def radial_psd(img: np.ndarray, pixel_size: float = 1.0, bins: int | None = None):
    """Radially averaged 2-D power spectral density of the plane-levelled image.

    A 2-D Hann window is applied before the FFT (to suppress the edge jump),
    NaN pixels are set to 0 after levelling.

    Parameters
    ----------
    img : numpy.ndarray
        ``(lines, pixels)``.
    pixel_size : float
        Pixel spacing (nm); frequencies are then in 1/nm. With 1.0 they are
        in cycles per pixel (Nyquist = 0.5).
    bins : int, optional
        Number of radial bins (default ``min(shape) // 2``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Bin-centre spatial frequencies and the mean PSD in each bin (bins
        without any FFT sample are dropped).
    """
    if not pixel_size > 0:
        raise ConfigurationError(f"pixel_size must be > 0, got {pixel_size}")
    z = plane_level(img)
    z = np.where(np.isfinite(z), z, 0.0)
    ny, nx = z.shape
    window = np.outer(np.hanning(ny), np.hanning(nx))
    spec = np.abs(np.fft.fft2(z * window)) ** 2 / (window**2).sum()
    fy = np.fft.fftfreq(ny)
    fx = np.fft.fftfreq(nx)
    fr = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    nb = bins or min(ny, nx) // 2
    edges = np.linspace(0.0, 0.5, nb + 1)
    idx = np.digitize(fr.ravel(), edges) - 1
    keep = (idx >= 0) & (idx < nb)
    sums = np.bincount(idx[keep], weights=spec.ravel()[keep], minlength=nb)
    counts = np.bincount(idx[keep], minlength=nb)
    centres = 0.5 * (edges[:-1] + edges[1:])
    ok = counts > 0
    return centres[ok] / pixel_size, (sums[ok] / counts[ok]) * pixel_size**2


def psd_slope(
    img: np.ndarray, band: tuple[float, float] = (0.02, 0.25), pixel_size: float = 1.0
) -> float:
    """Slope of the log-log fit of the radially averaged PSD over a frequency band.

    Parameters
    ----------
    img : numpy.ndarray
        ``(lines, pixels)``.
    band : (float, float)
        Frequency band in cycles per pixel (0 < low < high <= 0.5), so that
        images with the same pixel size are compared over the same physical
        band. The default skips the lowest frequencies (levelling, window) and
        the top half up to Nyquist (where the window's leakage and pixel noise
        dominate steep spectra).
    pixel_size : float
        Only scales the frequencies; the slope does not depend on it.

    Returns
    -------
    float
        ``d log10 PSD / d log10 f``: 0 for white noise, about ``-(2 + 2H)``
        for a self-affine surface of Hurst exponent ``H``.
    """
    low, high = band
    if not 0 < low < high <= 0.5:
        raise ConfigurationError(f"band must satisfy 0 < low < high <= 0.5, got {band}")
    if _is_constant(img):
        return float("nan")
    f, p = radial_psd(img, pixel_size=1.0)
    sel = (f >= low) & (f <= high) & (p > 0)
    if sel.sum() < 3:
        raise ConfigurationError(f"band {band} holds fewer than 3 PSD bins for shape {img.shape}")
    slope, _ = np.polyfit(np.log10(f[sel]), np.log10(p[sel]), 1)
    return float(slope)


def image_stats(
    img: np.ndarray,
    retrace: np.ndarray | None = None,
    band: tuple[float, float] = (0.02, 0.25),
) -> dict[str, float]:
    """All statistics of one image (and its retrace, if given).

    Returns
    -------
    dict
        ``height_rms_plane``, ``height_rms_line``, ``line_to_line_noise``,
        ``pixel_noise``, ``psd_slope``, and with a retrace also
        ``trace_retrace_rms`` and ``trace_retrace_shift_px``.
    """
    out = {
        "height_rms_plane": height_rms(img, "plane"),
        "height_rms_line": height_rms(img, "line"),
        "line_to_line_noise": line_to_line_noise(img),
        "pixel_noise": pixel_noise(img),
        "psd_slope": psd_slope(img, band=band),
    }
    if retrace is not None:
        out["trace_retrace_rms"] = trace_retrace_rms(img, retrace)
        out["trace_retrace_shift_px"] = trace_retrace_shift(img, retrace)
    return out
