"""Electron energy-loss spectra: zero-loss peak, plasmons, core-loss edges, detector.

Energies in eV. A spectrum is the expected number of electrons per channel,
``N_e · fraction(E) · dispersion``, with ``N_e = I t / e`` the electrons of the exposure,
then Poisson counting noise, detector gain (counts per electron) and read noise.

- Zero-loss peak: a Gaussian of FWHM ``zlp_fwhm`` (cold FEG 0.3 eV, Schottky 0.7 eV) with
  2 % in Lorentzian tails, weight ``exp(-t/λ)``, at the drifting energy the twin sets.
- Plasmons and surface plasmons: Lorentzians (FWHM as the sample gives) weighted by their
  strength (fraction of the beam), broadened by the zero-loss width, zero below 0.
- Core-loss edges: a step at the onset ``E0`` (erf of the zero-loss width) decaying as
  ``(E/E0)^-2.5``; L2,3 edges add white lines at ``E0 + 1`` and ``E0 + 1 + split``, each
  split by a crystal field ``cf`` when the edge has one (L3 t2g/eg at ``E0 + 1`` (FWHM
  0.6 eV) and ``E0 + 1 + cf`` (1.0 eV), L2 t2g/eg at ``+ split`` (0.8 / 1.2 eV)); an
  optional pre-peak (e.g. C K π*, O K pre-peak of a reduced oxide) sits at ``E0 + prepeak``.
  The jump per atom/Å² is ``3e-6 (284/E0)^1.5`` per eV (relative, not absolute).
- Background: a power law ``A (E / 50 eV)^-3`` for E > 10 eV with ``A = 0.02 t/λ`` per eV,
  which puts the graphene C K jump ratio near 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from autoscope.devices.twin.stem.samples.base import LocalSpectrum
from autoscope.errors import ConfigurationError

_E = 1.602176634e-19

#: edge onsets (eV) the twin's samples use
ONSETS = {
    "C K": 284.0,
    "N K": 401.0,
    "O K": 532.0,
    "Ti L23": 456.0,
    "Fe L23": 708.0,
    "Si L23": 99.5,
}
#: spin-orbit splitting (eV) of L2,3 white lines
L23_SPLIT = {"Ti": 5.6, "Fe": 13.1, "Si": 0.6}


@dataclass(frozen=True)
class Spectrometer:
    """Spectrometer settings: channels, dispersion (eV/channel), offset (eV of channel 0),
    exposure (s), gain (counts per electron), read noise (counts rms), zero-loss FWHM (eV),
    energy drift of the zero-loss peak (eV/s)."""

    channels: int = 2048
    dispersion: float = 0.25
    offset: float = -10.0
    exposure: float = 0.01
    gain: float = 1.0
    read_noise: float = 1.0
    zlp_fwhm: float = 0.35
    energy_drift: float = 0.002

    def __post_init__(self) -> None:
        if (
            isinstance(self.channels, bool)
            or not isinstance(self.channels, int)
            or self.channels < 8
        ):
            raise ConfigurationError(f"EELS channels {self.channels!r} must be an integer >= 8")
        for name in ("dispersion", "exposure", "gain", "zlp_fwhm"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigurationError(f"EELS {name}={v!r} must be positive")
        if not self.read_noise >= 0:
            raise ConfigurationError(f"EELS read noise {self.read_noise!r} must be >= 0")

    def axis(self) -> np.ndarray:
        """Energy loss (eV) at each channel's centre."""
        return self.offset + self.dispersion * np.arange(self.channels)


def _lorentz(e, e0, fwhm):
    g = fwhm / 2
    return g / np.pi / ((e - e0) ** 2 + g**2)


def _gauss(e, e0, fwhm):
    s = fwhm / (2 * math.sqrt(2 * math.log(2)))
    return np.exp(-0.5 * ((e - e0) / s) ** 2) / (s * math.sqrt(2 * math.pi))


def edge_shape(e: np.ndarray, edge, width: float) -> np.ndarray:
    """Fraction of the beam per eV of one edge (without its strength)."""
    s = max(width, 0.2) / (2 * math.sqrt(2 * math.log(2)))
    e0 = edge.onset
    step = 0.5 * (1 + erf((e - e0) / (math.sqrt(2) * s)))
    ratio = np.clip(e / e0, 1e-3, None)
    out = step * ratio**-2.5
    if edge.shape == "L23" and edge.crystal_field > 0:
        cf, so = edge.crystal_field, edge.split
        out = (
            out
            + 1.0 * _lorentz(e, e0 + 1.0, 0.6)
            + 1.3 * _lorentz(e, e0 + 1.0 + cf, 1.0)
            + 0.9 * _lorentz(e, e0 + 1.0 + so, 0.8)
            + 1.2 * _lorentz(e, e0 + 1.0 + so + cf, 1.2)
        )
    elif edge.shape == "L23":
        out = out + 2.0 * _lorentz(e, e0 + 1.0, 1.0) + 1.0 * _lorentz(e, e0 + 1.0 + edge.split, 1.2)
    if edge.prepeak_height:
        out = out + edge.prepeak_height * 2.0 * _gauss(e, e0 + edge.prepeak, max(width, 0.8))
    return out * 3e-6 * (284.0 / e0) ** 1.5


def fraction(local: LocalSpectrum, e: np.ndarray, zlp_energy: float, zlp_fwhm: float):
    """Fraction of the beam per eV at energy losses ``e`` (eV) for one local spectrum."""
    t = max(local.thickness_mfp, 0.0)
    out = math.exp(-t) * (
        0.98 * _gauss(e, zlp_energy, zlp_fwhm) + 0.02 * _lorentz(e, zlp_energy, 3 * zlp_fwhm)
    )
    el = e - zlp_energy
    pos = el > 0
    for p in local.peaks:
        if p.strength > 0:
            out = out + p.strength * np.where(
                pos, _lorentz(el, p.energy, math.hypot(p.width, zlp_fwhm)), 0.0
            )
    bg = 0.02 * max(t, 0.003) * np.where(el > 10, (np.clip(el, 10, None) / 50.0) ** -3, 0.0)
    out = out + bg
    for edge in local.edges:
        out = out + edge.strength * np.where(pos, edge_shape(el, edge, zlp_fwhm), 0.0)
    return out


def acquire(
    local: LocalSpectrum,
    spec: Spectrometer,
    current_pa: float,
    zlp_energy: float,
    rng: np.random.Generator | None,
    efficiency: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts per channel and the expected counts (no noise). ``rng=None``: no noise."""
    n_e = current_pa * 1e-12 * spec.exposure / _E
    e = spec.axis()
    # integrate over each channel with 4 sub-samples, so narrow peaks keep their area
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    ee = e[:, None] + sub[None, :] * spec.dispersion
    f = fraction(local, ee.ravel(), zlp_energy, spec.zlp_fwhm).reshape(ee.shape).mean(1)
    expected_e = n_e * efficiency * f * spec.dispersion
    expected = expected_e * spec.gain
    if rng is None:
        return expected, expected
    counts = rng.poisson(expected_e) * spec.gain + rng.normal(0.0, spec.read_noise, e.size)
    return counts, expected
