"""Ground truth of a twin: what really happened, for tests, benchmarks and labels.

Nothing here ever goes into :class:`~autoscope.devices.backend.LineData` or
:class:`~autoscope.devices.backend.SpectrumData`; an agent must not see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .tip import TipEvent, TipState


@dataclass(frozen=True)
class LineTruth:
    """Truth of one scanned line (global counter ``line``, ``frame_line`` its index in the frame)."""

    line: int
    frame_line: int
    t_start: float
    t_end: float
    kind_start: str
    kind_end: str
    changed: bool
    mean_offset: tuple[float, float]  # true - commanded position (nm), averaged over the line


@dataclass
class TwinTruth:
    """Ground truth held by a :class:`~autoscope.devices.twin.TwinSPM`.

    Attributes
    ----------
    tip_state : TipState
        The tip as it is now.
    tip_history : list of TipEvent
        Every change of tip state, in order, with instrument time and the line
        (global counter and index in its frame) and sample where it happened.
    lines : list of LineTruth
        One record per scanned line.
    faults : list
        ``(time, FaultPlan, where)`` for every fault that fired.
    """

    twin: object = field(repr=False)
    tip_history: list[TipEvent] = field(default_factory=list)
    lines: list[LineTruth] = field(default_factory=list)

    @property
    def tip_state(self) -> TipState:
        return self.twin._tip

    @property
    def sample(self):
        """The sample object (its ``truth_maps(x, y)`` give the true functional maps)."""
        return self.twin.sample

    @property
    def faults(self) -> list:
        return list(self.twin._faults.fired)

    def drift_offset(self, t=None):
        """True drift offset ``(dx, dy)`` (nm) at instrument time ``t`` (default now)."""
        t = self.twin.clock.now() if t is None else t
        return self.twin._drift.offset(t)

    def creep_offset(self, t=None):
        """True creep offset ``(dx, dy)`` (nm) at instrument time ``t`` (default now)."""
        t = self.twin.clock.now() if t is None else t
        return self.twin._creep.offset(t)

    def position_offset(self, t=None) -> tuple[float, float]:
        """True minus reported probe position (nm) at ``t``: drift plus creep (no hysteresis)."""
        dx, dy = self.drift_offset(t)
        cx, cy = self.creep_offset(t)
        return float(dx + cx), float(dy + cy)

    def drift_velocity(self, t=None) -> np.ndarray:
        """Drift velocity (nm/s) at ``t`` (default now)."""
        t = self.twin.clock.now() if t is None else t
        return self.twin._drift.velocity(t)

    def tip_kind_at(self, t: float) -> str:
        """Kind of the tip at instrument time ``t`` (from the history)."""
        kind = self.twin._initial_tip_kind
        for ev in self.tip_history:
            if ev.time <= t:
                kind = ev.after
        return kind
