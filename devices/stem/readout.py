"""Measurement children of the STEM device: a scan line, a spectrum, a parked beam.

Each is triggered once per measurement and read once, so a plan gets one event per scan
line (``bps.trigger_and_read([stem.line])``), one per spectrum (``[stem.eels]``), one per
parked beam (``[stem.park]``) and one per spectrum-image line (``[stem.si_line]``).

Before the backend is called, each trigger checks its settings against the device's
limits and the dose it is about to send against the dose budget
(:meth:`~autoscope.devices.stem.limits.STEMLimits.check_dose`); then the beam is unblanked
for the acquisition and blanked after it, and on any failure
(:meth:`~autoscope.devices.stem.device.STEM.acquire`). The dose is entered in the
device's ledger once the backend has returned.

Data keys: a line event holds every enabled detector's ``<name>_<detector>`` (float32
``[pixels]``, dims ``["x"]``), the line index, requested and reported start and end (nm),
instrument times (s) and the dose the line sent (e/Å²). A spectrum event holds the energy
axis ``<name>_energy`` (eV, float64 ``[channels]``) and ``<name>_counts`` (float32), the
requested and reported position and the point index. A spectrum-image line holds the
line's positions, times and dose and
``<name>_spectra`` (float32 ``[pixels, channels]``, dims ``["x", "energy"]``), either in the
event or, when the device has a stream writer, in an HDF5 file the catalog registers
(StreamResource / StreamDatum; see :mod:`autoscope.io.stream_hdf5`).
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from functools import partial

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device

from autoscope.devices import parts
from autoscope.devices.parts import StateConfig, array_key
from autoscope.devices.signals import ReadoutSignal, SettingSignal, finished_status, owner_spm
from autoscope.devices.stem.backend import EELSData, EELSSettings, STEMLineData
from autoscope.devices.stem.dose import point_increment, raster_increment
from autoscope.devices.stem.limits import check_int, check_real
from autoscope.errors import AutoscopeError

__all__ = ["EELSReadout", "ParkAction", "STEMLineReadout", "SpectrumImageLine"]


class _StemSource:
    """Descriptors name the STEM (``STEM:stem.line.index``), not the SPM."""

    def describe(self):
        out = super().describe()
        for key in out.values():
            key["source"] = "STEM:" + key["source"].split(":", 1)[1]
        return out


class StemSetting(_StemSource, SettingSignal):
    pass


class StemReadout(_StemSource, ReadoutSignal):
    pass


#: a setting / readout component of the STEM (``parts.setting`` / ``parts.readout``)
setting = partial(parts.setting, signal=StemSetting)
readout = partial(parts.readout, signal=StemReadout)


class _ColumnConfig(StateConfig):
    """Adds the column's state (EHT, current, aberrations, scan) to a readout's configuration."""

    _state_attrs: tuple = ("EHT", "BeamCurrent")


_SCAN_STATE = (
    "EHT",
    "BeamCurrent",
    "center_nm",
    "fov_nm",
    "pixels",
    "pixel_time_us",
    "rotation",
    "flyback_us",
    "C10",
    "C12",
    "C21",
    "C23",
    "C30",
    "C32",
    "C34",
    "C50",
)


class _LineBase(_ColumnConfig, Device):
    index = Cpt(
        StemSetting,
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
    dose = readout("e/Å^2")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._data: STEMLineData | None = None
        self._ts = time.time()

    @property
    def last(self) -> STEMLineData | None:
        return self._data

    def _store_positions(self, data: STEMLineData, dose: float) -> None:
        now = time.time()
        self.index.put(int(data.index), timestamp=now)
        sigs = (self.x_start_requested, self.y_start_requested, self.x_end_requested)
        for sig, v in zip((*sigs, self.y_end_requested), data.requested, strict=True):
            sig.update(float(v), now)
        sigs = (self.x_start_reported, self.y_start_reported, self.x_end_reported)
        for sig, v in zip((*sigs, self.y_end_reported), data.reported, strict=True):
            sig.update(float(v), now)
        self.t_start.update(float(data.t_start), now)
        self.t_end.update(float(data.t_end), now)
        self.dose.update(float(dose), now)
        self._ts = now

    def _checked_index(self, scan) -> int:
        i = self.index.get()
        if i >= scan.pixels:
            raise AutoscopeError(
                f"line index {i} is beyond the scan's {scan.pixels} lines (0..{scan.pixels - 1})"
            )
        return i


class STEMLineReadout(_LineBase):
    """One line of the raster set on the device (``center_nm``, ``fov_nm``, ``pixels``,
    ``pixel_time_us``, ``rotation``) with every enabled detector: set ``index``, trigger,
    read."""

    _state_attrs = _SCAN_STATE

    def detector_keys(self) -> dict[str, str]:
        """``{detector: data key}`` of the enabled detectors."""
        stem = owner_spm(self)
        return {d: f"{self.name}_{d}" for d in stem.enabled_detectors()}

    def trigger(self):
        """Scan line ``index`` of the device's raster."""
        stem = owner_spm(self)
        scan = stem.limits.check_scan(stem.get_scan())
        i = self._checked_index(scan)
        dets = stem.enabled_detectors()
        if not dets:
            raise AutoscopeError("no detector is enabled (stem.haadf.enabled, ...)")
        current = stem.BeamCurrent.get()
        inc = raster_increment(scan, current, stem.ledger.cell_nm, (i, i + 1))
        stem.limits.check_dose(stem.ledger, [inc], f"line {i}")
        data = stem.acquire(stem.backend.scan_line, scan, i, dets)
        if set(data.signals) != set(dets):
            raise AutoscopeError(
                f"backend returned detectors {sorted(data.signals)}, expected {sorted(dets)}"
            )
        for d, v in data.signals.items():
            if np.shape(v) != (scan.pixels,):
                raise AutoscopeError(
                    f"backend returned detector {d!r} of shape {np.shape(v)}, "
                    f"expected ({scan.pixels},)"
                )
        stem.ledger.add(inc)
        data.signals = {d: np.asarray(v, np.float32) for d, v in data.signals.items()}
        self._data = data
        self._store_positions(data, inc.peak(stem.ledger.cell_nm)[0])
        return finished_status(self)

    def read(self):
        out = OrderedDict(super().read())
        pixels = owner_spm(self).pixels.get()
        for d, key in self.detector_keys().items():
            v = None if self._data is None else self._data.signals.get(d)
            if v is None or v.shape != (pixels,):
                v = np.full(pixels, np.nan, np.float32)
            out[key] = {"value": v, "timestamp": self._ts}
        return out

    def describe(self):
        out = OrderedDict(super().describe())
        stem = owner_spm(self)
        pixels = stem.pixels.get()
        for d, key in self.detector_keys().items():
            out[key] = array_key(
                f"STEM:{self.dotted_name}.{d}", [pixels], stem.backend.detectors[d], "<f4", ["x"]
            )
        return out

    @property
    def hints(self):
        keys = list(self.detector_keys().values())
        return {"fields": [self.index.name] + keys[:1]}


class _EELSSettings(Device):
    """Spectrometer settings shared by point spectra and spectrum images."""

    channels = setting(partial(check_int, "EELS channels", low=8), 2048, dtype_numpy="<i8")
    dispersion = setting(
        partial(check_real, "EELS dispersion", low=0.0, low_inclusive=False, units="eV"),
        0.25,
        "eV",
    )
    energy_offset = setting(partial(check_real, "EELS energy offset", units="eV"), -10.0, "eV")
    exposure = setting(
        partial(check_real, "EELS exposure", low=0.0, low_inclusive=False, units="s"), 0.01, "s"
    )

    def settings(self) -> EELSSettings:
        """The settings as the backend takes them."""
        return EELSSettings(
            channels=self.channels.get(),
            dispersion=self.dispersion.get(),
            energy_offset=self.energy_offset.get(),
            exposure=self.exposure.get(),
        )


class EELSReadout(_ColumnConfig, Device):
    """One spectrum with the beam parked at (``x_requested``, ``y_requested``) nm, with the
    settings of ``stem.spectrometer``."""

    index = Cpt(
        StemSetting,
        validator=partial(check_int, "spectrum index", low=0),
        value=0,
        dtype_numpy="<i8",
        kind="hinted",
    )
    x_requested = setting(partial(check_real, "x", units="nm"), 0.0, "nm", kind="normal")
    y_requested = setting(partial(check_real, "y", units="nm"), 0.0, "nm", kind="normal")
    x_reported = readout("nm")
    y_reported = readout("nm")
    t_start = readout("s")
    t_end = readout("s")
    dose = readout("e/Å^2")

    _state_attrs = ("EHT", "BeamCurrent", "spectrometer")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._data: EELSData | None = None
        self._ts = time.time()

    @property
    def axis_key(self) -> str:
        return f"{self.name}_energy"

    @property
    def counts_key(self) -> str:
        return f"{self.name}_counts"

    @property
    def last(self) -> EELSData | None:
        return self._data

    def trigger(self):
        """Measure one spectrum at the requested position."""
        stem = owner_spm(self)
        settings = stem.limits.check_eels(stem.spectrometer.settings())
        x, y = stem.limits.check_position(
            self.x_requested.get(), self.y_requested.get(), what="spectrum position"
        )
        inc = point_increment(
            x,
            y,
            stem.BeamCurrent.get(),
            settings.exposure,
            stem.ledger.cell_nm,
            stem.limits.spot_radius_nm,
        )
        stem.limits.check_dose(stem.ledger, [inc], f"spectrum at ({x:g}, {y:g}) nm")
        data = stem.acquire(stem.backend.eels, x, y, settings)
        axis = np.asarray(data.axis, np.float64)
        counts = np.asarray(data.counts, np.float32)
        if axis.shape != (settings.channels,) or counts.shape != (settings.channels,):
            raise AutoscopeError(
                f"backend returned a spectrum of shape {counts.shape} on an axis of "
                f"{axis.shape}, expected ({settings.channels},)"
            )
        stem.ledger.add(inc)
        now = time.time()
        self.x_reported.update(float(data.reported[0]), now)
        self.y_reported.update(float(data.reported[1]), now)
        self.t_start.update(float(data.t_start), now)
        self.t_end.update(float(data.t_end), now)
        self.dose.update(inc.peak(stem.ledger.cell_nm)[0], now)
        self._data = dataclasses.replace(data, axis=axis, counts=counts)
        self._ts = now
        return finished_status(self)

    def read(self):
        out = OrderedDict(super().read())
        k = owner_spm(self).spectrometer.channels.get()
        fresh = self._data is not None and self._data.axis.shape == (k,)
        out[self.axis_key] = {
            "value": self._data.axis if fresh else np.full(k, np.nan),
            "timestamp": self._ts,
        }
        out[self.counts_key] = {
            "value": self._data.counts if fresh else np.full(k, np.nan, np.float32),
            "timestamp": self._ts,
        }
        return out

    def describe(self):
        out = OrderedDict(super().describe())
        k = owner_spm(self).spectrometer.channels.get()
        out[self.axis_key] = array_key(
            f"STEM:{self.dotted_name}.energy", [k], "eV", "<f8", ["energy"]
        )
        out[self.counts_key] = array_key(
            f"STEM:{self.dotted_name}.counts", [k], "counts", "<f4", ["energy"]
        )
        return out

    @property
    def hints(self):
        return {"fields": [self.index.name, self.counts_key]}


class SpectrumImageLine(_LineBase):
    """One line of a spectrum image: a spectrum at every pixel of line ``index`` of the
    device's raster, each pixel dwelling the spectrometer's exposure.

    The energy axis is linear (``spectrometer`` settings, in the configuration and the
    plan's start document), so the events do not repeat it. Without a stream writer the
    spectra travel in the event (``<name>_spectra``); with one
    (:meth:`~autoscope.devices.stem.device.STEM.stream_to`), each line is appended to the
    writer's HDF5 file and the event carries none of it: the data key is described with
    ``external="STREAM:"`` and the readout hands the RunEngine a StreamResource (once) and
    a StreamDatum per line, which the catalog's TiledWriter registers.
    """

    _state_attrs = (*_SCAN_STATE, "spectrometer")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._asset_docs: list[tuple[str, dict]] = []

    @property
    def spectra_key(self) -> str:
        return f"{self.name}_spectra"

    def _shape(self) -> tuple[int, int]:
        stem = owner_spm(self)
        return stem.pixels.get(), stem.spectrometer.channels.get()

    def trigger(self):
        """Measure line ``index`` of the spectrum image."""
        stem = owner_spm(self)
        settings = stem.limits.check_eels(stem.spectrometer.settings())
        scan = stem.limits.check_scan(stem.get_scan())
        i = self._checked_index(scan)
        dwell = dataclasses.replace(scan, pixel_time_us=settings.exposure * 1e6)
        inc = raster_increment(dwell, stem.BeamCurrent.get(), stem.ledger.cell_nm, (i, i + 1))
        stem.limits.check_dose(stem.ledger, [inc], f"spectrum-image line {i}")
        data = stem.acquire(stem.backend.scan_line, scan, i, (), settings)
        spectra = np.asarray(data.spectra, np.float32)
        if spectra.shape != (scan.pixels, settings.channels):
            raise AutoscopeError(
                f"backend returned spectra of shape {spectra.shape}, expected "
                f"({scan.pixels}, {settings.channels})"
            )
        stem.ledger.add(inc)
        data.spectra = spectra
        self._data = data
        self._store_positions(data, inc.peak(stem.ledger.cell_nm)[0])
        writer = stem.stream_writer
        if writer is not None:
            self._asset_docs.extend(writer.append(self.spectra_key, spectra))
        return finished_status(self)

    def read(self):
        out = OrderedDict(super().read())
        stem = owner_spm(self)
        shape = self._shape()
        if stem.stream_writer is None:
            fresh = self._data is not None and self._data.spectra.shape == shape
            value = self._data.spectra if fresh else np.full(shape, np.nan, np.float32)
            out[self.spectra_key] = {"value": value, "timestamp": self._ts}
        return out

    def describe(self):
        out = OrderedDict(super().describe())
        stem = owner_spm(self)
        shape = self._shape()
        key = array_key(f"STEM:{self.dotted_name}.spectra", shape, "counts", "<f4", ["x", "energy"])
        if stem.stream_writer is not None:
            key["external"] = "STREAM:"
        out[self.spectra_key] = key
        return out

    def stage(self):
        """Start a new stream file (when the device streams spectra to one)."""
        staged = super().stage()
        writer = owner_spm(self).stream_writer
        if writer is not None:
            writer.open()
        return staged

    def unstage(self):
        """Close the stream file; the lines written stay readable."""
        writer = owner_spm(self).stream_writer
        if writer is not None:
            writer.close()
        return super().unstage()

    def collect_asset_docs(self):
        """StreamResource / StreamDatum documents of the lines written since the last call."""
        docs, self._asset_docs = self._asset_docs, []
        yield from docs

    @property
    def hints(self):
        return {"fields": [self.index.name]}


class ParkAction(_ColumnConfig, Device):
    """Hold the beam at (``x_requested``, ``y_requested``) nm for ``seconds``: trigger."""

    x_requested = setting(partial(check_real, "x", units="nm"), 0.0, "nm", kind="normal")
    y_requested = setting(partial(check_real, "y", units="nm"), 0.0, "nm", kind="normal")
    seconds = Cpt(
        StemSetting,
        validator=partial(check_real, "park time", low=0.0, low_inclusive=False, units="s"),
        value=1.0,
        units="s",
        kind="normal",
    )
    x_reported = readout("nm")
    y_reported = readout("nm")
    t_start = readout("s")
    t_end = readout("s")
    dose = readout("e/Å^2")

    def trigger(self):
        """Park the beam."""
        stem = owner_spm(self)
        seconds = stem.limits.check_park(self.seconds.get())
        x, y = stem.limits.check_position(
            self.x_requested.get(), self.y_requested.get(), what="park position"
        )
        inc = point_increment(
            x,
            y,
            stem.BeamCurrent.get(),
            seconds,
            stem.ledger.cell_nm,
            stem.limits.spot_radius_nm,
        )
        stem.limits.check_dose(stem.ledger, [inc], f"parking the beam at ({x:g}, {y:g}) nm")
        t0 = stem.backend.time()
        reported = stem.acquire(stem.backend.park, x, y, seconds)
        stem.ledger.add(inc)
        now = time.time()
        self.x_reported.update(float(reported[0]), now)
        self.y_reported.update(float(reported[1]), now)
        self.t_start.update(float(t0), now)
        self.t_end.update(float(stem.backend.time()), now)
        self.dose.update(inc.peak(stem.ledger.cell_nm)[0], now)
        return finished_status(self)
