"""The STEM twin as a :class:`~autoscope.devices.stem.backend.STEMBackend`.

:class:`TwinSTEMBackend` adapts :class:`autoscope.devices.twin.stem.twin.TwinSTEM` (pure
numpy, Å inside) to the device's contract (nm, µs, pA, a blanker). It adds what a real
microscope has and the physics twin does not model:

- the blanker: while blanked no electron reaches the sample; a scan gives a dark line
  (zero counts) and a spectrum zero counts, and only the clock runs;
- the scan generator's view of positions: it reports the positions it commanded (the
  true drift is the twin's hidden truth);
- injected faults (``fail_at``), for tests of what a plan does when the microscope fails.

This is the one module of the STEM family that imports the twin; the factory
(:func:`autoscope.devices.factories.make_stem`) chooses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from autoscope.devices.stem.backend import (
    ABERRATIONS,
    EELSData,
    EELSSettings,
    STEMLineData,
    STEMRanges,
    STEMScan,
)
from autoscope.devices.twin.stem.eels import Spectrometer
from autoscope.devices.twin.stem.twin import STEMFrame, TwinSTEM
from autoscope.errors import ConfigurationError, InstrumentTimeout

__all__ = ["TwinSTEMBackend"]

_OPERATIONS = ("scan_line", "eels", "park")


class TwinSTEMBackend:
    """A simulated STEM behind the backend contract.

    Parameters
    ----------
    sample : str or STEMSample
        ``"graphene"``, ``"nanoparticles"``, ``"oxide"`` or a sample object.
    seed : int
        Seeds the twin.
    fail_at : mapping, optional
        ``{operation: k}``: the ``k``-th call (0-based) of ``"scan_line"``, ``"eels"`` or
        ``"park"`` raises :class:`InstrumentTimeout` (once), before any electron is sent.
    **twin_kw
        Passed to :class:`TwinSTEM` (``kv``, ``current_pa``, ``scan_errors``, ``clock``, ...).
    """

    detectors = {"haadf": "counts", "adf": "counts", "bf": "counts"}

    def __init__(
        self,
        sample="graphene",
        seed: int = 0,
        fail_at: Mapping[str, int] | None = None,
        **twin_kw,
    ) -> None:
        self.twin = TwinSTEM(sample, seed=seed, **twin_kw)
        fail_at = dict(fail_at or {})
        unknown = sorted(set(fail_at) - set(_OPERATIONS))
        if unknown:
            raise ConfigurationError(
                f"fail_at names unknown operation {unknown[0]!r}; known: {list(_OPERATIONS)}"
            )
        self._fail_at = fail_at
        self._calls = dict.fromkeys(_OPERATIONS, 0)
        s = self.twin.sample
        field = max(s.width, s.height) / 10.0
        self.ranges = STEMRanges(field_nm=field, fov_nm=field)
        self._blanked = True
        self._position = (0.0, 0.0)
        self._spectrometers: dict[EELSSettings, Spectrometer] = {}

    # -- state -------------------------------------------------------------------------
    def time(self) -> float:
        return float(self.twin.clock.now())

    def get_eht(self) -> float:
        return float(self.twin.probe.kv)

    def set_eht(self, kv: float) -> None:
        self.twin.set_beam(kv=float(kv))

    def get_beam_current(self) -> float:
        return float(self.twin.current_pa)

    def set_beam_current(self, pa: float) -> None:
        self.twin.set_beam(current_pa=float(pa))

    def get_aberrations(self) -> dict[str, float]:
        a = self.twin.probe.aberrations
        return {name: getattr(a, name) / 10.0 for name in ABERRATIONS}

    def set_aberration(self, name: str, nm: float) -> None:
        if name not in ABERRATIONS:
            raise ConfigurationError(f"unknown aberration {name!r}; known: {list(ABERRATIONS)}")
        self.twin.set_aberrations(**{name: float(nm) * 10.0})

    def get_blanked(self) -> bool:
        return self._blanked

    def set_blanked(self, blanked: bool) -> None:
        self._blanked = bool(blanked)

    def get_probe_position(self) -> tuple[float, float]:
        return self._position

    def move_probe(self, x: float, y: float) -> tuple[float, float]:
        self._position = (float(x), float(y))
        return self._position

    # -- acquisitions --------------------------------------------------------------------
    def _maybe_fail(self, op: str) -> None:
        k = self._calls[op]
        self._calls[op] = k + 1
        if self._fail_at.get(op) == k:
            self._blanked = True
            raise InstrumentTimeout(f"simulated STEM fault: {op} call {k} did not complete")

    def _spectrometer(self, settings: EELSSettings) -> Spectrometer:
        spec = self._spectrometers.get(settings)
        if spec is None:
            spec = Spectrometer(
                channels=settings.channels,
                dispersion=settings.dispersion,
                offset=settings.energy_offset,
                exposure=settings.exposure,
            )
            self._spectrometers[settings] = spec
        return spec

    def scan_line(
        self,
        scan: STEMScan,
        index: int,
        detectors: tuple[str, ...],
        eels: EELSSettings | None = None,
    ) -> STEMLineData:
        self._maybe_fail("scan_line")
        unknown = [d for d in detectors if d not in self.detectors]
        if unknown:
            raise ConfigurationError(
                f"unknown detector {unknown[0]!r}; known: {sorted(self.detectors)}"
            )
        x, y = scan.positions(index)
        requested = (float(x[0]), float(y[0]), float(x[-1]), float(y[-1]))
        if eels is not None:
            return self._spectrum_line(scan, index, x, y, eels, requested)
        frame = STEMFrame(
            center_nm=tuple(scan.center_nm),
            fov_nm=scan.fov_nm,
            pixels=scan.pixels,
            dwell_us=scan.pixel_time_us,
            rotation=scan.rotation,
            flyback_us=scan.flyback_us,
        )
        if self._blanked or not detectors:
            t0 = self.time()
            self.twin.clock.advance(scan.line_seconds)
            signals = {d: np.zeros(scan.pixels, np.float32) for d in detectors}
            return STEMLineData(index, signals, requested, requested, t0, self.time())
        line = self.twin.scan_line(frame, index, tuple(detectors))
        signals = {d: np.asarray(v, np.float32) for d, v in line.signals.items()}
        self._position = (float(x[-1]), float(y[-1]))
        return STEMLineData(index, signals, requested, requested, line.t_start, line.t_end)

    def _spectrum_line(self, scan, index, x, y, eels, requested) -> STEMLineData:
        t0 = self.time()
        self.twin.clock.advance(scan.flyback_us * 1e-6)
        if self._blanked:
            for _ in range(scan.pixels):
                self.twin.clock.advance(eels.exposure + 1e-3)
            spectra = np.zeros((scan.pixels, eels.channels), np.float32)
        else:
            counts = self.twin.eels_line(x, y, self._spectrometer(eels))
            spectra = np.asarray(counts, np.float32)
        self._position = (float(x[-1]), float(y[-1]))
        return STEMLineData(index, {}, requested, requested, t0, self.time(), spectra)

    def _spectrum(self, x: float, y: float, settings: EELSSettings) -> np.ndarray:
        if self._blanked:
            self.twin.clock.advance(settings.exposure + 1e-3)
            return np.zeros(settings.channels, np.float32)
        _, counts = self.twin.eels_at(x, y, self._spectrometer(settings))
        return np.asarray(counts, np.float32)

    def eels(self, x: float, y: float, settings: EELSSettings) -> EELSData:
        self._maybe_fail("eels")
        t0 = self.time()
        counts = self._spectrum(float(x), float(y), settings)
        self._position = (float(x), float(y))
        return EELSData(settings.axis(), counts, (x, y), (x, y), t0, self.time())

    def park(self, x: float, y: float, seconds: float) -> tuple[float, float]:
        self._maybe_fail("park")
        seconds = float(seconds)
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ConfigurationError(f"park time {seconds!r} s must be positive")
        if self._blanked:
            self.twin.clock.advance(seconds)
        else:
            self.twin.park(float(x), float(y), seconds)
        self._position = (float(x), float(y))
        return self._position
