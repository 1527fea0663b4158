"""The device's dose ledger: the electrons it has sent to each part of the sample.

The ledger counts what the device *commanded* (beam current x time at the positions it
asked for), the only dose a real microscope knows; drift moves the true dose a little
(the twin's hidden dose map has it). Dose is in e/Å², averaged over square cells of
``cell_nm`` on a sample-fixed grid centred on 0; only the cells the beam has touched are
stored (tiles of 64 x 64 cells), so a large field costs nothing until it is used.

How an exposure is counted:

- a raster (:func:`raster_increment`): every pixel gets ``N = I τ / e`` electrons over its
  own area ``p²``, so the frame receives the uniform dose ``N / p²``; along the slow axis
  a cell gets the share of it that the lines cover (a line at a time adds up to the
  frame), along the fast axis a cell counts whole when its centre lies within the line
  grown by half a cell (the rim is never missed, whatever the rotation);
- a parked beam (:func:`point_increment`): its ``N = I t / e`` electrons are spread evenly
  over the cells whose centres lie within ``spot_radius_nm`` of the position (at least the
  nearest cell), i.e. the dose a spot of that radius receives, probe tails included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autoscope.devices.stem.backend import STEMScan

__all__ = ["DoseLedger", "Increment", "electrons", "point_increment", "raster_increment"]

_E = 1.602176634e-19
_TILE = 64


def electrons(current_pa: float, seconds: float) -> float:
    """Electrons in ``seconds`` of a ``current_pa`` beam."""
    return current_pa * 1e-12 * seconds / _E


@dataclass
class Increment:
    """Dose (e/Å²) to add on cells ``[r0, r0 + rows) x [c0, c0 + cols)`` of a ledger grid,
    and the electrons it holds."""

    r0: int
    c0: int
    dose: np.ndarray
    electrons: float

    def peak(self, cell_nm: float) -> tuple[float, float, float]:
        """Largest dose of the increment and where (x, y nm of the cell centre)."""
        if self.dose.size == 0:
            return 0.0, math.nan, math.nan
        i, j = np.unravel_index(int(np.argmax(self.dose)), self.dose.shape)
        return float(self.dose[i, j]), (self.c0 + j + 0.5) * cell_nm, (self.r0 + i + 0.5) * cell_nm


def _cells(lo: float, hi: float, cell: float) -> tuple[int, int]:
    return int(math.floor(lo / cell)), int(math.floor(hi / cell)) + 1


def raster_increment(scan: STEMScan, current_pa: float, cell_nm: float, lines=None) -> Increment:
    """The dose of ``scan`` (all lines, or the ``lines`` slice ``(first, stop)``).

    The lines cover a band of the frame; a cell receives the band's dose ``N / p²`` times
    the share of its height (along the slow axis, through its centre) that the band
    covers, and only if its centre lies within the fast axis' span grown by half a cell.
    So the lines of a frame add up to the frame, cell by cell, whatever the pixel size."""
    first, stop = (0, scan.pixels) if lines is None else lines
    p_a = scan.pixel_size_nm * 10.0
    n_pix = electrons(current_pa, scan.pixel_time_us * 1e-6)
    level = n_pix / p_a**2
    h = scan.fov_nm / 2
    u0, u1 = -h - cell_nm / 2, h + cell_nm / 2
    v0 = -h + first * scan.pixel_size_nm
    v1 = -h + stop * scan.pixel_size_nm
    a = math.radians(scan.rotation)
    c, s = math.cos(a), math.sin(a)
    cx, cy = scan.center_nm
    corners = [(u, v) for u in (u0, u1) for v in (v0 - cell_nm, v1 + cell_nm)]
    xs = [cx + u * c - v * s for u, v in corners]
    ys = [cy + u * s + v * c for u, v in corners]
    c0, c1 = _cells(min(xs), max(xs), cell_nm)
    r0, r1 = _cells(min(ys), max(ys), cell_nm)
    gx = (np.arange(c0, c1) + 0.5) * cell_nm - cx
    gy = (np.arange(r0, r1) + 0.5) * cell_nm - cy
    uu = gx[None, :] * c + gy[:, None] * s
    vv = -gx[None, :] * s + gy[:, None] * c
    share = (
        np.clip(np.minimum(vv + cell_nm / 2, v1) - np.maximum(vv - cell_nm / 2, v0), 0.0, None)
        / cell_nm
    )
    dose = np.where((uu >= u0) & (uu <= u1), level * share, 0.0)
    return Increment(r0, c0, dose, n_pix * scan.pixels * max(stop - first, 0))


def point_increment(
    x: float, y: float, current_pa: float, seconds: float, cell_nm: float, spot_radius_nm: float
) -> Increment:
    """The dose of the beam parked at ``(x, y)`` nm for ``seconds``."""
    n = electrons(current_pa, seconds)
    c0, c1 = _cells(x - spot_radius_nm, x + spot_radius_nm, cell_nm)
    r0, r1 = _cells(y - spot_radius_nm, y + spot_radius_nm, cell_nm)
    gx = (np.arange(c0, c1) + 0.5) * cell_nm
    gy = (np.arange(r0, r1) + 0.5) * cell_nm
    d2 = (gx[None, :] - x) ** 2 + (gy[:, None] - y) ** 2
    hit = d2 <= spot_radius_nm**2
    if not hit.any():
        hit = d2 == d2.min()
    area_a2 = hit.sum() * (cell_nm * 10.0) ** 2
    return Increment(r0, c0, np.where(hit, n / area_a2, 0.0), n)


class DoseLedger:
    """Accumulated dose (e/Å²) on cells of ``cell_nm``, stored in tiles where it is nonzero."""

    def __init__(self, cell_nm: float) -> None:
        self.cell_nm = float(cell_nm)
        self._tiles: dict[tuple[int, int], np.ndarray] = {}
        self.total_electrons = 0.0

    def window(self, r0: int, c0: int, rows: int, cols: int) -> np.ndarray:
        """The ledger's dose on cells ``[r0, r0 + rows) x [c0, c0 + cols)`` (a copy)."""
        out = np.zeros((rows, cols))
        for (tr, tc), tile in self._tiles.items():
            rr0, cc0 = tr * _TILE, tc * _TILE
            a0, a1 = max(r0, rr0), min(r0 + rows, rr0 + _TILE)
            b0, b1 = max(c0, cc0), min(c0 + cols, cc0 + _TILE)
            if a0 < a1 and b0 < b1:
                out[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = tile[
                    a0 - rr0 : a1 - rr0, b0 - cc0 : b1 - cc0
                ]
        return out

    def after(self, inc: Increment) -> np.ndarray:
        """The dose on the increment's cells once it is added."""
        return self.window(inc.r0, inc.c0, *inc.dose.shape) + inc.dose

    def add(self, inc: Increment) -> None:
        """Add an exposure to the ledger."""
        rows, cols = inc.dose.shape
        for tr in range(inc.r0 // _TILE, (inc.r0 + rows - 1) // _TILE + 1):
            for tc in range(inc.c0 // _TILE, (inc.c0 + cols - 1) // _TILE + 1):
                rr0, cc0 = tr * _TILE, tc * _TILE
                a0, a1 = max(inc.r0, rr0), min(inc.r0 + rows, rr0 + _TILE)
                b0, b1 = max(inc.c0, cc0), min(inc.c0 + cols, cc0 + _TILE)
                if a0 >= a1 or b0 >= b1:
                    continue
                part = inc.dose[a0 - inc.r0 : a1 - inc.r0, b0 - inc.c0 : b1 - inc.c0]
                if not part.any():
                    continue
                tile = self._tiles.setdefault((tr, tc), np.zeros((_TILE, _TILE)))
                tile[a0 - rr0 : a1 - rr0, b0 - cc0 : b1 - cc0] += part
        self.total_electrons += inc.electrons

    def peak_after(self, increments) -> tuple[float, float, float]:
        """Largest dose (e/Å²) of any cell once ``increments`` are all added, and where
        (x, y nm of that cell's centre); the ledger itself is not changed."""
        planned = DoseLedger(self.cell_nm)
        for inc in increments:
            planned.add(inc)
        best = (0.0, math.nan, math.nan)
        for key, tile in planned._tiles.items():
            total = tile + self._tiles.get(key, 0.0)
            i, j = np.unravel_index(int(np.argmax(total)), total.shape)
            if total[i, j] > best[0]:
                r, c = key[0] * _TILE + i, key[1] * _TILE + j
                best = (float(total[i, j]), (c + 0.5) * self.cell_nm, (r + 0.5) * self.cell_nm)
        return best

    def max_dose(self) -> float:
        """The largest dose (e/Å²) of any cell."""
        return max((float(t.max()) for t in self._tiles.values()), default=0.0)

    def dose_at(self, x, y) -> np.ndarray:
        """Dose (e/Å²) of the cells holding positions ``x, y`` (nm)."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        c = np.floor(x / self.cell_nm).astype(int)
        r = np.floor(y / self.cell_nm).astype(int)
        out = np.zeros(x.shape)
        for k in np.ndindex(x.shape):
            tile = self._tiles.get((r[k] // _TILE, c[k] // _TILE))
            if tile is not None:
                out[k] = tile[r[k] % _TILE, c[k] % _TILE]
        return out

    def dose_map(self, x0: float, y0: float, width: float, height: float) -> np.ndarray:
        """The dose (e/Å²) of the cells covering ``[x0, x0 + width) x [y0, y0 + height)`` nm,
        rows = y (bottom first)."""
        c0, c1 = _cells(x0, x0 + width - 1e-12, self.cell_nm)
        r0, r1 = _cells(y0, y0 + height - 1e-12, self.cell_nm)
        return self.window(r0, c0, r1 - r0, c1 - c0)
