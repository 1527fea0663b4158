"""The ophyd SPM device: one class for STM and AFM/PFM, the backend passed in.

>>> spm = SPM(backend, name="spm", limits=SafetyLimits(bias=5.0))   # doctest: +SKIP

Parts (attribute: what it is; bluesky protocols it satisfies):

- ``frame``: scan frame settings (centre, size, angle, pixels, lines,
  line time); Movable with a :class:`~autoscope.devices.backend.ScanFrame` or a
  dict of fields, checked as a whole (corners after rotation) before it is set.
- ``bias`` (V), ``setpoint`` (backend's units, pA for STM), ``feedback`` (bool):
  signals whose value lives in the instrument.
- ``probe``: probe position, Movable with ``(x, y)`` in nm; reads the
  position the instrument reports and the one last requested.
- ``line``: one scan line (see :mod:`autoscope.devices.spm.readout`).
- ``spectrum``: one spectrum and its settings.
- ``tip``: conditioning actions (bias pulse, controlled dip) and their parameters.
- ``instrument_time``: the backend's clock (s).
- ``phase_reference`` (PFM): the lock-in's phase reference (deg) the backend states.

Every path that changes the instrument goes through ``spm.limits``
(:class:`~autoscope.devices.spm.limits.SafetyLimits`) first; a value beyond a
limit raises :class:`~autoscope.errors.SafetyLimitError` naming the value and
the limit, and the backend is not called.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from functools import partial

from ophyd import Component as Cpt
from ophyd import Device

from autoscope.devices.backend import ScanFrame, SPMBackend
from autoscope.devices.parts import InstrumentClock, PositionPairCheck, setting
from autoscope.devices.signals import (
    BackendSignal,
    ReadoutSignal,
    _SPMSignalBase,
    finished_status,
    owner_spm,
)
from autoscope.devices.spm.limits import SafetyLimits, check_int, check_real
from autoscope.devices.spm.readout import LineReadout, SpectrumReadout
from autoscope.errors import ConfigurationError

__all__ = ["SPM", "ScanFrameSettings", "ProbePosition", "TipActions", "SafetyLimits"]

_DEFAULT_FRAME = ScanFrame()


class ScanFrameSettings(Device):
    """The raster frame: settings only, used by ``spm.line`` when it is triggered.

    ``set(frame)`` takes a :class:`ScanFrame` or a mapping of some of its
    fields, checks the complete new frame against the safety limits, then
    stores it; single fields can also be put one by one (each is validated;
    the whole frame is checked again at every line).
    """

    center_x = setting(
        partial(check_real, "frame center_x", units="nm"), _DEFAULT_FRAME.center_x, "nm"
    )
    center_y = setting(
        partial(check_real, "frame center_y", units="nm"), _DEFAULT_FRAME.center_y, "nm"
    )
    width = setting(
        partial(check_real, "frame width", low=0.0, low_inclusive=False, units="nm"),
        _DEFAULT_FRAME.width,
        "nm",
    )
    height = setting(
        partial(check_real, "frame height", low=0.0, low_inclusive=False, units="nm"),
        _DEFAULT_FRAME.height,
        "nm",
    )
    angle = setting(
        partial(check_real, "frame angle", low=-360.0, high=360.0, units="deg"),
        _DEFAULT_FRAME.angle,
        "deg",
    )
    pixels = setting(
        partial(check_int, "frame pixels", low=1), _DEFAULT_FRAME.pixels, dtype_numpy="<i8"
    )
    lines = setting(
        partial(check_int, "frame lines", low=1), _DEFAULT_FRAME.lines, dtype_numpy="<i8"
    )
    line_time = setting(
        partial(check_real, "frame line_time", low=0.0, low_inclusive=False, units="s"),
        _DEFAULT_FRAME.line_time,
        "s",
    )

    _fields = tuple(f.name for f in dataclasses.fields(ScanFrame))

    def get_frame(self) -> ScanFrame:
        """The frame as the backend takes it."""
        return ScanFrame(**{f: getattr(self, f).get() for f in self._fields})

    def set(self, value, **kwargs):
        """Set the whole frame (a ScanFrame or a mapping of fields) after checking it."""
        checked = self._checked(value)
        for f, v in checked.items():
            getattr(self, f).put(v)
        return finished_status(self)

    def check_value(self, value, **kwargs):
        """Raise (naming the value) unless ``set(value)`` would be accepted."""
        self._checked(value)

    def _checked(self, value) -> dict:
        if isinstance(value, ScanFrame):
            updates = dataclasses.asdict(value)
        elif isinstance(value, Mapping):
            unknown = set(value) - set(self._fields)
            if unknown:
                raise ConfigurationError(
                    f"unknown scan frame field(s) {sorted(unknown)}; known: {list(self._fields)}"
                )
            updates = dict(value)
        else:
            raise ConfigurationError(
                f"a scan frame must be a ScanFrame or a mapping of its fields, got {value!r}"
            )
        # validate every field, then the complete frame, before storing anything
        checked = {f: getattr(self, f)._validator(v) for f, v in updates.items()}
        frame = dataclasses.replace(self.get_frame(), **checked)
        spm = owner_spm(self)
        spm.limits.check_frame(frame, channels=len(spm.backend.image_channels))
        return checked

    @property
    def pixel_size(self) -> tuple[float, float]:
        """(x, y) pixel size in nm."""
        f = self.get_frame()
        return f.width / f.pixels, f.height / f.lines

    @property
    def speed(self) -> float:
        """Tip speed along a line in nm/s."""
        return self.width.get() / self.line_time.get()


class _ReportedCoordinate(_SPMSignalBase):
    """Read-only: one coordinate of the position the instrument reports."""

    def __init__(self, *, axis: int, **kwargs):
        self._axis = axis
        super().__init__(value=float("nan"), **kwargs)

    def get(self, **kwargs):
        value = float(owner_spm(self).backend.get_position()[self._axis])
        self._readback = value
        return value

    def put(self, value, **kwargs):
        raise ConfigurationError(f"{self.name} is the reported position; move spm.probe instead")

    def set(self, value, **kwargs):
        self.put(value)


class ProbePosition(PositionPairCheck, Device):
    """Probe position in nm. ``set((x, y))`` moves the probe (backend.move_to).

    Reads ``x``/``y`` (reported by the instrument) and ``x_requested``/
    ``y_requested`` (the last position asked for; NaN before the first move).
    """

    x = Cpt(_ReportedCoordinate, axis=0, units="nm", kind="hinted")
    y = Cpt(_ReportedCoordinate, axis=1, units="nm", kind="hinted")
    x_requested = Cpt(ReadoutSignal, units="nm", kind="normal")
    y_requested = Cpt(ReadoutSignal, units="nm", kind="normal")

    def set(self, value, **kwargs):
        """Move to ``value = (x, y)`` nm after checking it against the scan range."""
        x, y = self._checked(value)
        spm = owner_spm(self)
        now = time.time()
        self.x_requested.update(x, now)
        self.y_requested.update(y, now)
        spm.backend.move_to(x, y)
        return finished_status(self)

    @property
    def position(self) -> tuple[float, float]:
        """The reported (x, y) in nm."""
        return tuple(float(v) for v in owner_spm(self).backend.get_position())


class _TipActionSignal(_SPMSignalBase):
    """``set("pulse")`` or ``set("dip")`` performs the action with the parameters of ``spm.tip``."""

    ACTIONS = ("pulse", "dip")

    def __init__(self, **kwargs):
        super().__init__(value="none", dtype_numpy="<U8", **kwargs)

    def put(self, value, *, timestamp=None, force=False, metadata=None, **kwargs):
        if value not in self.ACTIONS:
            raise ConfigurationError(f"tip action must be one of {self.ACTIONS}, got {value!r}")
        tip = self.parent
        spm = owner_spm(self)
        if value == "pulse":
            volts, width = spm.limits.check_pulse(tip.pulse_voltage.get(), tip.pulse_width.get())
        else:
            depth = spm.limits.check_dip(tip.dip_depth.get())
        t0 = spm.backend.time()
        if value == "pulse":
            spm.backend.bias_pulse(volts, width)
        else:
            spm.backend.dip(depth)
        t1 = spm.backend.time()
        now = time.time()
        tip.t_start.update(float(t0), now)
        tip.t_end.update(float(t1), now)
        super().put(value, timestamp=now, force=True, metadata=metadata)


class TipActions(Device):
    """Tip conditioning at the current probe position.

    Put the parameters (``pulse_voltage`` V, ``pulse_width`` s, ``dip_depth``
    nm), then ``set`` ``action`` to ``"pulse"`` or ``"dip"``. Reads the last
    action and its instrument start/end time.
    """

    pulse_voltage = setting(
        partial(check_real, "pulse voltage", units="V"), 3.0, "V", check="check_pulse_voltage"
    )
    pulse_width = setting(
        partial(check_real, "pulse width", low=0.0, low_inclusive=False, units="s"),
        0.05,
        "s",
        check="check_pulse_width",
    )
    dip_depth = setting(
        partial(check_real, "dip depth", low=0.0, low_inclusive=False, units="nm"),
        0.5,
        "nm",
        check="check_dip",
    )
    action = Cpt(_TipActionSignal, kind="hinted")
    t_start = Cpt(ReadoutSignal, units="s", kind="normal")
    t_end = Cpt(ReadoutSignal, units="s", kind="normal")


class _InstrumentTime(InstrumentClock):
    """Read-only: the backend's clock in instrument seconds."""

    def set(self, value, **kwargs):
        self.put(value)


class SPM(Device):
    """A scanning probe microscope (STM or AFM/PFM) driven by ``backend``.

    Parameters
    ----------
    backend : SPMBackend
        The simulated twin or a hardware driver (``autoscope.devices.backend``).
    name : str
        Device name; prefix of every data key (``spm_line_topography_trace``).
    limits : SafetyLimits, optional
        The device's safety limits; fields left ``None`` take the hardware's
        ranges. Limits beyond the hardware ranges raise ConfigurationError.
    """

    _is_spm_root = True

    frame = Cpt(ScanFrameSettings, kind="config")
    bias = Cpt(
        BackendSignal,
        getter="get_bias",
        setter="set_bias",
        check="check_bias",
        units="V",
        kind="config",
    )
    setpoint = Cpt(
        BackendSignal,
        getter="get_setpoint",
        setter="set_setpoint",
        check="check_setpoint",
        units=lambda backend: backend.setpoint_units,
        kind="config",
    )
    feedback = Cpt(
        BackendSignal,
        getter="get_feedback",
        setter="set_feedback",
        cast=bool,
        dtype_numpy="|b1",
        kind="config",
    )
    probe = Cpt(ProbePosition, kind="hinted")
    instrument_time = Cpt(_InstrumentTime, kind="normal")
    line = Cpt(LineReadout, kind="omitted")
    spectrum = Cpt(SpectrumReadout, kind="omitted")
    tip = Cpt(TipActions, kind="omitted")

    def __init__(
        self,
        backend: SPMBackend,
        *,
        name: str = "spm",
        limits: SafetyLimits | None = None,
        **kwargs,
    ):
        if not isinstance(backend, SPMBackend):
            raise ConfigurationError(
                f"backend {backend!r} does not implement autoscope.devices.backend.SPMBackend"
            )
        if limits is not None and not isinstance(limits, SafetyLimits):
            raise ConfigurationError(f"limits must be a SafetyLimits, got {limits!r}")
        self._backend = backend
        self._limits = (limits or SafetyLimits()).resolve(backend.ranges)
        super().__init__(name=name, **kwargs)

    @property
    def backend(self) -> SPMBackend:
        """The backend this device drives."""
        return self._backend

    @property
    def limits(self) -> SafetyLimits:
        """The resolved safety limits (every field set)."""
        return self._limits

    @property
    def mode(self) -> str:
        """``"stm"`` or ``"pfm"``."""
        return self._backend.mode

    @property
    def phase_reference(self) -> float | None:
        """PFM: the lock-in's phase reference in degrees, as the backend states it.

        Piezoresponse is ``amplitude * cos(phase - phase_reference)``
        (:func:`autoscope.io.pfm.piezoresponse`). ``None`` when the backend
        states none (an STM, or a PFM backend without the attribute).
        """
        value = getattr(self._backend, "phase_reference", None)
        return None if value is None else float(value)

    def units(self) -> dict:
        """Units of everything this device records (for run metadata)."""
        return {
            "length": "nm",
            "position": "nm",
            "bias": "V",
            "time": "s",
            "angle": "deg",
            "setpoint": self._backend.setpoint_units,
            "image_channels": dict(self._backend.image_channels),
            "spectrum_channels": dict(self._backend.spectrum_channels),
        }

    def frame_metadata(self) -> dict:
        """Frame geometry, pixel size and image shape of the current frame (plain types)."""
        f = self.frame.get_frame()
        return {
            "frame": dataclasses.asdict(f),
            "pixel_size": [f.width / f.pixels, f.height / f.lines],
            "pixel_units": "nm",
            "image_shape": [f.lines, f.pixels],
        }
