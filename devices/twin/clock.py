"""Instrument clock of the twin: counts instrument seconds, optionally paced in real time."""

from __future__ import annotations

import math
import time as _time

from autoscope.errors import ConfigurationError


class InstrumentClock:
    """Instrument time in seconds, advanced explicitly by the twin's timing model.

    Parameters
    ----------
    speedup : float
        How much faster than real time the twin runs. ``inf`` (default) never
        sleeps; a finite value ``>= 1`` sleeps ``dt / speedup`` real seconds on
        every :meth:`advance`, so a twin can be watched at a human pace.
    start : float
        Instrument time at creation, s.

    Notes
    -----
    Any object with ``now() -> float`` and ``advance(dt: float) -> None`` can
    be injected into :class:`~autoscope.devices.twin.TwinSPM` instead.
    """

    def __init__(self, speedup: float = math.inf, start: float = 0.0) -> None:
        speedup = float(speedup)
        if not speedup >= 1.0:
            raise ConfigurationError(f"clock speedup {speedup!r} must be >= 1 (inf: no sleeping)")
        self.speedup = speedup
        self._t = float(start)

    def now(self) -> float:
        """Current instrument time, s."""
        return self._t

    def advance(self, dt: float) -> None:
        """Let ``dt`` instrument seconds pass (sleeping ``dt / speedup`` real seconds)."""
        dt = float(dt)
        if not dt >= 0.0:
            raise ConfigurationError(f"clock cannot advance by {dt!r} s")
        self._t += dt
        if math.isfinite(self.speedup) and dt > 0:
            _time.sleep(dt / self.speedup)
