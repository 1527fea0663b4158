"""Safety limits of the SPM device and the argument checks shared by device and plans.

The limits sit inside what the hardware can do (``backend.ranges``); every
path that changes the instrument (a signal put, a move, a line, a spectrum, a
tip action, a plan's arguments) goes through :class:`SafetyLimits` before the
backend is called, so a value beyond a limit never reaches the instrument.

Units: nm, V, pA (or the backend's setpoint units), s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Integral, Real

import numpy as np

from autoscope.devices import geometry
from autoscope.devices.backend import HardwareRanges, ScanFrame, SpectroscopySettings
from autoscope.devices.limits import check_range
from autoscope.errors import ConfigurationError, SafetyLimitError

__all__ = ["SafetyLimits", "check_real", "check_int", "frame_corners"]


def check_real(
    name: str, value, *, low=None, high=None, units: str = "", low_inclusive: bool = True
) -> float:
    """Return ``value`` as float after checking it is a finite real number in range.

    Raises
    ------
    ConfigurationError
        naming the argument and the value when it is not a finite number, or
        lies outside ``[low, high]`` (``(low, high]`` if not ``low_inclusive``).
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigurationError(f"{name} must be finite, got {v!r}")
    return check_range(name, v, low=low, high=high, units=units, low_inclusive=low_inclusive)


def check_int(name: str, value, *, low=None, high=None) -> int:
    """Return ``value`` as int after checking it is an integer (not a bool) in range."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigurationError(f"{name} must be an integer, got {value!r}")
    return check_range(name, int(value), low=low, high=high)


def frame_corners(frame: ScanFrame) -> np.ndarray:
    """The four corners (nm) of ``frame`` after rotation, shape ``(4, 2)``.

    :func:`autoscope.devices.geometry.corners`, under the name the limits always used.
    """
    return geometry.corners(frame)


def _fmt(v: float) -> str:
    return f"{v:g}"


_INTEGER_LIMITS = ("max_pixels", "max_lines")


def _bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


@dataclass(frozen=True)
class SafetyLimits:
    """Limits the device enforces before it calls the backend.

    A field left ``None`` takes the hardware's own range (``backend.ranges``)
    when the device resolves the limits with :meth:`resolve`.

    Parameters
    ----------
    bias : float or None
        Largest ``|bias|`` in V (also bounds spectroscopy sweeps and the
        lock-in amplitude added on top of them).
    setpoint : float or None
        Largest ``|setpoint|`` in the backend's setpoint units (pA for STM).
    scan_range : float or None
        Full width in nm of the square, centred on 0, that every position,
        frame corner (after rotation) and spectrum must lie in.
    dip_depth : float or None
        Deepest controlled tip dip in nm.
    pulse_voltage : float or None
        Largest ``|pulse|`` in V of a conditioning bias pulse.
    pulse_width : float
        Longest bias pulse in s.
    max_pixels, max_lines : int or None
        Most pixels per line and lines per frame (default: the hardware's).
    frame_memory : float
        Largest image a frame may make, in bytes: pixels x lines x image
        channels x 2 (trace, retrace) x 4 (float32). 1 GiB by default, so a
        mistyped ``pixels=100000`` is refused before the run opens instead of
        exhausting memory halfway through it.
    pixel_step : int or None
        Pixels per line must be a multiple of it. Always the hardware's
        (``ranges.pixel_step``: 16 for a Nanonis controller, which would
        otherwise coerce the frame silently); not a setting.
    """

    bias: float | None = None
    setpoint: float | None = None
    scan_range: float | None = None
    dip_depth: float | None = None
    pulse_voltage: float | None = None
    pulse_width: float = 1.0
    max_pixels: int | None = None
    max_lines: int | None = None
    frame_memory: float = float(2**30)
    pixel_step: int | None = None

    def resolve(self, ranges: HardwareRanges) -> SafetyLimits:
        """Fill unset limits from ``ranges`` and check set ones sit inside them.

        Raises
        ------
        ConfigurationError
            if a limit is not a positive number or exceeds what the hardware can do.
        """
        hw = {
            "bias": ranges.bias,
            "setpoint": ranges.current,
            "scan_range": ranges.scan_range,
            "dip_depth": ranges.dip_depth,
            "pulse_voltage": ranges.bias,
            "pulse_width": None,
            "max_pixels": ranges.max_pixels,
            "max_lines": ranges.max_lines,
            "frame_memory": None,
        }
        step = check_int("hardware pixel_step", ranges.pixel_step, low=1)
        if self.pixel_step is not None and self.pixel_step != step:
            raise ConfigurationError(
                f"safety limit pixel_step {self.pixel_step!r} is the hardware's to state "
                f"(it is {step}); leave it unset"
            )
        values = {"pixel_step": step}
        for f in fields(self):
            if f.name == "pixel_step":
                continue
            v = getattr(self, f.name)
            if v is None:
                v = hw[f.name]
            if f.name in _INTEGER_LIMITS:
                if isinstance(v, float) and v.is_integer():  # 4096.0 from a config file
                    v = int(v)
                v = check_int(f"safety limit {f.name}", v, low=1)
            else:
                v = check_real(f"safety limit {f.name}", v, low=0.0, low_inclusive=False)
            if hw[f.name] is not None and v > hw[f.name]:
                raise ConfigurationError(
                    f"safety limit {f.name} {_fmt(v)} is beyond the hardware range "
                    f"{_fmt(hw[f.name])}"
                )
            values[f.name] = v
        return SafetyLimits(**values)

    def as_dict(self) -> dict:
        """The limits as a plain dict (for metadata)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    # --- checks: each raises SafetyLimitError naming the value and the limit ---

    def _require_resolved(self) -> None:
        if any(getattr(self, f.name) is None for f in fields(self)):
            raise ConfigurationError("SafetyLimits must be resolved against backend ranges first")

    def check_bias(self, volts, what: str = "bias") -> float:
        """Check a bias (V) against ``±bias``; return it as float."""
        self._require_resolved()
        v = check_real(what, volts, units="V")
        if abs(v) > self.bias:
            raise SafetyLimitError(
                f"{what} {v} V is beyond the device limit of ±{_fmt(self.bias)} V"
            )
        return v

    def check_setpoint(self, value, units: str = "pA") -> float:
        """Check a feedback setpoint against ``±setpoint``; return it as float."""
        self._require_resolved()
        v = check_real("setpoint", value, units=units)
        if abs(v) > self.setpoint:
            raise SafetyLimitError(
                f"setpoint {v} {units} is beyond the device limit of ±{_fmt(self.setpoint)} {units}"
            )
        return v

    def check_position(self, x, y, what: str = "position") -> tuple[float, float]:
        """Check a probe position (nm) lies inside the scan range."""
        self._require_resolved()
        xv = check_real(f"{what} x", x, units="nm")
        yv = check_real(f"{what} y", y, units="nm")
        half = self.scan_range / 2
        if abs(xv) > half or abs(yv) > half:
            raise SafetyLimitError(
                f"{what} ({xv}, {yv}) nm is beyond the device scan range of ±{_fmt(half)} nm"
            )
        return xv, yv

    def check_coordinate(self, value, what: str = "x") -> float:
        """Check one coordinate (nm) lies inside the scan range."""
        self._require_resolved()
        v = check_real(what, value, units="nm")
        half = self.scan_range / 2
        if abs(v) > half:
            raise SafetyLimitError(
                f"{what} {v} nm is beyond the device scan range of ±{_fmt(half)} nm"
            )
        return v

    def check_frame(self, frame: ScanFrame, channels: int = 1, scan: bool = True) -> ScanFrame:
        """Check a scan frame: geometry valid, every rotated corner in range, and its size.

        ``channels`` is the number of image channels the backend records per
        line; with trace and retrace in float32 it sets the frame's memory.
        ``scan=False`` checks the frame of a grid of points, which fills no
        scan buffer: the pixel step and the memory limit do not apply.
        """
        self._require_resolved()
        check_real("frame center_x", frame.center_x, units="nm")
        check_real("frame center_y", frame.center_y, units="nm")
        check_real("frame width", frame.width, low=0.0, low_inclusive=False, units="nm")
        check_real("frame height", frame.height, low=0.0, low_inclusive=False, units="nm")
        check_real("frame angle", frame.angle, low=-360.0, high=360.0, units="deg")
        pixels = check_int("frame pixels", frame.pixels, low=1)
        lines = check_int("frame lines", frame.lines, low=1)
        check_real("frame line_time", frame.line_time, low=0.0, low_inclusive=False, units="s")
        if pixels > self.max_pixels:
            raise SafetyLimitError(
                f"frame pixels {pixels} is beyond the device limit of {self.max_pixels} per line"
            )
        if lines > self.max_lines:
            raise SafetyLimitError(
                f"frame lines {lines} is beyond the device limit of {self.max_lines} per frame"
            )
        if scan and pixels % self.pixel_step:
            below = max(self.pixel_step, pixels - pixels % self.pixel_step)
            raise ConfigurationError(
                f"frame pixels {pixels}: the controller takes multiples of {self.pixel_step} "
                f"pixels per line; ask for {below} or {below + self.pixel_step}"
            )
        size = pixels * lines * check_int("image channels", channels, low=1) * 2 * 4
        if scan and size > self.frame_memory:
            raise SafetyLimitError(
                f"frame pixels {pixels} x lines {lines} x {channels} channel(s), trace and "
                f"retrace in float32, is {_bytes(size)}: beyond the device limit of "
                f"{_bytes(self.frame_memory)} per frame"
            )
        half = self.scan_range / 2
        for cx, cy in frame_corners(frame):
            if abs(cx) > half + 1e-9 or abs(cy) > half + 1e-9:
                raise SafetyLimitError(
                    f"scan frame corner ({cx:.6g}, {cy:.6g}) nm is beyond the device "
                    f"scan range of ±{_fmt(half)} nm"
                )
        return frame

    def check_spectroscopy(self, settings: SpectroscopySettings) -> SpectroscopySettings:
        """Check sweep range (+ lock-in amplitude, as peak) and timing of a spectrum."""
        self._require_resolved()
        start = self.check_bias(settings.start, "sweep start")
        stop = self.check_bias(settings.stop, "sweep stop")
        if start == stop:
            raise ConfigurationError(f"sweep start and stop are both {start} V; need a range")
        check_int("spectrum points", settings.points, low=2)
        check_real("settle", settings.settle, low=0.0, units="s")
        check_real("integration", settings.integration, low=0.0, low_inclusive=False, units="s")
        amp = check_real("lock-in amplitude", settings.lockin_amplitude, low=0.0, units="V")
        check_real(
            "lock-in frequency", settings.lockin_frequency, low=0.0, low_inclusive=False, units="Hz"
        )
        check_int("sweeps", settings.sweeps, low=1)
        peak = max(abs(start), abs(stop)) + amp * math.sqrt(2.0)
        if peak > self.bias:
            raise SafetyLimitError(
                f"sweep peak bias {peak:.6g} V (sweep plus lock-in amplitude) is beyond "
                f"the device limit of ±{_fmt(self.bias)} V"
            )
        return settings

    def check_pulse_voltage(self, volts) -> float:
        """Check the voltage (V) of a conditioning bias pulse."""
        self._require_resolved()
        v = check_real("pulse voltage", volts, units="V")
        if abs(v) > self.pulse_voltage:
            raise SafetyLimitError(
                f"pulse voltage {v} V is beyond the device limit of ±{_fmt(self.pulse_voltage)} V"
            )
        return v

    def check_pulse_width(self, width) -> float:
        """Check the width (s) of a conditioning bias pulse."""
        self._require_resolved()
        w = check_real("pulse width", width, low=0.0, low_inclusive=False, units="s")
        if w > self.pulse_width:
            raise SafetyLimitError(
                f"pulse width {w} s is beyond the device limit of {_fmt(self.pulse_width)} s"
            )
        return w

    def check_pulse(self, volts, width) -> tuple[float, float]:
        """Check a conditioning bias pulse (V, s)."""
        return self.check_pulse_voltage(volts), self.check_pulse_width(width)

    def check_dip(self, depth) -> float:
        """Check a controlled dip depth (nm, positive = into the surface)."""
        self._require_resolved()
        d = check_real("dip depth", depth, low=0.0, low_inclusive=False, units="nm")
        if d > self.dip_depth:
            raise SafetyLimitError(
                f"dip depth {d} nm is beyond the device limit of {_fmt(self.dip_depth)} nm"
            )
        return d
