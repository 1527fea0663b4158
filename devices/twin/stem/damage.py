"""Beam damage: knock-on displacement, radiolysis and beam-driven dopant hops.

Cross sections in barn (1 b = 1e-28 m² = 1e-8 Å²), energies in eV, beam energy in kV.

- Knock-on: McKinley–Feshbach cross section for a nucleus of mass ``A`` u and charge ``Z``
  with displacement threshold ``E_d``, averaged over the nucleus' thermal velocity along the
  beam (Meyer et al., PRL 108, 196102 (2012)): the largest transferable energy is
  ``E_max(v) = 2 E (E + 2 m c²) / (M c²) + 2 p v`` with ``v ~ N(0, sqrt(k T / M))``.
  At 60 kV a C atom in graphene (``E_d`` 21 eV, ``E_max`` 11.6 eV) is safe; at 100 kV it is not.
- Radiolysis: for the species a sample lists (insulators), a cross section given at 200 kV
  and scaled as ``1 / β²`` (the inelastic stopping power).
- Dopant hops: a fixed cross section per dopant species at the set energy (the sample says;
  0.01–0.05 b at 60 keV for Si in graphene), the dopant exchanging with a neighbour.
"""

from __future__ import annotations

import math

import numpy as np

BARN = 1e-8  # Å²
_MC2 = 510998.95  # eV
_U = 931.494e6  # eV per u
_A0 = 0.529177  # Å
_RY = 13.6057  # eV
_ALPHA = 1 / 137.036
_KB = 8.617333e-5  # eV/K

#: atomic mass (u) by Z, for the species the twin's samples use
MASS = {
    5: 10.81,
    6: 12.011,
    7: 14.007,
    8: 15.999,
    13: 26.98,
    14: 28.086,
    22: 47.867,
    26: 55.845,
    38: 87.62,
    47: 107.87,
    79: 196.97,
}


def beta2(kv: float) -> float:
    """β² of the beam electrons at ``kv`` kV."""
    gamma = 1.0 + kv * 1e3 / _MC2
    return 1.0 - 1.0 / gamma**2


def max_transfer(kv: float, mass_u: float) -> float:
    """Largest energy (eV) an electron of ``kv`` kV gives a nucleus at rest of ``mass_u`` u."""
    e = kv * 1e3
    return 2.0 * e * (e + 2 * _MC2) / (mass_u * _U)


def mckinley_feshbach(kv: float, Z: int, e_max: np.ndarray, e_d: float) -> np.ndarray:
    """McKinley–Feshbach displacement cross section (barn) for transferable ``e_max`` eV."""
    b2 = beta2(kv)
    b = math.sqrt(b2)
    pre = 4 * math.pi * _A0**2 * Z**2 * (_RY / _MC2) ** 2 * (1 - b2) / b2**2 / BARN
    u = np.asarray(e_max, float) / e_d
    ok = u > 1.0
    uu = np.where(ok, u, 1.0)
    br = (
        (uu - 1) - b2 * np.log(uu) + math.pi * _ALPHA * Z * b * (2 * (np.sqrt(uu) - 1) - np.log(uu))
    )
    return np.where(ok, pre * br, 0.0)


def knock_on_barn(kv: float, Z: int, e_d: float, temperature: float = 300.0) -> float:
    """Knock-on cross section (barn) at ``kv`` for threshold ``e_d`` eV, thermally averaged."""
    mass = MASS.get(int(Z), 2.0 * Z)
    e0 = max_transfer(kv, mass)
    e = kv * 1e3
    pc = math.sqrt(e * (e + 2 * _MC2))  # eV
    sv = math.sqrt(_KB * temperature / (mass * _U))  # v/c
    v = np.linspace(-6, 6, 241)
    w = np.exp(-0.5 * v**2)
    w /= w.sum()
    em = e0 + 2 * pc * sv * v
    return float(np.sum(w * mckinley_feshbach(kv, int(Z), em, e_d)))


def radiolysis_barn(kv: float, sigma_200: float) -> float:
    """Radiolysis cross section (barn) at ``kv``, given ``sigma_200`` at 200 kV."""
    return sigma_200 * beta2(200.0) / beta2(kv)
