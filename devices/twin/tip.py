"""Tip states, spontaneous tip changes and tip conditioning.

A tip state is a small frozen record: its kind (the label a classifier should
learn), the apices it images with (offset and weight), its radius, an
electronic contrast factor, telegraph noise and the tip's own density of
states. :class:`TipProcess` draws spontaneous changes as a Poisson process in
instrument time and the stochastic outcome of conditioning actions.

Lengths scale with the mode: an STM apex is a few atoms (radius ~0.1 nm, a
second apex 0.5-2 nm away); a PFM tip is tens of nm (radius ~20 nm, a second
contact 75-300 nm away).

A multi-apex STM tip's extra apices stand back from the surface by ``dz``
(0-40 pm, uniform); in constant current an apex's share of the current is
``w = exp(-2 kappa dz)`` (0.42-1 for kappa = 10.9 nm^-1), so its ghost copy of
every protrusion, defect and step edge is lowered by only ``dz`` and is
clearly visible, as on real double-tip images. An apex further back
(dz > ~0.1 nm, w < 0.1) would add nothing visible: the tip would image as a
single tip, so such tips are not drawn as ``multi``. A blunt STM tip images
with an effective radius of 0.4-1 nm (5-12 times the sharp apex): dimer rows
and atoms are gone, defects and step edges are broad and rounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoscope.errors import ConfigurationError

TIP_KINDS = ("sharp", "blunt", "multi", "adsorbate", "unstable")

_SCALE = {"stm": 1.0, "pfm": 150.0}  # radius/offset scale per mode, relative to STM (nm)
# nm^-1, decay constant of the tunnel current through a 4.5 eV barrier (as spectroscopy.kappa;
# computed here because spectroscopy imports this module)
_KAPPA_STM = 5.1231 * float(np.sqrt(4.5))
MULTI_SETBACK = (0.0, 0.04)
"""Range (nm) of how far a multi-apex STM tip's extra apices stand back from the first."""
BLUNT_RADIUS = (5.0, 12.0)
"""Range of a blunt tip's imaging radius, in units of the sharp tip's radius."""


@dataclass(frozen=True)
class TipState:
    """One tip state (ground truth; never put into measured data).

    Attributes
    ----------
    kind : str
        One of :data:`TIP_KINDS`.
    apices : tuple of (dx, dy, weight)
        Apex offsets (nm) from the nominal tip position and their weights
        (the first apex is at 0, 0 with weight 1).
    radius : float
        Gaussian imaging radius, nm.
    contrast : float
        Factor on the electronic contrast of sample features (adsorbate tips
        change it, even invert it).
    telegraph_amplitude : float
        Height jump (nm) of an unstable tip between its two configurations.
    telegraph_rate : float
        Switching rate of the telegraph noise, 1/s.
    dos_peak : float or None
        Energy (eV) of a state in the tip's own density of states.
    """

    kind: str
    apices: tuple = ((0.0, 0.0, 1.0),)
    radius: float = 0.08
    contrast: float = 1.0
    telegraph_amplitude: float = 0.0
    telegraph_rate: float = 0.0
    dos_peak: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in TIP_KINDS:
            raise ConfigurationError(f"unknown tip kind {self.kind!r}; choose one of {TIP_KINDS}")

    @property
    def offsets(self) -> np.ndarray:
        """Apex table as an array of shape (A, 3): dx, dy, weight."""
        return np.asarray(self.apices, float).reshape(-1, 3)

    @property
    def is_good(self) -> bool:
        """True for a sharp tip (the state conditioning aims for)."""
        return self.kind == "sharp"


def make_tip(kind: str, mode: str = "stm", rng: np.random.Generator | None = None) -> TipState:
    """A tip state of ``kind`` for ``mode`` (``"stm"`` or ``"pfm"``), details drawn from ``rng``.

    Without ``rng`` the state is the kind's typical (deterministic) member.
    """
    if mode not in _SCALE:
        raise ConfigurationError(f"unknown mode {mode!r}; choose 'stm' or 'pfm'")
    if kind not in TIP_KINDS:
        raise ConfigurationError(f"unknown tip kind {kind!r}; choose one of {TIP_KINDS}")
    s = _SCALE[mode]
    r = rng if rng is not None else None

    def u(lo, hi, typical):
        return float(r.uniform(lo, hi)) if r is not None else typical

    sharp_r = 0.08 * s if mode == "stm" else 15.0
    if kind == "sharp":
        return TipState("sharp", radius=sharp_r)
    if kind == "blunt":
        return TipState("blunt", radius=u(*BLUNT_RADIUS, 7.0) * sharp_r)
    if kind == "multi":
        n = int(r.integers(2, 4)) if r is not None else 2
        apices = [(0.0, 0.0, 1.0)]
        for _ in range(n - 1):
            dist = u(0.5, 2.0, 1.0) * s
            ang = u(0, 2 * np.pi, 0.0)
            if mode == "stm":  # share of the current of an apex standing back by dz
                w = float(np.exp(-2 * _KAPPA_STM * u(*MULTI_SETBACK, 0.016)))
            else:  # a second contact pressing less hard
                w = u(0.3, 1.0, 0.7)
            apices.append((dist * np.cos(ang), dist * np.sin(ang), w))
        return TipState("multi", apices=tuple(apices), radius=u(1.0, 2.0, 1.2) * sharp_r)
    if kind == "adsorbate":
        return TipState(
            "adsorbate", radius=sharp_r, contrast=u(-0.6, 0.3, -0.4), dos_peak=u(0.5, 1.2, 0.8)
        )
    # unstable
    amp = u(0.02, 0.08, 0.04) if mode == "stm" else u(0.5, 2.0, 1.0)
    return TipState(
        "unstable",
        radius=u(1.0, 2.0, 1.3) * sharp_r,
        telegraph_amplitude=amp,
        telegraph_rate=u(2.0, 30.0, 10.0),
    )


@dataclass(frozen=True)
class TipEvent:
    """A change of tip state (ground truth).

    ``time`` is instrument seconds; ``cause`` one of ``"spontaneous"``,
    ``"bias_pulse"``, ``"dip"``, ``"crash"``, ``"set"``, ``"wear"``; ``line`` the global
    line counter of the scan line it happened in (None outside a line) and
    ``sample`` the index of the trace+retrace sample (0 .. 2*pixels-1) where
    the new state began (trace samples first, retrace samples in scan order).
    """

    time: float
    before: str
    after: str
    cause: str
    line: int | None = None
    frame_line: int | None = None
    sample: int | None = None


# Spontaneous transitions: from a good tip mostly to a bad one; bad tips drift
# between bad kinds and rarely heal by themselves.
_SPONTANEOUS = {
    "sharp": {"blunt": 0.3, "multi": 0.3, "adsorbate": 0.25, "unstable": 0.15},
    "blunt": {"sharp": 0.1, "multi": 0.4, "adsorbate": 0.2, "unstable": 0.3},
    "multi": {"sharp": 0.15, "blunt": 0.4, "adsorbate": 0.2, "unstable": 0.25},
    "adsorbate": {"sharp": 0.35, "blunt": 0.2, "multi": 0.25, "unstable": 0.2},
    "unstable": {"sharp": 0.25, "blunt": 0.3, "multi": 0.3, "adsorbate": 0.15},
}


class TipProcess:
    """Spontaneous tip changes and the stochastic result of conditioning.

    Parameters
    ----------
    mode : str
        ``"stm"`` or ``"pfm"``.
    rng : numpy.random.Generator
        The tip's own generator (seeded by the twin).
    change_rate : float
        Mean number of spontaneous changes per instrument second (0 disables).
    """

    def __init__(self, mode: str, rng: np.random.Generator, change_rate: float = 1 / 1200) -> None:
        if not change_rate >= 0:
            raise ConfigurationError(f"tip change_rate {change_rate!r} must be >= 0 per s")
        self.mode = mode
        self.rng = rng
        self.change_rate = float(change_rate)

    def _draw_kind(self, table: dict[str, float]) -> str:
        kinds = list(table)
        p = np.array([table[k] for k in kinds])
        return kinds[int(self.rng.choice(len(kinds), p=p / p.sum()))]

    def spontaneous_times(self, t0: float, t1: float) -> np.ndarray:
        """Sorted instrument times in ``[t0, t1)`` at which the tip changes by itself."""
        if self.change_rate <= 0 or t1 <= t0:
            return np.empty(0)
        n = self.rng.poisson(self.change_rate * (t1 - t0))
        return np.sort(self.rng.uniform(t0, t1, n))

    def spontaneous_change(self, state: TipState) -> TipState:
        """The state a spontaneous change leads to from ``state``."""
        return make_tip(self._draw_kind(_SPONTANEOUS[state.kind]), self.mode, self.rng)

    def _outcome(self, state: TipState, p_change: float, p_good: float, bad: dict) -> TipState:
        if self.rng.uniform() >= p_change:
            return state
        if self.rng.uniform() < p_good:
            return make_tip("sharp", self.mode, self.rng)
        return make_tip(self._draw_kind(bad), self.mode, self.rng)

    def after_pulse(self, state: TipState, volts: float, width: float) -> TipState:
        """State after a bias pulse of ``volts`` V for ``width`` s.

        The chance that anything happens grows with ``|V|`` and the width;
        moderate pulses (1.5-5 V) heal more often than they harm, violent
        ones (> 6 V) mostly blunt the tip or make a second apex.
        """
        v = abs(float(volts))
        p_change = 1 - np.exp(-((v / 3.0) ** 2) * np.sqrt(max(width, 0.0) / 0.05))
        if v < 1.5:
            p_good = 0.25
        elif v <= 5.0:
            p_good = 0.6
        elif v <= 6.0:
            p_good = 0.45
        else:
            p_good = 0.25
        bad = (
            {"blunt": 0.45, "multi": 0.35, "adsorbate": 0.1, "unstable": 0.1}
            if v > 6
            else {"blunt": 0.25, "multi": 0.3, "adsorbate": 0.2, "unstable": 0.25}
        )
        return self._outcome(state, p_change, p_good, bad)

    def after_dip(self, state: TipState, depth: float) -> TipState:
        """State after a controlled dip of ``depth`` nm into the surface.

        Gentle dips (0.2-1.5 nm in STM, scaled for PFM) reshape the apex and
        usually help; deep dips mostly leave a blunt or multiple apex.
        """
        d = float(depth) / (1.0 if self.mode == "stm" else 20.0)
        p_change = 1 - np.exp(-d / 0.4)
        p_good = 0.65 if 0.2 <= d <= 1.5 else (0.3 if d < 0.2 else 0.2)
        bad = {"blunt": 0.5, "multi": 0.3, "adsorbate": 0.1, "unstable": 0.1}
        return self._outcome(state, p_change, p_good, bad)

    def after_crash(self, state: TipState) -> TipState:
        """State after a crash: blunt or multiple apex."""
        return make_tip(self._draw_kind({"blunt": 0.6, "multi": 0.4}), self.mode, self.rng)
