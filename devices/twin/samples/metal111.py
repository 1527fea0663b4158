"""Close-packed (111) metal surfaces without reconstruction: Cu(111) and Ag(111).

Geometry (nm): a hexagonal lattice (Cu a = 0.2556, Ag a = 0.2889) whose
atoms a sharp tip resolves with a few pm of corrugation; monatomic steps
(Cu 0.208, Ag 0.236 nm) on meandering terraces; monolayer islands (adatom
islands one step high) and single adsorbates. The Shockley surface state
(band bottom Cu -0.44 eV, Ag -0.065 eV) scatters at steps and islands: the
constant-current image shows its standing waves as ripples parallel to every
step edge, of period ``pi / k(E)``, decaying away from the edge (Crommie,
Lutz & Eigler 1993; Hasegawa & Avouris 1993). Unlike Au(111), no herringbone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from autoscope.devices.twin.fields import CellScatter, SmoothField
from autoscope.devices.twin.samples.base import (
    Sample,
    attenuation,
    check_positive,
    gaussian_features,
    smooth_floor,
)
from autoscope.errors import ConfigurationError

K_FREE = 5.1231  # nm^-1 per sqrt(eV * m*/m_e)

METALS = {
    # lattice (nm), step height (nm), surface-state onset (eV), effective mass (m_e)
    "cu111": (0.2556, 0.208, -0.44, 0.42),
    "ag111": (0.2889, 0.236, -0.065, 0.40),
}
"""Constants of each metal: lattice constant, step height, surface-state onset, mass."""


def hexagonal_waves(x, y, a: float, angle: float = 0.0) -> np.ndarray:
    """Sum of the three first-shell plane waves of a hexagonal lattice of constant ``a`` (nm).

    Maxima (value 3) on the lattice sites; rows ``sqrt(3)/2 a`` apart; ``angle`` (deg)
    turns the lattice.
    """
    k = 4 * np.pi / (np.sqrt(3) * a)
    z = np.zeros(np.shape(x))
    for ang in (90.0, 210.0, 330.0):
        t = np.deg2rad(ang + angle)
        z = z + np.cos(k * (x * np.cos(t) + y * np.sin(t)))
    return z


@dataclass
class Metal111(Sample):
    """Cu(111) or Ag(111): atoms, steps, monolayer islands, adsorbates, standing waves.

    Parameters
    ----------
    seed : int
        Seed of steps, islands and adsorbates.
    metal : str
        ``"cu111"`` or ``"ag111"`` (:data:`METALS`).
    terrace_width : float
        Mean terrace width, nm.
    island_density : float
        Monolayer islands per 100 nm^2 (radius 1.5-12 nm, one step high).
    adatom_density : float
        Single adsorbates per nm^2.
    atomic_amplitude : float
        Amplitude (nm) of each of the lattice's three plane waves before the
        tip's blur (attenuated steeply by a blunt tip).
    wave_amplitude : float
        Height (nm) of the first standing-wave ripple next to a step edge.
    """

    seed: int = 0
    metal: str = "cu111"
    terrace_width: float = 40.0
    step_angle: float = 20.0
    island_density: float = 0.05
    adatom_density: float = 0.003
    atomic_amplitude: float = 0.03
    wave_amplitude: float = 0.004

    mode = "stm"
    default_extent = 50.0

    def __post_init__(self) -> None:
        if self.metal not in METALS:
            raise ConfigurationError(f"unknown metal {self.metal!r}; choose one of {list(METALS)}")
        check_positive("terrace_width", self.terrace_width)
        for name in ("island_density", "adatom_density"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigurationError(f"sample parameter {name}={value!r} must be >= 0")
        self.name = self.metal
        self.lattice, self.step_height, self.ss_onset, self.effective_mass = METALS[self.metal]
        self._meander = SmoothField((self.seed, 41), 12.0, modes=24)
        self._islands = CellScatter(self.seed, 40.0, self._draw_islands, tag=7)
        self._ads = CellScatter(self.seed, 20.0, self._draw_adsorbates, tag=8)
        a = np.deg2rad(self.step_angle)
        self._step_dir = (np.cos(a), np.sin(a))
        self._lattice_angle = float(np.random.default_rng((self.seed, 42)).uniform(0, 60))

    def _draw_islands(self, rng, x0, y0, cell):
        n = rng.poisson(self.island_density / 100.0 * cell * cell)
        return {
            "x": x0 + rng.uniform(0, cell, n),
            "y": y0 + rng.uniform(0, cell, n),
            "r": np.exp(rng.uniform(np.log(1.5), np.log(12.0), n)),
        }

    def _draw_adsorbates(self, rng, x0, y0, cell):
        n = rng.poisson(self.adatom_density * cell * cell)
        return {"x": x0 + rng.uniform(0, cell, n), "y": y0 + rng.uniform(0, cell, n)}

    def _terrace_coord(self, x, y):
        s = x * self._step_dir[0] + y * self._step_dir[1] + 3.0 * self._meander(x, y)
        return s / self.terrace_width

    def k_surface(self, energy: float) -> float:
        """Surface-state wavevector (nm^-1) at ``energy`` (eV; 0 below the band bottom)."""
        return float(K_FREE * np.sqrt(max(self.effective_mass * (energy - self.ss_onset), 0.0)))

    def _island_distance(self, x, y, isl):
        """Signed distance (nm) to the nearest island edge (negative inside)."""
        r = np.hypot(x.reshape(-1, 1) - isl["x"], y.reshape(-1, 1) - isl["y"]) - isl["r"]
        return r.min(1).reshape(x.shape)

    def height(self, x, y, *, blur: float = 0.0, bias: float = -0.1, contrast: float = 1.0):
        """Constant-current apparent height (nm) at sample bias ``bias`` (V)."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        tc = self._terrace_coord(x, y)
        edge = np.hypot(0.25, blur)
        z = -self.step_height * smooth_floor(tc, edge / self.terrace_width)
        # distance to the nearest step edge (nm), for the standing waves
        d_edge = np.abs(tc - np.round(tc)) * self.terrace_width
        isl = self._islands.near(x, y, 14.0)
        if len(isl["x"]):
            d_isl = self._island_distance(x, y, isl)
            z = z + self.step_height * 0.5 * (1 - erf(d_isl / (np.sqrt(2) * edge)))
            d_edge = np.minimum(d_edge, np.abs(d_isl))
        k = 4 * np.pi / (np.sqrt(3) * self.lattice)
        z = z + self.atomic_amplitude * attenuation(k, blur) * hexagonal_waves(
            x, y, self.lattice, self._lattice_angle
        )
        # standing waves of the surface state at the imaging energy, parallel to edges
        kf = self.k_surface(bias if bias > self.ss_onset else 0.0)
        if kf > 0:
            ripple = np.cos(2 * kf * d_edge - np.pi / 4) / np.sqrt(1 + 2 * kf * d_edge)
            z = z + self.wave_amplitude * attenuation(2 * kf, blur) * ripple * np.exp(
                -d_edge / 10.0
            ) * (1 - np.exp(-d_edge / 0.3))
        ad = self._ads.near(x, y, 2.0 + 4 * blur)
        if len(ad["x"]):
            amp = np.full(len(ad["x"]), 0.08 * contrast)
            z = z + gaussian_features(x, y, ad["x"], ad["y"], amp, np.full(amp.shape, 0.3), blur)
        return z

    def ldos(self, x, y, energies, *, blur: float = 0.0) -> np.ndarray:
        """LDOS ``(P, N)``: flat sp band plus the surface-state step with step-edge waves."""
        x = np.atleast_1d(np.asarray(x, float)).ravel()
        y = np.atleast_1d(np.asarray(y, float)).ravel()
        e = np.asarray(energies, float)[None, :]
        step = 0.5 * (1 + erf((e - self.ss_onset) / (np.sqrt(2) * 0.012)))
        k = K_FREE * np.sqrt(np.maximum(self.effective_mass * (e - self.ss_onset), 0.0))
        d = self.truth_maps(x, y)["edge_distance"][:, None]
        mod = 1.0 - 0.5 * np.cos(2 * k * d - np.pi / 4) / np.sqrt(1 + 2 * k * d)
        return 0.6 + 0.8 * step * mod

    def truth_maps(self, x, y) -> dict[str, np.ndarray]:
        """Ground truth: distance (nm) to the nearest step or island edge."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        tc = self._terrace_coord(x, y)
        d = np.abs(tc - np.round(tc)) * self.terrace_width
        isl = self._islands.near(x, y, 14.0)
        if len(isl["x"]):
            d = np.minimum(d, np.abs(self._island_distance(x, y, isl)))
        return {"edge_distance": d}
