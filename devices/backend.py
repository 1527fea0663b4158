"""The contract between the ophyd SPM device and whatever drives the instrument.

A backend is either the simulated twin (``autoscope.devices.twin``) or a
hardware driver (Nanonis TCP, later others). The ophyd device
(``autoscope.devices.spm``) talks to the instrument only through this
interface, so a plan never knows which one it runs on.

Units used throughout (see docs/decisions/0004-units.md):

- lengths and positions: nm (sample frame, x to the right, y up the image)
- bias: V;  tunnelling current and current setpoint: pA
- time: s of *instrument* time (``backend.time()``), which a twin counts even
  when it runs faster than real time
- heights in images: nm; angles: degrees

This module is pure Python + numpy: no ophyd, no bluesky. A twin imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from autoscope.devices import geometry


@dataclass(frozen=True)
class ScanFrame:
    """A raster frame. Lines are scanned from the bottom (index 0) upwards.

    Pixel ``j`` of line ``i`` sits, before rotation by ``angle`` about the
    centre, at ``x = center_x - width/2 + (j + 0.5) * width / pixels`` and
    ``y = center_y - height/2 + (i + 0.5) * height / lines``. The formulas live
    in :mod:`autoscope.devices.geometry`; these methods call it.
    """

    center_x: float = 0.0  # nm
    center_y: float = 0.0  # nm
    width: float = 20.0  # nm
    height: float = 20.0  # nm
    angle: float = 0.0  # degrees, counter-clockwise
    pixels: int = 256  # per line
    lines: int = 256
    line_time: float = 1.0  # s for one trace (the retrace takes as long)

    def nominal_xy(self, line: int) -> tuple[np.ndarray, np.ndarray]:
        """Requested (x, y) in nm of every pixel of ``line``, shape ``(pixels,)`` each."""
        return geometry.pixel_xy(self, line)

    def corners(self) -> np.ndarray:
        """The four corners (nm) after rotation, shape ``(4, 2)`` (:func:`geometry.corners`)."""
        return geometry.corners(self)

    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned ``(x_min, y_min, x_max, y_max)`` (nm) around the rotated frame."""
        return geometry.bounds(self)


@dataclass
class LineData:
    """One scan line, trace and retrace, as the instrument measured it.

    ``channels`` maps a channel name (one of ``backend.image_channels``) to
    ``(trace, retrace)``, each float32 of shape ``(pixels,)``, both ordered by
    increasing x in the frame (the retrace is flipped back for you).
    ``requested`` and ``reported`` are ``(x_start, y_start, x_end, y_end)`` in
    nm: where the line was asked to run and where the instrument says it ran
    (what its position sensors or its own model report; a twin reports the
    commanded position plus what a real controller could know, never the true
    drift).
    """

    index: int
    channels: dict[str, tuple[np.ndarray, np.ndarray]]
    requested: tuple[float, float, float, float]
    reported: tuple[float, float, float, float]
    t_start: float
    t_end: float


@dataclass(frozen=True)
class SpectroscopySettings:
    """Settings of one spectrum (bias sweep for STM, switching waveform for PFM).

    STM: the bias is swept from ``start`` to ``stop`` in ``points`` steps with
    feedback off at the height set by the setpoint at ``x, y``; every point
    waits ``settle`` then integrates for ``integration`` seconds; the lock-in
    modulates the bias by ``lockin_amplitude`` (V, rms) at
    ``lockin_frequency`` (Hz).
    PFM: a triangular DC waveform from 0 to ``stop``, to ``start`` and back to
    0 in ``points`` steps (band-excitation switching spectroscopy); each point
    costs ``settle + integration`` seconds.
    """

    start: float = -2.0  # V
    stop: float = 2.0  # V
    points: int = 200
    settle: float = 0.002  # s
    integration: float = 0.01  # s
    lockin_amplitude: float = 0.01  # V rms
    lockin_frequency: float = 973.0  # Hz
    sweeps: int = 1  # forward/backward pairs averaged


@dataclass
class SpectrumData:
    """One spectrum at one position.

    ``axis`` is float64 of shape ``(K,)`` (the bias of every point, V);
    ``channels`` maps a channel name (one of ``backend.spectrum_channels``) to
    a float32 array of shape ``(K,)``.
    """

    axis: np.ndarray
    axis_name: str
    axis_units: str
    channels: dict[str, np.ndarray]
    requested: tuple[float, float]
    reported: tuple[float, float]
    t_start: float
    t_end: float


@dataclass(frozen=True)
class HardwareRanges:
    """What the instrument physically can do (the device's safety limits sit inside)."""

    scan_range: float = 1000.0  # nm, full width of reachable x/y
    bias: float = 10.0  # V, |bias| maximum
    current: float = 100_000.0  # pA, |setpoint| maximum
    dip_depth: float = 5.0  # nm
    max_pixels: int = 8192  # per line, the largest scan buffer line
    max_lines: int = 8192  # per frame
    pixel_step: int = 1  # a controller that coerces pixels to a multiple of n states n
    extra: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class SPMBackend(Protocol):
    """What an SPM backend provides. All calls block until done (instrument time passes).

    Faults are raised as subclasses of ``autoscope.errors.InstrumentFault``.

    A PFM backend also states ``phase_reference`` (float, degrees): the phase
    its lock-in reads on an up-polarised domain. In-phase piezoresponse is
    ``amplitude * cos(phase - phase_reference)``
    (:func:`autoscope.io.pfm.piezoresponse`); the device reads it as
    ``spm.phase_reference``. It is not a protocol member, so an STM backend
    need not have it.
    """

    mode: str  # "stm" or "pfm"
    image_channels: Mapping[str, str]  # name -> units, e.g. {"topography": "nm", "current": "pA"}
    spectrum_channels: Mapping[str, str]  # name -> units, e.g. {"current": "pA", "dIdV": "a.u."}
    setpoint_units: str  # "pA" for STM, "V" (deflection) for PFM
    ranges: HardwareRanges

    def time(self) -> float:
        """Instrument time in seconds since the backend started."""

    def get_bias(self) -> float: ...

    def set_bias(self, volts: float) -> None: ...

    def get_setpoint(self) -> float: ...

    def set_setpoint(self, value: float) -> None: ...

    def get_feedback(self) -> bool: ...

    def set_feedback(self, on: bool) -> None: ...

    def get_position(self) -> tuple[float, float]:
        """Probe position (nm) as the instrument reports it."""

    def move_to(self, x: float, y: float) -> tuple[float, float]:
        """Move the probe to (x, y) nm; returns the reported position after the move."""

    def scan_line(self, frame: ScanFrame, index: int) -> LineData:
        """Scan line ``index`` of ``frame`` (trace then retrace) and return it."""

    def spectrum(self, x: float, y: float, settings: SpectroscopySettings) -> SpectrumData:
        """Move to (x, y), measure one spectrum, and return it."""

    def bias_pulse(self, volts: float, width: float) -> None:
        """Apply a bias pulse of ``volts`` for ``width`` seconds at the current position."""

    def dip(self, depth: float) -> None:
        """Controlled indentation of the tip by ``depth`` nm at the current position."""
