"""Fixed properties of the twin per mode: channels and units, hardware ranges, timing costs."""

from __future__ import annotations

from dataclasses import dataclass

from autoscope.devices.backend import HardwareRanges

CHANNELS = {
    "stm": ({"topography": "nm", "current": "pA"}, {"current": "pA", "dIdV": "nS"}, "pA"),
    "pfm": (
        {"height": "nm", "amplitude": "a.u.", "phase": "deg"},
        {"piezoresponse": "a.u.", "amplitude": "a.u.", "phase": "deg"},
        "V",
    ),
}
"""Per mode: image channels, spectrum channels (name -> units) and setpoint units."""

RANGES = {
    "stm": HardwareRanges(scan_range=1000.0, bias=10.0, current=100_000.0, dip_depth=5.0),
    "pfm": HardwareRanges(scan_range=20_000.0, bias=10.0, current=10.0, dip_depth=100.0),
}
"""What the simulated hardware can do per mode (nm, V, pA or V deflection, nm)."""

PFM_PHASE_REFERENCE = 12.0
"""Phase (deg) of the simulated PFM lock-in's reference: an up domain reads this phase.

The twin states it as ``TwinSPM.phase_reference``; piezoresponse is
``amplitude * cos(phase - phase_reference)`` (:func:`autoscope.io.pfm.piezoresponse`).
"""


@dataclass(frozen=True)
class Timing:
    """Instrument-time costs (s) that are not set by the scan or spectroscopy settings."""

    move_speed: float = 200.0  # nm/s of the probe between positions (PFM: x25)
    move_overhead: float = 0.05  # s per move
    settle_after_move: float = 0.1  # s
    spectrum_overhead: float = 0.05  # s: feedback off before and on after a spectrum
    pulse_overhead: float = 0.1  # s around a bias pulse
    dip_time: float = 1.0  # s for a controlled dip
    feedback_switch: float = 0.01  # s
    reapproach: float = 2.0  # s to regain contact after feedback was lost
    timeout_wait: float = 5.0  # s a timeout takes before it is reported
