"""Image formation: the probe intensity convolved with each detector's object.

For a thin sample the annular-detector signal is incoherent: the fraction of the beam
reaching a detector with the probe at ``r`` is ``f(r) = Σ_j σ_j P(r - r_j)``, the probe
intensity ``P`` (Å⁻², unit integral) weighted by each column's detector cross section
``σ_j = n_j σ_C (Z_j / 6)^γ`` (Å²), plus the amorphous support as a continuous density.

- HAADF: ``γ = 1.8``, ``σ_C = 0.01 Å²`` (beyond ~80 mrad; 1.7 gives Si/C = 4.22, below
  the 4.4–5.7 measured on graphene, see ADR 0010).
- ADF (medium angles): ``γ = 1.3``, ``σ_C = 0.03 Å²``: more signal, weaker Z contrast.
- BF: the unscattered beam, ``bf = 1 - f_tot`` with ``γ = 4/3``, ``σ_C = 0.1 Å²`` (total
  elastic scattering out of the bright-field disc); an incoherent BF, no phase contrast.

The ``σ_C`` are for 60 kV. At other beam energies every cross section is scaled by the
screened-Rutherford factor for a fixed angular range, ``σ ∝ γ² λ⁴`` (``(γ/γ₆₀)² (λ/λ₆₀)⁴``:
0.11 at 200 kV, 0.054 at 300 kV), so a 300 kV HAADF sees 0.06 Å² per Au atom.

A sample many atoms thick (``sample.saturating``) is seen as ``1 - exp(-f)`` (and BF as
``exp(-f_tot)``): the fraction scattered to a detector cannot exceed the beam. A monolayer
keeps the linear sum, whose Si/C ratio is exactly ``(14/6)^γ``.

The convolution is done by FFT on a regular grid in sample coordinates: columns are
splatted bilinearly, and the probe's transform ``P̂(q)`` is evaluated exactly at the grid's
frequencies (:meth:`Probe.ft_intensity`). The scan then samples the map at the positions the
beam really reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from autoscope.devices.twin.stem.probe import Probe, wavelength
from autoscope.devices.twin.stem.samples.base import Atoms, STEMSample

#: detector -> (Z exponent, cross section of one C atom in Å²)
DETECTORS = {"haadf": (1.8, 0.01), "adf": (1.3, 0.03), "bf": (4.0 / 3.0, 0.1)}


_MC2_KEV = 510.99895


def kv_factor(kv: float) -> float:
    """Scattering into a fixed angular range relative to 60 kV: ``(γ/γ₆₀)² (λ/λ₆₀)⁴``."""
    g = (1.0 + kv / _MC2_KEV) / (1.0 + 60.0 / _MC2_KEV)
    return g**2 * (wavelength(kv) / wavelength(60.0)) ** 4


def cross_section(detector: str, Z: np.ndarray, kv: float = 60.0) -> np.ndarray:
    """Detector cross section (Å²) of one atom of atomic number ``Z`` at ``kv`` kV."""
    gamma, sigma_c = DETECTORS[detector]
    return sigma_c * kv_factor(kv) * (np.asarray(Z, float) / 6.0) ** gamma


@dataclass(frozen=True)
class Grid:
    """A render grid: origin (Å, lower-left pixel centre), sampling (Å), ``n`` columns and
    ``ny`` rows (0: square, ``n`` rows)."""

    x0: float
    y0: float
    sampling: float
    n: int
    ny: int = 0

    @property
    def rows(self) -> int:
        return self.ny or self.n

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.n)

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            self.x0 + np.arange(self.n) * self.sampling,
            self.y0 + np.arange(self.rows) * self.sampling,
        )

    def sample(self, image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear value of ``image`` (rows = y) at positions ``x, y`` Å; positions off the
        grid take the nearest edge value (``scipy.ndimage.map_coordinates(order=1,
        mode="nearest")``, written out: a third of its time)."""
        ny, nx = image.shape
        c = np.subtract(x, self.x0, dtype=float)
        c /= self.sampling
        np.clip(c, 0.0, nx - 1, out=c)
        r = np.subtract(y, self.y0, dtype=float)
        r /= self.sampling
        np.clip(r, 0.0, ny - 1, out=r)
        c0 = np.minimum(c.astype(np.intp), max(nx - 2, 0))
        r0 = np.minimum(r.astype(np.intp), max(ny - 2, 0))
        c -= c0  # the fractions, in place
        r -= r0
        flat = image.ravel()
        k = r0
        k *= nx
        k += c0
        dc, dr = min(1, nx - 1), min(1, ny - 1) * nx
        f00 = flat[k]
        top = flat[k + dc]
        top -= f00
        top *= c
        top += f00
        k += dr
        f10 = flat[k]
        bottom = flat[k + dc]
        bottom -= f10
        bottom *= c
        bottom += f10
        bottom -= top
        bottom *= r
        bottom += top
        return bottom

    def sample_axes(self, image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """:meth:`sample` at every ``(x[j], y[i])`` (shape ``(len(y), len(x))``): the same
        bilinear values (to rounding), done separably, first along y then along x."""
        ny, nx = image.shape

        def axis(v, origin, n):
            c = np.clip((np.asarray(v, float) - origin) / self.sampling, 0.0, n - 1)
            c0 = np.minimum(c.astype(np.intp), max(n - 2, 0))
            return c0, np.minimum(c0 + 1, n - 1), c - c0

        r0, r1, fr = axis(y, self.y0, ny)
        c0, c1, fc = axis(x, self.x0, nx)
        rows = image[r0] + fr[:, None] * (image[r1] - image[r0])
        return rows[:, c0] + fc[None, :] * (rows[:, c1] - rows[:, c0])

    def sample_axes_sparse(self, image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """:meth:`sample_axes` for an ``image`` that is zero outside a small box (the
        contamination of a few scans): the same values, computed only at the positions
        whose bilinear cells reach a nonzero cell (zero elsewhere)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        out = np.zeros((y.size, x.size))
        rows = np.flatnonzero(image.any(1))
        if not rows.size:
            return out
        cols = np.flatnonzero(image.any(0))

        def reach(v, origin, lo, hi, n):
            # positions (ascending) whose cells floor(c), floor(c) + 1 (c clipped to the
            # image, as sample_axes does) can include a cell in lo..hi: c in (lo - 1, hi + 1)
            c = np.clip((v - origin) / self.sampling, 0.0, n - 1)
            i = np.flatnonzero((c > lo - 1) & (c < hi + 1))
            return slice(int(i[0]), int(i[-1]) + 1) if i.size else slice(0, 0)

        ny, nx = image.shape
        sy = reach(y, self.y0, rows[0], rows[-1], ny)
        sx = reach(x, self.x0, cols[0], cols[-1], nx)
        if sy.stop > sy.start and sx.stop > sx.start:
            out[sy, sx] = self.sample_axes(image, x[sx], y[sy])
        return out


def grid_for(xmin: float, xmax: float, ymin: float, ymax: float, pixel: float) -> Grid:
    """A render grid covering the box with sampling ``min(pixel / 2, 0.25 Å)``, at most
    1024 pixels a side (coarser for a very wide field)."""
    span = max(xmax - xmin, ymax - ymin)
    h = min(pixel / 2.0, 0.25)
    n = int(math.ceil(span / h)) + 1
    if n > 1024:
        n = 1024
        h = span / (n - 1)
    n = int(2 ** math.ceil(math.log2(n))) if n > 64 else 64
    return Grid(xmin, ymin, h, n)


def splat(grid: Grid, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Deposit weights ``w`` at ``x, y`` Å onto the grid (bilinear), shape ``grid.shape``.

    The four corners of every hit go into one ``bincount`` on the grid padded by a cell on
    each side (a corner off the grid lands in the padding, which is cut away), so no corner
    needs a mask; hits with no corner on the grid are dropped first."""
    c = np.subtract(x, grid.x0, dtype=float)
    c /= grid.sampling
    r = np.subtract(y, grid.y0, dtype=float)
    r /= grid.sampling
    c0 = np.floor(c).astype(np.intp)
    r0 = np.floor(r).astype(np.intp)
    c -= c0  # the fractions, in place
    r -= r0
    w = np.asarray(w, float)
    ny, nx = grid.shape
    if c0.size and not (
        c0.min() >= -1 and c0.max() <= nx - 1 and r0.min() >= -1 and r0.max() <= ny - 1
    ):
        m = (c0 >= -1) & (c0 <= nx - 1) & (r0 >= -1) & (r0 <= ny - 1)
        c0, r0, c, r, w = c0[m], r0[m], c[m], r[m], w[m]
    wide = nx + 2
    k = r0 + 1
    k *= wide
    k += c0 + 1
    right = w * c
    left = w - right
    out = np.bincount(
        np.concatenate((k, k + 1, k + wide, k + wide + 1)),
        np.concatenate((left - left * r, right - right * r, left * r, right * r)),
        (ny + 2) * wide,
    )
    return out.reshape(ny + 2, wide)[1:-1, 1:-1]  # a view: no caller writes into it


class Renderer:
    """Renders detector maps ``f(r)`` (fraction of the beam) of a sample on a grid; caches
    the probe transform per (probe, grid)."""

    def __init__(self) -> None:
        self._ft_key = None
        self._ft = None
        self._carbon_key = None
        self._carbon = None

    def carbon(self, sample: STEMSample, grid: Grid) -> np.ndarray:
        """The sample's amorphous carbon (atoms/Å²) on ``grid``, cached (it never changes)."""
        key = (id(sample), grid)
        if key != self._carbon_key:
            gx, gy = grid.coords()
            self._carbon = sample.amorphous_density_grid(gx, gy)
            self._carbon_key = key
        return self._carbon

    def probe_ft(self, probe: Probe, grid: Grid) -> np.ndarray:
        key = (probe, grid.n, grid.sampling)
        if key != self._ft_key:
            q = np.fft.fftfreq(grid.n, grid.sampling)
            box = 25.6 if probe.convergence_mrad >= 15 else 51.2
            ns = 256 if box == 25.6 else 512
            # the real part on the half plane numpy.fft.rfft2 uses (its last column is the
            # full transform's Nyquist column, as before)
            self._ft = probe.ft_intensity(
                q[: grid.n // 2 + 1], q, n=ns, sampling=box / ns, real=True
            )
            self._ft_key = key
        return self._ft

    def render(
        self,
        sample: STEMSample,
        atoms: Atoms,
        probe: Probe,
        grid: Grid,
        detectors: tuple[str, ...],
        extra_carbon: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Maps of each detector on ``grid``; ``extra_carbon`` (C atoms/Å² on the grid) is
        contamination laid on top of the sample."""
        gx, gy = grid.coords()
        lo_x, hi_x = gx[0] - 2, gx[-1] + 2
        lo_y, hi_y = gy[0] - 2, gy[-1] + 2
        m = (atoms.x > lo_x) & (atoms.x < hi_x) & (atoms.y > lo_y) & (atoms.y < hi_y)
        ax, ay, az, an = atoms.x[m], atoms.y[m], atoms.Z[m], atoms.n[m]
        carbon = self.carbon(sample, grid)
        if extra_carbon is not None:
            carbon = carbon + extra_carbon
        # P̂ is taken real (even in q), so the half-plane transform of numpy.fft.rfft2 holds
        # all of it (its Nyquist column equals the full transform's)
        ft = (self.probe_ft(probe, grid) / grid.sampling**2).astype(np.float32)
        out = {}
        for det in detectors:
            w = an * cross_section(det, az, probe.kv)
            rho = (
                splat(grid, ax, ay, w) + carbon * cross_section(det, 6, probe.kv) * grid.sampling**2
            )
            # float32 transforms (pocketfft): the map to ~1e-7 of its largest value
            f = scipy.fft.irfft2(scipy.fft.rfft2(rho.astype(np.float32)) * ft, s=rho.shape).astype(
                float
            )
            np.maximum(f, 0.0, out=f)
            if sample.saturating:
                f = -np.expm1(-f)
            out[det] = np.clip(1.0 - f, 0.0, 1.0) if det == "bf" else f
        return out
