"""The STEM probe: relativistic wavelength, aberration function, probe intensity.

Units: lengths of the probe and of the aberration coefficients in ångström (Å),
angles in mrad at the interface (radians inside), energies in eV / kV.

Aberrations use the polar (Krivanek) notation, ``Cnm`` with azimuth ``phinm``:

.. math::

    \\chi(\\alpha, \\phi) = \\frac{2\\pi}{\\lambda} \\sum_{n,m} \\frac{\\alpha^{n+1}}{n+1}
        C_{nm} \\cos(m(\\phi - \\phi_{nm}))

so ``C10`` is the defocus term (``C10 > 0``: overfocus; a defocus ``Δf`` is ``C10 = -Δf``),
``C12`` twofold astigmatism, ``C21`` axial coma, ``C23`` threefold astigmatism, ``C30``
spherical aberration (Cs), ``C32`` / ``C34`` twofold / fourfold astigmatism of third order and
``C50`` fifth-order spherical aberration. All ``Cnm`` in Å (1 mm = 1e7 Å, 1 µm = 1e4 Å);
all ``phinm`` in radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import numpy as np

from autoscope.errors import ConfigurationError

_H = 6.62607015e-34  # J s
_M0 = 9.1093837015e-31  # kg
_E = 1.602176634e-19  # C
_C = 299792458.0  # m/s

#: (n, m) of every aberration the probe carries, in the order of :class:`Aberrations`.
ABERRATIONS = {
    "C10": (1, 0),
    "C12": (1, 2),
    "C21": (2, 1),
    "C23": (2, 3),
    "C30": (3, 0),
    "C32": (3, 2),
    "C34": (3, 4),
    "C50": (5, 0),
}


def wavelength(kv: float) -> float:
    """Relativistic electron wavelength in Å at an accelerating voltage of ``kv`` kV.

    ``λ = h / sqrt(2 m0 e V (1 + e V / (2 m0 c²)))``: 0.04866 Å at 60 kV, 0.02508 Å at 200 kV,
    0.01969 Å at 300 kV.
    """
    kv = float(kv)
    if not (kv > 0.0 and math.isfinite(kv)):
        raise ConfigurationError(f"beam energy {kv!r} kV must be a positive number")
    ev = _E * kv * 1e3
    p = math.sqrt(2.0 * _M0 * ev * (1.0 + ev / (2.0 * _M0 * _C**2)))
    return _H / p * 1e10


@dataclass(frozen=True)
class Aberrations:
    """Aberration coefficients (Å) and azimuths (rad) in the polar notation of the module."""

    C10: float = 0.0
    C12: float = 0.0
    C21: float = 0.0
    C23: float = 0.0
    C30: float = 0.0
    C32: float = 0.0
    C34: float = 0.0
    C50: float = 0.0
    phi12: float = 0.0
    phi21: float = 0.0
    phi23: float = 0.0
    phi32: float = 0.0
    phi34: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not math.isfinite(float(v)):
                raise ConfigurationError(f"aberration {f.name}={v!r} must be finite")

    def chi(self, alpha: np.ndarray, phi: np.ndarray, wl: float) -> np.ndarray:
        """Aberration phase χ (rad) at scattering angle ``alpha`` (rad), azimuth ``phi`` (rad).

        ``wl`` is the wavelength in Å.
        """
        out = np.zeros(np.broadcast(alpha, phi).shape)
        for name, (n, m) in ABERRATIONS.items():
            c = getattr(self, name)
            if c == 0.0:
                continue
            term = alpha ** (n + 1) / (n + 1) * c
            if m:
                term = term * np.cos(m * (phi - getattr(self, f"phi{n}{m}")))
            out += term
        return out * (2.0 * np.pi / wl)


@dataclass(frozen=True)
class Probe:
    """A STEM probe: beam energy, convergence semi-angle, aberrations, source size.

    Parameters
    ----------
    kv : float
        Accelerating voltage, kV (60 for graphene, 200/300 for metals and oxides).
    convergence_mrad : float
        Convergence semi-angle of the probe-forming aperture, mrad.
    aberrations : Aberrations
        Residual aberrations (Å, rad).
    source_size : float
        FWHM (Å) of the demagnified source, a Gaussian blur of the probe intensity
        (partial spatial coherence); 0 for a point source.
    """

    kv: float = 60.0
    convergence_mrad: float = 30.0
    aberrations: Aberrations = field(default_factory=Aberrations)
    source_size: float = 0.0

    def __post_init__(self) -> None:
        wavelength(self.kv)
        a = float(self.convergence_mrad)
        if not (0.0 < a < 200.0):
            raise ConfigurationError(
                f"convergence angle {self.convergence_mrad!r} mrad must be in (0, 200)"
            )
        if not (self.source_size >= 0.0 and math.isfinite(self.source_size)):
            raise ConfigurationError(f"source size {self.source_size!r} Å must be >= 0")

    @property
    def wavelength(self) -> float:
        """Electron wavelength, Å."""
        return wavelength(self.kv)

    def with_aberrations(self, **coefficients: float) -> Probe:
        """A copy with some aberration coefficients (Å) or azimuths (rad) changed."""
        unknown = sorted(set(coefficients) - {f.name for f in fields(Aberrations)})
        if unknown:
            raise ConfigurationError(f"unknown aberration {unknown[0]!r}")
        return replace(self, aberrations=replace(self.aberrations, **coefficients))

    def wave_k(self, n: int, sampling: float) -> np.ndarray:
        """Aperture function ``A(k) exp(-i χ(k))`` on the FFT grid of ``n x n`` pixels of
        ``sampling`` Å (``numpy.fft`` order), normalised to unit total intensity.

        The aperture edge is softened over one reciprocal pixel so that the probe does not
        alias on a coarse grid.
        """
        n, sampling = _grid_args(n, sampling)
        wl = self.wavelength
        k = np.fft.fftfreq(n, sampling)
        kx, ky = np.meshgrid(k, k, indexing="xy")
        kr = np.hypot(kx, ky)
        alpha = kr * wl
        phi = np.arctan2(ky, kx)
        k_max = self.convergence_mrad * 1e-3 / wl
        if k_max > 0.5 / sampling:
            raise ConfigurationError(
                f"sampling {sampling!r} Å is too coarse for a {self.convergence_mrad} mrad "
                f"aperture at {self.kv} kV (needs < {0.5 / k_max:.4f} Å)"
            )
        dk = 1.0 / (n * sampling)
        aperture = np.clip((k_max - kr) / dk + 0.5, 0.0, 1.0)
        psi = aperture * np.exp(-1j * self.aberrations.chi(alpha, phi, wl))
        return psi / np.sqrt(np.sum(np.abs(psi) ** 2))

    def intensity(self, n: int, sampling: float) -> np.ndarray:
        """Probe intensity on an ``n x n`` grid of ``sampling`` Å, centred on pixel
        ``(n // 2, n // 2)``, rows = y; the pixel values sum to 1 (fraction of the beam per
        pixel; divide by ``sampling**2`` for Å⁻²)."""
        psi = np.fft.ifft2(self.wave_k(n, sampling))
        p = np.fft.fftshift(np.abs(psi) ** 2)
        if self.source_size > 0.0:
            s = self.source_size / (2.0 * math.sqrt(2.0 * math.log(2.0)))
            k = np.fft.fftfreq(n, sampling)
            g = np.exp(-2.0 * np.pi**2 * s**2 * k**2)
            p = np.fft.ifft2(np.fft.fft2(p) * np.outer(g, g)).real
            p = np.clip(p, 0.0, None)
        return p / p.sum()

    def ft_intensity(
        self,
        qx: np.ndarray,
        qy: np.ndarray,
        n: int = 256,
        sampling: float = 0.05,
        real: bool = False,
    ):
        """Fourier transform of the probe intensity (per Å², so ``P̂(0) = 1``) at spatial
        frequencies ``qx`` (shape ``(nx,)``) and ``qy`` (shape ``(ny,)``), Å⁻¹.

        Evaluated by direct (matrix) DFT of :meth:`intensity` on an ``n x n`` grid of
        ``sampling`` Å, so it is exact at any frequency, for any target grid. Returns shape
        ``(ny, nx)``. ``real``: only the real part (the transform of the intensity made
        centrosymmetric, which is what a convolution with a real kernel uses), by cosine and
        sine products in real arithmetic: about half the work.
        """
        p = _intensity_cached(self, n, sampling)
        r = (np.arange(n) - n // 2) * sampling
        qx = np.asarray(qx, float)
        qy = np.asarray(qy, float)
        # the intensity is band-limited to twice the aperture; beyond that the sampled
        # transform only repeats itself (period 1/sampling), so it is cut there: only the
        # rows and columns that reach into the band are transformed
        k_max = self.convergence_mrad * 1e-3 / self.wavelength
        ix = np.flatnonzero(np.abs(qx) <= 2.0 * k_max)
        iy = np.flatnonzero(np.abs(qy) <= 2.0 * k_max)
        band = np.hypot(*np.meshgrid(qx[ix], qy[iy])) <= 2.0 * k_max
        if real:
            # Re Σ p e^{-2πi(qy y + qx x)} = Cy p Cxᵀ - Sy p Sxᵀ
            ax = 2 * np.pi * np.outer(qx[ix], r)
            ay = 2 * np.pi * np.outer(qy[iy], r)
            out = np.zeros((qy.size, qx.size))
            out[np.ix_(iy, ix)] = (
                (np.cos(ay) @ p) @ np.cos(ax).T - (np.sin(ay) @ p) @ np.sin(ax).T
            ) * band
            return out
        out = np.zeros((qy.size, qx.size), complex)
        ex = np.exp(-2j * np.pi * np.outer(qx[ix], r))  # (nx', n)
        ey = np.exp(-2j * np.pi * np.outer(qy[iy], r))  # (ny', n)
        out[np.ix_(iy, ix)] = (ey @ p @ ex.T) * band
        return out


_INTENSITIES: dict = {}


def _intensity_cached(probe: Probe, n: int, sampling: float) -> np.ndarray:
    """:meth:`Probe.intensity`, kept for the last few (probe, grid): it depends only on the
    optics, and a twin asks for it on the same grid for its render and its dose spread."""
    key = (probe, n, float(sampling))
    p = _INTENSITIES.get(key)
    if p is None:
        if len(_INTENSITIES) >= 8:
            _INTENSITIES.pop(next(iter(_INTENSITIES)))
        p = probe.intensity(n, sampling)
        p.flags.writeable = False
        _INTENSITIES[key] = p
    return p


def _grid_args(n, sampling) -> tuple[int, float]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 8:
        raise ConfigurationError(f"probe grid size {n!r} must be an integer >= 8")
    sampling = float(sampling)
    if not (sampling > 0.0 and math.isfinite(sampling)):
        raise ConfigurationError(f"probe sampling {sampling!r} Å must be positive")
    return int(n), sampling


def fwhm(intensity: np.ndarray, sampling: float) -> float:
    """Full width at half maximum (Å) of a 2-D spot: the diameter of the circle whose area
    equals the area above half the maximum (exact for a round spot)."""
    area = np.count_nonzero(intensity >= 0.5 * intensity.max()) * sampling**2
    return 2.0 * math.sqrt(area / math.pi)


def d50(intensity: np.ndarray, sampling: float) -> float:
    """Diameter (Å) of the circle about the intensity centroid holding half of the current."""
    n0, n1 = intensity.shape
    y, x = np.mgrid[0:n0, 0:n1].astype(float)
    w = intensity / intensity.sum()
    cx, cy = (w * x).sum(), (w * y).sum()
    r = np.hypot(x - cx, y - cy).ravel()
    order = np.argsort(r)
    cum = np.cumsum(w.ravel()[order])
    return 2.0 * float(r[order][np.searchsorted(cum, 0.5)]) * sampling
