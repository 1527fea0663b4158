"""Safety limits of the STEM device: beam energy and current, field, dwell, EELS, dose.

The limits sit inside what the microscope can do (``backend.ranges``). Every path that
sends electrons or changes the column goes through :class:`STEMLimits` before the backend
is called, so a value beyond a limit never reaches the microscope: a signal put, a probe
move, a scan line, a spectrum, a parked beam, and a plan's whole set of exposures, which
is checked against the dose budget before the beam moves (:meth:`STEMLimits.check_dose`).

Dose limits (see :mod:`autoscope.devices.stem.dose` for how an exposure is counted):

- ``dose_per_area``: the largest dose (e/Å²) any cell of the ledger may hold, counting what
  the device has already sent there;
- ``dose_total``: the electrons the device may send in all, over its life (a session's
  budget).

Units: nm, µs, pA, kV, s, eV, e/Å², electrons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from autoscope.devices.limits import check_range
from autoscope.devices.stem.backend import ABERRATIONS, EELSSettings, STEMRanges, STEMScan
from autoscope.devices.stem.dose import DoseLedger, Increment
from autoscope.errors import ConfigurationError, SafetyLimitError

__all__ = ["STEMLimits", "check_int", "check_real"]


def _g(v) -> str:
    return f"{v:g}"


def check_real(
    name: str, value, *, low=None, high=None, units: str = "", low_inclusive: bool = True
) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` unless
    ``low_inclusive``); raises :class:`ConfigurationError` naming it otherwise."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ConfigurationError(f"{name} must be finite, got {v!r}")
    return check_range(
        name, v, low=low, high=high, units=units, low_inclusive=low_inclusive, fmt=_g
    )


def check_int(name: str, value, *, low=None, high=None) -> int:
    """``value`` as an int (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise ConfigurationError(f"{name} must be an integer, got {value!r}")
    return check_range(name, int(value), low=low, high=high)


@dataclass(frozen=True)
class STEMLimits:
    """Limits the STEM device enforces before it calls the backend.

    A field left ``None`` takes the microscope's own range when the device resolves the
    limits (:meth:`resolve`); the dose limits then mean "no limit" (infinity).

    Parameters
    ----------
    beam_current_pa : float or None
        Largest beam current, pA.
    fov_nm : float or None
        Largest field of view of one raster, nm.
    field_nm : float or None
        Full width of the square, centred on 0, that every probe position and frame corner
        must lie in, nm.
    dose_per_area : float or None
        Largest accumulated dose of any cell, e/Å².
    dose_total : float or None
        Electrons the device may send in all.
    dose_cell_nm : float
        Cell over which the dose is averaged (the ledger's resolution), nm.
    spot_radius_nm : float
        Radius over which the electrons of a parked beam (a spectrum, a park) are counted, nm.
    exposure_s, park_s : float or None
        Longest EELS exposure and longest parked beam, s.
    aberration_nm : float or None
        Largest ``|C|`` of any aberration coefficient the device may set, nm.
    """

    beam_current_pa: float | None = None
    fov_nm: float | None = None
    field_nm: float | None = None
    dose_per_area: float | None = None
    dose_total: float | None = None
    dose_cell_nm: float = 0.2
    spot_radius_nm: float = 0.2
    exposure_s: float | None = None
    park_s: float | None = None
    aberration_nm: float | None = None
    eht_kv: tuple[float, ...] | None = None
    max_pixels: int | None = None
    pixel_time_us: tuple[float, float] | None = None
    eels_channels: int | None = None

    def resolve(self, ranges: STEMRanges) -> STEMLimits:
        """Fill unset limits from ``ranges``; check set ones are positive and inside them.

        Raises
        ------
        ConfigurationError
            naming the limit and the range it exceeds.
        """
        hw = {
            "beam_current_pa": ranges.beam_current_pa,
            "fov_nm": min(ranges.fov_nm, ranges.field_nm),
            "field_nm": ranges.field_nm,
            "dose_per_area": math.inf,
            "dose_total": math.inf,
            "exposure_s": ranges.exposure_s,
            "park_s": ranges.park_s,
            "aberration_nm": ranges.aberration_nm,
        }
        values = {}
        for name, top in hw.items():
            v = getattr(self, name)
            if v is None:
                values[name] = float(top)
                continue
            v = check_real(f"safety limit {name}", v, low=0.0, low_inclusive=False)
            if v > top:
                raise ConfigurationError(
                    f"safety limit {name} {v:g} is beyond the microscope's range {top:g}"
                )
            values[name] = v
        for name in ("dose_cell_nm", "spot_radius_nm"):
            values[name] = check_real(
                f"safety limit {name}", getattr(self, name), low=0.0, low_inclusive=False
            )
        eht = tuple(float(k) for k in (self.eht_kv or ranges.eht_kv))
        bad = [k for k in eht if k not in ranges.eht_kv]
        if bad:
            raise ConfigurationError(
                f"safety limit eht_kv {bad[0]:g} kV is not one the microscope is aligned for "
                f"({', '.join(f'{k:g}' for k in ranges.eht_kv)} kV)"
            )
        values["eht_kv"] = eht
        values["max_pixels"] = check_int(
            "safety limit max_pixels",
            self.max_pixels or ranges.max_pixels,
            low=2,
            high=ranges.max_pixels,
        )
        lo, hi = self.pixel_time_us or ranges.pixel_time_us
        if not (ranges.pixel_time_us[0] <= lo <= hi <= ranges.pixel_time_us[1]):
            raise ConfigurationError(
                f"safety limit pixel_time_us ({lo:g}, {hi:g}) µs is not inside the "
                f"microscope's range {tuple(ranges.pixel_time_us)} µs"
            )
        values["pixel_time_us"] = (float(lo), float(hi))
        values["eels_channels"] = check_int(
            "safety limit eels_channels",
            self.eels_channels or ranges.eels_channels,
            low=8,
            high=ranges.eels_channels,
        )
        return STEMLimits(**values)

    @property
    def resolved(self) -> bool:
        return all(getattr(self, f.name) is not None for f in fields(self))

    def as_dict(self) -> dict:
        """The limits as plain types (for metadata; infinity as ``None``)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, float) and math.isinf(v):
                v = None
            out[f.name] = v
        return out

    def _require_resolved(self) -> None:
        if not self.resolved:
            raise ConfigurationError("STEMLimits must be resolved against the microscope first")

    # --- checks: each raises SafetyLimitError naming the value and the limit ---------------

    def check_eht(self, kv) -> float:
        """A beam energy (kV) the gun is aligned for."""
        self._require_resolved()
        v = check_real("EHT", kv, units="kV")
        if v not in self.eht_kv:
            raise SafetyLimitError(
                f"EHT {v:g} kV is not an allowed beam energy "
                f"({', '.join(f'{k:g}' for k in self.eht_kv)} kV)"
            )
        return v

    def check_beam_current(self, pa) -> float:
        """A beam current in ``(0, beam_current_pa]``."""
        self._require_resolved()
        v = check_real("beam current", pa, low=0.0, low_inclusive=False, units="pA")
        if v > self.beam_current_pa:
            raise SafetyLimitError(
                f"beam current {v:g} pA is beyond the device limit of {self.beam_current_pa:g} pA"
            )
        return v

    def check_aberration(self, name: str, nm) -> float:
        """An aberration coefficient (nm) within ``±aberration_nm``."""
        self._require_resolved()
        if name not in ABERRATIONS:
            raise ConfigurationError(f"unknown aberration {name!r}; known: {list(ABERRATIONS)}")
        v = check_real(name, nm, units="nm")
        if abs(v) > self.aberration_nm:
            raise SafetyLimitError(
                f"{name} {v:g} nm is beyond the device limit of ±{self.aberration_nm:g} nm"
            )
        return v

    def check_position(self, x, y, what: str = "probe position") -> tuple[float, float]:
        """A position (nm) inside the reachable field."""
        self._require_resolved()
        x = check_real(f"{what} x", x, units="nm")
        y = check_real(f"{what} y", y, units="nm")
        h = self.field_nm / 2
        if abs(x) > h or abs(y) > h:
            raise SafetyLimitError(
                f"{what} ({x:g}, {y:g}) nm is outside the device's field of ±{h:g} nm"
            )
        return x, y

    def check_position_x(self, x) -> float:
        """One coordinate (nm) inside the reachable field (for ``center_nm.x``)."""
        return self.check_position(x, 0.0, what="centre")[0]

    def check_position_y(self, y) -> float:
        """One coordinate (nm) inside the reachable field (for ``center_nm.y``)."""
        return self.check_position(0.0, y, what="centre")[1]

    def check_scan(self, scan: STEMScan) -> STEMScan:
        """A raster: field of view, pixels, dwell, and every corner inside the field."""
        self._require_resolved()
        fov = check_real("fov_nm", scan.fov_nm, low=0.0, low_inclusive=False, units="nm")
        if fov > self.fov_nm:
            raise SafetyLimitError(
                f"field of view {fov:g} nm is beyond the device limit of {self.fov_nm:g} nm"
            )
        check_int("pixels", scan.pixels, low=2, high=self.max_pixels)
        lo, hi = self.pixel_time_us
        t = check_real("pixel_time_us", scan.pixel_time_us, units="µs")
        if not lo <= t <= hi:
            raise SafetyLimitError(
                f"pixel time {t:g} µs is outside the device's range {lo:g}–{hi:g} µs"
            )
        check_real("flyback_us", scan.flyback_us, low=0.0, units="µs")
        check_real("rotation", scan.rotation, low=-360.0, high=360.0, units="deg")
        h = self.field_nm / 2
        for cx, cy in scan.corners():
            if abs(cx) > h + 1e-9 or abs(cy) > h + 1e-9:
                raise SafetyLimitError(
                    f"scan corner ({cx:g}, {cy:g}) nm (centre {tuple(scan.center_nm)}, fov "
                    f"{fov:g} nm, rotation {scan.rotation:g}°) is outside the device's field "
                    f"of ±{h:g} nm"
                )
        return scan

    def check_eels(self, settings: EELSSettings) -> EELSSettings:
        """Spectrometer settings: channels, dispersion, exposure."""
        self._require_resolved()
        check_int("EELS channels", settings.channels, low=8, high=self.eels_channels)
        check_real("EELS dispersion", settings.dispersion, low=0.0, low_inclusive=False, units="eV")
        check_real("EELS energy offset", settings.energy_offset, units="eV")
        e = check_real("EELS exposure", settings.exposure, low=0.0, low_inclusive=False, units="s")
        if e > self.exposure_s:
            raise SafetyLimitError(
                f"EELS exposure {e:g} s is beyond the device limit of {self.exposure_s:g} s"
            )
        return settings

    def check_park(self, seconds) -> float:
        """A parked-beam time in ``(0, park_s]``."""
        self._require_resolved()
        v = check_real("park time", seconds, low=0.0, low_inclusive=False, units="s")
        if v > self.park_s:
            raise SafetyLimitError(
                f"park time {v:g} s is beyond the device limit of {self.park_s:g} s"
            )
        return v

    def check_dose(self, ledger: DoseLedger, increments: list[Increment], what: str) -> float:
        """Refuse ``increments`` (all of ``what``) if, added to the ledger, any cell would pass
        ``dose_per_area`` or the electrons would pass ``dose_total``; returns the peak dose
        (e/Å²) of any cell afterwards.

        Raises
        ------
        SafetyLimitError
            naming the dose, where, and the limit; nothing has been sent.
        """
        self._require_resolved()
        total = ledger.total_electrons + sum(i.electrons for i in increments)
        if total > self.dose_total:
            raise SafetyLimitError(
                f"{what} would bring the electrons sent to {total:.3g}, beyond the device's "
                f"total dose budget of {self.dose_total:.3g} electrons "
                f"({ledger.total_electrons:.3g} sent so far)"
            )
        peak, x, y = ledger.peak_after(increments)
        if peak > self.dose_per_area:
            raise SafetyLimitError(
                f"{what} would raise the dose at ({x:.3g}, {y:.3g}) nm to {peak:.3g} e/Å², "
                f"beyond the device limit of {self.dose_per_area:.3g} e/Å²"
            )
        return peak
