"""Spectrum acquisition of the twin: settings checks, timing, tip changes, noise.

:class:`SpectraEngine` turns a list of positions into measured spectra: it
walks the timing model (move, feedback off, sweep) for each point, lets the
tip change while it sweeps, evaluates the physics of
:mod:`~autoscope.devices.twin.spectroscopy` (STM) or
:mod:`~autoscope.devices.twin.pfm` (PFM) vectorised over all points that share
a tip state, and adds the measurement noise.
"""

from __future__ import annotations

import numpy as np

from autoscope.devices.backend import SpectroscopySettings
from autoscope.devices.twin.imaging import pfm_response, telegraph
from autoscope.devices.twin.pfm import loop_model, measure_be_ss, triangle_waveform
from autoscope.devices.twin.spectroscopy import STMSpectrometer, add_stm_noise
from autoscope.errors import ConfigurationError, SafetyLimitError


class SpectraEngine:
    """Spectroscopy of one :class:`~autoscope.devices.twin.TwinSPM`."""

    def __init__(self, twin, rng: np.random.Generator, noise: float = 1.0) -> None:
        self.twin = twin
        self.rng = rng
        self.noise = float(noise)
        self._stm: dict = {}

    # ------------------------------------------------------------ settings
    def check(self, s: SpectroscopySettings) -> None:
        """Raise a clear error for settings the instrument cannot run."""
        if not isinstance(s, SpectroscopySettings):
            raise ConfigurationError(f"expected SpectroscopySettings, got {s!r}")
        lim = self.twin.ranges.bias
        for name in ("start", "stop"):
            v = getattr(s, name)
            if not abs(v) <= lim:
                raise SafetyLimitError(
                    f"spectroscopy {name} {v!r} V is beyond the hardware range of +-{lim} V"
                )
        if not s.start < s.stop:
            raise ConfigurationError(
                f"spectroscopy start {s.start} V must be below stop {s.stop} V"
            )
        if self.twin.mode == "pfm" and not s.start < 0 < s.stop:
            raise ConfigurationError(
                f"PFM switching needs start < 0 < stop, got {s.start}, {s.stop} V"
            )
        if not 8 <= int(s.points) <= 10000:
            raise ConfigurationError(f"spectroscopy points {s.points!r} must be in 8..10000")
        if not (s.settle >= 0 and s.integration > 0):
            raise ConfigurationError(
                f"settle {s.settle!r} s must be >= 0 and integration {s.integration!r} s > 0"
            )
        if not (int(s.sweeps) >= 1 and s.lockin_amplitude >= 0 and s.lockin_frequency > 0):
            raise ConfigurationError(
                f"sweeps {s.sweeps!r} must be >= 1, lock-in amplitude "
                f"{s.lockin_amplitude!r} V >= 0, frequency "
                f"{s.lockin_frequency!r} Hz > 0"
            )

    def passes(self, s: SpectroscopySettings) -> int:
        """Sweeps over the axis per spectrum (STM: forward and backward per sweep)."""
        return 2 * int(s.sweeps) if self.twin.mode == "stm" else int(s.sweeps)

    def duration(self, s: SpectroscopySettings) -> float:
        """Instrument seconds one spectrum takes once the probe is in place."""
        return int(s.points) * (s.settle + s.integration) * self.passes(s)

    def axis(self, s: SpectroscopySettings) -> np.ndarray:
        """Bias of every point, V: a linear sweep (STM) or the triangle waveform (PFM)."""
        if self.twin.mode == "stm":
            return np.linspace(s.start, s.stop, int(s.points))
        return triangle_waveform(s.start, s.stop, int(s.points))

    # ------------------------------------------------------------ physics
    def _stm_engine(self, s: SpectroscopySettings, axis) -> STMSpectrometer:
        tw = self.twin
        key = (
            s.start,
            s.stop,
            int(s.points),
            s.lockin_amplitude,
            tw._bias,
            tw._setpoint,
            tw.temperature,
        )
        eng = self._stm.get(key)
        if eng is None:
            if len(self._stm) > 8:
                self._stm.clear()
            eng = STMSpectrometer(
                tw.sample,
                axis,
                tw._bias,
                tw._setpoint,
                lockin_amplitude=s.lockin_amplitude,
                temperature=tw.temperature,
            )
            self._stm[key] = eng
        return eng

    def _clean(self, tip, x, y, s, axis):
        """Noise-free channels for points (x, y) seen by ``tip``: dict name -> (P, K)."""
        if self.twin.mode == "stm":
            cur, did = self._stm_engine(s, axis).spectra(x, y, tip)
            return {"current": cur, "dIdV": did}
        sample = self.twin.sample
        offs = tip.offsets
        loops = 0.0
        for dx, dy, w in offs:
            params = sample.loop_params(x + dx, y + dy, blur=tip.radius)
            loops = loops + w * loop_model(axis, params)
        loops = loops / offs[:, 2].sum()
        if tip.kind == "adsorbate":  # contaminated tip: weaker coupling, more electrostatics
            loops = 0.5 * loops + 0.05 * axis[None, :]
        return {"loops": loops, "response": pfm_response(sample, x, y, tip)}

    def _noisy(self, clean, tip, s, axis):
        n = self.noise
        if self.twin.mode == "stm":
            point_time = s.settle + s.integration
            cur, did = add_stm_noise(
                clean["current"],
                clean["dIdV"],
                self.rng,
                integration=s.integration,
                sweeps=s.sweeps,
                lockin_amplitude=s.lockin_amplitude,
                floor_density=0.001 * n,
                lockin_density=0.015 * n,
                gap_noise=0.0004 * n,
                flicker=0.02 * n,
                tip=tip if n else None,
                point_time=point_time,
            )
            return {"current": cur, "dIdV": did}
        p, k = clean["loops"].shape
        tel = None
        if tip.telegraph_rate > 0 and n:
            tel = np.empty((p, k))
            for i in range(p):
                lv, _ = telegraph(self.rng, tip, 0.0, s.settle + s.integration, k, 0)
                tel[i] = 1 - 0.3 * lv
        noise = 0.04 * n / np.sqrt(s.sweeps) * np.sqrt(0.01 / s.integration)
        return measure_be_ss(
            clean["response"],
            clean["loops"],
            self.rng,
            noise=noise,
            phase_reference=self.twin.phase_reference,
            telegraph=tel,
        )

    # ------------------------------------------------------------ acquisition
    def measure(self, xs, ys, s: SpectroscopySettings, t_starts):
        """Acquire spectra at commanded ``(xs, ys)``.

        With ``t_starts=None`` the probe moves to each point first (timing
        counted); otherwise the probe is already at the single point.
        Returns ``(axis, channels dict (P, K), start times (P,))``.
        """
        tw = self.twin
        axis = self.axis(s)
        k = len(axis)
        dur = self.duration(s)
        pt = dur / k
        segs_all, times, xt, yt = [], [], [], []
        for i in range(len(xs)):
            if t_starts is None:
                tw.move_to(xs[i], ys[i])
            tw._advance(tw.timing.spectrum_overhead)
            t0 = tw.time()
            segs_all.append(tw._tip_segments(t0, pt, k))
            ox, oy = tw.true_offset(t0 + dur / 2)
            xt.append(xs[i] + float(ox))
            yt.append(ys[i] + float(oy))
            times.append(t0)
            tw._advance(dur)
        xt, yt = np.array(xt), np.array(yt)
        tips = {}
        for segs in segs_all:
            for _, _, tip in segs:
                tips[id(tip)] = tip
        names = ("current", "dIdV") if tw.mode == "stm" else ("piezoresponse", "amplitude", "phase")
        out = {name: np.empty((len(xs), k)) for name in names}
        for tid, tip in tips.items():
            rows = [i for i, segs in enumerate(segs_all) if any(id(t) == tid for *_, t in segs)]
            rows = np.array(rows, int)
            clean = self._clean(tip, xt[rows], yt[rows], s, axis)
            meas = self._noisy(clean, tip, s, axis)
            for j, i in enumerate(rows):
                for a, b, t in segs_all[i]:
                    if id(t) == tid:
                        for name in names:
                            out[name][i, a:b] = meas[name][j, a:b]
        return axis, out, np.array(times)
