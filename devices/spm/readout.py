"""Measurement child devices of the SPM: one scan line, one spectrum.

Each is triggered once per measurement and read once, so a plan gets one
event per scan line (``bps.trigger_and_read([spm.line])``) and one event per
spectrum (``bps.trigger_and_read([spm.spectrum])``).

A line event holds, for every image channel of the backend, the trace and
retrace as float32 arrays of shape ``[pixels]`` (keys
``<name>_<channel>_trace`` / ``_retrace``), the line index, the requested and
reported start and end positions (nm) and the instrument time (s) at start and
end. Every line array is described with ``dims: ["x"]`` (pixels along the
fast-scan axis). A spectrum event holds the spectral axis (``<name>_bias``, V, float64),
every spectrum channel (float32), the requested and reported x, y, the
instrument time and the point index the plan gave it.

The channel arrays are not ophyd components because their names depend on the
backend (``backend.image_channels``); ``read`` and ``describe`` add them to the
components' readings. The configuration of each readout includes the state it
was measured under (frame, bias, setpoint, feedback), so it lands in the
event descriptor.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from functools import partial

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device

from autoscope.devices.backend import LineData, SpectroscopySettings, SpectrumData
from autoscope.devices.parts import StateConfig, array_key, readout, setting
from autoscope.devices.signals import SettingSignal, finished_status, owner_spm
from autoscope.devices.spm.limits import check_int, check_real
from autoscope.errors import AutoscopeError

__all__ = ["LINE_DIM", "SPECTRUM_DIM", "LineReadout", "SpectrumReadout"]

#: ``dims`` of every line array in the descriptor: pixels along the fast-scan axis. Trace
#: and retrace are separate keys; ``autoscope.io.to_xarray`` stacks them as ``direction``.
LINE_DIM = "x"
#: ``dims`` of the spectral axis and of every spectrum channel: the bias sweep.
SPECTRUM_DIM = "bias"


class _StateConfigMixin(StateConfig):
    """Adds the SPM's operating state (siblings) to a readout's configuration."""

    _state_attrs: tuple = ("bias", "setpoint", "feedback")


class LineReadout(_StateConfigMixin, Device):
    """One scan line of the frame set in ``spm.frame``: set ``index``, trigger, read.

    ``trigger`` checks the frame against the safety limits and the index
    against the frame, then calls ``backend.scan_line``; an instrument fault
    raised there propagates unchanged (nothing is stored for that line).
    """

    _state_attrs = ("frame", "bias", "setpoint", "feedback")

    index = Cpt(
        SettingSignal,
        validator=partial(check_int, "line index", low=0),
        value=0,
        dtype_numpy="<i8",
        kind="hinted",
    )
    x_start_requested = readout("nm")
    y_start_requested = readout("nm")
    x_end_requested = readout("nm")
    y_end_requested = readout("nm")
    x_start_reported = readout("nm")
    y_start_reported = readout("nm")
    x_end_reported = readout("nm")
    y_end_reported = readout("nm")
    t_start = readout("s")
    t_end = readout("s")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._data: LineData | None = None
        self._data_timestamp = time.time()

    # --- channels -----------------------------------------------------------------------

    def channel_keys(self) -> dict[str, tuple[str, str]]:
        """``{channel: (trace_key, retrace_key)}`` for every image channel of the backend."""
        spm = owner_spm(self)
        return {
            ch: (f"{self.name}_{ch}_trace", f"{self.name}_{ch}_retrace")
            for ch in spm.backend.image_channels
        }

    @property
    def last(self) -> LineData | None:
        """The last line measured (or ``None``)."""
        return self._data

    # --- bluesky interface --------------------------------------------------------------

    def trigger(self):
        """Scan line ``index`` of the current frame (trace and retrace)."""
        spm = owner_spm(self)
        frame = spm.frame.get_frame()
        spm.limits.check_frame(frame, channels=len(spm.backend.image_channels))
        i = self.index.get()
        if i >= frame.lines:
            raise AutoscopeError(
                f"line index {i} is beyond the frame's {frame.lines} lines (0..{frame.lines - 1})"
            )
        data = spm.backend.scan_line(frame, i)
        self._store(data, frame.pixels)
        return finished_status(self)

    def _store(self, data: LineData, pixels: int) -> None:
        channels = {}
        expected = set(owner_spm(self).backend.image_channels)
        if set(data.channels) != expected:
            raise AutoscopeError(
                f"backend returned line channels {sorted(data.channels)}, "
                f"expected {sorted(expected)}"
            )
        for ch, (trace, retrace) in data.channels.items():
            t = np.asarray(trace, dtype=np.float32)
            r = np.asarray(retrace, dtype=np.float32)
            if t.shape != (pixels,) or r.shape != (pixels,):
                raise AutoscopeError(
                    f"backend returned channel {ch!r} of shape {t.shape}/{r.shape}, "
                    f"expected ({pixels},)"
                )
            channels[ch] = (t, r)
        now = time.time()
        self.index.put(int(data.index), timestamp=now)
        for sig, v in zip(
            (
                self.x_start_requested,
                self.y_start_requested,
                self.x_end_requested,
                self.y_end_requested,
            ),
            data.requested,
        ):
            sig.update(float(v), now)
        for sig, v in zip(
            (
                self.x_start_reported,
                self.y_start_reported,
                self.x_end_reported,
                self.y_end_reported,
            ),
            data.reported,
        ):
            sig.update(float(v), now)
        self.t_start.update(float(data.t_start), now)
        self.t_end.update(float(data.t_end), now)
        self._data = LineData(
            index=data.index,
            channels=channels,
            requested=data.requested,
            reported=data.reported,
            t_start=data.t_start,
            t_end=data.t_end,
        )
        self._data_timestamp = now

    def read(self):
        out = OrderedDict(super().read())
        pixels = owner_spm(self).frame.pixels.get()
        for ch, (kt, kr) in self.channel_keys().items():
            stored = self._data.channels.get(ch) if self._data is not None else None
            if stored is not None and stored[0].shape == (pixels,):
                t, r = stored
            else:  # nothing measured yet for this frame: NaN of the described shape
                t = r = np.full(pixels, np.nan, dtype=np.float32)
            out[kt] = {"value": t, "timestamp": self._data_timestamp}
            out[kr] = {"value": r, "timestamp": self._data_timestamp}
        return out

    def describe(self):
        out = OrderedDict(super().describe())
        spm = owner_spm(self)
        pixels = spm.frame.pixels.get()
        for ch, (kt, kr) in self.channel_keys().items():
            units = spm.backend.image_channels[ch]
            out[kt] = array_key(
                f"SPM:{self.dotted_name}.{ch}.trace", [pixels], units, "<f4", [LINE_DIM]
            )
            out[kr] = array_key(
                f"SPM:{self.dotted_name}.{ch}.retrace", [pixels], units, "<f4", [LINE_DIM]
            )
        return out

    @property
    def hints(self):
        keys = self.channel_keys()
        first = next(iter(keys.values()), None)
        return {"fields": [self.index.name] + ([first[0]] if first else [])}


_DEFAULT_SPECTRUM = SpectroscopySettings()


class SpectrumReadout(_StateConfigMixin, Device):
    """One spectrum at (``x_requested``, ``y_requested``) with the settings held here.

    ``trigger`` checks the settings and the position against the safety limits,
    then calls ``backend.spectrum``. The spectral axis is the bias (V).
    """

    sweep_start = setting(
        partial(check_real, "sweep start", units="V"),
        _DEFAULT_SPECTRUM.start,
        "V",
        check="check_bias",
        check_name="sweep start",
    )
    sweep_stop = setting(
        partial(check_real, "sweep stop", units="V"),
        _DEFAULT_SPECTRUM.stop,
        "V",
        check="check_bias",
        check_name="sweep stop",
    )
    points = setting(
        partial(check_int, "spectrum points", low=2), _DEFAULT_SPECTRUM.points, dtype_numpy="<i8"
    )
    settle = setting(
        partial(check_real, "settle", low=0.0, units="s"), _DEFAULT_SPECTRUM.settle, "s"
    )
    integration = setting(
        partial(check_real, "integration", low=0.0, low_inclusive=False, units="s"),
        _DEFAULT_SPECTRUM.integration,
        "s",
    )
    lockin_amplitude = setting(
        partial(check_real, "lock-in amplitude", low=0.0, units="V"),
        _DEFAULT_SPECTRUM.lockin_amplitude,
        "V",
    )
    lockin_frequency = setting(
        partial(check_real, "lock-in frequency", low=0.0, low_inclusive=False, units="Hz"),
        _DEFAULT_SPECTRUM.lockin_frequency,
        "Hz",
    )
    sweeps = setting(
        partial(check_int, "sweeps", low=1), _DEFAULT_SPECTRUM.sweeps, dtype_numpy="<i8"
    )

    index = Cpt(
        SettingSignal,
        validator=partial(check_int, "spectrum index", low=0),
        value=0,
        dtype_numpy="<i8",
        kind="hinted",
    )
    x_requested = Cpt(
        SettingSignal,
        validator=partial(check_real, "x", units="nm"),
        value=0.0,
        units="nm",
        check="check_coordinate",
        check_name="spectrum x",
        kind="normal",
    )
    y_requested = Cpt(
        SettingSignal,
        validator=partial(check_real, "y", units="nm"),
        value=0.0,
        units="nm",
        check="check_coordinate",
        check_name="spectrum y",
        kind="normal",
    )
    x_reported = readout("nm")
    y_reported = readout("nm")
    t_start = readout("s")
    t_end = readout("s")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._data: SpectrumData | None = None
        self._data_timestamp = time.time()

    def settings(self) -> SpectroscopySettings:
        """The spectroscopy settings held by the device, as the backend takes them."""
        return SpectroscopySettings(
            start=self.sweep_start.get(),
            stop=self.sweep_stop.get(),
            points=self.points.get(),
            settle=self.settle.get(),
            integration=self.integration.get(),
            lockin_amplitude=self.lockin_amplitude.get(),
            lockin_frequency=self.lockin_frequency.get(),
            sweeps=self.sweeps.get(),
        )

    @property
    def axis_key(self) -> str:
        """Data key of the spectral axis (bias, V)."""
        return f"{self.name}_bias"

    def channel_keys(self) -> dict[str, str]:
        """``{channel: data key}`` for every spectrum channel of the backend."""
        return {ch: f"{self.name}_{ch}" for ch in owner_spm(self).backend.spectrum_channels}

    @property
    def last(self) -> SpectrumData | None:
        """The last spectrum measured (or ``None``)."""
        return self._data

    def trigger(self):
        """Measure one spectrum at the requested position."""
        spm = owner_spm(self)
        settings = spm.limits.check_spectroscopy(self.settings())
        x, y = spm.limits.check_position(
            self.x_requested.get(), self.y_requested.get(), what="spectrum position"
        )
        data = spm.backend.spectrum(x, y, settings)
        self._store(data, settings.points)
        return finished_status(self)

    def _store(self, data: SpectrumData, points: int) -> None:
        expected = set(owner_spm(self).backend.spectrum_channels)
        if set(data.channels) != expected:
            raise AutoscopeError(
                f"backend returned spectrum channels {sorted(data.channels)}, "
                f"expected {sorted(expected)}"
            )
        axis = np.asarray(data.axis, dtype=np.float64)
        if axis.shape != (points,):
            raise AutoscopeError(
                f"backend returned a spectral axis of shape {axis.shape}, expected ({points},)"
            )
        channels = {}
        for ch, arr in data.channels.items():
            a = np.asarray(arr, dtype=np.float32)
            if a.shape != (points,):
                raise AutoscopeError(
                    f"backend returned spectrum channel {ch!r} of shape {a.shape}, "
                    f"expected ({points},)"
                )
            channels[ch] = a
        now = time.time()
        self.x_reported.update(float(data.reported[0]), now)
        self.y_reported.update(float(data.reported[1]), now)
        self.t_start.update(float(data.t_start), now)
        self.t_end.update(float(data.t_end), now)
        self._data = SpectrumData(
            axis=axis,
            axis_name=data.axis_name,
            axis_units=data.axis_units,
            channels=channels,
            requested=data.requested,
            reported=data.reported,
            t_start=data.t_start,
            t_end=data.t_end,
        )
        self._data_timestamp = now

    def read(self):
        out = OrderedDict(super().read())
        points = self.points.get()
        ts = self._data_timestamp
        # nothing measured yet with these settings: NaN of the described shape
        fresh = self._data is not None and self._data.axis.shape == (points,)
        axis = self._data.axis if fresh else np.full(points, np.nan)
        out[self.axis_key] = {"value": axis, "timestamp": ts}
        for ch, key in self.channel_keys().items():
            value = self._data.channels[ch] if fresh else np.full(points, np.nan, np.float32)
            out[key] = {"value": value, "timestamp": ts}
        return out

    def describe(self):
        out = OrderedDict(super().describe())
        spm = owner_spm(self)
        points = self.points.get()
        out[self.axis_key] = array_key(
            f"SPM:{self.dotted_name}.axis", [points], "V", "<f8", [SPECTRUM_DIM]
        )
        for ch, key in self.channel_keys().items():
            out[key] = array_key(
                f"SPM:{self.dotted_name}.{ch}",
                [points],
                spm.backend.spectrum_channels[ch],
                "<f4",
                [SPECTRUM_DIM],
            )
        return out

    @property
    def hints(self):
        keys = list(self.channel_keys().values())
        return {"fields": [self.index.name] + keys[:1]}
