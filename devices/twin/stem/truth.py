"""Hidden truth of the STEM twin: atom positions, damage events, beam positions, dose.

Benchmarks may read ``TwinSTEM.truth``; nothing in it goes into what a scan or a spectrum
returns, so an agent cannot see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DamageEvent:
    """One damage event: time (s), kind (``sputter``, ``displace``, ``hop``), the atom's id
    and Z, where it was and where it went (Å; NaN when it left the sample)."""

    t: float
    kind: str
    atom_id: int
    Z: int
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class STEMTruth:
    """What really happened: events, per-line true offsets, the initial atoms."""

    initial_atoms: object
    events: list[DamageEvent] = field(default_factory=list)
    line_offsets: list[tuple[float, float, float]] = field(default_factory=list)
    electrons: float = 0.0

    def count(self, kind: str) -> int:
        """Number of events of ``kind``."""
        return sum(1 for e in self.events if e.kind == kind)

    def mean_offset(self) -> np.ndarray:
        """Mean true-minus-commanded offset (Å) of all lines so far, shape ``(2,)``."""
        if not self.line_offsets:
            return np.zeros(2)
        a = np.asarray(self.line_offsets)
        return a[:, 1:].mean(0)
