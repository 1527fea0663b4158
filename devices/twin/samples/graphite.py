"""Graphite (HOPG): the honeycomb lattice as STM sees it, with rare steps and point defects.

Geometry (nm): in-plane lattice a = 0.246 (C-C 0.142); layers 0.335 apart.
In AB-stacked graphite the two atoms of the cell differ: the beta atoms (no
neighbour directly below) carry the states near the Fermi level, so a sharp
tip images a *triangular* lattice of bright beta sites 0.246 nm apart, with
the alpha sites weaker (``alpha_weight`` of a beta site) rather than the full
honeycomb; blunter tips lose the asymmetry with the lattice. Corrugation is
large (0.05-0.2 nm with the tip close); terraces are hundreds of nm wide;
point defects are bright humps with a sqrt(3) x sqrt(3) R30 superstructure
around them (Mizes & Foster 1989).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoscope.devices.twin.fields import CellScatter, SmoothField
from autoscope.devices.twin.samples.base import (
    Sample,
    attenuation,
    check_positive,
    defect_distance,
    gaussian_features,
    smooth_floor,
)
from autoscope.errors import ConfigurationError

A_GRAPHITE = 0.246  # nm
STEP_GRAPHITE = 0.335  # nm
CC_BOND = A_GRAPHITE / np.sqrt(3)  # nm


def sublattice_waves(x, y, shift: tuple[float, float], angle: float) -> np.ndarray:
    """Three first-shell plane waves of the graphite lattice, maxima on the sites at ``shift``."""
    k = 4 * np.pi / (np.sqrt(3) * A_GRAPHITE)
    z = np.zeros(np.shape(x))
    for ang in (90.0, 210.0, 330.0):
        t = np.deg2rad(ang + angle)
        c, s = np.cos(t), np.sin(t)
        z = z + np.cos(k * ((x - shift[0]) * c + (y - shift[1]) * s))
    return z


@dataclass
class Graphite(Sample):
    """HOPG with the beta/alpha sublattice asymmetry, rare steps and point defects.

    Parameters
    ----------
    seed : int
        Seed of steps, defects and the lattice orientation.
    atomic_amplitude : float
        Amplitude (nm) of each plane wave of the beta sublattice before the tip's blur
        (a sharp 0.08 nm tip keeps 6 %: ~12 pm per wave, 60-70 pm peak to peak, the
        large corrugation of graphite; a blunt tip loses the lattice).
    alpha_weight : float
        Brightness of the alpha sites relative to the beta sites (0: a
        triangular lattice, 1: the full honeycomb).
    terrace_width : float
        Mean terrace width, nm.
    defect_density : float
        Point defects per nm^2.
    """

    seed: int = 0
    atomic_amplitude: float = 0.2
    alpha_weight: float = 0.25
    terrace_width: float = 250.0
    defect_density: float = 0.0015

    mode = "stm"
    name = "graphite"
    default_extent = 10.0

    def __post_init__(self) -> None:
        check_positive("terrace_width", self.terrace_width)
        check_positive("atomic_amplitude", self.atomic_amplitude)
        if not 0 <= self.alpha_weight <= 1:
            raise ConfigurationError(
                f"sample parameter alpha_weight={self.alpha_weight!r} must be in [0, 1]"
            )
        rng = np.random.default_rng((self.seed, 51))
        self._angle = float(rng.uniform(0, 60))
        t = np.deg2rad(self._angle + 90.0)
        # alpha site: one C-C bond from a beta site
        self._alpha_shift = (CC_BOND * np.cos(t), CC_BOND * np.sin(t))
        self._meander = SmoothField((self.seed, 52), 40.0, modes=24)
        self._defects = CellScatter(self.seed, 25.0, self._draw_defects, tag=9)
        a = np.deg2rad(float(rng.uniform(0, 180)))
        self._step_dir = (np.cos(a), np.sin(a))

    def _draw_defects(self, rng, x0, y0, cell):
        n = rng.poisson(self.defect_density * cell * cell)
        return {"x": x0 + rng.uniform(0, cell, n), "y": y0 + rng.uniform(0, cell, n)}

    def height(self, x, y, *, blur: float = 0.0, bias: float = -0.2, contrast: float = 1.0):
        """Constant-current apparent height (nm)."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        s = x * self._step_dir[0] + y * self._step_dir[1] + 6.0 * self._meander(x, y)
        edge = np.hypot(0.3, blur) / self.terrace_width
        z = -STEP_GRAPHITE * smooth_floor(s / self.terrace_width, edge)
        k = 4 * np.pi / (np.sqrt(3) * A_GRAPHITE)
        att = attenuation(k, blur)
        beta = sublattice_waves(x, y, (0.0, 0.0), self._angle)
        alpha = sublattice_waves(x, y, self._alpha_shift, self._angle)
        z = z + self.atomic_amplitude * att * (beta + self.alpha_weight * alpha)
        d = self._defects.near(x, y, 3.0 + 4 * blur)
        if len(d["x"]):
            amp = np.full(len(d["x"]), 0.15 * contrast)
            z = z + gaussian_features(x, y, d["x"], d["y"], amp, np.full(amp.shape, 0.35), blur)
            # sqrt(3) x sqrt(3) R30 superstructure around each defect
            r = np.hypot(x.reshape(-1, 1) - d["x"], y.reshape(-1, 1) - d["y"]).min(1)
            k3 = k / np.sqrt(3)
            sup = np.zeros(x.size)
            for ang in (0.0, 120.0, 240.0):
                t = np.deg2rad(ang + self._angle)
                sup += np.cos(k3 * (x.ravel() * np.cos(t) + y.ravel() * np.sin(t)))
            z = z + (0.01 * attenuation(k3, blur) * sup * np.exp(-r / 1.5)).reshape(x.shape)
        return z

    def ldos(self, x, y, energies, *, blur: float = 0.0) -> np.ndarray:
        """LDOS ``(P, N)`` of a semimetal: V-shaped about the Fermi level, raised at defects."""
        x = np.atleast_1d(np.asarray(x, float)).ravel()
        y = np.atleast_1d(np.asarray(y, float)).ravel()
        e = np.asarray(energies, float)[None, :]
        near = np.exp(-self.truth_maps(x, y)["defect_distance"] / 1.0)[:, None]
        return 0.05 + 0.8 * np.abs(e) + 0.5 * near * np.exp(-0.5 * (e / 0.05) ** 2)

    def truth_maps(self, x, y) -> dict[str, np.ndarray]:
        """Ground truth: distance (nm) to the nearest point defect."""
        return {"defect_distance": defect_distance(self._defects, x, y)}
