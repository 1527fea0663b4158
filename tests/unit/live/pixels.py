"""Reading a rendered PNG back: which colour each data cell of an image axes got."""

from __future__ import annotations

import numpy as np
from matplotlib.image import imread

from autoscope.live.view import BACKGROUND


def cell_colours(png, figure, ax, rows: int, cols: int) -> np.ndarray:
    """RGB (rows x cols x 3) at the centre of every data cell of ``ax`` in ``png``.

    Row 0 is the bottom row of the image (``origin="lower"``).
    """
    rgba = imread(png)
    height = rgba.shape[0]
    box = ax.get_window_extent()  # display pixels of the figure as saved (same dpi)
    x = box.x0 + (np.arange(cols) + 0.5) / cols * box.width
    y = box.y0 + (np.arange(rows) + 0.5) / rows * box.height
    px = np.floor(x).astype(int)
    py = (height - 1 - np.floor(y)).astype(int)
    return rgba[py[:, None], px[None, :], :3]


def is_background(rgb: np.ndarray) -> np.ndarray:
    """True where a cell has the background grey of unmeasured data."""
    return np.all(np.abs(rgb - np.asarray(BACKGROUND[:3])) < 0.02, axis=-1)


def values_from_colours(rgb: np.ndarray, cmap, vmin: float, vmax: float) -> np.ndarray:
    """Invert ``cmap``: the data value each colour stands for (nearest of 512 entries)."""
    table = cmap(np.linspace(0.0, 1.0, 512))[:, :3]
    flat = rgb.reshape(-1, 3)
    nearest = np.argmin(((flat[:, None, :] - table[None, :, :]) ** 2).sum(-1), axis=1)
    return (vmin + nearest / 511 * (vmax - vmin)).reshape(rgb.shape[:-1])


def point_colours(png, ax, points) -> np.ndarray:
    """RGB (n x 3) of ``png`` at the data positions ``points`` (n x 2) of ``ax``."""
    rgba = imread(png)
    height = rgba.shape[0]
    xy = ax.transData.transform(np.asarray(points, dtype=float).reshape(-1, 2))
    px = np.floor(xy[:, 0]).astype(int)
    py = (height - 1 - np.floor(xy[:, 1])).astype(int)
    return rgba[py, px, :3]


def is_grey(rgb: np.ndarray, tolerance: float = 0.03) -> np.ndarray:
    """True where a colour has no hue (a grey-scale overview pixel, not a coloured marker)."""
    return (rgb.max(axis=-1) - rgb.min(axis=-1)) < tolerance
