"""Au (or Ag) nanoparticles on amorphous carbon, for plasmon EELS at 300 kV.

**Structure (seen).** A seeded layout of a triangular prism, a rod lying flat and a dimer of
two spheres a 1–3 nm gap apart, on an amorphous carbon film (4 nm, ±30 %). Each particle is
fcc metal seen along [111] with its edges along the close-packed rows: *atom columns* on the
projected [111] lattice (1.665 Å apart for Au), each holding ``n = t(x, y) / (3 d111)`` atoms
for the particle's projected thickness ``t`` there (prism: flat with rounded rims; rod: a
cylinder with hemispherical caps; sphere: ``2 sqrt(R² - r²)``). One orientation for every
particle keeps the model simple (real rods grow along [001]).

**Localised surface plasmons (hidden).** Each particle (or the coupled dimer) carries a few
quasi-static modes, each an energy, a width and a pattern of surface charges ``q_k`` at
points ``s_k`` of the projected outline (the prism's breathing mode also in its face):

- energy: a Drude metal (``ħω_p``, ``ε_∞``: Au 9.0 eV, 9.5; Ag 9.0 eV, 3.7) in a medium of
  ``ε_d = 1.5`` has a mode of eigen-permittivity ``ε_m < 0`` at ``E = ħω_p / sqrt(ε_∞ -
  ε_m)``; ``ε_m = -ε_d (1 - L) / L`` with ``L`` the depolarisation factor of a spheroid
  (sphere ``L = 1/3``: 2.51 eV for Au; rod: the prolate ``L`` of its aspect ratio for the
  longitudinal dipole, of half of it for the longitudinal quadrupole, ``(1 - L)/2``
  transverse; prism: the oblate in-plane ``L`` of diameter ``size`` (corner dipole, ``ε_m``
  x 1.3 for the sharp tips), ``size / 2`` (edge modes) and ``size / 3`` (breathing mode in
  the face), each over the prism's thickness). So corners < edges < face in energy.
- sphere dimer: the bonding dipole (charges of opposite sign face each other in the gap)
  is red-shifted by the plasmon ruler ``E = E₁ / (1 + 0.18 exp(-(g/D)/0.23))`` (Jain,
  Huang, El-Sayed, Nano Lett. 7, 2080 (2007)), the antibonding one blue-shifted by a third
  of that, the transverse pair by a tenth.
- width (FWHM): ``0.10 eV + (E - E_ib)`` above the interband onset ``E_ib`` (Au 2.3 eV,
  Ag 3.7 eV): Au modes above 2.3 eV broaden.
- loss probability with the beam at ``R`` (García de Abajo, Rev. Mod. Phys. 82, 209
  (2010)): the electron couples to a mode through the ``ω`` component of its field,
  ``Γ_m(R) = S_m |Σ_k q_k K0(ω ρ_k / (v γ))|² / N_m``, ``ρ_k = sqrt(|R - s_k|² + δ²)``
  (``δ = 5 Å`` spreads each charge), ``v, γ`` the beam's speed and Lorentz factor. Near the
  particle the fall-off follows the charge pattern (a sum of logarithms); far from it a
  dipole mode goes as ``K1(ω b / (v γ))²``, i.e. ``exp(-2 ω b / (v γ)) / b`` with the decay
  length ``L = v γ ħ / (2 E)`` (506 Å at 2.4 eV and 300 kV, 206 Å at 60 kV). ``N_m``
  sets the largest ``Γ_m`` (over points 1 nm outside the outline and inside it) to ``S_m``
  (4e-3 for dipoles, 2e-3 for edge/quadrupole/transverse/antibonding modes, 1.5e-3 for the
  breathing mode). Inside the
  outline the same coupling holds (the projected potential does not vanish there), and the
  metal adds its bulk loss. Modes of different particles do not couple, except in the dimer.

The truth maps give the energy of the strongest mode at each position (what one peak fit of
the low-loss spectrum reads), its loss probability, and the projected thickness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import k0

from autoscope.devices.twin.stem.samples.base import (
    AMORPHOUS_C_DENSITY,
    AMORPHOUS_MFP,
    Atoms,
    Edge,
    LocalSpectra,
    LocalSpectrum,
    Peak,
    STEMSample,
)
from autoscope.errors import ConfigurationError

HBAR_C = 1973.26980  # eV Å
_MC2_KEV = 510.99895
EPS_D = 1.5  # effective permittivity around a particle on a thin carbon film
DELTA = 5.0  # Å, spread of each surface charge


@dataclass(frozen=True)
class Metal:
    """Bulk data of a plasmonic metal: Z, fcc lattice (Å), Drude ħω_p (eV) and ε_∞,
    interband onset (eV), bulk loss peak (eV, FWHM eV), inelastic mean free path (Å)."""

    Z: int
    a: float
    plasma: float
    eps_inf: float
    interband: float
    bulk: tuple[float, float]
    mfp: float

    def energy(self, eps_m: float) -> float:
        """Energy (eV) of a mode of eigen-permittivity ``eps_m`` (< 0)."""
        return self.plasma / math.sqrt(self.eps_inf - eps_m)

    def width(self, energy: float) -> float:
        """Mode FWHM (eV): Drude damping plus interband damping above the onset."""
        return 0.10 + max(energy - self.interband, 0.0)

    @property
    def atoms_per_length(self) -> float:
        """Atoms per Å along a [111] column (one every three (111) layers)."""
        return 1.0 / (3.0 * self.a / math.sqrt(3.0))

    @property
    def column_spacing(self) -> float:
        """Spacing (Å) of the projected [111] column lattice: ``(a / √2) / √3``."""
        return self.a / math.sqrt(2.0) / math.sqrt(3.0)


METALS = {
    "Au": Metal(79, 4.078, 9.0, 9.5, 2.3, (25.0, 15.0), 1000.0),
    "Ag": Metal(47, 4.086, 9.0, 3.7, 3.7, (3.8, 0.4), 1000.0),
}


@dataclass(frozen=True)
class Particle:
    """One particle: ``shape`` (``"prism"``, ``"rod"``, ``"sphere"``), centre (Å), ``size``
    (prism edge, rod length, sphere diameter; Å), ``thickness`` (prism thickness, rod
    diameter; a sphere's is its diameter), in-plane ``angle`` (rad)."""

    shape: str
    x: float
    y: float
    size: float
    thickness: float
    angle: float = 0.0

    def __post_init__(self) -> None:
        if self.shape not in ("prism", "rod", "sphere"):
            raise ConfigurationError(f"unknown particle shape {self.shape!r}")
        if not (self.size > 0 and self.thickness > 0):
            raise ConfigurationError(
                f"particle size {self.size!r} and thickness {self.thickness!r} must be positive"
            )
        if self.shape == "rod" and self.thickness >= self.size:
            raise ConfigurationError(
                f"rod diameter {self.thickness!r} must be below its length {self.size!r}"
            )

    @property
    def radius(self) -> float:
        """Radius (Å) of a circle about the centre holding the particle."""
        if self.shape == "prism":
            return self.size / math.sqrt(3.0)
        return self.size / 2.0

    def local(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Positions in the particle's frame (centre at 0, rotated by ``-angle``)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx, dy = np.asarray(x, float) - self.x, np.asarray(y, float) - self.y
        return c * dx + s * dy, -s * dx + c * dy

    def to_sample(self, u, v) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        u, v = np.asarray(u, float), np.asarray(v, float)
        return self.x + c * u - s * v, self.y + s * u + c * v

    def vertices(self) -> np.ndarray:
        """Prism corners in the particle frame, shape (3, 2), the first on +u."""
        r = self.size / math.sqrt(3.0)
        a = np.array([0.0, 2.0, 4.0]) * math.pi / 3.0
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)

    def sdf(self, x, y) -> np.ndarray:
        """Signed distance (Å) to the projected outline, negative inside."""
        u, v = self.local(x, y)
        if self.shape == "sphere":
            return np.hypot(u, v) - self.size / 2.0
        if self.shape == "rod":
            h = (self.size - self.thickness) / 2.0
            return np.hypot(u - np.clip(u, -h, h), v) - self.thickness / 2.0
        vt = self.vertices()
        d = np.full(np.shape(u), np.inf)
        inside = np.ones(np.shape(u), bool)
        for i in range(3):
            a, b = vt[i], vt[(i + 1) % 3]
            e = b - a
            t = np.clip(((u - a[0]) * e[0] + (v - a[1]) * e[1]) / (e @ e), 0.0, 1.0)
            d = np.minimum(d, np.hypot(u - a[0] - t * e[0], v - a[1] - t * e[1]))
            inside &= e[0] * (v - a[1]) - e[1] * (u - a[0]) > 0
        return np.where(inside, -d, d)

    def thickness_at(self, x, y) -> np.ndarray:
        """Projected thickness (Å) at ``(x, y)``; 0 outside."""
        u, v = self.local(x, y)
        if self.shape == "sphere":
            r = self.size / 2.0
            return 2.0 * np.sqrt(np.clip(r**2 - u**2 - v**2, 0.0, None))
        if self.shape == "rod":
            h, r = (self.size - self.thickness) / 2.0, self.thickness / 2.0
            d2 = (u - np.clip(u, -h, h)) ** 2 + v**2
            return 2.0 * np.sqrt(np.clip(r**2 - d2, 0.0, None))
        depth = np.clip(-self.sdf(x, y), 0.0, None)  # prism with rounded rims
        r = self.thickness / 2.0
        rim = 2.0 * np.sqrt(np.clip(r**2 - (r - np.minimum(depth, r)) ** 2, 0.0, None))
        return np.where(depth >= r, self.thickness, rim)


@dataclass
class Mode:
    """A plasmon mode: name, energy and FWHM (eV), surface charges ``q`` at ``(x, y)`` Å,
    strength ``S`` (its largest loss probability)."""

    name: str
    energy: float
    width: float
    x: np.ndarray
    y: np.ndarray
    q: np.ndarray
    strength: float
    particle: int


def _prolate_l(aspect: float) -> float:
    """Depolarisation factor along the long axis of a prolate spheroid."""
    if aspect <= 1.0 + 1e-9:
        return 1.0 / 3.0
    e2 = 1.0 - 1.0 / aspect**2
    e = math.sqrt(e2)
    return (1.0 - e2) / e2 * (-1.0 + math.log((1.0 + e) / (1.0 - e)) / (2.0 * e))


def _oblate_l_inplane(aspect: float) -> float:
    """In-plane depolarisation factor of an oblate spheroid of diameter/thickness ``aspect``."""
    if aspect <= 1.0 + 1e-9:
        return 1.0 / 3.0
    e2 = 1.0 - 1.0 / aspect**2
    e = math.sqrt(e2)
    lc = (1.0 - math.sqrt(1.0 - e2) / e * math.asin(e)) / e2
    return (1.0 - lc) / 2.0


def _eps(depol: float) -> float:
    return -EPS_D * (1.0 - depol) / depol


def _outline(p: Particle, spacing: float = 4.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points ``(u, v)`` of the outline in the particle frame and their arc length."""
    if p.shape == "sphere":
        r = p.size / 2.0
        n = max(int(2 * math.pi * r / spacing), 24)
        a = (np.arange(n) + 0.5) * 2 * math.pi / n
        return r * np.cos(a), r * np.sin(a), np.full(n, 2 * math.pi * r / n)
    if p.shape == "rod":
        h, r = (p.size - p.thickness) / 2.0, p.thickness / 2.0
        ns = max(int(2 * h / spacing), 2)
        s = (np.arange(ns) + 0.5) / ns * 2 * h - h
        nc = max(int(math.pi * r / spacing), 8)
        a = (np.arange(nc) + 0.5) / nc * math.pi - math.pi / 2
        u = np.concatenate([s, h + r * np.cos(a), s[::-1], -h - r * np.cos(a)])
        v = np.concatenate([np.full(ns, -r), r * np.sin(a), np.full(ns, r), -r * np.sin(a)])
        ds = np.concatenate([np.full(ns, 2 * h / ns), np.full(nc, math.pi * r / nc)] * 2)
        return u, v, ds
    vt = p.vertices()
    n = max(int(p.size / spacing), 8)
    t = (np.arange(n) + 0.5) / n
    u = np.concatenate([vt[i, 0] + t * (vt[(i + 1) % 3, 0] - vt[i, 0]) for i in range(3)])
    v = np.concatenate([vt[i, 1] + t * (vt[(i + 1) % 3, 1] - vt[i, 1]) for i in range(3)])
    return u, v, np.full(3 * n, p.size / n)


def _zero_net(q: np.ndarray) -> np.ndarray:
    return q - q.mean()


def particle_modes(p: Particle, metal: Metal, index: int) -> list[Mode]:
    """The plasmon modes of one isolated particle (see the module docstring)."""
    u, v, ds = _outline(p)
    x, y = p.to_sample(u, v)
    out: list[Mode] = []

    def add(name, eps_m, q, strength, qx=x, qy=y):
        e = metal.energy(eps_m)
        out.append(Mode(name, e, metal.width(e), qx, qy, q, strength, index))

    if p.shape == "sphere":
        e = _eps(1.0 / 3.0)
        r = np.hypot(u, v)
        add("dipole_x", e, u / r * ds, 4e-3)
        add("dipole_y", e, v / r * ds, 4e-3)
    elif p.shape == "rod":
        h = p.size / 2.0
        lon = _prolate_l(p.size / p.thickness)
        add("longitudinal", _eps(lon), _zero_net((u / h) ** 3) * ds, 4e-3)
        quad = _prolate_l(max(p.size / 2.0 / p.thickness, 1.0))
        add("quadrupole", _eps(quad), _zero_net(1.5 * (u / h) ** 2 - 0.5) * ds, 2e-3)
        add("transverse", _eps((1.0 - lon) / 2.0), np.sign(v) * ds, 2e-3)
    else:
        vt = p.vertices()
        corner = np.min(np.hypot(u[:, None] - vt[None, :, 0], v[:, None] - vt[None, :, 1]), 1)
        w = 1.0 + 3.0 * np.exp(-corner / (0.15 * p.size))
        e_c = 1.3 * _eps(_oblate_l_inplane(p.size / p.thickness))
        add("corner_x", e_c, _zero_net(u * w) * ds, 4e-3)
        add("corner_y", e_c, _zero_net(v * w) * ds, 4e-3)
        n = u.size // 3
        t = (np.arange(n) + 0.5) / n
        prof = np.sin(np.pi * t)
        e_e = _eps(_oblate_l_inplane(p.size / 2.0 / p.thickness))
        for name, c in (("edge_a", (1.0, -1.0, 0.0)), ("edge_b", (1.0, 1.0, -2.0))):
            add(name, e_e, np.concatenate([ci * prof for ci in c]) * ds, 2e-3)
        # breathing mode: charge over the face, the opposite charge on the rim
        step = p.size / 12.0
        gu, gv = np.meshgrid(np.arange(-p.size, p.size, step), np.arange(-p.size, p.size, step))
        fx, fy = p.to_sample(gu.ravel(), gv.ravel())
        inner = p.sdf(fx, fy) < -0.1 * p.size
        fx, fy = fx[inner], fy[inner]
        qf = np.full(fx.size, 1.0 / fx.size)
        qr = -ds / ds.sum()
        add(
            "breathing",
            _eps(_oblate_l_inplane(p.size / 3.0 / p.thickness)),
            np.concatenate([qf, qr]),
            1.5e-3,
            np.concatenate([fx, x]),
            np.concatenate([fy, y]),
        )
    return out


def dimer_modes(a: Particle, b: Particle, metal: Metal, index: int) -> list[Mode]:
    """Coupled modes of two spheres: bonding/antibonding dipoles along the axis, and the
    transverse pair, shifted by the plasmon ruler of the gap."""
    gap = math.hypot(b.x - a.x, b.y - a.y) - (a.size + b.size) / 2.0
    d = (a.size + b.size) / 2.0
    ruler = 0.18 * math.exp(-(gap / d) / 0.23)
    e1 = metal.energy(_eps(1.0 / 3.0))
    ax = np.array([b.x - a.x, b.y - a.y]) / math.hypot(b.x - a.x, b.y - a.y)
    pts = []
    for p in (a, b):
        u, v, ds = _outline(p)
        x, y = p.to_sample(u, v)
        r = np.hypot(x - p.x, y - p.y)
        along = ((x - p.x) * ax[0] + (y - p.y) * ax[1]) / r
        across = (-(x - p.x) * ax[1] + (y - p.y) * ax[0]) / r
        pts.append((x, y, along * ds, across * ds))
    x = np.concatenate([pts[0][0], pts[1][0]])
    y = np.concatenate([pts[0][1], pts[1][1]])
    out = []
    for name, energy, sign, comp, s in (
        ("bonding", e1 / (1.0 + ruler), 1.0, 2, 4e-3),
        ("antibonding", e1 * (1.0 + ruler / 3.0), -1.0, 2, 2e-3),
        ("transverse", e1 * (1.0 + ruler / 10.0), 1.0, 3, 2e-3),
    ):
        q = np.concatenate([pts[0][comp], sign * pts[1][comp]])
        out.append(Mode(name, energy, metal.width(energy), x, y, q, s, index))
    return out


def beam_q(kv: float, energy: float) -> float:
    """``ω / (v γ)`` (Å⁻¹) for a loss ``energy`` (eV) and a beam of ``kv`` kV."""
    g = 1.0 + kv / _MC2_KEV
    beta = math.sqrt(1.0 - 1.0 / g**2)
    return energy / (HBAR_C * beta * g)


def decay_length(kv: float, energy: float) -> float:
    """Far-field decay length (Å) of the loss probability, ``v γ ħ / (2 E)``."""
    return 1.0 / (2.0 * beam_q(kv, energy))


def coupling(mode: Mode, x: np.ndarray, y: np.ndarray, kv: float) -> np.ndarray:
    """``Σ_k q_k K0(ω ρ_k / (v γ))`` at positions ``x, y`` (Å), shape of ``x``."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    xf, yf = x.ravel(), y.ravel()
    q = beam_q(kv, mode.energy)
    out = np.empty(xf.size)
    step = max(1, 2_000_000 // max(mode.q.size, 1))
    for s in range(0, xf.size, step):
        d2 = (xf[s : s + step, None] - mode.x[None]) ** 2 + (
            yf[s : s + step, None] - mode.y[None]
        ) ** 2
        d2 += DELTA**2
        out[s : s + step] = k0_of_squared(d2, q) @ mode.q
    return out.reshape(x.shape)


_EULER = 0.5772156649015329


def k0_of_squared(rho2: np.ndarray, q: float) -> np.ndarray:
    """``K0(q ρ)`` from ``ρ²`` (overwrites ``rho2``).

    Where every ``q ρ <= 2`` (a beam within ~1 µm of the charges at these losses): the
    ascending series ``K0(x) = -(ln(x/2) + γ) I0(x) + Σ_k H_k t^k / (k!)²``, ``t = x²/4``
    (``H_k`` the harmonic numbers), summed by Horner until its next term is below 1e-17:
    equal to ``scipy.special.k0`` to ~1e-14 relative (test), at a third of its cost; else
    ``scipy.special.k0``."""
    t = rho2
    t *= q * q / 4.0
    t_max = float(t.max()) if t.size else 0.0
    if t_max > 1.0:
        return k0(2.0 * np.sqrt(t))
    n = 1
    term = t_max
    while term * 3.0 > 1e-17:  # t^n / (n!)^2 times H_n < 3
        n += 1
        term *= t_max / n**2
    a = [1.0 / math.factorial(k) ** 2 for k in range(n + 1)]
    b = [sum(1.0 / j for j in range(1, k + 1)) * a[k] for k in range(n + 1)]
    i0 = np.full_like(t, a[n])
    rest = np.full_like(t, b[n])
    for k in range(n - 1, -1, -1):
        i0 *= t
        i0 += a[k]
        rest *= t
        rest += b[k]
    log_half_x = np.log(t)  # ln(x/2) = ln(t) / 2
    log_half_x *= 0.5
    log_half_x += _EULER
    i0 *= log_half_x
    rest -= i0
    return rest


class Nanoparticles(STEMSample):
    """Metal nanoparticles on amorphous carbon (see the module docstring).

    Parameters
    ----------
    seed : int
        Seeds the layout (sizes, rotations, positions, gap) and the carbon film.
    metal : str
        ``"Au"`` or ``"Ag"``.
    particles : sequence of Particle, optional
        An explicit layout instead of the seeded one; two spheres less than half a diameter
        apart form a coupled dimer.
    width : float
        Size of the square sample, Å (default 700).
    carbon : float
        Mean thickness of the amorphous carbon film, Å.
    """

    name = "nanoparticles"
    kv = 300.0
    saturating = True

    def __init__(
        self,
        seed: int = 0,
        metal: str = "Au",
        particles=None,
        width: float = 700.0,
        carbon: float = 40.0,
    ) -> None:
        super().__init__(seed, width, width)
        if metal not in METALS:
            raise ConfigurationError(f"unknown metal {metal!r} (known: {sorted(METALS)})")
        if not carbon >= 0:
            raise ConfigurationError(f"carbon thickness {carbon!r} Å must be >= 0")
        self.metal_name = metal
        self.metal = METALS[metal]
        rng = np.random.default_rng((self.seed, 11))
        self.particles = (
            tuple(particles) if particles is not None else self._layout(rng, self.width)
        )
        if not self.particles:
            raise ConfigurationError("a nanoparticle sample needs at least one particle")
        self.modes = self._modes()
        self.atoms = self._columns()
        self.amorphous_mean = float(carbon)
        self.amorphous_rms = 0.3 * float(carbon)
        self._norms: dict[float, np.ndarray] = {}

    # -- structure ---------------------------------------------------------------------
    @staticmethod
    def _layout(rng: np.random.Generator, width: float) -> tuple[Particle, ...]:
        """A prism, a rod and a sphere dimer in three slots 120° apart about the centre."""
        phi0 = rng.uniform(0, 2 * math.pi)
        slot = 0.265 * width
        centres = [
            (
                slot * math.cos(phi0 + k * 2 * math.pi / 3),
                slot * math.sin(phi0 + k * 2 * math.pi / 3),
            )
            for k in range(3)
        ]
        order = rng.permutation(3)
        (px, py), (rx, ry), (dx, dy) = (centres[k] for k in order)
        prism = Particle(
            "prism", px, py, rng.uniform(200, 250), rng.uniform(45, 70), rng.uniform(0, 2 * math.pi)
        )
        length = rng.uniform(210, 250)
        rod = Particle(
            "rod", rx, ry, length, length / rng.uniform(3.0, 4.0), rng.uniform(0, math.pi)
        )
        d1, d2 = rng.uniform(85, 105), rng.uniform(85, 105)
        gap = rng.uniform(10.0, 30.0)
        a = rng.uniform(0, math.pi)
        sep = (d1 + d2) / 2 + gap
        ca, sa = math.cos(a), math.sin(a)
        s1 = Particle("sphere", dx - sep / 2 * ca, dy - sep / 2 * sa, d1, d1, a)
        s2 = Particle("sphere", dx + sep / 2 * ca, dy + sep / 2 * sa, d2, d2, a)
        return (prism, rod, s1, s2)

    def _columns(self) -> Atoms:
        """[111] columns inside each particle; ``n`` atoms from the projected thickness."""
        m = self.metal
        sp = m.column_spacing
        xs, ys, ns = [], [], []
        for p in self.particles:
            r = p.radius + sp
            nj = int(r / (sp * math.sqrt(3) / 2)) + 1
            ni = int(r / sp) + nj + 1
            i, j = np.meshgrid(np.arange(-ni, ni + 1), np.arange(-nj, nj + 1))
            u = (i + 0.5 * j).ravel() * sp
            v = j.ravel() * sp * math.sqrt(3) / 2
            x, y = p.to_sample(u, v)
            n = np.rint(p.thickness_at(x, y) * m.atoms_per_length).astype(int)
            keep = n >= 1
            xs.append(x[keep])
            ys.append(y[keep])
            ns.append(n[keep])
        x, y, n = np.concatenate(xs), np.concatenate(ys), np.concatenate(ns)
        return Atoms(x, y, np.full(x.size, m.Z), n)

    def _modes(self) -> list[Mode]:
        spheres = [k for k, p in enumerate(self.particles) if p.shape == "sphere"]
        paired: dict[int, int] = {}
        for i in spheres:
            for j in spheres:
                if j <= i or i in paired or j in paired:
                    continue
                a, b = self.particles[i], self.particles[j]
                gap = math.hypot(b.x - a.x, b.y - a.y) - (a.size + b.size) / 2
                if gap < 0:
                    raise ConfigurationError(f"spheres {i} and {j} overlap (gap {gap:.1f} Å)")
                if gap < 0.5 * min(a.size, b.size):
                    paired[i], paired[j] = j, i
        modes: list[Mode] = []
        for k, p in enumerate(self.particles):
            if k in paired:
                if paired[k] > k:
                    modes += dimer_modes(p, self.particles[paired[k]], self.metal, k)
            else:
                modes += particle_modes(p, self.metal, k)
        return modes

    def metal_thickness(self, x, y) -> np.ndarray:
        """Projected metal thickness (Å) at ``(x, y)``."""
        t = np.zeros(np.broadcast(np.asarray(x), np.asarray(y)).shape)
        for p in self.particles:
            t = np.maximum(t, p.thickness_at(x, y))
        return t

    def inside(self, x, y) -> np.ndarray:
        """Index of the particle whose outline holds ``(x, y)``, -1 on the support."""
        out = np.full(np.broadcast(np.asarray(x), np.asarray(y)).shape, -1)
        for k, p in enumerate(self.particles):
            out[p.sdf(x, y) < 0] = k
        return out

    # -- plasmons ----------------------------------------------------------------------
    def _norm(self, kv: float) -> np.ndarray:
        """Per mode, the largest ``|coupling|²`` over probe positions 1 nm outside each
        outline (pushed out along the radius) and inside each particle (a 1/12-size grid)."""
        key = round(float(kv), 6)
        if key not in self._norms:
            self._norms[key] = np.array(
                [np.max(coupling(m, *self._probe_points, kv) ** 2) for m in self.modes]
            )
        return self._norms[key]

    @property
    def _probe_points(self) -> tuple[np.ndarray, np.ndarray]:
        px, py = [], []
        for p in self.particles:
            u, v, _ = _outline(p, 2.0)
            r = np.hypot(u, v)
            px.append(p.to_sample(u * (1 + 10.0 / r), v * (1 + 10.0 / r))[0])
            py.append(p.to_sample(u * (1 + 10.0 / r), v * (1 + 10.0 / r))[1])
            g = np.arange(-p.radius, p.radius, p.size / 12.0)
            gx, gy = np.meshgrid(p.x + g, p.y + g)
            inner = p.sdf(gx, gy) < 0
            px.append(gx[inner])
            py.append(gy[inner])
        return np.concatenate(px), np.concatenate(py)

    def lsp(self, x, y, kv: float | None = None) -> np.ndarray:
        """Loss probability of every mode at ``(x, y)`` Å, shape ``(modes,) + shape``."""
        kv = self.kv if kv is None else float(kv)
        norm = self._norm(kv)
        return np.stack(
            [m.strength * coupling(m, x, y, kv) ** 2 / n for m, n in zip(self.modes, norm)]
        )

    def truth_maps(self, x, y, kv: float | None = None) -> dict[str, np.ndarray]:
        """``lsp_energy`` (eV, the strongest mode's energy), ``lsp_intensity`` (its loss
        probability), ``thickness`` (Å of metal) and ``particle`` (index, -1 on carbon)."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        g = self.lsp(x, y, kv)
        best = np.argmax(g, 0)
        energies = np.array([m.energy for m in self.modes])
        return {
            "lsp_energy": energies[best],
            "lsp_intensity": np.take_along_axis(g, best[None], 0)[0],
            "thickness": self.metal_thickness(x, y),
            "particle": self.inside(x, y),
        }

    def local_spectrum(self, x: float, y: float, kv: float | None = None) -> LocalSpectrum:
        """LSP peaks of every mode (energy, width, loss probability here), the metal's bulk
        loss and the carbon plasmon by thickness, and the C K edge of the film."""
        return self.local_spectra([x], [y], kv)[0]

    def local_spectra(self, x, y, kv: float | None = None) -> list[LocalSpectrum]:
        """:meth:`local_spectrum` at many positions ``x, y`` (Å), the plasmon couplings, metal
        and carbon of all of them computed together."""
        table = self.local_spectra_table(x, y, kv)
        return [table.spectrum(j) for j in range(len(table))]

    def local_spectra_table(self, x, y, kv: float | None = None) -> LocalSpectra:
        """:meth:`local_spectra` by column (:class:`LocalSpectra`): every mode's LSP peak,
        the metal's bulk loss, the carbon plasmon and the C K edge (its strength 0 where
        there is no carbon)."""
        x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
        g = self.lsp(x, y, kv)
        t_metal = self.metal_thickness(x, y)
        amorph = np.asarray(self.amorphous_density(x, y), float)
        e_b, w_b = self.metal.bulk
        t_c = amorph / AMORPHOUS_C_DENSITY
        peaks = [(Peak("lsp", m.energy, m.width, 0.0), g[i]) for i, m in enumerate(self.modes)]
        peaks.append((Peak("bulk", e_b, w_b, 0.0), t_metal / self.metal.mfp))
        peaks.append((Peak("bulk", 24.0, 10.0, 0.0), t_c / AMORPHOUS_MFP))
        edge = Edge("C", 284.0, 0.0, "K", prepeak=1.5, prepeak_height=0.3)
        return LocalSpectra(
            thickness_mfp=t_metal / self.metal.mfp + t_c / AMORPHOUS_MFP,
            peaks=peaks,
            edges=[(edge, amorph)],
        )
