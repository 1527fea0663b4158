"""The contract between the ophyd STEM device and whatever drives the microscope.

A STEM backend is the simulated twin (:mod:`autoscope.devices.stem.twin_backend`, which
adapts :class:`autoscope.devices.twin.stem.twin.TwinSTEM`) or a hardware client. The device
(:mod:`autoscope.devices.stem.device`) talks to the microscope only through this interface.

Units (docs/decisions/0004-units.md, and the microscopists' habits): positions, field of
view and aberration coefficients in nm, azimuths in rad, dwell (pixel time) in µs, beam
current in pA, beam energy (EHT) in kV, energy loss in eV, exposures and instrument time in
s. Images are detected electrons per pixel, spectra counts per channel.

Pure Python + numpy: no ophyd, no bluesky.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "ABERRATIONS",
    "EELSData",
    "EELSSettings",
    "STEMBackend",
    "STEMLineData",
    "STEMRanges",
    "STEMScan",
]

#: Aberration coefficients the device exposes (nm), in Krivanek's notation.
ABERRATIONS = ("C10", "C12", "C21", "C23", "C30", "C32", "C34", "C50")


@dataclass(frozen=True)
class STEMScan:
    """A raster of the probe: ``pixels x pixels``, square field of view ``fov_nm``.

    Pixel ``j`` of line ``i`` is asked for at ``center + R(rotation) · ((j + 0.5) / pixels -
    0.5, (i + 0.5) / pixels - 0.5) · fov`` (nm); lines run from the bottom up, pixels by
    increasing x. ``pixel_time_us`` is the dwell per pixel, ``flyback_us`` the settling
    time before each line.
    """

    center_nm: tuple[float, float] = (0.0, 0.0)
    fov_nm: float = 5.0
    pixels: int = 256
    pixel_time_us: float = 4.0
    rotation: float = 0.0  # deg, counter-clockwise
    flyback_us: float = 50.0

    @property
    def pixel_size_nm(self) -> float:
        return self.fov_nm / self.pixels

    @property
    def line_seconds(self) -> float:
        """Instrument time of one line (flyback + dwells), s."""
        return (self.flyback_us + self.pixels * self.pixel_time_us) * 1e-6

    def positions(self, line: int) -> tuple[np.ndarray, np.ndarray]:
        """Asked-for (x, y) in nm of every pixel of ``line``, shape ``(pixels,)`` each."""
        u = ((np.arange(self.pixels) + 0.5) / self.pixels - 0.5) * self.fov_nm
        v = ((line + 0.5) / self.pixels - 0.5) * self.fov_nm
        a = math.radians(self.rotation)
        cx, cy = self.center_nm
        return cx + u * math.cos(a) - v * math.sin(a), cy + u * math.sin(a) + v * math.cos(a)

    def corners(self) -> np.ndarray:
        """The four corners (nm) of the field of view after rotation, shape ``(4, 2)``."""
        h = self.fov_nm / 2
        a = math.radians(self.rotation)
        c, s = math.cos(a), math.sin(a)
        uv = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
        return np.column_stack(
            (
                self.center_nm[0] + uv[:, 0] * c - uv[:, 1] * s,
                self.center_nm[1] + uv[:, 0] * s + uv[:, 1] * c,
            )
        )


@dataclass(frozen=True)
class EELSSettings:
    """Spectrometer settings: ``channels``, ``dispersion`` (eV/channel), ``energy_offset``
    (eV of channel 0), ``exposure`` (s per spectrum)."""

    channels: int = 2048
    dispersion: float = 0.25
    energy_offset: float = -10.0
    exposure: float = 0.01

    def axis(self) -> np.ndarray:
        """Energy loss (eV) of every channel, float64 of shape ``(channels,)``."""
        return self.energy_offset + self.dispersion * np.arange(self.channels)


@dataclass
class STEMLineData:
    """One scanned line.

    ``signals`` maps each detector asked for to float32 detected electrons of shape
    ``(pixels,)``; ``requested`` / ``reported`` are ``(x_start, y_start, x_end, y_end)`` nm
    (the reported position is what the scan generator knows, never the true drift);
    ``spectra`` (a spectrum image line) is float32 ``(pixels, channels)`` or None.
    """

    index: int
    signals: dict[str, np.ndarray]
    requested: tuple[float, float, float, float]
    reported: tuple[float, float, float, float]
    t_start: float
    t_end: float
    spectra: np.ndarray | None = None


@dataclass
class EELSData:
    """One spectrum: energy axis (eV, float64 ``(K,)``), counts (float32 ``(K,)``), where it
    was asked for and reported (nm), instrument times (s)."""

    axis: np.ndarray
    counts: np.ndarray
    requested: tuple[float, float]
    reported: tuple[float, float]
    t_start: float
    t_end: float


@dataclass(frozen=True)
class STEMRanges:
    """What the microscope can physically do; the device's limits sit inside.

    ``field_nm``: full width of the square (centred on 0) the probe can reach;
    ``fov_nm``: largest field of view of one raster; ``eht_kv``: the energies the gun is
    aligned for; ``pixel_time_us``: shortest and longest dwell.
    """

    eht_kv: tuple[float, ...] = (60.0, 80.0, 100.0, 200.0, 300.0)
    beam_current_pa: float = 1000.0
    field_nm: float = 2000.0
    fov_nm: float = 2000.0
    max_pixels: int = 4096
    pixel_time_us: tuple[float, float] = (0.05, 1e5)
    eels_channels: int = 4096
    exposure_s: float = 60.0
    park_s: float = 600.0
    aberration_nm: float = 1e7
    extra: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class STEMBackend(Protocol):
    """What a STEM backend provides. Calls block until done (instrument time passes);
    faults are raised as :class:`autoscope.errors.InstrumentFault` subclasses.

    ``detectors`` maps detector names (``"haadf"``, ``"adf"``, ``"bf"``) to the units of
    their images. While the beam is blanked, nothing reaches the sample; the device
    unblanks it for each acquisition and blanks it after (and on any failure).
    """

    detectors: Mapping[str, str]
    ranges: STEMRanges

    def time(self) -> float:
        """Instrument time, s."""

    def get_eht(self) -> float: ...

    def set_eht(self, kv: float) -> None: ...

    def get_beam_current(self) -> float: ...

    def set_beam_current(self, pa: float) -> None: ...

    def get_aberrations(self) -> dict[str, float]:
        """Every coefficient of :data:`ABERRATIONS`, nm."""

    def set_aberration(self, name: str, nm: float) -> None: ...

    def get_blanked(self) -> bool: ...

    def set_blanked(self, blanked: bool) -> None: ...

    def get_probe_position(self) -> tuple[float, float]:
        """Where the scan generator holds the probe, nm."""

    def move_probe(self, x: float, y: float) -> tuple[float, float]:
        """Put the probe at (x, y) nm (dose only if the beam is unblanked); returns the
        reported position."""

    def scan_line(
        self,
        scan: STEMScan,
        index: int,
        detectors: tuple[str, ...],
        eels: EELSSettings | None = None,
    ) -> STEMLineData:
        """Scan line ``index`` of ``scan``; with ``eels``, a spectrum at every pixel (a
        spectrum-image line, each pixel dwelling ``eels.exposure``)."""

    def eels(self, x: float, y: float, settings: EELSSettings) -> EELSData:
        """One spectrum with the beam parked at (x, y) nm for ``settings.exposure``."""

    def park(self, x: float, y: float, seconds: float) -> tuple[float, float]:
        """Hold the beam at (x, y) nm for ``seconds``; returns the reported position."""
