"""NanonisSPM: the SPM backend protocol spoken to a Nanonis controller over TCP.

It implements :class:`~autoscope.devices.backend.SPMBackend` (STM mode) with
the commands of :data:`autoscope.devices.nanonis.protocol.COMMANDS`; the
mapping of every backend call to controller commands is in
docs/decisions/0011-nanonis.md. The ophyd device checks its safety limits
before it calls this class, so nothing here decides what is safe; the
controller's own range checks answer as :class:`~autoscope.errors.NanonisError`.

Scanning. A scan runs on the controller by itself; :meth:`NanonisSPM.scan_line`
starts it (frame, buffer, speed, ``Scan.Action`` start upwards) when the line
asked for is not part of the running scan, and otherwise waits for the line by
polling ``Scan.FrameDataGrab`` until the line's backward row is complete
(unmeasured pixels read NaN). To start at line ``i`` of a frame, the scan covers
lines ``i .. lines-1`` (the same pixels, a shorter frame). Any call that moves
the tip elsewhere (move, spectrum, pulse, dip) stops a running scan first.

Assumptions about the controller, to confirm on an instrument with the
protocol suite (tests/unit/nanonis/test_protocol.py, ``AUTOSCOPE_NANONIS_HOST``):
``Scan.FrameDataGrab`` returns rows top line first and both directions in
order of increasing x; the frame angle is clockwise (autoscope's is
counter-clockwise, so it is sent negated); the controller coerces pixels to a
multiple of 16 (the backend states ``ranges.pixel_step = 16``, so the device
refuses other pixel counts before anything is sent, and it still reads the
buffer back and refuses a frame whose pixels the controller did not keep).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from autoscope.devices.backend import (
    HardwareRanges,
    LineData,
    ScanFrame,
    SpectroscopySettings,
    SpectrumData,
)
from autoscope.devices.nanonis.client import DEFAULT_PORT, NanonisClient
from autoscope.errors import ConfigurationError, InstrumentFault, InstrumentTimeout

__all__ = [
    "NanonisSPM",
    "IMAGE_SIGNALS",
    "SPECTRUM_SIGNALS",
    "BIAS_AXIS_SIGNAL",
    "sub_frame",
]

log = logging.getLogger(__name__)

NM = 1e-9  # m per nm
PA = 1e-12  # A per pA
PIXEL_STEP = 16  # the controller coerces scan pixels per line to a multiple of this

#: image channel -> (controller signal name, factor to autoscope units, units)
IMAGE_SIGNALS: dict[str, tuple[str, float, str]] = {
    "topography": ("Z (m)", 1e9, "nm"),
    "current": ("Current (A)", 1e12, "pA"),
}
#: spectrum channel -> (controller signal name, factor, units); dIdV is the lock-in's
#: demodulated current, uncalibrated (pA), as the controller records it.
SPECTRUM_SIGNALS: dict[str, tuple[str, float, str]] = {
    "current": ("Current (A)", 1e12, "pA"),
    "dIdV": ("LI Demod 1 X (A)", 1e12, "pA"),
}
#: the row of a bias spectrum that holds the swept bias
BIAS_AXIS_SIGNAL = "Bias calc (V)"

_BACKWARD, _FORWARD = 0, 1
_START, _STOP = 0, 1
_UP = 1


def sub_frame(frame: ScanFrame, first: int) -> ScanFrame:
    """The frame of lines ``first .. lines-1`` of ``frame``: same pixels, shorter, shifted.

    Line ``k`` of the result is line ``first + k`` of ``frame``, pixel for pixel.
    """
    if first == 0:
        return frame
    rows = frame.lines - first
    dh = frame.height / frame.lines
    v = first * dh / 2  # the centre moves up the frame's own y axis by half the cut
    a = math.radians(frame.angle)
    return dataclasses.replace(
        frame,
        center_x=frame.center_x - v * math.sin(a),
        center_y=frame.center_y + v * math.cos(a),
        height=rows * dh,
        lines=rows,
    )


@dataclass
class _Scan:
    """A scan started on the controller: which frame, from which line, what was read."""

    frame: ScanFrame
    first: int
    reported: ScanFrame  # the sub-frame as the controller reports it
    last_read: int = -1  # highest frame line returned so far


def _check_signals(what: str, signals) -> dict[str, tuple[str, float, str]]:
    if not isinstance(signals, Mapping) or not signals:
        raise ConfigurationError(f"{what} must be a non-empty mapping, got {signals!r}")
    out = {}
    for name, spec in signals.items():
        try:
            signal, factor, units = spec
            factor = float(factor)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"{what}[{name!r}] must be (signal name, factor, units), got {spec!r}"
            ) from None
        out[str(name)] = (str(signal), factor, str(units))
    return out


def _rename(names: Mapping, *tables: dict[str, tuple[str, float, str]]) -> None:
    """Give the channels of ``names`` the controller signal it names, in every table."""
    if not isinstance(names, Mapping):
        raise ConfigurationError(f"channel_names must be a mapping, got {names!r}")
    known = sorted({ch for table in tables for ch in table})
    for channel, signal in names.items():
        if channel not in known:
            raise ConfigurationError(
                f"channel_names: {channel!r} is not a channel of this backend; known: {known}"
            )
        if not isinstance(signal, str) or not signal.strip():
            raise ConfigurationError(
                f"channel_names[{channel!r}] must be a controller signal name, got {signal!r}"
            )
        for table in tables:
            if channel in table:
                _, factor, units = table[channel]
                table[channel] = (signal.strip(), factor, units)


class NanonisSPM:
    """A Nanonis-controlled STM as an :class:`~autoscope.devices.backend.SPMBackend`.

    Parameters
    ----------
    host : str
        Controller address (its TCP programming interface must be enabled).
    port : int
        TCP port (6501 by default).
    timeout : float
        Seconds to wait for any answer (a line waits ``timeout`` plus its own duration).
    ranges : HardwareRanges, optional
        What the instrument can do; the device's safety limits sit inside.
    image_signals, spectrum_signals : mapping, optional
        Channel name -> (controller signal name, factor to autoscope units,
        units); default :data:`IMAGE_SIGNALS`, :data:`SPECTRUM_SIGNALS`.
    channel_names : mapping, optional
        Channel name -> the controller's signal name, for a lab whose
        controller names a signal differently (``{"dIdV": "LI Demod 2 X (A)"}``);
        it replaces the signal of that image and spectrum channel, keeping its
        factor and units. A name the controller does not have is refused
        (ConfigurationError) at first use, when its signal list is read.
    poll_interval : float
        Seconds between polls of a scan line in progress.
    connect_attempts, connect_delay : int, float
        Reconnect policy of the client (:class:`NanonisClient`).

    Nothing is sent until the first call.
    """

    mode = "stm"
    setpoint_units = "pA"

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        timeout: float = 10.0,
        ranges: HardwareRanges | None = None,
        image_signals: Mapping | None = None,
        spectrum_signals: Mapping | None = None,
        channel_names: Mapping | None = None,
        poll_interval: float = 0.02,
        connect_attempts: int = 3,
        connect_delay: float = 0.5,
    ) -> None:
        self.client = NanonisClient(
            host,
            port,
            timeout=timeout,
            connect_attempts=connect_attempts,
            connect_delay=connect_delay,
        )
        if ranges is not None and not isinstance(ranges, HardwareRanges):
            raise ConfigurationError(f"ranges must be a HardwareRanges, got {ranges!r}")
        if not poll_interval >= 0:
            raise ConfigurationError(f"poll_interval {poll_interval!r} s must be >= 0")
        ranges = ranges or HardwareRanges()
        if ranges.pixel_step % PIXEL_STEP:
            # the controller coerces pixels to a multiple of 16: the device refuses others
            ranges = dataclasses.replace(ranges, pixel_step=PIXEL_STEP)
        self.ranges = ranges
        self._image = _check_signals("image_signals", image_signals or IMAGE_SIGNALS)
        self._spec = _check_signals("spectrum_signals", spectrum_signals or SPECTRUM_SIGNALS)
        _rename(channel_names or {}, self._image, self._spec)
        self.image_channels = {k: v[2] for k, v in self._image.items()}
        self.spectrum_channels = {k: v[2] for k, v in self._spec.items()}
        #: channel -> the controller signal it reads, image and spectrum channels
        self.signal_names = {
            "image": {k: v[0] for k, v in self._image.items()},
            "spectrum": {k: v[0] for k, v in self._spec.items()},
        }
        self.poll_interval = float(poll_interval)
        self._t0 = time.monotonic()
        self._signal_index: dict[str, int] | None = None
        self._scan: _Scan | None = None

    def __repr__(self) -> str:
        return f"NanonisSPM({self.client.host!r}, {self.client.port})"

    def close(self) -> None:
        """Close the connection (the next call reconnects)."""
        self.client.close()

    # ------------------------------------------------------------------ basics
    def time(self) -> float:
        """Seconds since this backend was made (the host's monotonic clock)."""
        return time.monotonic() - self._t0

    def get_bias(self) -> float:
        return float(self.client.call("Bias.Get")[0])

    def set_bias(self, volts: float) -> None:
        self.client.call("Bias.Set", float(volts))

    def get_setpoint(self) -> float:
        return float(self.client.call("ZCtrl.SetpntGet")[0]) / PA

    def set_setpoint(self, value: float) -> None:
        self.client.call("ZCtrl.SetpntSet", float(value) * PA)

    def get_feedback(self) -> bool:
        return bool(self.client.call("ZCtrl.OnOffGet")[0])

    def set_feedback(self, on: bool) -> None:
        self.client.call("ZCtrl.OnOffSet", 1 if on else 0)

    def get_position(self) -> tuple[float, float]:
        x, y = self.client.call("FolMe.XYPosGet", 1)
        return x / NM, y / NM

    def move_to(self, x: float, y: float) -> tuple[float, float]:
        """Stop a running scan, move the tip (waiting for it), return the reported position."""
        self.stop_scan()
        self.client.call("FolMe.XYPosSet", float(x) * NM, float(y) * NM, 1)
        return self.get_position()

    def signal_index(self, signal: str) -> int:
        """The controller's index of ``signal`` (from ``Signals.NamesGet``, asked once)."""
        if self._signal_index is None:
            _, _, names = self.client.call("Signals.NamesGet")
            self._signal_index = {name: i for i, name in enumerate(names)}
        try:
            return self._signal_index[signal]
        except KeyError:
            raise ConfigurationError(
                f"signal {signal!r} is not among the controller's signals "
                f"{sorted(self._signal_index)}"
            ) from None

    # ------------------------------------------------------------------ scanning
    def stop_scan(self) -> None:
        """Stop the scan this backend started, if one may still run."""
        if self._scan is not None:
            self._scan = None
            self.client.call("Scan.Action", _STOP, _UP)

    def _start_scan(self, frame: ScanFrame, first: int) -> _Scan:
        self.stop_scan()
        sub = sub_frame(frame, first)
        call = self.client.call
        call(
            "Scan.FrameSet",
            sub.center_x * NM,
            sub.center_y * NM,
            sub.width * NM,
            sub.height * NM,
            -sub.angle,
        )
        idx = [self.signal_index(s) for s, _, _ in self._image.values()]
        call("Scan.BufferSet", len(idx), idx, sub.pixels, sub.lines)
        _, _, pixels, lines = call("Scan.BufferGet")
        if pixels != sub.pixels or lines != sub.lines:
            raise ConfigurationError(
                f"frame pixels {sub.pixels} x lines {sub.lines}: the controller keeps "
                f"{pixels} x {lines} (pixels are coerced to a multiple of 16); "
                f"ask for {pixels} pixels"
            )
        call("Scan.SpeedSet", 0.0, 0.0, sub.line_time, sub.line_time, 2, 1.0)
        cx, cy, w, h, ang = call("Scan.FrameGet")
        reported = dataclasses.replace(
            sub, center_x=cx / NM, center_y=cy / NM, width=w / NM, height=h / NM, angle=-ang
        )
        call("Scan.Action", _START, _UP)
        self._scan = _Scan(frame, first, reported)
        return self._scan

    def _grab(self, signal: str, direction: int, rows: int, pixels: int) -> np.ndarray:
        _, name, r, c, data, _ = self.client.call(
            "Scan.FrameDataGrab", self.signal_index(signal), direction
        )
        if (r, c) != (rows, pixels):
            raise InstrumentFault(
                f"Scan.FrameDataGrab of {signal!r} returned a {r} x {c} frame, "
                f"the scan has {rows} x {pixels}"
            )
        return data

    def scan_line(self, frame: ScanFrame, index: int) -> LineData:
        """Scan line ``index`` of ``frame``: starts (or continues) a scan and waits for the line."""
        if not isinstance(frame, ScanFrame):
            raise ConfigurationError(f"expected a ScanFrame, got {frame!r}")
        index = int(index)
        if not 0 <= index < frame.lines:
            raise ConfigurationError(f"line index {index} outside 0..{frame.lines - 1}")
        t0 = self.time()
        scan = self._scan
        if scan is None or scan.frame != frame or not scan.last_read < index:
            scan = self._start_scan(frame, index)
        sub = scan.reported
        row = sub.lines - 1 - (index - scan.first)  # rows come top line first
        signals = list(self._image.items())
        first_signal = signals[0][1][0]
        deadline = time.monotonic() + self.client.timeout + 2 * frame.line_time * sub.lines
        while True:
            back = self._grab(first_signal, _BACKWARD, sub.lines, sub.pixels)
            if not np.isnan(back[row]).any():
                break
            if not self.client.call("Scan.StatusGet")[0]:
                self._scan = None
                why = "" if self.get_feedback() else " (the Z controller is off: contact lost?)"
                raise InstrumentFault(
                    f"the controller's scan stopped before line {index} of the frame "
                    f"was complete{why}"
                )
            if time.monotonic() > deadline:
                raise InstrumentTimeout(f"line {index} was not complete in time")
            time.sleep(self.poll_interval)
        channels = {}
        for k, (name, (signal, factor, _)) in enumerate(signals):
            bwd = back if k == 0 else self._grab(signal, _BACKWARD, sub.lines, sub.pixels)
            fwd = self._grab(signal, _FORWARD, sub.lines, sub.pixels)
            channels[name] = (
                (fwd[row] * factor).astype(np.float32),
                (bwd[row] * factor).astype(np.float32),
            )
        scan.last_read = index
        if index == frame.lines - 1:
            self._scan = None  # the controller's scan ends with this line
        xr, yr = frame.nominal_xy(index)
        xs, ys = sub.nominal_xy(index - scan.first)
        return LineData(
            index,
            channels,
            (float(xr[0]), float(yr[0]), float(xr[-1]), float(yr[-1])),
            (float(xs[0]), float(ys[0]), float(xs[-1]), float(ys[-1])),
            t0,
            self.time(),
        )

    # ------------------------------------------------------------------ spectroscopy
    def spectrum(self, x: float, y: float, settings: SpectroscopySettings) -> SpectrumData:
        """Move to ``(x, y)``, run one bias spectrum, return it."""
        if not isinstance(settings, SpectroscopySettings):
            raise ConfigurationError(f"expected SpectroscopySettings, got {settings!r}")
        s = settings
        call = self.client.call
        reported = self.move_to(x, y)
        call("BiasSpectr.Open")
        call("BiasSpectr.PropsSet", 0, int(s.sweeps), 0, int(s.points), 0.0, 2, 2)
        call("BiasSpectr.LimitsSet", float(s.start), float(s.stop))
        call("BiasSpectr.TimingSet", 0.1, 0.0, s.settle, 0.0, s.settle, s.integration, 0.0, 0.0)
        idx = [self.signal_index(sig) for sig, _, _ in self._spec.values()]
        call("BiasSpectr.ChsSet", len(idx), idx)
        call("LockIn.ModAmpSet", 1, float(s.lockin_amplitude))
        call("LockIn.ModPhasFreqSet", 1, float(s.lockin_frequency))
        t0 = self.time()
        duration = 2 * s.sweeps * s.points * (s.settle + s.integration)
        _, _, names, rows, cols, data, _, _ = call(
            "BiasSpectr.Start", 1, 0, "", timeout=self.client.timeout + duration
        )
        t1 = self.time()
        found = {name: data[i] for i, name in enumerate(names)}
        channels = {}
        for ch, (signal, factor, _) in self._spec.items():
            if signal not in found:
                raise InstrumentFault(
                    f"BiasSpectr.Start returned no {signal!r} row (rows: {names})"
                )
            channels[ch] = (found[signal] * factor).astype(np.float32)
        if cols != s.points:
            raise InstrumentFault(f"BiasSpectr.Start returned {cols} points, asked for {s.points}")
        axis = found.get(BIAS_AXIS_SIGNAL)
        axis = np.linspace(s.start, s.stop, s.points) if axis is None else np.asarray(axis, float)
        return SpectrumData(axis, "bias", "V", channels, (float(x), float(y)), reported, t0, t1)

    # ------------------------------------------------------------------ tip conditioning
    def bias_pulse(self, volts: float, width: float) -> None:
        """``Bias.Pulse``: wait until done, Z controller on hold, absolute bias."""
        self.stop_scan()
        self.client.call(
            "Bias.Pulse", 1, float(width), float(volts), 1, 2, timeout=self.client.timeout + width
        )

    def dip(self, depth: float) -> None:
        """A controlled dip with the tip shaper: feedback off, ``depth`` nm in, back, restore."""
        self.stop_scan()
        bias = self.get_bias()
        self.client.call(
            "TipShaper.PropsSet",
            0.05,  # switch-off delay, s
            0,  # keep the bias
            bias,
            -float(depth) * NM,  # tip lift: negative moves into the surface
            0.1,  # lift time 1, s
            bias,
            0.05,  # bias settling, s
            float(depth) * NM,  # lift height back out
            0.1,  # lift time 2, s
            0.05,  # end wait, s
            1,  # restore the feedback
        )
        self.client.call("TipShaper.Start", 1, -1, timeout=self.client.timeout + 1.0)
