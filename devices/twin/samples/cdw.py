"""Layered dichalcogenides with a charge-density wave: 1T-TiSe2 (2 x 2) and 1T-TaS2 (sqrt13).

Geometry (nm): the top chalcogen layer is a hexagonal lattice (TiSe2
a = 0.354, TaS2 a = 0.336) which a sharp tip resolves; the charge-density
wave adds a second, longer hexagonal lattice on top of it, commensurate with
the atoms and usually the stronger contrast: TiSe2's 2 x 2 superlattice
(0.708 nm, every second atom brighter; a weak CDW, below ~200 K), TaS2's
sqrt13 x sqrt13 R13.9 degree star-of-David lattice (1.21 nm, turned by 13.9
degrees from the atoms; strong). Layers are ~0.6 nm thick, terraces wide;
point defects (intercalated metal atoms, vacancies) are bright or dark spots
that also pin the CDW's phase locally.
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
from autoscope.devices.twin.samples.metal111 import hexagonal_waves
from autoscope.errors import ConfigurationError

CDW_MATERIALS = {
    # atomic lattice (nm), superlattice factor, superlattice rotation (deg), layer (nm),
    # atomic and CDW amplitudes per plane wave (nm)
    "tise2": (0.354, 2.0, 0.0, 0.601, 0.04, 0.012),
    "tas2": (0.336, float(np.sqrt(13.0)), 13.9, 0.585, 0.008, 0.03),
}
"""Constants: lattice, superlattice period in lattice constants, its rotation, layer
thickness, atomic and CDW plane-wave amplitudes."""


@dataclass
class LayeredCDW(Sample):
    """1T-TiSe2 or 1T-TaS2: atoms, a commensurate CDW superlattice, layer steps, defects.

    Parameters
    ----------
    seed : int
        Seed of steps, defects and the lattice orientation.
    material : str
        ``"tise2"`` or ``"tas2"`` (:data:`CDW_MATERIALS`).
    cdw_scale : float
        Factor on the CDW amplitude (0: no CDW, e.g. above the transition).
    terrace_width : float
        Mean terrace width, nm.
    defect_density : float
        Point defects per nm^2 (half bright, half dark).
    """

    seed: int = 0
    material: str = "tise2"
    cdw_scale: float = 1.0
    terrace_width: float = 120.0
    defect_density: float = 0.01

    mode = "stm"
    default_extent = 10.0

    def __post_init__(self) -> None:
        if self.material not in CDW_MATERIALS:
            raise ConfigurationError(
                f"unknown CDW material {self.material!r}; choose one of {list(CDW_MATERIALS)}"
            )
        check_positive("terrace_width", self.terrace_width)
        if not self.cdw_scale >= 0:
            raise ConfigurationError(f"sample parameter cdw_scale={self.cdw_scale!r} must be >= 0")
        self.name = self.material
        (
            self.lattice,
            self.superlattice,
            self.cdw_rotation,
            self.layer,
            self.atomic_amplitude,
            self.cdw_amplitude,
        ) = CDW_MATERIALS[self.material]
        rng = np.random.default_rng((self.seed, 61))
        self._angle = float(rng.uniform(0, 60))
        a = np.deg2rad(float(rng.uniform(0, 180)))
        self._step_dir = (np.cos(a), np.sin(a))
        self._meander = SmoothField((self.seed, 62), 30.0, modes=24)
        self._defects = CellScatter(self.seed, 20.0, self._draw_defects, tag=10)

    @property
    def cdw_period(self) -> float:
        """Superlattice constant, nm."""
        return self.lattice * self.superlattice

    def _draw_defects(self, rng, x0, y0, cell):
        n = rng.poisson(self.defect_density * cell * cell)
        return {
            "x": x0 + rng.uniform(0, cell, n),
            "y": y0 + rng.uniform(0, cell, n),
            "sign": rng.choice([-1.0, 1.0], n),
        }

    def height(self, x, y, *, blur: float = 0.0, bias: float = 0.5, contrast: float = 1.0):
        """Constant-current apparent height (nm)."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        s = x * self._step_dir[0] + y * self._step_dir[1] + 5.0 * self._meander(x, y)
        z = -self.layer * smooth_floor(
            s / self.terrace_width, np.hypot(0.3, blur) / self.terrace_width
        )
        k = 4 * np.pi / (np.sqrt(3) * self.lattice)
        z = z + self.atomic_amplitude * attenuation(k, blur) * hexagonal_waves(
            x, y, self.lattice, self._angle
        )
        q = k / self.superlattice
        z = z + self.cdw_scale * self.cdw_amplitude * attenuation(q, blur) * hexagonal_waves(
            x, y, self.cdw_period, self._angle + self.cdw_rotation
        )
        d = self._defects.near(x, y, 3.0 + 4 * blur)
        if len(d["x"]):
            amp = 0.05 * d["sign"] * np.where(d["sign"] > 0, 1.0, contrast)
            z = z + gaussian_features(x, y, d["x"], d["y"], amp, np.full(amp.shape, 0.4), blur)
        return z

    def ldos(self, x, y, energies, *, blur: float = 0.0) -> np.ndarray:
        """LDOS ``(P, N)``: a gap at the Fermi level (TiSe2: CDW gap ~0.15 eV, TaS2: Mott
        gap ~0.4 eV with its Hubbard bands as peaks at the gap edges), times the CDW's
        modulation (larger on its maxima)."""
        x = np.atleast_1d(np.asarray(x, float)).ravel()
        y = np.atleast_1d(np.asarray(y, float)).ravel()
        e = np.asarray(energies, float)[None, :]
        half = 0.075 if self.material == "tise2" else 0.2
        w = 0.03
        band = 0.5 * (2 + np.tanh((e - half) / w) + np.tanh((-e - half) / w))
        peaks = np.exp(-0.5 * ((np.abs(e) - half) / 0.04) ** 2) * (self.material == "tas2")
        cdw = hexagonal_waves(x, y, self.cdw_period, self._angle + self.cdw_rotation)[:, None]
        return 0.05 + (band + 0.8 * peaks) * (1 + 0.1 * self.cdw_scale * cdw / 3)

    def truth_maps(self, x, y) -> dict[str, np.ndarray]:
        """Ground truth: distance (nm) to the nearest point defect."""
        return {"defect_distance": defect_distance(self._defects, x, y)}
