"""LaAlO3 on SrTiO3, seen along [001], with oxygen vacancies in the SrTiO3 near the interface.

**Structure (seen).** A coherent perovskite bilayer on the SrTiO3 lattice (``a`` 3.905 Å;
the LaAlO3 film strained to it), the interface a horizontal line at a seeded height. Atom
columns along [001] of a lamella ``thickness`` Å thick (default 100 Å, 26 cells): A site
(Sr or La), B site (a mixed column: Ti + O or Al + O, two entries at one position), and the
two pure O columns per cell, each holding ``thickness / a`` atoms. The sample is seen as a
thick crystal (``saturating``): the Sr/Ti-O peak ratio is about 1.3, La brighter than Sr.

**Oxygen vacancies (hidden).** A vacancy density ``δ(r)`` (missing O per formula unit) in
the SrTiO3 only: ``δ = δ_b + δ_i exp(-d / λ) (1 + 0.6 F(x)) + 0.02 max(G(r), 0)``, with
``d`` the distance below the interface, ``δ_b = 0.005``, ``δ_i = 0.12``, ``λ = 25 Å``,
``F`` (40 Å) a lateral modulation and ``G`` (30 Å) vacancy-rich patches. Each O column
holds ``Binomial(n, 1 - δ)`` atoms. Oxygen scatters so weakly (Z = 8 against 38 and 22)
that the HAADF image does not show ``δ``; the core-loss fine structure does:

- each vacancy leaves two electrons on Ti: the Ti³⁺ fraction is ``x = min(2 δ, 1)``;
- the Ti L2,3 edge (456 eV, spin-orbit 5.6 eV) shifts down by ``1.8 x`` eV (Ti³⁺ lies about
  1.8 eV below Ti⁴⁺) and its crystal-field splitting shrinks from 2.2 eV as ``2.2 (1 -
  0.4 x)`` (a single shifted edge, the mean valence; a Ti³⁺/Ti⁴⁺ superposition would be
  closer to real spectra);
- the O K pre-peak (1 eV below the 532 eV onset, O 2p – Ti 3d t2g) falls as ``0.8 (1 -
  x)`` times the Ti share of the B sites nearby (none in LaAlO3).

The truth maps give ``δ``, ``x``, the Ti L2,3 onset (NaN where there is no Ti) and the
pre-peak height. Low loss: a bulk plasmon at 28 eV (SrTiO3) or 26 eV (LaAlO3) by
``t / λ`` (λ = 1,100 Å at 200 kV), and Sr M4,5 (133 eV), Al L2,3 (73 eV), La M4,5 (832 eV).
"""

from __future__ import annotations

import numpy as np

from autoscope.devices.twin.fields import SmoothField
from autoscope.devices.twin.stem.samples.base import (
    Atoms,
    Edge,
    LocalSpectrum,
    Peak,
    STEMSample,
    local_densities,
)
from autoscope.errors import ConfigurationError

A_STO = 3.905  # Å
TI_ONSET = 456.0  # eV, Ti⁴⁺ L3
TI3_SHIFT = 1.8  # eV, Ti³⁺ below Ti⁴⁺
CF_TI4 = 2.2  # eV
MFP = 1100.0  # Å, inelastic mean free path in the perovskites at 200 kV
Z = {"Sr": 38, "Ti": 22, "O": 8, "La": 57, "Al": 13}


class Oxide(STEMSample):
    """LaAlO3/SrTiO3 [001] with oxygen vacancies (see the module docstring).

    Parameters
    ----------
    seed : int
    width, height : float
        Size, Å (default 200 x 200).
    thickness : float
        Lamella thickness, Å.
    interface_vacancies, decay : float
        ``δ_i`` (missing O per formula unit at the interface) and its decay length λ (Å).
    """

    name = "oxide"
    kv = 200.0
    saturating = True

    def __init__(
        self,
        seed: int = 0,
        width: float = 200.0,
        height: float = 200.0,
        thickness: float = 100.0,
        interface_vacancies: float = 0.12,
        decay: float = 25.0,
    ) -> None:
        super().__init__(seed, width, height)
        if not thickness >= A_STO:
            raise ConfigurationError(f"oxide thickness {thickness!r} Å must be >= {A_STO} Å")
        if not 0.0 <= interface_vacancies <= 0.5:
            raise ConfigurationError(
                f"interface vacancy density {interface_vacancies!r} must be in [0, 0.5]"
            )
        if not decay > 0:
            raise ConfigurationError(f"vacancy decay length {decay!r} Å must be positive")
        rng = np.random.default_rng((self.seed, 21))
        self.thickness = float(thickness)
        self.delta_b, self.delta_i, self.decay = 0.005, float(interface_vacancies), float(decay)
        self._lateral = SmoothField((self.seed, 22), length=40.0)
        self._patches = SmoothField((self.seed, 23), length=30.0)
        # interface on a B-O plane between two cells, a few cells above or below the centre
        self.interface_y = (int(rng.integers(-3, 4)) + 0.5) * A_STO
        self.atoms = self._columns(rng)

    def _columns(self, rng: np.random.Generator) -> Atoms:
        a = A_STO
        n = int(round(self.thickness / a))
        i = np.arange(-int(self.width / (2 * a)) - 1, int(self.width / (2 * a)) + 2)
        j = np.arange(-int(self.height / (2 * a)) - 1, int(self.height / (2 * a)) + 2)
        ii, jj = np.meshgrid(i, j)
        cx, cy = (ii * a).ravel(), (jj * a).ravel()
        film = cy > self.interface_y
        xs, ys, zs, ns = [], [], [], []

        def add(x, y, z, count):
            keep = (np.abs(x) <= self.width / 2) & (np.abs(y) <= self.height / 2)
            xs.append(x[keep])
            ys.append(y[keep])
            zs.append(np.broadcast_to(z, x.shape)[keep])
            ns.append(np.broadcast_to(count, x.shape)[keep])

        full = np.full(cx.shape, n)
        add(cx, cy, np.where(film, Z["La"], Z["Sr"]), full)  # A site
        bx, by = cx + a / 2, cy + a / 2
        add(bx, by, np.where(by > self.interface_y, Z["Al"], Z["Ti"]), full)  # B site
        for ox, oy in ((bx, by), (cx + a / 2, cy), (cx, cy + a / 2)):  # O in B-O, then O2
            delta = self.vacancy_density(ox, oy)
            add(ox, oy, Z["O"], rng.binomial(n, 1.0 - delta))
        x, y, z, count = (np.concatenate(v) for v in (xs, ys, zs, ns))
        keep = count > 0
        return Atoms(x[keep], y[keep], z[keep], count[keep])

    # -- hidden fields -------------------------------------------------------------------
    def vacancy_density(self, x, y) -> np.ndarray:
        """``δ`` (missing O per formula unit) at ``(x, y)`` Å; 0 in the LaAlO3 film."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        d = self.interface_y - y
        near = self.delta_i * np.exp(-np.clip(d, 0.0, None) / self.decay)
        near = near * np.clip(1.0 + 0.6 * self._lateral(x, np.zeros_like(x)), 0.0, None)
        patches = 0.02 * np.clip(self._patches(x, y), 0.0, None)
        return np.where(d > 0, self.delta_b + near + patches, 0.0)

    def ti3_fraction(self, x, y) -> np.ndarray:
        """Ti³⁺ share ``x = min(2 δ, 1)``."""
        return np.minimum(2.0 * self.vacancy_density(x, y), 1.0)

    def ti_onset(self, x, y) -> np.ndarray:
        """Ti L2,3 onset (eV) of the local mean valence."""
        return TI_ONSET - TI3_SHIFT * self.ti3_fraction(x, y)

    def truth_maps(self, x, y) -> dict[str, np.ndarray]:
        """``vacancy_density`` (δ), ``ti3_fraction``, ``ti_l_onset`` (eV; NaN in LaAlO3),
        ``o_k_prepeak`` (relative pre-peak height)."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        frac = self.ti3_fraction(x, y)
        sto = y < self.interface_y
        return {
            "vacancy_density": self.vacancy_density(x, y),
            "ti3_fraction": frac,
            "ti_l_onset": np.where(sto, TI_ONSET - TI3_SHIFT * frac, np.nan),
            "o_k_prepeak": np.where(sto, 0.8 * (1.0 - frac), 0.0),
        }

    # -- spectra -------------------------------------------------------------------------
    def local_spectrum(self, x: float, y: float, kv: float | None = None) -> LocalSpectrum:
        """Edges of the atoms within a 1.5 Å footprint; the fine structure follows the local
        ``δ`` (``kv`` unused: the model's edges do not depend on it)."""
        return self._spectrum(x, y, self.local_density(x, y, 1.5), float(self.ti3_fraction(x, y)))

    def local_spectra(self, x, y, kv: float | None = None) -> list[LocalSpectrum]:
        """:meth:`local_spectrum` at many positions: the footprints' densities and the Ti³⁺
        shares of all of them computed together (the same spectra, test)."""
        x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
        dens = local_densities(self, x, y, 1.5)
        frac = self.ti3_fraction(x, y)
        return [
            self._spectrum(float(x[j]), float(y[j]), dens[j], float(frac[j])) for j in range(x.size)
        ]

    def _spectrum(self, x: float, y: float, dens: dict, frac: float) -> LocalSpectrum:
        ti, al = dens.get(Z["Ti"], 0.0), dens.get(Z["Al"], 0.0)
        edges = []
        if dens.get(Z["Sr"], 0.0):
            edges.append(Edge("Sr", 133.0, dens[Z["Sr"]], "K"))
        if al:
            edges.append(Edge("Al", 73.0, al, "K"))
        if ti:
            edges.append(
                Edge(
                    "Ti",
                    TI_ONSET - TI3_SHIFT * frac,
                    ti,
                    "L23",
                    split=5.6,
                    crystal_field=CF_TI4 * (1.0 - 0.4 * frac),
                )
            )
        if dens.get(Z["O"], 0.0):
            share = ti / (ti + al) if ti + al > 0 else 0.0
            edges.append(
                Edge(
                    "O",
                    532.0,
                    dens[Z["O"]],
                    "K",
                    prepeak=-1.0,
                    prepeak_height=0.8 * (1.0 - frac) * share,
                )
            )
        if dens.get(Z["La"], 0.0):
            edges.append(Edge("La", 832.0, dens[Z["La"]], "L23", split=17.0))
        t = self.thickness / MFP
        e_p = 26.0 if y > self.interface_y else 28.0
        return LocalSpectrum(thickness_mfp=t, peaks=[Peak("bulk", e_p, 12.0, t)], edges=edges)
