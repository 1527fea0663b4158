"""Ferroelectric thin film for PFM: 180-degree c domains, 90-degree a-domain stripes, walls.

The out-of-plane (c) polarisation is ``sign(F)`` of a smooth random field F,
so 180-degree walls are its zero contour; a-domains (in-plane polarisation)
are meandering stripes at ``a_angle``, bounded by 90-degree walls. The
switching behaviour (the nine loop parameters of
:func:`autoscope.devices.twin.pfm.loop_model`) depends on the domain type, on
the distance to the nearest wall, and on hidden smooth fields (imprint,
loop height, coercive bias) that no image channel shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from autoscope.devices.twin.fields import SmoothField
from autoscope.devices.twin.samples.base import Sample, check_positive

C_UP, C_DOWN, A_DOMAIN = 0, 1, 2


@dataclass
class PFMFilm(Sample):
    """PbTiO3-like film with c/a domains.

    Parameters
    ----------
    seed : int
        Seed of every random structure.
    c_length : float
        Correlation length of the 180-degree domain pattern, nm.
    a_period, a_fraction, a_angle, a_meander : float
        a-domain stripe period (nm), area fraction, direction (deg), meander (nm).
    wall_width : float
        Intrinsic width (sigma) of the response change across a wall, nm.
    coercive : float
        Coercive bias (V) deep inside a c domain.
    wall_coercive_factor : float
        Coercive bias at a wall relative to the interior (walls nucleate
        switching; < 1 lowers it).
    wall_length : float
        Decay length (nm) of the wall influence.
    imprint, imprint_hidden : float
        Mean imprint (V) and standard deviation (V) of its hidden part.
    height_hidden, coercive_hidden : float
        Relative standard deviation of the hidden loop-height and coercive fields.
    hidden_length : float
        Correlation length of the hidden fields, nm.
    """

    seed: int = 0
    c_length: float = 220.0
    a_period: float = 700.0
    a_fraction: float = 0.22
    a_angle: float = 45.0
    a_meander: float = 60.0
    wall_width: float = 4.0
    coercive: float = 1.2
    wall_coercive_factor: float = 0.5
    wall_length: float = 40.0
    a_coercive: float = 1.7
    a_response: float = 0.15
    imprint: float = 0.1
    imprint_hidden: float = 0.2
    height_hidden: float = 0.25
    coercive_hidden: float = 0.1
    hidden_length: float = 250.0
    roughness: float = 0.4
    a_tilt: float = 0.012

    mode = "pfm"
    name = "pfm_film"
    default_extent = 2000.0

    def __post_init__(self) -> None:
        for n in (
            "c_length",
            "a_period",
            "wall_width",
            "coercive",
            "wall_length",
            "hidden_length",
            "a_coercive",
        ):
            check_positive(n, getattr(self, n))
        if not 0 <= self.a_fraction < 1:
            check_positive("a_fraction (in [0, 1))", -1)
        s = self.seed
        self._c = SmoothField((s, 21), self.c_length, modes=40)
        self._meander = SmoothField((s, 22), 2 * self.a_period, modes=16)
        self._rough = SmoothField((s, 23), 60.0, modes=32)
        self._h_imprint = SmoothField((s, 24), self.hidden_length, modes=48)
        self._h_height = SmoothField((s, 25), self.hidden_length, modes=48)
        self._h_coercive = SmoothField((s, 26), self.hidden_length, modes=48)
        a = np.deg2rad(self.a_angle)
        self._adir = (np.cos(a), np.sin(a))

    # -------------------------------------------------------------- structure
    def structure(self, x, y) -> dict[str, np.ndarray]:
        """Signed distances (nm) to 180-degree walls and to a-domain edges, domain label."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        f, fx, fy = self._c.value_and_gradient(x, y)
        d180 = f / np.maximum(np.hypot(fx, fy), 1e-9)
        g, gx, gy = self._meander.value_and_gradient(x, y)
        s = x * self._adir[0] + y * self._adir[1] + self.a_meander * g
        grad = np.hypot(self._adir[0] + self.a_meander * gx, self._adir[1] + self.a_meander * gy)
        period, wa = self.a_period, self.a_fraction * self.a_period
        m = np.mod(s, period)
        inside = m < wa
        da = np.where(inside, np.minimum(m, wa - m), -np.minimum(m - wa, period - m)) / grad
        if self.a_fraction == 0:
            da = np.full(x.shape, -np.inf)
        domain = np.where(da > 0, A_DOMAIN, np.where(d180 > 0, C_UP, C_DOWN))
        wall = np.where(da > 0, da, np.minimum(np.abs(d180), -da))
        return {"d180": d180, "da": da, "domain": domain, "wall_distance": wall, "stripe": m}

    def _a_weight(self, da, blur):
        sig = np.hypot(self.wall_width, blur) * np.sqrt(2)
        return 0.5 * (1 + erf(da / sig))

    def height(self, x, y, *, blur: float = 0.0, bias: float = 0.0, contrast: float = 1.0):
        """Surface height (nm): roughness plus the tilt of a-domain twins."""
        return self._height(x, y, self.structure(x, y))

    def _height(self, x, y, st):
        wa = self.a_fraction * self.a_period
        # a-domains rise with a small tilt, giving a roof-like profile across each stripe
        roof = self.a_tilt * np.where(st["da"] > 0, st["da"], 0.0)
        roof = roof - self.a_tilt * wa * 0.25
        return self.roughness * self._rough(x, y) + roof

    def response(self, x, y, *, blur: float = 0.0) -> np.ndarray:
        """Complex vertical piezoresponse (a.u.; 1: c domain far from walls); tip radius blur."""
        return self._response(self.structure(x, y), blur)

    def _response(self, st, blur):
        sig = np.hypot(self.wall_width, blur) * np.sqrt(2)
        pc = erf(st["d180"] / sig)
        wa = self._a_weight(st["da"], blur)
        return (1 - wa) * pc + wa * self.a_response * 1j

    def height_and_response(self, x, y, *, blur: float = 0.0):
        """``(height, response)`` at once (one evaluation of the domain structure)."""
        st = self.structure(x, y)
        return self._height(x, y, st), self._response(st, blur)

    # -------------------------------------------------------------- switching
    def loop_params(self, x, y, *, blur: float = 0.0) -> np.ndarray:
        """Nine loop parameters ``(a0, a1, a2, a3, a4, b0, b1, b2, b3)`` per point, shape (..., 9).

        a1: half loop height; a2 / a3: coercive biases of the descending /
        ascending branch (V); a4: electrostatic slope; b: branch widths (V).
        """
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        st = self.structure(x, y)
        near = np.exp(-st["wall_distance"] / self.wall_length)
        wa = self._a_weight(st["da"], blur)
        h_imp = self._h_imprint(x, y)
        h_hgt = self._h_height(x, y)
        h_vc = self._h_coercive(x, y)
        vc_c = self.coercive * (1 - (1 - self.wall_coercive_factor) * near)
        vc = ((1 - wa) * vc_c + wa * self.a_coercive) * (1 + self.coercive_hidden * h_vc)
        down = (st["domain"] == C_DOWN).astype(float)
        imprint = self.imprint + 0.08 * down + self.imprint_hidden * h_imp
        height = (1 - wa) * (1 - 0.35 * near) + wa * 2 * self.a_response
        height = height * np.clip(1 + self.height_hidden * h_hgt, 0.2, None)
        width = 0.12 * vc * (1 + 0.8 * near)
        p = np.empty(x.shape + (9,))
        p[..., 0] = 0.02 * h_imp
        p[..., 1] = height
        p[..., 2] = imprint - vc
        p[..., 3] = imprint + vc
        p[..., 4] = 0.015
        p[..., 5] = width
        p[..., 6] = width * 1.3
        p[..., 7] = width
        p[..., 8] = width * 1.3
        return p

    def truth_maps(self, x, y) -> dict[str, np.ndarray]:
        """Ground truth: domain, wall distance, loop parameters and hidden fields."""
        st = self.structure(x, y)
        p = self.loop_params(x, y)
        return {
            "domain": st["domain"],
            "wall_distance": st["wall_distance"],
            "coercive_neg": p[..., 2],
            "coercive_pos": p[..., 3],
            "imprint": 0.5 * (p[..., 2] + p[..., 3]),
            "loop_height": p[..., 1],
            "loop_area": 2 * p[..., 1] * (p[..., 3] - p[..., 2]),
            "hidden_imprint": self._h_imprint(x, y),
            "hidden_height": self._h_height(x, y),
        }
