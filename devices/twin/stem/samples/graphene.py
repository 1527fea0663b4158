"""Monolayer graphene with vacancies, Si and N dopants, a hole with edges, at 60 kV.

Hidden part: each Si dopant is three- or fourfold coordinated (a Si in a single or a
double vacancy) — the same bright column in HAADF, but a Si L2,3 onset of 99.5 eV or
101.0 eV; and a smooth doping field (σ 0.25 eV, 30 Å) shifts the C K onset, invisible in
the image.
"""

from __future__ import annotations

import numpy as np

from autoscope.devices.twin.fields import SmoothField
from autoscope.devices.twin.stem.samples.base import (
    AMORPHOUS_C_DENSITY,
    AMORPHOUS_MFP,
    Atoms,
    Edge,
    LocalSpectrum,
    Peak,
    STEMSample,
    local_densities,
)

CC_BOND = 1.42  # Å
SI_ONSET = {3: 99.5, 4: 101.0}  # eV, Si L2,3 by coordination


class Graphene(STEMSample):
    """Graphene flake of ``width x height`` Å with a hole of radius ``hole_radius`` Å.

    Parameters
    ----------
    seed : int
    width, height : float
        Size, Å (default 100 x 100, about 3,800 atoms).
    vacancy_fraction, si_fraction, n_fraction : float
        Fractions of lattice sites left empty, taken by Si, taken by N.
    hole_radius : float
        Radius (Å) of a hole whose rim gives edge atoms; 0 for none.
    amorphous : float
        Mean thickness (Å) of amorphous carbon contamination already on the sheet.
    """

    name = "graphene"
    #: beam-driven Si hop (bond inversion) cross section at 60 kV, barn
    dopant_hop_barn = {14: 0.03}

    def __init__(
        self,
        seed: int = 0,
        width: float = 100.0,
        height: float = 100.0,
        vacancy_fraction: float = 0.002,
        si_fraction: float = 0.002,
        n_fraction: float = 0.003,
        hole_radius: float = 12.0,
        amorphous: float = 0.0,
    ) -> None:
        super().__init__(seed, width, height)
        rng = np.random.default_rng((self.seed, 1))
        a = CC_BOND * np.sqrt(3.0)
        a1 = np.array([a, 0.0])
        a2 = np.array([a / 2, a * np.sqrt(3) / 2])
        basis = np.array([[0.0, 0.0], [0.0, CC_BOND]])
        ni = int(width / a) + int(height / a2[1]) + 4
        nj = int(height / a2[1]) + 4
        i, j = np.meshgrid(np.arange(-ni, ni), np.arange(-nj // 2 - 1, nj // 2 + 2))
        cells = i.ravel()[:, None] * a1 + j.ravel()[:, None] * a2
        xy = (cells[:, None, :] + basis[None]).reshape(-1, 2)
        inside = (np.abs(xy[:, 0]) < width / 2) & (np.abs(xy[:, 1]) < height / 2)
        xy = xy[inside]
        if hole_radius > 0:
            c = rng.uniform(-0.25, 0.25, 2) * [width, height]
            rr = hole_radius * (1 + 0.25 * np.cos(3 * np.arctan2(xy[:, 1] - c[1], xy[:, 0] - c[0])))
            xy = xy[np.hypot(*(xy - c).T) > rr]
            self.hole_center = tuple(c)
        else:
            self.hole_center = None
        z = np.full(len(xy), 6)
        u = rng.random(len(xy))
        keep = u >= vacancy_fraction
        z[(u >= vacancy_fraction) & (u < vacancy_fraction + si_fraction)] = 14
        lo = vacancy_fraction + si_fraction
        z[(u >= lo) & (u < lo + n_fraction)] = 7
        xy, z = xy[keep], z[keep]
        self.atoms = Atoms(xy[:, 0], xy[:, 1], z)
        self._prune_dangling()
        si = np.flatnonzero(self.atoms.Z == 14)
        #: hidden: coordination (3 or 4) of each Si, by atom id
        self.si_coordination = {
            int(self.atoms.id[k]): int(c)
            for k, c in zip(si, rng.choice([3, 4], si.size, p=[0.7, 0.3]))
        }
        self._doping = SmoothField((self.seed, 2), length=30.0)
        self.amorphous_mean = float(amorphous)
        self.amorphous_rms = 0.4 * float(amorphous)

    def _prune_dangling(self) -> None:
        """Remove atoms with fewer than two neighbours (they would not stay)."""
        for _ in range(3):
            nb = self.neighbour_count()
            if np.all(nb >= 2):
                return
            self.atoms.keep(nb >= 2)

    def neighbour_count(self) -> np.ndarray:
        """Number of neighbours within 1.2 x the C–C bond of each atom."""
        a = self.atoms
        nb = np.zeros(len(a), int)
        order = np.argsort(a.x)
        xs = a.x[order]
        r = 1.2 * CC_BOND
        lo = np.searchsorted(xs, xs - r)
        hi = np.searchsorted(xs, xs + r)
        for k in range(len(a)):
            idx = order[lo[k] : hi[k]]
            i = order[k]
            d2 = (a.x[idx] - a.x[i]) ** 2 + (a.y[idx] - a.y[i]) ** 2
            nb[i] = np.count_nonzero(d2 < r**2) - 1
        return nb

    def displacement_threshold(self) -> np.ndarray:
        """21.1 eV for C in the sheet, 15 eV for a C with a Si or N neighbour or at an edge
        (fewer than three neighbours), 30 eV for Si and N (heavier, bound in the lattice)."""
        a = self.atoms
        nb = self.neighbour_count()
        t = np.where(a.Z == 6, 21.1, 30.0)
        hetero = np.flatnonzero(a.Z != 6)
        for k in hetero:
            t[a.near(a.x[k], a.y[k], 1.2 * CC_BOND)] = np.minimum(
                t[a.near(a.x[k], a.y[k], 1.2 * CC_BOND)], 15.0
            )
        t[(a.Z == 6) & (nb < 3)] = 15.0
        t[hetero] = 30.0
        return t

    def c_k_shift(self, x, y) -> np.ndarray:
        """Hidden C K onset shift (eV) from the doping field."""
        return 0.25 * self._doping(x, y)

    def local_spectrum(self, x: float, y: float, kv: float | None = None) -> LocalSpectrum:
        """Graphene π (4.7 eV) and π+σ (14.6 eV) plasmons, C K with its π* pre-peak and the
        hidden shift, N K, Si L2,3 at the hidden coordination's onset (``kv`` unused)."""
        return self._spectrum(
            x,
            y,
            self.local_density(x, y, 1.0),
            self.local_density(x, y, 6.0),  # low-loss is delocalised
            float(self.amorphous_density(x, y)),
            lambda: float(self.c_k_shift(x, y)),
        )

    def local_spectra(self, x, y, kv: float | None = None) -> list[LocalSpectrum]:
        """:meth:`local_spectrum` at many positions: the footprints' densities, the carbon
        film and the C K shifts of all of them computed together (the same spectra, test)."""
        x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
        dens = local_densities(self, x, y, 1.0)
        wide = local_densities(self, x, y, 6.0)
        amorph = np.asarray(self.amorphous_density(x, y), float)
        shift = np.asarray(self.c_k_shift(x, y), float)
        return [
            self._spectrum(
                float(x[j]),
                float(y[j]),
                dens[j],
                wide[j],
                float(amorph[j]),
                lambda j=j: float(shift[j]),
            )
            for j in range(x.size)
        ]

    def _spectrum(self, x, y, dens, wide, amorph, shift) -> LocalSpectrum:
        c_wide = wide.get(6, 0.0) + wide.get(7, 0.0) + wide.get(14, 0.0)
        sheet = c_wide / 0.38  # 0.38 atoms/Å² in a full sheet
        peaks = [
            Peak("pi", 4.7, 1.5, 0.012 * sheet),
            Peak("pi+sigma", 14.6, 6.0, 0.035 * sheet),
            Peak("bulk", 24.0, 10.0, amorph / AMORPHOUS_C_DENSITY / AMORPHOUS_MFP),
        ]
        edges = []
        c = dens.get(6, 0.0) + amorph
        if c > 0:
            edges.append(Edge("C", 284.0 + shift(), c, "K", prepeak=1.5, prepeak_height=0.6))
        if dens.get(7, 0.0) > 0:
            edges.append(Edge("N", 401.0, dens[7], "K", prepeak=-2.0, prepeak_height=0.5))
        si_w = self._si_weights(x, y, 1.0)
        for coord, w in si_w.items():
            edges.append(Edge("Si", SI_ONSET[coord], w, "L23", split=0.6))
        return LocalSpectrum(thickness_mfp=_thickness(wide, amorph), peaks=peaks, edges=edges)

    def thickness_mfp(self, x: float, y: float) -> float:
        """t/λ: a sheet is 0.003 of a mean free path, amorphous carbon 1 per 1,500 Å."""
        return _thickness(self.local_density(x, y, 6.0), float(self.amorphous_density(x, y)))

    def _si_weights(self, x: float, y: float, radius: float) -> dict[int, float]:
        a = self.atoms
        out: dict[int, float] = {}
        for k in np.flatnonzero(a.Z == 14):
            d2 = (a.x[k] - x) ** 2 + (a.y[k] - y) ** 2
            w = np.exp(-d2 / (2 * radius**2)) / (2 * np.pi * radius**2)
            if w > 1e-6:
                c = self.si_coordination.get(int(a.id[k]), 3)
                out[c] = out.get(c, 0.0) + float(w)
        return out

    def truth_maps(self, x, y) -> dict[str, np.ndarray]:
        """``c_k_shift`` (eV, hidden doping field) and ``si_coordination`` (0 where no Si
        within 1 Å, else 3 or 4)."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        coord = np.zeros(x.shape)
        a = self.atoms
        for k in np.flatnonzero(a.Z == 14):
            near = (x - a.x[k]) ** 2 + (y - a.y[k]) ** 2 < 1.0
            coord[near] = self.si_coordination.get(int(a.id[k]), 3)
        return {"c_k_shift": self.c_k_shift(x, y), "si_coordination": coord}


def _thickness(wide: dict[int, float], amorph: float) -> float:
    """t/λ from the atoms per Å² in a 6 Å footprint and the amorphous C atoms per Å²."""
    sheet = sum(wide.values()) / 0.38
    return 0.003 * sheet + amorph / AMORPHOUS_C_DENSITY / AMORPHOUS_MFP
