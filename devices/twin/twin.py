"""TwinSPM: the simulated SPM backend (STM or PFM), satisfying ``SPMBackend``.

It ties together a sample (a pure function of position), a tip that changes
by itself and under conditioning, the scanner's drift, creep and hysteresis,
the z feedback, noise, a timing model counted on an injected clock, and fault
injection. Ground truth lives in :attr:`TwinSPM.truth`, never in the data it
returns.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from autoscope.devices import geometry
from autoscope.devices.backend import LineData, ScanFrame, SpectroscopySettings, SpectrumData
from autoscope.devices.twin.clock import InstrumentClock
from autoscope.devices.twin.config import CHANNELS, PFM_PHASE_REFERENCE, RANGES, Timing
from autoscope.devices.twin.faults import FaultInjector, FaultPlan
from autoscope.devices.twin.imaging import DEFAULT_NOISE_SLOPE, LineSynth
from autoscope.devices.twin.imprint import MarkedSurface
from autoscope.devices.twin.instrument import Creep, Drift, hysteresis_xy
from autoscope.devices.twin.samples import Sample, make_sample
from autoscope.devices.twin.spectra import SpectraEngine
from autoscope.devices.twin.tip import TipEvent, TipProcess, TipState, make_tip
from autoscope.devices.twin.truth import TIP_HISTORY_MAX, TRUTH_LINES_MAX, LineTruth, TwinTruth
from autoscope.errors import ConfigurationError, SafetyLimitError

log = logging.getLogger(__name__)


class TwinSPM:
    """Simulated scanning probe microscope (STM or PFM).

    Parameters
    ----------
    sample : str or Sample
        ``"si100_h"``, ``"au111"`` (STM) or ``"pfm_film"`` (PFM), or a sample
        object; the mode follows the sample.
    seed : int
        Seeds the sample (when named), the tip, drift and every noise source.
    clock : object, optional
        Anything with ``now()`` and ``advance(dt)``; default a new
        :class:`InstrumentClock` with ``speedup``.
    speedup : float
        Real-time pacing of the default clock (``inf``: never sleeps).
    tip : TipState or str, optional
        Initial tip (default a sharp tip).
    drift : float or (float, float)
        Drift speed in nm/s (direction drawn from the seed) or a velocity
        ``(vx, vy)``; 0.01 nm/s = 0.1 Angstrom/s.
    drift_wander : float
        Relative random change of the drift velocity every 120 s; the velocity
        wanders about ``drift`` and returns to it over ~2 h
        (:class:`~autoscope.devices.twin.instrument.Drift`), so days of
        operation see the same drift as the first hour.
    creep : float
        Creep coefficient gamma (0 disables).
    hysteresis : float
        Piezo hysteresis as a fraction of the sweep half-range (0.02-0.15).
    feedback_tau : float
        Closed-loop time constant of the z feedback, s.
    noise : float
        Scale of every noise source (0: noise-free).
    noise_slope : float
        STM: slope of the gap noise's power spectrum, ``S(f) ~ f**noise_slope``,
        -3 to 0 (:class:`~autoscope.devices.twin.imaging.LineSynth`; default -1,
        1/f; -2 is closer to real Z channels).
    tip_change_rate : float
        Spontaneous tip changes per instrument second.
    temperature : float
        Sample temperature, K (thermal broadening of spectra).
    faults : FaultPlan or list of FaultPlan, optional
        Faults armed at start.
    timing : Timing, optional
        Costs of moves and actions.
    sample_options : dict, optional
        Keyword options for the named sample.
    tip_wear : float, optional
        Growth of the tip radius (nm) per nm of scanned path in contact
        (default 2e-6 for PFM, 0 for STM); a sharp tip that wears past three
        times its radius becomes ``blunt`` (recorded with cause ``"wear"``).
    truth_lines_max : int
        Ground-truth line records kept in ``truth.lines`` (a ring buffer; the
        counts of older lines are kept in ``truth.line_counts``).
    tip_history_max : int
        Tip events kept in ``truth.tip_history`` (a ring buffer; counts of
        older ones in ``truth.tip_event_counts``).
    """

    def __init__(
        self,
        sample="si100_h",
        seed: int = 0,
        clock=None,
        speedup: float = math.inf,
        tip=None,
        drift=0.01,
        drift_wander: float = 0.2,
        creep: float = 0.015,
        hysteresis: float = 0.02,
        feedback_tau: float = 0.002,
        noise: float = 1.0,
        noise_slope: float = DEFAULT_NOISE_SLOPE,
        tip_change_rate: float = 1 / 1200,
        temperature: float = 4.5,
        mains_frequency: float = 50.0,
        faults=None,
        timing: Timing | None = None,
        sample_options: dict | None = None,
        tip_wear: float | None = None,
        truth_lines_max: int = TRUTH_LINES_MAX,
        tip_history_max: int = TIP_HISTORY_MAX,
    ) -> None:
        self.seed = int(seed)
        if isinstance(sample, str):
            sample = make_sample(sample, self.seed, **(sample_options or {}))
        if not isinstance(sample, Sample):
            raise ConfigurationError(f"sample must be a name or a Sample, got {sample!r}")
        self.sample = sample
        self.mode = sample.mode
        img, spec, spu = CHANNELS[self.mode]
        self.image_channels = dict(img)
        self.spectrum_channels = dict(spec)
        self.setpoint_units = spu
        self.ranges = RANGES[self.mode]
        # PFM: the lock-in's phase reference (deg); piezoresponse is measured along it
        self.phase_reference = PFM_PHASE_REFERENCE if self.mode == "pfm" else None
        self.clock = clock if clock is not None else InstrumentClock(speedup)
        self._t_origin = float(self.clock.now())
        for name, v in (("hysteresis", hysteresis), ("noise", noise), ("temperature", temperature)):
            if not v >= 0:
                raise ConfigurationError(f"{name}={v!r} must be >= 0")
        if not feedback_tau > 0:
            raise ConfigurationError(f"feedback_tau={feedback_tau!r} s must be > 0")
        self.hysteresis = float(hysteresis)
        self.temperature = float(temperature)
        self.timing = timing or (Timing() if self.mode == "stm" else Timing(move_speed=5000.0))
        if np.ndim(drift) == 0:
            ang = np.random.default_rng((self.seed, 5)).uniform(0, 2 * np.pi)
            drift = (float(drift) * np.cos(ang), float(drift) * np.sin(ang))
        self._drift = Drift(drift, wander=drift_wander, rng=np.random.default_rng((self.seed, 4)))
        self._creep = Creep(gamma=creep)
        self._tipproc = TipProcess(
            self.mode, np.random.default_rng((self.seed, 1)), change_rate=tip_change_rate
        )
        if tip is None:
            tip = make_tip("sharp", self.mode)
        elif isinstance(tip, str):
            tip = make_tip(tip, self.mode, np.random.default_rng((self.seed, 6)))
        if not isinstance(tip, TipState):
            raise ConfigurationError(f"tip must be a TipState or a kind name, got {tip!r}")
        self._tip = tip
        self._initial_tip_kind = tip.kind
        self._synth = LineSynth(
            self.mode,
            np.random.default_rng((self.seed, 2)),
            noise=noise,
            feedback_tau=feedback_tau,
            mains_frequency=mains_frequency,
            noise_slope=noise_slope,
        )
        self._spectra = SpectraEngine(self, np.random.default_rng((self.seed, 3)), noise=noise)
        self._faults = FaultInjector()
        self._bias = -1.5 if self.mode == "stm" else 0.0
        if sample.name == "au111":
            self._bias = -0.5
        self._setpoint = 50.0 if self.mode == "stm" else 0.5
        self._feedback = True
        self._lost_contact = False
        self._pos = (0.0, 0.0)  # commanded = reported probe position
        self._park = (0.0, 0.0)  # working point of the scanner (creep reference)
        self._lines_done = 0
        self.tip_wear = float(
            (2e-6 if self.mode == "pfm" else 0.0) if tip_wear is None else tip_wear
        )
        if not self.tip_wear >= 0:
            raise ConfigurationError(f"tip_wear={tip_wear!r} nm/nm must be >= 0")
        self._spectra_done = 0
        #: a dip leaves a mark where the tip went down (STM; see :mod:`.imprint`)
        self.leave_imprints = False
        self.imprints: list[tuple[float, float]] = []
        self.truth = TwinTruth(self, truth_lines_max, tip_history_max)
        for plan in [faults] if isinstance(faults, FaultPlan) else (faults or []):
            self._faults.arm(plan, 0, 0, self.time())

    # ---------------------------------------------------------------- basics
    def time(self) -> float:
        """Instrument time (s) since the twin started."""
        return float(self.clock.now()) - self._t_origin

    def _advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @property
    def tip_change_rate(self) -> float:
        """Spontaneous tip changes per instrument second (settable)."""
        return self._tipproc.change_rate

    @tip_change_rate.setter
    def tip_change_rate(self, rate: float) -> None:
        if not rate >= 0:
            raise ConfigurationError(f"tip_change_rate {rate!r} must be >= 0 per s")
        self._tipproc.change_rate = float(rate)

    def get_bias(self) -> float:
        return self._bias

    def set_bias(self, volts: float) -> None:
        v = float(volts)
        if not abs(v) <= self.ranges.bias:
            raise SafetyLimitError(
                f"bias {volts!r} V is beyond the hardware range of +-{self.ranges.bias} V"
            )
        self._bias = v

    def get_setpoint(self) -> float:
        return self._setpoint

    def set_setpoint(self, value: float) -> None:
        v = float(value)
        if not (0 < abs(v) <= self.ranges.current):
            raise SafetyLimitError(
                f"setpoint {value!r} {self.setpoint_units} must be non-zero "
                f"and within +-{self.ranges.current} {self.setpoint_units}"
            )
        self._setpoint = v

    def get_feedback(self) -> bool:
        return self._feedback

    def set_feedback(self, on: bool) -> None:
        on = bool(on)
        if on and self._lost_contact:
            self._advance(self.timing.reapproach)
            self._lost_contact = False
        elif on != self._feedback:
            self._advance(self.timing.feedback_switch)
        self._feedback = on

    def get_position(self) -> tuple[float, float]:
        """Probe position (nm) as the controller reports it (the commanded position)."""
        return self._pos

    def _check_xy(self, x: float, y: float, what: str = "position") -> tuple[float, float]:
        x, y = float(x), float(y)
        half = self.ranges.scan_range / 2
        if not (abs(x) <= half and abs(y) <= half):
            raise SafetyLimitError(f"{what} ({x}, {y}) nm is outside the scan range of +-{half} nm")
        return x, y

    def _check_tunnelling(self) -> None:
        """STM feedback needs a bias: at 0 V there is no current to regulate on."""
        if self.mode == "stm" and self._feedback and abs(self._bias) < 1e-3:
            raise ConfigurationError(
                f"bias {self._bias} V is too small for STM feedback (|bias| >= 0.001 V needed)"
            )

    def _park_at(self, x: float, y: float) -> None:
        dx, dy = x - self._park[0], y - self._park[1]
        if dx == 0 and dy == 0:
            return
        self._advance(
            self.timing.move_overhead
            + math.hypot(dx, dy) / self.timing.move_speed
            + self.timing.settle_after_move
        )
        self._creep.record(self.time(), dx, dy)
        self._park = (x, y)

    def move_to(self, x: float, y: float) -> tuple[float, float]:
        """Move the probe to ``(x, y)`` nm; returns the reported position (the commanded one)."""
        x, y = self._check_xy(x, y)
        self._park_at(x, y)
        self._pos = (x, y)
        return self._pos

    def true_offset(self, t) -> tuple[np.ndarray, np.ndarray]:
        """True minus commanded position (nm) at instrument times ``t``: drift + creep."""
        dx, dy = self._drift.offset(t)
        cx, cy = self._creep.offset(t)
        return dx + cx, dy + cy

    # ---------------------------------------------------------------- tip
    def _set_tip(
        self, new: TipState, cause: str, t: float, line=None, frame_line=None, sample=None
    ) -> None:
        old = self._tip
        self._tip = new
        if new is not old:
            self.truth.tip_history.append(
                TipEvent(float(t), old.kind, new.kind, cause, line, frame_line, sample)
            )
            log.debug("tip %s -> %s (%s) at %.3f s", old.kind, new.kind, cause, t)

    def _wear(self, path: float) -> None:
        """Grow the tip radius by wear over ``path`` nm of contact scanning."""
        tip = self._tip
        radius = tip.radius + self.tip_wear * path
        sharp_r = make_tip("sharp", self.mode).radius
        if tip.kind == "sharp" and radius > 3 * sharp_r:
            self._set_tip(
                dataclasses.replace(tip, kind="blunt", radius=radius), "wear", self.time()
            )
        else:
            self._tip = dataclasses.replace(tip, radius=radius)

    def set_tip(self, tip) -> None:
        """Force the tip state (a TipState or a kind name); recorded with cause ``"set"``."""
        if isinstance(tip, str):
            tip = make_tip(tip, self.mode, self._tipproc.rng)
        if not isinstance(tip, TipState):
            raise ConfigurationError(f"tip must be a TipState or a kind name, got {tip!r}")
        self._set_tip(tip, "set", self.time())

    def _tip_segments(self, t0: float, dt: float, n: int, frame_line=None):
        """Split ``n`` samples starting at ``t0`` into runs of constant tip state."""
        times = self._tipproc.spontaneous_times(t0, t0 + n * dt)
        segs, start = [], 0
        for t in times:
            k = min(int((t - t0) / dt), n - 1)
            if k > start:
                segs.append((start, k, self._tip))
                start = k
            line = self._lines_done if frame_line is not None else None
            self._set_tip(
                self._tipproc.spontaneous_change(self._tip), "spontaneous", t, line, frame_line, k
            )
        segs.append((start, n, self._tip))
        return segs

    def bias_pulse(self, volts: float, width: float) -> None:
        """Bias pulse of ``volts`` V for ``width`` s at the current position (tip conditioning)."""
        v, w = float(volts), float(width)
        if not abs(v) <= self.ranges.bias:
            raise SafetyLimitError(
                f"pulse of {volts!r} V is beyond the hardware range of +-{self.ranges.bias} V"
            )
        if not 0 < w <= 10.0:
            raise ConfigurationError(f"pulse width {width!r} s must be in (0, 10] s")
        self._advance(self.timing.pulse_overhead + w)
        self._set_tip(self._tipproc.after_pulse(self._tip, v, w), "bias_pulse", self.time())

    def dip(self, depth: float) -> None:
        """Controlled dip of the tip ``depth`` nm into the surface (tip conditioning)."""
        d = float(depth)
        if not 0 < d <= self.ranges.dip_depth:
            raise SafetyLimitError(
                f"dip depth {depth!r} nm must be in (0, {self.ranges.dip_depth}] nm"
            )
        if self.leave_imprints and self.mode == "stm":
            ox, oy = self.true_offset(self.time())
            self.imprints.append((self._pos[0] + float(ox), self._pos[1] + float(oy)))
        self._advance(self.timing.dip_time)
        self._set_tip(self._tipproc.after_dip(self._tip, d), "dip", self.time())

    # ---------------------------------------------------------------- faults
    def inject_fault(
        self,
        kind: str,
        after_lines: int | None = None,
        after_spectra: int | None = None,
        after_time: float | None = None,
    ) -> FaultPlan:
        """Arm a fault counted from now; returns its plan."""
        plan = FaultPlan(kind, after_lines, after_spectra, after_time)
        self._faults.arm(plan, self._lines_done, self._spectra_done, self.time())
        return plan

    def _maybe_fault(self, op: str, where: str, duration: float) -> None:
        plan = self._faults.due(op, self._lines_done, self._spectra_done, self.time())
        if plan is None:
            return
        if plan.kind == "timeout":
            self._advance(self.timing.timeout_wait)
        else:
            self._advance(0.5 * duration)
        if plan.kind == "lost_contact":
            self._feedback = False
            self._lost_contact = True
        if plan.kind == "tip_crash":
            self._set_tip(self._tipproc.after_crash(self._tip), "crash", self.time())
        log.info("injected fault %s during %s", plan.kind, where)
        raise self._faults.error(plan, where, self.time())

    # ---------------------------------------------------------------- imaging
    def _check_frame(self, frame: ScanFrame, index: int) -> None:
        if not isinstance(frame, ScanFrame):
            raise ConfigurationError(f"expected a ScanFrame, got {frame!r}")
        if frame.pixels < 2 or frame.lines < 1:
            raise ConfigurationError(
                f"frame needs >= 2 pixels and >= 1 line, got {frame.pixels} x {frame.lines}"
            )
        if not (frame.width > 0 and frame.height > 0 and frame.line_time > 0):
            raise ConfigurationError(
                f"frame width {frame.width}, height {frame.height} and "
                f"line_time {frame.line_time} must be > 0"
            )
        if not 0 <= int(index) < frame.lines:
            raise ConfigurationError(f"line index {index} outside 0..{frame.lines - 1}")
        for x, y in geometry.corners(frame):
            self._check_xy(x, y, "frame corner")

    def scan_line(self, frame: ScanFrame, index: int) -> LineData:
        """Scan line ``index`` of ``frame`` (trace then retrace)."""
        self._check_frame(frame, index)
        self._check_tunnelling()
        self._maybe_fault("line", f"scan line {index}", 2 * frame.line_time)
        self._park_at(frame.center_x, frame.center_y)
        p = frame.pixels
        n = 2 * p
        dt = frame.line_time / p
        t0 = self.time()
        xn, yn = frame.nominal_xy(index)
        order = np.concatenate([np.arange(p), np.arange(p)[::-1]])
        ts = t0 + (np.arange(n) + 0.5) * dt
        hx, hy = hysteresis_xy(frame, index, self.hysteresis)
        ox, oy = self.true_offset(ts)
        xs = xn[order] + hx + ox
        ys = yn[order] + hy + oy
        kind0 = self._tip.kind
        n_events = self.truth.tip_history.total
        segs = self._tip_segments(t0, dt, n, frame_line=int(index))
        if self.mode == "stm":
            surface = MarkedSurface(self.sample, self.imprints) if self.imprints else self.sample
            ch = self._synth.stm_line(
                surface, xs, ys, segs, t0, dt, self._bias, self._setpoint, self._feedback
            )
        else:
            ch = self._synth.pfm_line(
                self.sample, xs, ys, segs, t0, dt, self.phase_reference, self._feedback
            )
        self._advance(2 * frame.line_time)
        t1 = self.time()
        channels = {
            k: (v[:p].astype(np.float32), v[p:][::-1].astype(np.float32)) for k, v in ch.items()
        }
        self.truth.lines.append(
            LineTruth(
                self._lines_done,
                int(index),
                t0,
                t1,
                kind0,
                self._tip.kind,
                self.truth.tip_history.total > n_events,
                (float(np.mean(xs - xn[order])), float(np.mean(ys - yn[order]))),
            )
        )
        self._lines_done += 1
        if self.tip_wear:
            self._wear(2 * frame.width)
        self._pos = (float(xn[0]), float(yn[0]))
        req = (float(xn[0]), float(yn[0]), float(xn[-1]), float(yn[-1]))
        return LineData(int(index), channels, req, req, t0, t1)

    def scan_frame(self, frame: ScanFrame, lines=None):
        """Scan a whole frame (or the line indices ``lines``) and return images plus labels.

        Returns
        -------
        channels : dict
            name -> ``(trace, retrace)``, float32 arrays of shape ``(L, pixels)``.
        labels : dict
            ``kind`` (list of str: tip kind at each line's start), ``kind_end``,
            ``changed`` (bool array: the tip changed during the line),
            ``line`` (global line counters), ``t_start``, ``t_end`` (arrays, s),
            ``events`` (list of TipEvent during these lines). Ground truth:
            never feed it to an agent.
        """
        idx = list(range(frame.lines)) if lines is None else [int(i) for i in lines]
        n0 = self.truth.tip_history.total
        out: dict[str, tuple[list, list]] = {k: ([], []) for k in self.image_channels}
        recs = []
        for i in idx:
            ld = self.scan_line(frame, i)
            for k, (tr, re) in ld.channels.items():
                out[k][0].append(tr)
                out[k][1].append(re)
            recs.append(self.truth.lines[-1])
        channels = {k: (np.stack(a), np.stack(b)) for k, (a, b) in out.items()}
        labels = {
            "kind": [r.kind_start for r in recs],
            "kind_end": [r.kind_end for r in recs],
            "changed": np.array([r.changed for r in recs], bool),
            "line": np.array([r.line for r in recs]),
            "t_start": np.array([r.t_start for r in recs]),
            "t_end": np.array([r.t_end for r in recs]),
            "events": self.truth.tip_history.since(n0),
        }
        return channels, labels

    # ---------------------------------------------------------------- spectroscopy
    def spectrum(self, x: float, y: float, settings: SpectroscopySettings) -> SpectrumData:
        """Move to ``(x, y)`` and measure one spectrum (STM: I/dIdV sweep; PFM: BE-SS loop)."""
        x, y = self._check_xy(x, y)
        self._spectra.check(settings)
        self._check_tunnelling()
        self._maybe_fault(
            "spectrum", f"spectrum at ({x}, {y}) nm", self._spectra.duration(settings)
        )
        reported = self.move_to(x, y)
        axis, ch, times = self._spectra.measure(np.array([x]), np.array([y]), settings, [0.0])
        self._spectra_done += 1
        return SpectrumData(
            axis,
            "bias",
            "V",
            {k: v[0].astype(np.float32) for k, v in ch.items()},
            (x, y),
            reported,
            float(times[0]),
            self.time(),
        )

    def spectra_at(self, xs, ys, settings: SpectroscopySettings):
        """Measure spectra at many points in one vectorised call (twin-only convenience).

        Costs the same instrument time as calling :meth:`spectrum` at each
        point in turn (moves included); tip changes and drift happen in the
        same way. Faults are not injected here (use :meth:`spectrum` for that).

        Returns
        -------
        axis : ndarray (K,)
        channels : dict name -> float32 array (P, K)
        times : ndarray (P,), start time of every spectrum, s
        """
        xs = np.atleast_1d(np.asarray(xs, float))
        ys = np.atleast_1d(np.asarray(ys, float))
        if xs.shape != ys.shape or xs.ndim != 1:
            raise ConfigurationError(
                f"xs and ys must be 1-D of equal length, got {xs.shape}, {ys.shape}"
            )
        for x, y in ((xs.min(), ys.min()), (xs.max(), ys.max())):
            self._check_xy(x, y)
        self._spectra.check(settings)
        self._check_tunnelling()
        axis, ch, times = self._spectra.measure(xs, ys, settings, None)
        self._spectra_done += len(xs)
        if len(xs):
            self._pos = (float(xs[-1]), float(ys[-1]))
        return axis, {k: v.astype(np.float32) for k, v in ch.items()}, times
