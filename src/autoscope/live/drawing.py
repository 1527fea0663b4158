"""Drawing helpers of the live views: levelling, colour limits, scale bar, colour maps."""

from __future__ import annotations

import numpy as np

from autoscope.errors import ConfigurationError
from autoscope.live.view import BACKGROUND, length_label, nice_length

__all__ = ["LEVELLING", "add_scale_bar", "colour_limits", "colour_map", "level"]

#: Per-line levelling a person can choose: none, each line's median removed, a plane removed.
LEVELLING = ("none", "offset", "plane")


def check_levelling(levelling: str) -> str:
    if levelling not in LEVELLING:
        raise ConfigurationError(
            f"levelling {levelling!r} is not one of {', '.join(map(repr, LEVELLING))}"
        )
    return levelling


def level(image: np.ndarray, levelling: str) -> np.ndarray:
    """A levelled copy of ``image`` (lines x pixels, NaN where not measured).

    ``offset`` removes each line's median; ``plane`` removes the least-squares
    plane through every measured pixel (a single line: its straight line).
    """
    out = np.array(image, dtype=float)
    rows = np.isfinite(out).any(axis=1)
    if levelling == "none" or not rows.any():
        return out
    if levelling == "offset":
        out[rows] -= np.nanmedian(out[rows], axis=1, keepdims=True)
        return out
    yy, xx = np.indices(out.shape, dtype=float)
    ok = np.isfinite(out)
    design = np.stack([np.ones(ok.sum()), xx[ok], yy[ok]], axis=1)
    coef, *_ = np.linalg.lstsq(design, out[ok], rcond=None)
    return out - (coef[0] + coef[1] * xx + coef[2] * yy)


def colour_limits(values: np.ndarray) -> tuple[float, float]:
    """1st and 99th percentiles of the finite values (a span of 1 when flat or empty)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1, 99])
    if hi <= lo:
        return float(lo) - 0.5, float(lo) + 0.5
    return float(lo), float(hi)


def colour_map(name: str):
    """The colour map ``name`` with unmeasured (NaN) pixels in the background grey."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ConfigurationError(f"colour map {name!r} is not known to matplotlib") from None
    return cmap.with_extremes(bad=BACKGROUND)


def add_scale_bar(ax, span_nm: float, thickness_nm: float) -> None:
    """A 1-2-5 scale bar (nm or µm) just above the axes' top right corner."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    size = nice_length(span_nm)
    bar = AnchoredSizeBar(
        ax.transData,
        size,
        length_label(size),
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        bbox_transform=ax.transAxes,
        frameon=False,
        size_vertical=thickness_nm,
        color="black",
        pad=0.1,
        borderpad=0.1,
        sep=2,
        fontproperties={"size": 8},
    )
    ax.add_artist(bar)


def grid_extent(xy: np.ndarray, shape) -> tuple[float, float, float, float]:
    """imshow extent (nm) of a square-pixel grid of ``shape`` whose pixel centres are ``xy``."""
    h, w = shape
    dx = (xy[:, 0].max() - xy[:, 0].min()) / max(w - 1, 1)
    dy = (xy[:, 1].max() - xy[:, 1].min()) / max(h - 1, 1)
    d = dx or dy or 1.0
    return (
        float(xy[:, 0].min() - d / 2),
        float(xy[:, 0].max() + d / 2),
        float(xy[:, 1].min() - d / 2),
        float(xy[:, 1].max() + d / 2),
    )
