"""Au(111): herringbone reconstruction, monatomic steps, adsorbates, Shockley surface state.

Geometry (nm): hexagonal lattice a = 0.2884 (atomic rows 0.25 apart; a sharp
tip resolves them with ~15 pm peak-to-peak, a blunter or multiple tip loses
them: the lattice's fine period is attenuated steeply with the tip radius); the
22 x sqrt(3) reconstruction gives pairs of soliton ridges 6.3 nm apart (fcc
wider than hcp) that zig-zag by +-60 degrees every ``elbow_period / 2``; steps are 0.235 nm high.
Adsorbates: bright adatoms and dark CO-like molecules. Electronic structure:
a flat bulk sp band plus the surface-state band onset at ``ss_onset``
(-0.48 eV), with standing waves (Friedel oscillations) around adsorbates and
steps at the wavevector ``k(E) = sqrt(2 m* (E - E0)) / hbar``; a hidden smooth
field shifts the onset locally (strain, subsurface impurities).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf, j0

from autoscope.devices.twin.fields import CellScatter, SmoothField
from autoscope.devices.twin.samples.base import (
    Sample,
    attenuation,
    check_positive,
    gaussian_features,
    smooth_floor,
)

A_AU = 0.2884  # nm
STEP_AU = 0.235  # nm
HB_PERIOD = 6.34  # nm, herringbone period across the ridges
K_FREE = 5.1231  # nm^-1 per sqrt(eV * m*/m_e)


@dataclass
class Au111(Sample):
    """Au(111) with herringbone, adsorbates and the Shockley surface state.

    Parameters
    ----------
    seed : int
        Seed of steps, adsorbates and the hidden field.
    terrace_width : float
        Mean terrace width, nm.
    elbow_period : float
        Length of one zig plus one zag of the herringbone, nm.
    adatom_density, molecule_density : float
        Adsorbates per nm^2.
    ss_onset : float
        Surface-state band bottom, eV (Au: -0.48, Cu(111): -0.44).
    effective_mass : float
        Surface-state effective mass, m_e units.
    onset_hidden : float
        Standard deviation (eV) of the hidden onset shift.
    atomic_amplitude : float
        Amplitude (nm) of each of the lattice's three plane waves before the
        tip's blur (a sharp 0.08 nm tip keeps 13 %: ~3 pm per wave).
    """

    seed: int = 0
    terrace_width: float = 60.0
    step_angle: float = -30.0
    elbow_period: float = 50.0
    adatom_density: float = 0.002
    molecule_density: float = 0.004
    ss_onset: float = -0.48
    effective_mass: float = 0.26
    onset_hidden: float = 0.01
    hidden_length: float = 15.0
    atomic_amplitude: float = 0.025

    mode = "stm"
    name = "au111"
    default_extent = 50.0

    def __post_init__(self) -> None:
        check_positive("terrace_width", self.terrace_width)
        check_positive("elbow_period", self.elbow_period)
        check_positive("effective_mass", self.effective_mass)
        self._meander = SmoothField((self.seed, 31), 15.0, modes=24)
        self._hidden = SmoothField((self.seed, 32), self.hidden_length, modes=32)
        self._ads = CellScatter(self.seed, 20.0, self._draw_cell, tag=3)
        a = np.deg2rad(self.step_angle)
        self._step_dir = (np.cos(a), np.sin(a))

    def _draw_cell(self, rng, x0, y0, cell):
        na = rng.poisson(self.adatom_density * cell * cell)
        nm = rng.poisson(self.molecule_density * cell * cell)
        x = x0 + rng.uniform(0, cell, na + nm)
        y = y0 + rng.uniform(0, cell, na + nm)
        kind = np.r_[np.zeros(na), np.ones(nm)]
        return {"x": x, "y": y, "kind": kind}

    def _terrace_coord(self, x, y):
        s = x * self._step_dir[0] + y * self._step_dir[1] + 4.0 * self._meander(x, y)
        return s / self.terrace_width

    def _step_distance(self, x, y):
        tc = self._terrace_coord(x, y)
        return np.abs(tc - np.round(tc)) * self.terrace_width

    def height(self, x, y, *, blur: float = 0.0, bias: float = -0.5, contrast: float = 1.0):
        """Constant-current apparent height (nm) at sample bias ``bias`` (V)."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        tc = self._terrace_coord(x, y)
        z = -STEP_AU * smooth_floor(tc, np.hypot(0.3, blur) / self.terrace_width)
        # atomic corrugation (three plane waves of the hexagonal lattice)
        k = 4 * np.pi / (np.sqrt(3) * A_AU)
        att = attenuation(k, blur)
        for ang in (90.0, 210.0, 330.0):
            c, s = np.cos(np.deg2rad(ang)), np.sin(np.deg2rad(ang))
            z = z + self.atomic_amplitude * (1.0 + 0.8 * (1.0 - contrast)) * att * np.cos(
                k * (x * c + y * s)
            )
        # herringbone: ridge pairs along a zig-zag
        half = self.elbow_period / 2
        tri = np.abs(np.mod(x, 2 * half) - half) - half / 2  # triangle wave, slope +-1
        c = y + np.tan(np.deg2rad(60.0)) * tri * 0.5
        period = HB_PERIOD * 1.0
        sig = np.hypot(0.7, blur)
        for off in (0.0, 0.44 * period):
            d = np.mod(c - off + period / 2, period) - period / 2
            z = z + 0.018 * (0.7 / sig) * np.exp(-0.5 * (d / sig) ** 2)
        # adsorbates: adatoms bright, molecules dark (electronic, tip dependent)
        ad = self._ads.near(x, y, 3.0 + 4 * blur)
        if len(ad["x"]):
            amp = np.where(ad["kind"] == 0, 0.12, -0.04 * contrast)
            z = z + gaussian_features(x, y, ad["x"], ad["y"], amp, np.full(amp.shape, 0.4), blur)
        # weak standing waves at the imaging bias (integrated LDOS)
        kf = self._k(np.array(bias))
        if kf > 0 and len(ad["x"]):
            r = np.hypot(x.reshape(-1, 1) - ad["x"], y.reshape(-1, 1) - ad["y"])
            z = z + 0.003 * (j0(2 * kf * np.maximum(r, 0.3)) * np.exp(-r / 8.0)).sum(1).reshape(
                x.shape
            ) * attenuation(2 * kf, blur)
        return z

    def _k(self, e):
        """Surface-state wavevector (nm^-1) at energy ``e`` (0 below the onset)."""
        return K_FREE * np.sqrt(np.maximum(self.effective_mass * (e - self.ss_onset), 0.0))

    def ldos(self, x, y, energies, *, blur: float = 0.0) -> np.ndarray:
        """LDOS (P, N): bulk band + surface-state step with standing waves."""
        x = np.atleast_1d(np.asarray(x, float)).ravel()
        y = np.atleast_1d(np.asarray(y, float)).ravel()
        e = np.asarray(energies, float)[None, :]
        e0 = self.ss_onset + self.onset_hidden * self._hidden(x, y)[:, None]
        gamma = 0.012
        step = 0.5 * (1 + erf((e - e0) / (np.sqrt(2) * gamma)))
        k = K_FREE * np.sqrt(np.maximum(self.effective_mass * (e - e0), 0.0))  # (P, N)
        mod = 1.0 - 0.5 * j0(2 * k * self._step_distance(x, y)[:, None])  # step-edge scattering
        ad = self._ads.near(x, y, 10.0)
        if len(ad["x"]):
            r = np.hypot(x[:, None] - ad["x"], y[:, None] - ad["y"])  # (P, F)
            r = np.maximum(r, 0.3)
            for f in range(r.shape[1]):
                rf = r[:, f : f + 1]
                mod = mod - 0.35 * np.exp(-rf / 6.0) * j0(2 * k * rf) / np.sqrt(1 + k * rf)
        return 0.6 + 0.8 * step * mod

    def truth_maps(self, x, y) -> dict[str, np.ndarray]:
        """Ground truth: surface-state onset, distance to step and to nearest adsorbate."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        ad = self._ads.near(x, y, 20.0)
        if len(ad["x"]):
            r = np.hypot(x.reshape(-1, 1) - ad["x"], y.reshape(-1, 1) - ad["y"]).min(1)
        else:
            r = np.full(x.size, np.inf)
        return {
            "ss_onset": self.ss_onset + self.onset_hidden * self._hidden(x, y),
            "step_distance": self._step_distance(x, y),
            "adsorbate_distance": r.reshape(x.shape),
        }
