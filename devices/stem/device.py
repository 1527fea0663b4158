"""The ophyd STEM device: one class for any scanning transmission electron microscope, the
backend passed in.

>>> stem = STEM(backend, name="stem", limits=STEMLimits(dose_per_area=1e5))  # doctest: +SKIP

Names follow the microscopists' and Nion's usage:

- ``EHT`` (kV), ``BeamCurrent`` (pA), ``C10`` … ``C50`` (aberration coefficients, nm):
  values that live in the microscope; a put checks the device's limits, then the backend.
- ``blanker``: True while the beam is blanked (its rest state: the device unblanks it for
  each acquisition and blanks it after, and on any failure).
- ``center_nm`` (``.x``, ``.y``), ``fov_nm``, ``pixels``, ``pixel_time_us``, ``rotation``,
  ``flyback_us``: the raster a line trigger scans.
- ``probe_position``: Movable with ``(x, y)`` nm; moves the (blanked) probe.
- ``haadf``, ``adf``, ``bf``: the annular and bright-field detectors (``.enabled``).
- ``spectrometer``: the EELS spectrometer's ``channels``, ``dispersion`` (eV/channel),
  ``energy_offset`` (eV), ``exposure`` (s).
- ``line``, ``eels``, ``si_line``, ``park``: what a plan triggers
  (:mod:`autoscope.devices.stem.readout`).
- ``dose_total`` (electrons sent), ``dose_max`` (e/Å², the most-exposed cell): read from
  the device's dose ledger (:attr:`STEM.ledger`).
- ``instrument_time``: the backend's clock (s).

Every path that sends electrons or changes the column goes through ``stem.limits``
(:class:`~autoscope.devices.stem.limits.STEMLimits`) first; a value beyond a limit raises
:class:`~autoscope.errors.SafetyLimitError` naming the value and the limit, and the backend
is not called. A plan checks all its exposures at once with :meth:`STEM.check_exposures`
before the beam moves.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from functools import partial

from ophyd import Component as Cpt
from ophyd import Device

from autoscope.devices.parts import InstrumentClock, PositionPairCheck
from autoscope.devices.signals import (
    BackendSignal,
    _SPMSignalBase,
    finished_status,
    owner_spm,
)
from autoscope.devices.stem.backend import STEMBackend, STEMScan
from autoscope.devices.stem.dose import DoseLedger, Increment, point_increment, raster_increment
from autoscope.devices.stem.limits import STEMLimits, check_int, check_real
from autoscope.devices.stem.readout import (
    EELSReadout,
    ParkAction,
    SpectrumImageLine,
    STEMLineReadout,
    StemReadout,
    _EELSSettings,
    _StemSource,
    setting,
)
from autoscope.errors import ConfigurationError

__all__ = ["STEM", "STEMLimits"]

log = logging.getLogger(__name__)
_DEFAULT = STEMScan()


class _StemBackendSignal(_StemSource, BackendSignal):
    pass


class _Aberration(_StemSource, _SPMSignalBase):
    """One aberration coefficient (nm): read from and set on the backend, within limits."""

    def __init__(self, *, coefficient: str, **kwargs):
        self._coefficient = coefficient
        super().__init__(value=0.0, units="nm", **kwargs)

    def get(self, **kwargs):
        value = float(owner_spm(self).backend.get_aberrations()[self._coefficient])
        self._readback = value
        return value

    def check_value(self, value):
        owner_spm(self).limits.check_aberration(self._coefficient, value)

    def put(self, value, *, timestamp=None, force=False, metadata=None, **kwargs):
        stem = owner_spm(self)
        value = stem.limits.check_aberration(self._coefficient, value)
        stem.backend.set_aberration(self._coefficient, value)
        super().put(value, timestamp=timestamp, force=True, metadata=metadata)


def _aberration(name: str):
    return Cpt(_Aberration, coefficient=name, kind="config")


def _check_bool(name, value) -> bool:
    if not isinstance(value, (bool, int)) or value not in (0, 1):
        raise ConfigurationError(f"{name} must be a bool, got {value!r}")
    return bool(value)


class _Position(Device):
    """A position (nm), checked against the device's field on every put."""

    x = setting(partial(check_real, "x", units="nm"), 0.0, "nm", check="check_position_x")
    y = setting(partial(check_real, "y", units="nm"), 0.0, "nm", check="check_position_y")

    def get_xy(self) -> tuple[float, float]:
        return (self.x.get(), self.y.get())


class ProbePosition(PositionPairCheck, Device):
    """Where the (blanked) probe is held, nm: ``set((x, y))`` moves it; reads the position
    the scan generator reports and the one last asked for."""

    x = Cpt(StemReadout, units="nm", kind="hinted")
    y = Cpt(StemReadout, units="nm", kind="hinted")
    x_requested = Cpt(StemReadout, units="nm", kind="normal")
    y_requested = Cpt(StemReadout, units="nm", kind="normal")

    def set(self, value, **kwargs):
        x, y = self._checked(value)
        stem = owner_spm(self)
        now = time.time()
        self.x_requested.update(x, now)
        self.y_requested.update(y, now)
        rx, ry = stem.acquire(stem.backend.move_probe, x, y, unblank=False)
        self.x.update(float(rx), now)
        self.y.update(float(ry), now)
        return finished_status(self)


class Detector(Device):
    """An imaging detector; ``enabled`` says whether scan lines record it."""

    enabled = setting(partial(_check_bool, "detector enabled"), False, dtype_numpy="|b1")


class _DoseSignal(_StemSource, _SPMSignalBase):
    """Read-only: a figure of the device's dose ledger."""

    def __init__(self, *, figure: str, units: str, **kwargs):
        self._figure = figure
        super().__init__(value=0.0, units=units, **kwargs)

    def get(self, **kwargs):
        ledger = owner_spm(self).ledger
        value = ledger.total_electrons if self._figure == "total" else ledger.max_dose()
        self._readback = float(value)
        return float(value)

    def put(self, value, **kwargs):
        raise ConfigurationError(f"{self.name} is counted by the device and cannot be set")


class _InstrumentTime(_StemSource, InstrumentClock):
    pass


class STEM(Device):
    """A scanning transmission electron microscope driven by ``backend``.

    Parameters
    ----------
    backend : STEMBackend
        The twin (:class:`~autoscope.devices.stem.twin_backend.TwinSTEMBackend`) or a
        hardware client.
    name : str
        Device name, prefix of every data key (``stem_line_haadf``).
    limits : STEMLimits, optional
        Safety limits; fields left ``None`` take the microscope's ranges (no dose limit).
    detectors : sequence of str
        Detectors enabled at the start (default ``("haadf",)``).
    """

    # devices.signals finds the device that holds the backend by this flag
    _is_spm_root = True

    EHT = Cpt(
        _StemBackendSignal,
        getter="get_eht",
        setter="set_eht",
        check="check_eht",
        units="kV",
        kind="config",
    )
    BeamCurrent = Cpt(
        _StemBackendSignal,
        getter="get_beam_current",
        setter="set_beam_current",
        check="check_beam_current",
        units="pA",
        kind="config",
    )
    C10 = _aberration("C10")
    C12 = _aberration("C12")
    C21 = _aberration("C21")
    C23 = _aberration("C23")
    C30 = _aberration("C30")
    C32 = _aberration("C32")
    C34 = _aberration("C34")
    C50 = _aberration("C50")
    blanker = Cpt(
        _StemBackendSignal,
        getter="get_blanked",
        setter="set_blanked",
        cast=bool,
        dtype_numpy="|b1",
        kind="config",
    )
    center_nm = Cpt(_Position, kind="config")
    fov_nm = setting(
        partial(check_real, "fov_nm", low=0.0, low_inclusive=False, units="nm"),
        _DEFAULT.fov_nm,
        "nm",
    )
    pixels = setting(partial(check_int, "pixels", low=2), _DEFAULT.pixels, dtype_numpy="<i8")
    pixel_time_us = setting(
        partial(check_real, "pixel_time_us", low=0.0, low_inclusive=False, units="µs"),
        _DEFAULT.pixel_time_us,
        "µs",
    )
    rotation = setting(
        partial(check_real, "rotation", low=-360.0, high=360.0, units="deg"),
        _DEFAULT.rotation,
        "deg",
    )
    flyback_us = setting(
        partial(check_real, "flyback_us", low=0.0, units="µs"), _DEFAULT.flyback_us, "µs"
    )
    probe_position = Cpt(ProbePosition, kind="hinted")
    haadf = Cpt(Detector, kind="config")
    adf = Cpt(Detector, kind="config")
    bf = Cpt(Detector, kind="config")
    spectrometer = Cpt(_EELSSettings, kind="config")
    line = Cpt(STEMLineReadout, kind="omitted")
    eels = Cpt(EELSReadout, kind="omitted")
    si_line = Cpt(SpectrumImageLine, kind="omitted")
    park = Cpt(ParkAction, kind="omitted")
    dose_total = Cpt(_DoseSignal, figure="total", units="electrons", kind="normal")
    dose_max = Cpt(_DoseSignal, figure="max", units="e/Å^2", kind="normal")
    instrument_time = Cpt(_InstrumentTime, kind="normal")

    def __init__(
        self,
        backend: STEMBackend,
        *,
        name: str = "stem",
        limits: STEMLimits | None = None,
        detectors=("haadf",),
        **kwargs,
    ):
        if not isinstance(backend, STEMBackend):
            raise ConfigurationError(
                f"backend {backend!r} does not implement autoscope.devices.stem.STEMBackend"
            )
        if limits is not None and not isinstance(limits, STEMLimits):
            raise ConfigurationError(f"limits must be a STEMLimits, got {limits!r}")
        self._backend = backend
        self._limits = (limits or STEMLimits()).resolve(backend.ranges)
        self._ledger = DoseLedger(self._limits.dose_cell_nm)
        self._stream_writer = None
        super().__init__(name=name, **kwargs)
        for d in detectors:
            if d not in ("haadf", "adf", "bf") or d not in backend.detectors:
                raise ConfigurationError(
                    f"unknown detector {d!r}; this microscope has {sorted(backend.detectors)}"
                )
            getattr(self, d).enabled.put(True)
        # the beam rests blanked
        backend.set_blanked(True)

    # -- state ---------------------------------------------------------------------------
    @property
    def backend(self) -> STEMBackend:
        return self._backend

    @property
    def limits(self) -> STEMLimits:
        """The resolved safety limits."""
        return self._limits

    @property
    def ledger(self) -> DoseLedger:
        """The dose the device has sent, per cell (see :mod:`autoscope.devices.stem.dose`)."""
        return self._ledger

    @property
    def mode(self) -> str:
        return "stem"

    @property
    def stream_writer(self):
        """The writer spectrum-image lines go to (None: they travel in the events)."""
        return self._stream_writer

    def stream_to(self, writer) -> None:
        """Send spectrum-image lines to ``writer`` (an object with
        ``append(data_key, array) -> [(name, doc), ...]``, e.g.
        :class:`autoscope.io.stream_hdf5.StreamHDF5Writer`), or back into events (None)."""
        self._stream_writer = writer

    def enabled_detectors(self) -> tuple[str, ...]:
        return tuple(d for d in ("haadf", "adf", "bf") if getattr(self, d).enabled.get())

    def get_scan(self) -> STEMScan:
        """The raster the device's settings describe."""
        return STEMScan(
            center_nm=self.center_nm.get_xy(),
            fov_nm=self.fov_nm.get(),
            pixels=self.pixels.get(),
            pixel_time_us=self.pixel_time_us.get(),
            rotation=self.rotation.get(),
            flyback_us=self.flyback_us.get(),
        )

    def units(self) -> dict:
        """Units of what the device records (for run metadata)."""
        return {
            "position": "nm",
            "fov": "nm",
            "pixel_time": "µs",
            "beam_current": "pA",
            "eht": "kV",
            "aberrations": "nm",
            "energy_loss": "eV",
            "time": "s",
            "dose": "e/Å^2",
            "detectors": dict(self._backend.detectors),
        }

    # -- acquisitions ----------------------------------------------------------------------
    def acquire(self, call, *args, unblank: bool = True):
        """Call ``call(*args)`` on the backend with the beam unblanked (unless ``unblank`` is
        False); the beam is blanked again after it, and on any failure before the error
        propagates."""
        try:
            if unblank:
                self._backend.set_blanked(False)
            return call(*args)
        finally:
            self.blank()

    def blank(self) -> None:
        """Blank the beam; a failure to do so is logged (the original error wins)."""
        try:
            self._backend.set_blanked(True)
        except Exception:  # noqa: BLE001 - blanking is attempted whatever went wrong
            log.exception("could not blank the beam of %s", self.name)

    def raster_exposure(
        self,
        scan: STEMScan,
        pixel_time_us: float | None = None,
        current_pa: float | None = None,
    ) -> Increment:
        """The dose of a whole raster (``pixel_time_us``: the dwell of a spectrum image,
        default the scan's; ``current_pa``: default the present beam current)."""
        if pixel_time_us is not None:
            scan = dataclasses.replace(scan, pixel_time_us=pixel_time_us)
        current = self.BeamCurrent.get() if current_pa is None else current_pa
        return raster_increment(scan, current, self._ledger.cell_nm)

    def point_exposure(
        self, x: float, y: float, seconds: float, current_pa: float | None = None
    ) -> Increment:
        """The dose of the beam parked at ``(x, y)`` nm for ``seconds``."""
        return point_increment(
            x,
            y,
            self.BeamCurrent.get() if current_pa is None else current_pa,
            seconds,
            self._ledger.cell_nm,
            self._limits.spot_radius_nm,
        )

    def check_exposures(self, increments, what: str) -> float:
        """Refuse a plan whose exposures would pass a dose limit anywhere (before the beam
        moves); returns the peak dose (e/Å²) the plan would leave."""
        return self._limits.check_dose(self._ledger, list(increments), what)

    def dose_map(self, x0: float, y0: float, width: float, height: float):
        """The ledger's dose (e/Å²) on its cells covering the given area (nm), rows = y."""
        return self._ledger.dose_map(x0, y0, width, height)
