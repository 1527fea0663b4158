"""What every STEM sample is: atom columns ``(x, y, Z, n)``, a background and local spectra.

Units: positions in Å, sample coordinates centred on the sample (``x, y`` in
``[-width/2, width/2]``), energies in eV, cross sections in Å².
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from autoscope.devices.twin.fields import SmoothField
from autoscope.errors import ConfigurationError

#: Areal density of amorphous carbon per Å of thickness (2 g/cm³: 0.1 atoms/Å³).
AMORPHOUS_C_DENSITY = 0.1
#: Inelastic mean free path (Å) of amorphous carbon at 60–300 kV (order of magnitude).
AMORPHOUS_MFP = 1500.0


@dataclass
class Atoms:
    """Atom columns: position (Å), atomic number, atoms in the column, a stable id.

    A single-layer sample has ``n == 1``; a nanoparticle column seen end-on holds
    ``n`` atoms. Damage edits these arrays in place (through :meth:`remove` and the
    like), so an atom keeps its ``id`` when it hops.
    """

    x: np.ndarray
    y: np.ndarray
    Z: np.ndarray
    n: np.ndarray = None
    id: np.ndarray = None

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, float).copy()
        self.y = np.asarray(self.y, float).copy()
        self.Z = np.asarray(self.Z, int).copy()
        self.n = np.ones(self.x.size, int) if self.n is None else np.asarray(self.n, int).copy()
        self.id = np.arange(self.x.size) if self.id is None else np.asarray(self.id, int).copy()
        if not (self.x.shape == self.y.shape == self.Z.shape == self.n.shape == self.id.shape):
            raise ConfigurationError(
                f"atom arrays differ in shape: x {self.x.shape}, Z {self.Z.shape}"
            )

    def __len__(self) -> int:
        return int(self.x.size)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the columns where ``mask`` is true."""
        for name in ("x", "y", "Z", "n", "id"):
            setattr(self, name, getattr(self, name)[mask])

    def copy(self) -> Atoms:
        return Atoms(self.x, self.y, self.Z, self.n, self.id)

    def near(self, x: float, y: float, radius: float) -> np.ndarray:
        """Indices of columns within ``radius`` Å of ``(x, y)``."""
        return np.flatnonzero((self.x - x) ** 2 + (self.y - y) ** 2 <= radius**2)


@dataclass(frozen=True)
class Edge:
    """A core-loss edge in a local spectrum: onset (eV), strength (atoms/Å² x relative cross
    section), shape: ``"K"`` (sawtooth) or ``"L23"`` (white lines at onset and onset + split),
    optional pre-peak (eV below onset is negative offset) with relative height, and an
    optional crystal-field splitting (eV) of each white line into t2g and eg (a transition
    metal in an octahedron: Ti⁴⁺ in SrTiO3 2.2 eV)."""

    element: str
    onset: float
    strength: float
    shape: str = "K"
    split: float = 0.0
    prepeak: float = 0.0
    prepeak_height: float = 0.0
    crystal_field: float = 0.0


@dataclass(frozen=True)
class Peak:
    """A low-loss peak (plasmon, surface plasmon): energy (eV), FWHM (eV), strength
    (fraction of the beam it scatters)."""

    kind: str
    energy: float
    width: float
    strength: float


@dataclass
class LocalSpectrum:
    """What the sample gives the spectrometer at one probe position."""

    thickness_mfp: float  # t/λ, thickness in inelastic mean free paths
    peaks: list[Peak] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


@dataclass
class LocalSpectra:
    """Local spectra of many probe positions by column: the same peaks and edges at every
    position, each with its strength per position (``(positions,)`` arrays; a peak's or
    edge's own ``strength`` is unused). A sample that computes its spectra together hands
    this to :func:`~autoscope.devices.twin.stem.eels.acquire_many` without making a
    :class:`LocalSpectrum` per position; :meth:`spectrum` is that position's
    :class:`LocalSpectrum` (every peak; the edges of nonzero strength)."""

    thickness_mfp: np.ndarray
    peaks: list[tuple[Peak, np.ndarray]] = field(default_factory=list)
    edges: list[tuple[Edge, np.ndarray]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(np.size(self.thickness_mfp))

    def spectrum(self, j: int) -> LocalSpectrum:
        return LocalSpectrum(
            thickness_mfp=float(self.thickness_mfp[j]),
            peaks=[Peak(p.kind, p.energy, p.width, float(s[j])) for p, s in self.peaks],
            edges=[
                Edge(
                    e.element,
                    e.onset,
                    float(s[j]),
                    e.shape,
                    e.split,
                    e.prepeak,
                    e.prepeak_height,
                    e.crystal_field,
                )
                for e, s in self.edges
                if s[j]
            ],
        )


class STEMSample(ABC):
    """Base class: atoms, an amorphous background, local spectra, hidden maps.

    Subclasses set ``atoms``, ``width``/``height`` (Å), ``amorphous_thickness`` (Å of
    amorphous carbon, a pure function of position), and implement
    :meth:`local_spectrum` and :meth:`truth_maps`.

    ``displacement_threshold(atoms)`` gives each column's knock-on threshold (eV);
    ``radiolysis`` maps Z to a radiolysis cross section (Å² at 200 kV);
    ``dopants`` lists the Z of atoms that the beam can make hop (with their cross section).

    ``kv`` is the beam energy the sample is meant for (the twin's default). ``saturating``
    says how the annular detectors see it: ``False`` (a monolayer) keeps the single-scattering
    sum ``f = Σ σ_j P``; ``True`` (a crystal or particle many atoms thick) uses
    ``1 - exp(-f)``, so a column never sends more than the whole beam to a detector.
    """

    name = "sample"
    kv = 60.0
    saturating = False
    dopant_hop_barn: dict[int, float] = {}
    radiolysis_barn: dict[int, float] = {}

    def __init__(self, seed: int, width: float, height: float) -> None:
        if not (width > 0 and height > 0):
            raise ConfigurationError(f"sample size {width!r} x {height!r} Å must be positive")
        self.seed = int(seed)
        self.width = float(width)
        self.height = float(height)
        self._amorphous = SmoothField((self.seed, 901), length=40.0)
        self._speckle = SmoothField((self.seed, 902), length=1.5, modes=96)
        self.amorphous_mean = 0.0  # Å of amorphous carbon
        self.amorphous_rms = 0.0
        self.atoms: Atoms = Atoms([], [], [])

    def amorphous_density(self, x, y) -> np.ndarray:
        """Areal density (C atoms/Å²) of the amorphous support at ``(x, y)`` Å, with a grainy
        fine structure (1.5 Å) on a slow thickness variation (40 Å)."""
        if self.amorphous_mean == 0.0:
            return np.zeros(np.broadcast(x, y).shape)
        t = self.amorphous_mean + self.amorphous_rms * self._amorphous(x, y)
        grain = 1.0 + 0.35 * self._speckle(x, y)
        return np.clip(t, 0.0, None) * AMORPHOUS_C_DENSITY * np.clip(grain, 0.0, None)

    def amorphous_density_grid(self, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
        """:meth:`amorphous_density` on the grid ``gx`` (columns) x ``gy`` (rows), shape
        ``(gy.size, gx.size)``; the same values, summed as a separable matrix product
        (``cos(k·r + φ) = Re e^{i kx x} e^{i (ky y + φ)}``) instead of one cosine per
        pixel and mode."""
        gx, gy = np.asarray(gx, float), np.asarray(gy, float)
        if self.amorphous_mean == 0.0:
            return np.zeros((gy.size, gx.size))
        t = self.amorphous_mean + self.amorphous_rms * field_on_grid(self._amorphous, gx, gy)
        grain = 1.0 + 0.35 * field_on_grid(self._speckle, gx, gy)
        return np.clip(t, 0.0, None) * AMORPHOUS_C_DENSITY * np.clip(grain, 0.0, None)

    def displacement_threshold(self) -> np.ndarray:
        """Knock-on displacement threshold (eV) of every column; default 1e9 (never)."""
        return np.full(len(self.atoms), 1e9)

    @abstractmethod
    def local_spectrum(self, x: float, y: float, kv: float | None = None) -> LocalSpectrum:
        """Peaks and edges the spectrometer sees with the probe at ``(x, y)`` Å and a beam of
        ``kv`` kV (default: the sample's ``kv``)."""

    def local_spectra(self, x, y, kv: float | None = None) -> list[LocalSpectrum]:
        """:meth:`local_spectrum` at each of the positions ``x, y`` (Å, 1-D); a sample may
        compute them together."""
        return [self.local_spectrum(float(a), float(b), kv) for a, b in zip(x, y)]

    @abstractmethod
    def truth_maps(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Hidden maps at positions ``x, y`` (Å): subclasses say which."""

    def local_density(self, x: float, y: float, radius: float) -> dict[int, float]:
        """Atoms per Å² of each Z within a Gaussian footprint of ``radius`` Å at ``(x, y)``."""
        a = self.atoms
        d2 = (a.x - x) ** 2 + (a.y - y) ** 2
        m = np.flatnonzero(d2 < (4 * radius) ** 2)
        if not m.size:
            return {}
        w = a.n[m] * np.exp(-d2[m] / (2 * radius**2)) / (2 * np.pi * radius**2)
        zm = a.Z[m]
        if (zm == zm[0]).all():  # one element under the footprint (the usual case)
            return {int(zm[0]): float(w.sum())}
        out: dict[int, float] = {}
        for z in np.unique(zm):
            out[int(z)] = float(w[zm == z].sum())
        return out


def local_densities(sample: STEMSample, x, y, radius: float) -> list[dict[int, float]]:
    """:meth:`STEMSample.local_density` at each position ``x[j], y[j]`` (Å), the same values
    bit for bit: each position's candidates come from a window of the atoms sorted by x, and
    are taken in the atoms' own order, so every sum adds the same terms in the same order."""
    a = sample.atoms
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    order = np.argsort(a.x, kind="stable")
    xs = a.x[order]
    reach = 4 * radius
    pad = reach * (1 + 1e-9) + 1e-9  # a window a hair wider: the exact test is below
    lo = np.searchsorted(xs, x - pad, side="left")
    hi = np.searchsorted(xs, x + pad, side="right")
    out = []
    for j in range(x.size):
        cand = np.sort(order[lo[j] : hi[j]])
        d2 = (a.x[cand] - x[j]) ** 2 + (a.y[cand] - y[j]) ** 2
        m = cand[d2 < reach**2]
        if not m.size:
            out.append({})
            continue
        d2m = d2[d2 < reach**2]
        w = a.n[m] * np.exp(-d2m / (2 * radius**2)) / (2 * np.pi * radius**2)
        zm = a.Z[m]
        if (zm == zm[0]).all():
            out.append({int(zm[0]): float(w.sum())})
            continue
        dens: dict[int, float] = {}
        for z in np.unique(zm):
            dens[int(z)] = float(w[zm == z].sum())
        out.append(dens)
    return out


def field_on_grid(f: SmoothField, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """A :class:`SmoothField` on the grid ``gx`` x ``gy`` (rows = y), by one matrix product."""
    ex = np.exp(1j * np.outer(gx, f.k[:, 0]))  # (nx, modes)
    ey = np.exp(1j * (np.outer(gy, f.k[:, 1]) + f.phase))  # (ny, modes)
    return (ey @ ex.T).real * f.norm
