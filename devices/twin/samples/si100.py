"""H-terminated Si(100)-2x1: dimer rows, dangling-bond defects, single-layer steps.

Geometry (nm): dimer rows 0.768 apart, dimers 0.384 apart along a row; rows
turn by 90 degrees on every single-layer step (0.136 nm). Defects sit on
dimer sites: single dangling bonds (DB), bare dimers (a DB pair) and dark
vacancies. Electronic structure: a substrate with valence and conduction band
edges, a DB state in the gap (pair: bonding/antibonding pair), all shifted by
a hidden smooth band-bending field that the topography does not show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoscope.devices.twin.fields import CellScatter, SmoothField
from autoscope.devices.twin.samples.base import (
    Sample,
    attenuation,
    check_positive,
    gaussian_features,
    smooth_floor,
)

ROW = 0.768  # nm, dimer-row period
DIMER = 0.384  # nm, dimer period along a row
STEP = 0.136  # nm, single-layer step height

# defect kinds
SINGLE_DB, PAIR_DB, VACANCY = 0, 1, 2


@dataclass
class SiH100(Sample):
    """H:Si(100)-2x1 with dangling bonds.

    Parameters
    ----------
    seed : int
        Everything random (steps, defects, hidden field) derives from it.
    terrace_width : float
        Mean terrace width, nm.
    step_angle : float
        Direction of the step-down normal, degrees.
    db_density, pair_density, vacancy_density : float
        Defects per nm^2 (default about 0.03 in all, a few per 100 surface
        dimers: a typical UHV-prepared surface, so that a window of a few
        lines usually holds a feature that shows the tip's shape).
    db_energy : float
        Energy of the single-DB state, eV relative to E_F (the bias in V at
        which dI/dV over a DB peaks, before band bending).
    db_width : float
        Gaussian width (sigma, eV) of the DB state.
    pair_split : tuple of float
        Bonding and antibonding energies of a bare dimer (DB pair), eV.
    band_bending : float
        Standard deviation (eV) of the hidden band-bending field; 0 turns it off.
    valence_edge, conduction_edge : float
        Band edges, eV.
    """

    seed: int = 0
    terrace_width: float = 40.0
    step_angle: float = 20.0
    db_density: float = 0.015
    pair_density: float = 0.005
    vacancy_density: float = 0.012
    db_energy: float = -0.35
    db_width: float = 0.06
    db_decay: float = 0.45
    pair_split: tuple = (-0.55, 0.55)
    band_bending: float = 0.05
    band_bending_length: float = 5.0
    valence_edge: float = -0.8
    conduction_edge: float = 0.45
    row_amplitude: float = 0.05
    dimer_amplitude: float = 0.012

    mode = "stm"
    name = "si100_h"
    default_extent = 20.0

    def __post_init__(self) -> None:
        check_positive("terrace_width", self.terrace_width)
        check_positive("db_width", self.db_width)
        check_positive("db_decay", self.db_decay)
        for n in ("db_density", "pair_density", "vacancy_density", "band_bending"):
            if getattr(self, n) < 0:
                check_positive(n, getattr(self, n))
        self._meander = SmoothField((self.seed, 11), 12.0, modes=24)
        self._hidden = SmoothField((self.seed, 12), self.band_bending_length, modes=32)
        self._defects = CellScatter(self.seed, 10.0, self._draw_cell, tag=1)
        a = np.deg2rad(self.step_angle)
        self._step_dir = (np.cos(a), np.sin(a))

    # ----------------------------------------------------------------- geometry
    def _terrace_coord(self, x, y):
        return (x * self._step_dir[0] + y * self._step_dir[1] + 3.0 * self._meander(x, y)) / (
            self.terrace_width
        )

    def terrace(self, x, y) -> np.ndarray:
        """Terrace index (integer; a higher index is one layer lower)."""
        return np.floor(self._terrace_coord(np.asarray(x, float), np.asarray(y, float)))

    def _row_axes(self, x, y):
        """Along-row and across-row coordinates (nm) of every point, by terrace parity."""
        odd = (self.terrace(x, y) % 2).astype(bool)
        along = np.where(odd, y, x)
        across = np.where(odd, -x, y)
        return along, across

    def _draw_cell(self, rng, x0, y0, cell):
        xs, ys, kinds = [], [], []
        area = cell * cell
        for kind, dens in (
            (SINGLE_DB, self.db_density),
            (PAIR_DB, self.pair_density),
            (VACANCY, self.vacancy_density),
        ):
            n = rng.poisson(dens * area)
            px = x0 + rng.uniform(0, cell, n)
            py = y0 + rng.uniform(0, cell, n)
            for cx, cy in zip(px, py):
                odd = int(np.floor(self._terrace_coord(np.array(cx), np.array(cy)))) % 2
                # snap to a dimer: along = k * DIMER, across = row centre
                along, across = (cy, -cx) if odd else (cx, cy)
                along = np.round(along / DIMER) * DIMER
                across = np.round(across / ROW) * ROW
                side = rng.choice((-1.0, 1.0))
                lobes = (
                    [side * 0.115]
                    if kind == SINGLE_DB
                    else ([-0.16, 0.16] if kind == PAIR_DB else [0.0])
                )
                for off in lobes:
                    a, c = along, across + off
                    fx, fy = (-c, a) if odd else (a, c)
                    xs.append(fx)
                    ys.append(fy)
                    kinds.append(kind)
        return {"x": np.array(xs), "y": np.array(ys), "kind": np.array(kinds, dtype=float)}

    def defects_near(self, x, y, margin: float = 3.0) -> dict:
        """Defect lobes near the points: dict of ``x``, ``y``, ``kind`` arrays."""
        return self._defects.near(np.asarray(x), np.asarray(y), margin)

    # ----------------------------------------------------------------- imaging
    def height(self, x, y, *, blur: float = 0.0, bias: float = -1.0, contrast: float = 1.0):
        """Constant-current apparent height, nm, at sample bias ``bias`` (V).

        ``contrast`` scales the electronic contrast of dangling bonds (an
        adsorbate on the tip changes it, even inverts it).
        """
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        blur = float(blur)
        tc = self._terrace_coord(x, y)
        edge = np.hypot(0.35, blur) / self.terrace_width
        z = -STEP * smooth_floor(tc, edge)
        along, across = self._row_axes(x, y)
        kr, kd = 2 * np.pi / ROW, 2 * np.pi / DIMER
        # an adsorbate on the tip (contrast != 1) sharpens the lattice contrast
        lat = 1.0 + 0.6 * (1.0 - contrast)
        row = 0.5 + 0.5 * np.cos(kr * across)
        z = z + (1.0 + 0.5 * (lat - 1.0)) * self.row_amplitude * attenuation(kr, blur) * row
        z = z - 0.25 * lat * self.row_amplitude * attenuation(2 * kr, blur) * np.cos(
            2 * kr * across
        )
        z = z + lat * self.dimer_amplitude * attenuation(np.hypot(kd, kr), blur) * np.cos(
            kd * along
        ) * np.cos(kr * across)
        d = self.defects_near(x, y, 3.0 + 4 * blur)
        if len(d["x"]):
            k = d["kind"]
            filled = bias < 0
            amp = np.where(
                k == SINGLE_DB,
                0.15 if filled else 0.09,
                np.where(k == PAIR_DB, 0.09 if filled else 0.11, -0.07),
            )
            amp = np.where(k == VACANCY, amp, amp * contrast)
            sig = np.where(k == VACANCY, 0.4, 0.35)
            z = z + gaussian_features(x, y, d["x"], d["y"], amp, sig, blur)
            if not filled:  # negatively charged DB: dark halo in empty states
                s = k == SINGLE_DB
                z = z + gaussian_features(
                    x,
                    y,
                    d["x"][s],
                    d["y"][s],
                    np.full(s.sum(), -0.03 * contrast),
                    np.full(s.sum(), 1.0),
                    blur,
                )
        return z

    # ----------------------------------------------------------------- electronic
    def hidden_shift(self, x, y) -> np.ndarray:
        """Local band bending (eV): shifts every state; invisible in topography."""
        return self.band_bending * self._hidden(x, y)

    def ldos(self, x, y, energies, *, blur: float = 0.0) -> np.ndarray:
        """Local density of states, shape ``(P, N)`` for P points and N energies (eV).

        Arbitrary units: about 1 at 1 eV inside a band; a DB adds a Gaussian
        state whose weight decays with distance from the lobe (``db_decay``).
        """
        x = np.atleast_1d(np.asarray(x, float)).ravel()
        y = np.atleast_1d(np.asarray(y, float)).ravel()
        e = np.asarray(energies, float)[None, :] - self.hidden_shift(x, y)[:, None]
        w = 0.05

        def band(u):
            return np.sqrt(w * np.logaddexp(0.0, u / w))

        rho = 0.9 * band(e - self.conduction_edge) + 0.7 * band(self.valence_edge - e) + 0.03
        d = self.defects_near(x, y, 4 * self.db_decay + 3 * blur + 1.0)
        if len(d["x"]):
            k = d["kind"]
            sig = np.hypot(self.db_decay, blur)
            scale = (self.db_decay / sig) ** 2
            r2 = (x[:, None] - d["x"][None, :]) ** 2 + (y[:, None] - d["y"][None, :]) ** 2
            wgt = scale * np.exp(-0.5 * r2 / sig**2)  # (P, F)
            g = self.db_width

            def state(e0, amp):
                return amp * np.exp(-0.5 * ((e - e0) / g) ** 2)

            single = wgt[:, k == SINGLE_DB].sum(1)[:, None]
            pair = wgt[:, k == PAIR_DB].sum(1)[:, None]
            vac = wgt[:, k == VACANCY].sum(1)[:, None]
            rho = rho * (1 - 0.6 * np.minimum(vac, 1.0))
            rho = rho + single * state(self.db_energy, 4.0)
            rho = rho + 0.5 * pair * (
                state(self.pair_split[0], 3.0) + state(self.pair_split[1], 3.0)
            )
        return rho

    def truth_maps(self, x, y) -> dict[str, np.ndarray]:
        """Ground truth: terrace index, DB weight, distance to nearest DB, band bending."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        d = self.defects_near(x, y, 15.0)
        xf, yf = x.ravel(), y.ravel()
        out = {"terrace": self.terrace(x, y), "band_bending": self.hidden_shift(x, y)}
        for name, kind in (("db", SINGLE_DB), ("pair", PAIR_DB), ("vacancy", VACANCY)):
            s = d["kind"] == kind
            if s.any():
                r = np.hypot(xf[:, None] - d["x"][s], yf[:, None] - d["y"][s]).min(1)
            else:
                r = np.full(xf.shape, np.inf)
            out[f"{name}_distance"] = r.reshape(x.shape)
        return out
