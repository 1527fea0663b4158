"""A fake Nanonis controller: the TCP interface's bytes, with a TwinSPM behind them.

>>> with FakeNanonis(TwinSPM("si100_h", seed=0)) as fake:     # doctest: +SKIP
...     spm = make_spm("nanonis", host=fake.host, port=fake.port)

It listens on 127.0.0.1 only (a free port chosen by the system), one thread
per connection, and answers :data:`~autoscope.devices.nanonis.protocol.COMMANDS`
as a controller does: SI units, the error trailer on every answer, and the
controller's own rules:

- ``Scan.BufferSet`` coerces pixels to the nearest multiple of 16 (at least 16);
- while a scan runs (or is paused), changing the frame, buffer or speed,
  moving the tip, a spectrum, a pulse or the tip shaper are refused with an
  error trailer;
- bad arguments (a bias beyond the range, an unknown signal index, a body that
  does not fit the command) are answered with an error trailer; so is a fault
  of the twin (timeout, lost contact, tip crash), with the twin's message.

Scan progress without a clock: every request answered while a scan runs (not
paused) is one tick, and a tick scans the next line on the twin, so a client
that polls sees the lines arrive one by one and nothing depends on timing.
``Scan.WaitEndOfScan`` scans the rest at once. A fault of the twin during a
scan line (lost contact, tip crash, timeout) stops the scan there, as on an
instrument: the lines before it stay readable, ``Scan.StatusGet`` reads 0, and
the fault is listed in ``scan_faults``; outside a scan it is the answer's error.

Fault injection (:meth:`FakeNanonis.inject_fault`), once each, on the n-th
request of a command: ``"drop"`` closes the connection without an answer
(mid-line when the command is ``Scan.FrameDataGrab``), ``"stall"`` never
answers (until :meth:`FakeNanonis.release` or :meth:`FakeNanonis.stop`),
``"error"`` answers with an error trailer, ``"partial"`` sends the header and
half the body, then closes.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass

import numpy as np

from autoscope.devices.backend import ScanFrame, SpectroscopySettings
from autoscope.devices.nanonis import protocol
from autoscope.devices.twin import TwinSPM
from autoscope.errors import AutoscopeError, ConfigurationError, DataFormatError, InstrumentFault

__all__ = ["FakeNanonis", "SIGNALS", "FAULT_KINDS"]

log = logging.getLogger(__name__)

#: the controller's signal list (index = position); what each is in the twin
SIGNALS = (
    "Current (A)",
    "Bias (V)",
    "X (m)",
    "Y (m)",
    "Z (m)",
    "LI Demod 1 X (A)",
    "LI Demod 1 Y (A)",
)
_IMAGE = {"Z (m)": ("topography", 1e-9), "Current (A)": ("current", 1e-12)}
_SPECTRUM = {"Current (A)": "current", "LI Demod 1 X (A)": "dIdV"}
FAULT_KINDS = ("drop", "stall", "error", "partial")
_BUSY = {
    "Scan.FrameSet",
    "Scan.BufferSet",
    "Scan.SpeedSet",
    "FolMe.XYPosSet",
    "BiasSpectr.Start",
    "Bias.Pulse",
    "TipShaper.Start",
}
_NO_TICK = {"Scan.Action", "Scan.WaitEndOfScan"}


@dataclass
class _Fault:
    kind: str
    command: str | None
    after: int
    message: str
    seen: int = 0


@dataclass
class _ScanState:
    frame: ScanFrame
    up: bool
    data: dict  # signal index -> (forward, backward), arrays (lines, pixels), top row first
    done: int = 0
    paused: bool = False


class FakeNanonis:
    """A Nanonis controller on 127.0.0.1 driving ``twin`` (default: an H:Si(100) twin, seed 0).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    ``requests`` counts the requests answered per command.
    """

    def __init__(self, twin: TwinSPM | None = None) -> None:
        if twin is None:
            twin = TwinSPM("si100_h", seed=0)
        if not isinstance(twin, TwinSPM) or twin.mode != "stm":
            raise ConfigurationError(f"the fake Nanonis needs an STM TwinSPM, got {twin!r}")
        self.twin = twin
        self._lock = threading.RLock()
        self._release = threading.Event()
        self._faults: list[_Fault] = []
        self._conns: set[socket.socket] = set()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: dict[str, int] = {}
        self.stalled = threading.Event()  # set when a stall fault holds a request
        self.scan_faults: list[str] = []  # twin faults that stopped a scan
        # controller state (SI units)
        self._frame = (0.0, 0.0, 20e-9, 20e-9, 0.0)
        self._buffer = ([0, 4], 256, 256)
        self._line_time = 1.0
        self._scan: _ScanState | None = None
        self._last: _ScanState | None = None  # the scan that ended last (its data stays)
        self._spectr = {"sweeps": 1, "points": 200, "start": -2.0, "stop": 2.0}
        self._spectr.update(settle=0.002, integration=0.01, channels=[0, 5])
        self._lockin = {"amplitude": 0.01, "frequency": 973.0}
        self._tipshaper = {"depth": 0.5e-9}

    # ------------------------------------------------------------------ server
    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        if self._server is None:
            raise ConfigurationError("the fake Nanonis is not started (call start())")
        return self._server.server_address[1]

    def start(self) -> FakeNanonis:
        """Listen on 127.0.0.1 at a free port (``self.port``)."""
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fake._serve(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=True)
        server.daemon_threads = True
        self._server = server
        self._release.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, release stalls and close every connection."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            _hang_up(c)

    def __enter__(self) -> FakeNanonis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def disconnect_all(self) -> None:
        """Close every client connection now (the server keeps listening)."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            _hang_up(c)

    # ------------------------------------------------------------------ faults
    def inject_fault(
        self, kind: str, command: str | None = None, after: int = 0, message: str = ""
    ) -> None:
        """Arm one fault for the request of ``command`` (any when None) after ``after`` others."""
        if kind not in FAULT_KINDS:
            raise ConfigurationError(f"unknown fault kind {kind!r}; choose one of {FAULT_KINDS}")
        if command is not None and command not in protocol.COMMANDS:
            raise ConfigurationError(f"unknown Nanonis command {command!r} for a fault")
        if not (isinstance(after, int) and after >= 0):
            raise ConfigurationError(f"fault after={after!r} must be an int >= 0")
        with self._lock:
            self._faults.append(_Fault(kind, command, after, message or f"injected {kind}"))

    def release(self) -> None:
        """Let stalled requests go: their connections are closed without an answer."""
        self._release.set()

    def _due_fault(self, command: str) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.command in (None, command):
                    if f.seen == f.after:
                        self._faults.remove(f)
                        return f
                    f.seen += 1
        return None

    # ------------------------------------------------------------------ connection
    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)
        try:
            while True:
                head = _recv_exact(conn, protocol.HEADER_SIZE)
                if head is None:
                    return
                try:
                    header = protocol.decode_header(head)
                except DataFormatError:
                    return  # a controller drops a client that sends garbage
                body = _recv_exact(conn, header.body_size)
                if body is None:
                    return
                fault = self._due_fault(header.command)
                if fault is not None and fault.kind == "drop":
                    log.info("fake Nanonis: dropping the connection at %s", header.command)
                    return
                if fault is not None and fault.kind == "stall":
                    self.stalled.set()
                    self._release.wait()
                    return
                if fault is not None and fault.kind == "error":
                    answer = _error_answer(header.command, 1, fault.message)
                else:
                    answer = self._answer(header.command, body)
                if not header.send_response:
                    continue
                if fault is not None and fault.kind == "partial":
                    conn.sendall(answer[: protocol.HEADER_SIZE + (len(answer) - 40) // 2])
                    return
                conn.sendall(answer)
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            _hang_up(conn)

    def _answer(self, command: str, body: bytes) -> bytes:
        if command not in protocol.COMMANDS:
            return _error_answer(command, 1, f"unknown command {command!r}")
        codes = protocol.COMMANDS[command][0]
        try:
            args, end = protocol.unpack(codes, body)
            if end != len(body):
                raise DataFormatError(f"{len(body) - end} bytes left over")
        except (DataFormatError, ConfigurationError) as exc:
            return _error_answer(command, 1, f"arguments do not fit {command}: {exc}")
        with self._lock:
            self.requests[command] = self.requests.get(command, 0) + 1
            try:
                if command not in _NO_TICK:
                    self._tick()
                if command in _BUSY and self._scan is not None:
                    raise ConfigurationError(
                        f"{command} refused: a scan is running (Scan.Action stop first)"
                    )
                values = getattr(self, "_do_" + command.replace(".", "_"))(*args)
            except InstrumentFault as exc:  # the twin failed: its message goes back
                return _error_answer(command, 2, f"{type(exc).__name__}: {exc}")
            except AutoscopeError as exc:  # refused: busy, or an argument out of range
                return _error_answer(command, 1, str(exc))
        return protocol.encode_response(command, values)

    # ------------------------------------------------------------------ scanning
    def _scan_frame(self) -> ScanFrame:
        cx, cy, w, h, ang = self._frame
        _, pixels, lines = self._buffer
        return ScanFrame(cx * 1e9, cy * 1e9, w * 1e9, h * 1e9, -ang, pixels, lines, self._line_time)

    def _tick(self, all_lines: bool = False) -> None:
        """Scan the next line of a running scan (or all the rest)."""
        scan = self._scan
        while scan is not None and not scan.paused and scan.done < scan.frame.lines:
            n = scan.frame.lines
            line = scan.done if scan.up else n - 1 - scan.done
            try:
                ld = self.twin.scan_line(scan.frame, line)
            except AutoscopeError as exc:
                # a fault stops the scan as it would on the instrument: the lines done stay,
                # the request is answered as usual, the client sees the scan stopped
                self.scan_faults.append(f"line {line}: {type(exc).__name__}: {exc}")
                log.info("fake Nanonis: scan stopped at line %d: %s", line, exc)
                self._last, self._scan = scan, None
                return
            row = n - 1 - line  # rows are top line first
            for idx, (fwd, bwd) in scan.data.items():
                name, factor = _IMAGE[SIGNALS[idx]]
                trace, retrace = ld.channels[name]
                fwd[row] = trace * factor
                bwd[row] = retrace * factor
            scan.done += 1
            if scan.done == n:  # the scan ends with its last line; its data stays readable
                self._last, self._scan = scan, None
            if not all_lines:
                break

    def _do_Scan_Action(self, action: int, direction: int):
        if action == 0:  # start
            frame = self._scan_frame()
            data = {
                i: tuple(np.full((frame.lines, frame.pixels), np.nan, np.float32) for _ in "fb")
                for i in self._buffer[0]
            }
            self._scan = _ScanState(frame, bool(direction), data)
        elif action == 1:  # stop
            self._last = self._scan or self._last
            self._scan = None
        elif action in (2, 3):
            if self._scan is not None:
                self._scan.paused = action == 2
        else:
            raise ConfigurationError(f"Scan.Action: unknown action {action}")
        return []

    def _do_Scan_StatusGet(self):
        return [0 if self._scan is None else 1]

    def _do_Scan_WaitEndOfScan(self, timeout_ms: int):
        self._tick(all_lines=True)
        path = ""
        return [1 if self._scan is not None else 0, len(path), path]  # paused: times out

    def _do_Scan_FrameDataGrab(self, channel: int, direction: int):
        scan = self._scan if self._scan is not None else self._last
        if channel not in self._buffer[0]:
            raise ConfigurationError(
                f"Scan.FrameDataGrab: channel index {channel} is not in the scan buffer "
                f"{self._buffer[0]}"
            )
        if scan is None or channel not in scan.data:
            raise ConfigurationError("Scan.FrameDataGrab: no scan data (start a scan first)")
        fwd, bwd = scan.data[channel]
        data = fwd if direction == 1 else bwd
        name = SIGNALS[channel].split(" (")[0]
        rows, cols = data.shape
        return [len(name.encode()), name, rows, cols, data.copy(), 1 if scan.up else 0]

    def _do_Scan_FrameSet(self, cx, cy, w, h, angle):
        if not (w > 0 and h > 0):
            raise ConfigurationError(f"Scan.FrameSet: width {w} and height {h} m must be > 0")
        self._frame = (cx, cy, w, h, angle)
        return []

    def _do_Scan_FrameGet(self):
        return list(np.float32(self._frame))

    def _do_Scan_BufferSet(self, n, indexes, pixels, lines):
        idx = [int(i) for i in indexes]
        bad = [i for i in idx if not 0 <= i < len(SIGNALS) or SIGNALS[i] not in _IMAGE]
        if bad or not idx:
            raise ConfigurationError(f"Scan.BufferSet: channel indexes {bad or idx} not recordable")
        if pixels < 1 or lines < 1:
            raise ConfigurationError(
                f"Scan.BufferSet: pixels {pixels} and lines {lines} must be >= 1"
            )
        pixels = max(16, 16 * round(pixels / 16))
        self._buffer = (idx, pixels, lines)
        return []

    def _do_Scan_BufferGet(self):
        idx, pixels, lines = self._buffer
        return [len(idx), np.array(idx), pixels, lines]

    def _do_Scan_SpeedSet(self, fwd_speed, bwd_speed, fwd_time, bwd_time, keep, ratio):
        if keep == 2:
            if not fwd_time > 0:
                raise ConfigurationError(f"Scan.SpeedSet: time per line {fwd_time} s must be > 0")
            self._line_time = float(fwd_time)
        elif keep == 1:
            if not fwd_speed > 0:
                raise ConfigurationError(f"Scan.SpeedSet: speed {fwd_speed} m/s must be > 0")
            self._line_time = self._frame[2] / fwd_speed
        return []

    # ------------------------------------------------------------------ basics
    def _do_Signals_NamesGet(self):
        names = list(SIGNALS)
        return [protocol.string_array_size(names), len(names), names]

    def _do_Bias_Set(self, volts):
        self.twin.set_bias(volts)
        return []

    def _do_Bias_Get(self):
        return [self.twin.get_bias()]

    def _do_ZCtrl_SetpntSet(self, amps):
        self.twin.set_setpoint(amps * 1e12)
        return []

    def _do_ZCtrl_SetpntGet(self):
        return [self.twin.get_setpoint() * 1e-12]

    def _do_ZCtrl_OnOffSet(self, on):
        self.twin.set_feedback(bool(on))
        return []

    def _do_ZCtrl_OnOffGet(self):
        return [int(self.twin.get_feedback())]

    def _do_FolMe_XYPosSet(self, x, y, wait):
        self.twin.move_to(x * 1e9, y * 1e9)
        return []

    def _do_FolMe_XYPosGet(self, wait):
        x, y = self.twin.get_position()
        return [x * 1e-9, y * 1e-9]

    def _do_Bias_Pulse(self, wait, width, volts, hold, mode):
        if mode == 1:
            volts = volts + self.twin.get_bias()
        self.twin.bias_pulse(volts, width)
        return []

    def _do_TipShaper_PropsSet(self, delay, change_bias, bias, lift, t1, bias_lift, settle, *rest):
        if not lift < 0:
            raise ConfigurationError(f"TipShaper.PropsSet: tip lift {lift} m must be < 0 (into)")
        self._tipshaper["depth"] = -float(lift)
        return []

    def _do_TipShaper_Start(self, wait, timeout_ms):
        self.twin.dip(self._tipshaper["depth"] * 1e9)
        return []

    # ------------------------------------------------------------------ spectroscopy
    def _do_BiasSpectr_Open(self):
        return []

    def _do_BiasSpectr_PropsSet(self, save_all, sweeps, backward, points, z_offset, *rest):
        if sweeps < 0 or points < 0:
            raise ConfigurationError(f"BiasSpectr.PropsSet: sweeps {sweeps}, points {points} < 0")
        if sweeps:
            self._spectr["sweeps"] = int(sweeps)
        if points:
            self._spectr["points"] = int(points)
        return []

    def _do_BiasSpectr_LimitsSet(self, start, stop):
        self._spectr.update(start=float(start), stop=float(stop))
        return []

    def _do_BiasSpectr_TimingSet(self, z_avg, z_off, init, slew, settle, integration, *rest):
        self._spectr.update(settle=float(settle), integration=float(integration))
        return []

    def _do_BiasSpectr_ChsSet(self, n, indexes):
        idx = [int(i) for i in indexes]
        bad = [i for i in idx if not 0 <= i < len(SIGNALS) or SIGNALS[i] not in _SPECTRUM]
        if bad or not idx:
            raise ConfigurationError(
                f"BiasSpectr.ChsSet: channel indexes {bad or idx} not recordable"
            )
        self._spectr["channels"] = idx
        return []

    def _do_LockIn_ModAmpSet(self, modulator, amplitude):
        if not amplitude >= 0:
            raise ConfigurationError(f"LockIn.ModAmpSet: amplitude {amplitude} V must be >= 0")
        self._lockin["amplitude"] = float(amplitude)
        return []

    def _do_LockIn_ModPhasFreqSet(self, modulator, frequency):
        if not frequency > 0:
            raise ConfigurationError(f"LockIn.ModPhasFreqSet: frequency {frequency} Hz must be > 0")
        self._lockin["frequency"] = float(frequency)
        return []

    def _do_BiasSpectr_Start(self, get_data, name_size, name):
        s = self._spectr
        settings = SpectroscopySettings(
            start=s["start"],
            stop=s["stop"],
            points=s["points"],
            settle=s["settle"],
            integration=s["integration"],
            lockin_amplitude=self._lockin["amplitude"],
            lockin_frequency=self._lockin["frequency"],
            sweeps=s["sweeps"],
        )
        x, y = self.twin.get_position()
        sp = self.twin.spectrum(x, y, settings)
        names = ["Bias calc (V)"]
        rows = [sp.axis]
        for i in s["channels"]:
            ch = _SPECTRUM[SIGNALS[i]]
            factor = 1e-12 if ch == "current" else 1e-9 * self._lockin["amplitude"]
            # dIdV: the twin's nS times the modulation is the demodulated current (A)
            names.append(SIGNALS[i])
            rows.append(sp.channels[ch].astype(np.float64) * factor)
        data = np.array(rows, np.float32) if get_data else np.zeros((0, 0), np.float32)
        params = np.zeros(0, np.float32)
        r, c = data.shape
        return [protocol.string_array_size(names), len(names), names, r, c, data, 0, params]


def _error_answer(command: str, status: int, message: str) -> bytes:
    """An answer with no return values and an error trailer (also for unknown commands)."""
    raw = message.encode("utf-8")
    body = struct.pack(">Ii", status, len(raw)) + raw
    name = command if 0 < len(command.encode("ascii", "replace")) <= 32 else "?"
    return protocol.encode_header(name, len(body), False) + body


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = conn.recv(n - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _hang_up(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()
