"""Seeded random structures that are pure functions of position.

A sample must give the same value at the same place whatever frame, pan or
zoom asks for it, so nothing here is drawn on a pixel grid:

- :class:`SmoothField` is a Gaussian random field built from random Fourier
  modes (a sum of cosines); it and its gradient can be evaluated anywhere.
- :class:`CellScatter` places point objects (defects, adsorbates) cell by cell,
  each cell drawn from its own generator seeded by ``(seed, i, j)``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from autoscope.errors import ConfigurationError

_CHUNK = 65536


class SmoothField:
    """Zero-mean, unit-variance Gaussian random field with correlation length ``length``.

    Parameters
    ----------
    seed : int or sequence of int
        Seed of the modes.
    length : float
        Correlation length (nm); the covariance is ``exp(-r**2 / (2 length**2))``.
    modes : int
        Number of random Fourier modes (more: closer to Gaussian statistics).
    """

    def __init__(self, seed, length: float, modes: int = 48) -> None:
        rng = np.random.default_rng(seed)
        self.length = float(length)
        self.k = rng.normal(0.0, 1.0 / self.length, size=(modes, 2))
        self.phase = rng.uniform(0.0, 2 * np.pi, size=modes)
        self.norm = np.sqrt(2.0 / modes)

    def _arg(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        a = np.outer(x, self.k[:, 0])
        a += np.outer(y, self.k[:, 1])
        a += self.phase
        return a

    def __call__(self, x, y) -> np.ndarray:
        """Field value at ``(x, y)`` (any broadcastable shapes)."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        shape = x.shape
        xf, yf = x.ravel(), y.ravel()
        out = np.empty(xf.size)
        for s in range(0, xf.size, _CHUNK):
            a = self._arg(xf[s : s + _CHUNK], yf[s : s + _CHUNK])
            out[s : s + _CHUNK] = np.cos(a, out=a).sum(1)
        return (out * self.norm).reshape(shape)

    def value_and_gradient(self, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Field value and its gradient ``(f, df/dx, df/dy)`` at ``(x, y)``."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        shape = x.shape
        xf, yf = x.ravel(), y.ravel()
        f = np.empty(xf.size)
        gx = np.empty(xf.size)
        gy = np.empty(xf.size)
        for s in range(0, xf.size, _CHUNK):
            a = self._arg(xf[s : s + _CHUNK], yf[s : s + _CHUNK])
            g = np.sin(a) @ self.k
            f[s : s + _CHUNK] = np.cos(a, out=a).sum(1)
            gx[s : s + _CHUNK] = -g[:, 0]
            gy[s : s + _CHUNK] = -g[:, 1]
        n = self.norm
        return (f * n).reshape(shape), (gx * n).reshape(shape), (gy * n).reshape(shape)


class CellScatter:
    """Point objects scattered over the plane, reproducible cell by cell.

    Parameters
    ----------
    seed : int
        Base seed; cell ``(i, j)`` uses ``default_rng((seed, tag, i + 2**31, j + 2**31))``.
    cell : float
        Cell edge, nm.
    draw : callable
        ``draw(rng, x0, y0, cell) -> dict of equal-length 1-D arrays`` with at
        least ``"x"`` and ``"y"``; the objects of one cell.
    tag : int
        Separates several scatters that share a seed.
    max_cells : int
        Cells kept drawn, least recently used dropped first. A dropped cell is
        drawn again, identically, when asked for, so the bound changes speed,
        never the sample; it keeps a twin that wanders over the surface for
        days at constant memory (a frame touches a handful of cells).
    """

    MAX_CELLS = 512

    def __init__(
        self,
        seed: int,
        cell: float,
        draw: Callable[..., dict],
        tag: int = 0,
        max_cells: int = MAX_CELLS,
    ) -> None:
        if int(max_cells) < 1:
            raise ConfigurationError(f"max_cells must be >= 1; got {max_cells}")
        self.seed = int(seed)
        self.cell = float(cell)
        self.draw = draw
        self.tag = int(tag)
        self.max_cells = int(max_cells)
        self._cache: OrderedDict[tuple[int, int], dict] = OrderedDict()

    def _cell(self, i: int, j: int) -> dict:
        key = (i, j)
        got = self._cache.get(key)
        if got is None:
            rng = np.random.default_rng((self.seed, self.tag, i + 2**31, j + 2**31))
            got = self.draw(rng, i * self.cell, j * self.cell, self.cell)
            self._cache[key] = got
            while len(self._cache) > self.max_cells:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return got

    def query(self, xmin: float, xmax: float, ymin: float, ymax: float) -> dict:
        """All objects whose position lies in the box, as a dict of 1-D arrays."""
        i0, i1 = int(np.floor(xmin / self.cell)), int(np.floor(xmax / self.cell))
        j0, j1 = int(np.floor(ymin / self.cell)), int(np.floor(ymax / self.cell))
        parts = [self._cell(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]
        parts = [p for p in parts if len(p["x"])]
        if not parts:
            return {k: np.empty(0) for k in self._cell(i0, j0)}
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        keep = (out["x"] >= xmin) & (out["x"] <= xmax) & (out["y"] >= ymin) & (out["y"] <= ymax)
        return {k: v[keep] for k, v in out.items()}

    def near(self, x: np.ndarray, y: np.ndarray, margin: float) -> dict:
        """Objects within ``margin`` nm of the bounding box of the points ``(x, y)``."""
        return self.query(
            float(np.min(x)) - margin,
            float(np.max(x)) + margin,
            float(np.min(y)) - margin,
            float(np.max(y)) + margin,
        )
