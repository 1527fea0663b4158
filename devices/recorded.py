"""A recorded grid as an instrument: the recorded-data backend.

:class:`RecordedSPM` implements :class:`~autoscope.devices.backend.SPMBackend`
from a recorded dataset (:mod:`autoscope.io.recorded`: an overview ``(H, W)``
and a spectrum at every measured point ``(H, W, K)``), so the same ophyd
device, plans, agents and reports run on recorded data exactly as on a twin
or on hardware (``make_spm("recorded", dataset=...)``):

- ``scan_line`` returns the recorded overview: each pixel of the asked frame
  takes the nearest recorded point (NaN outside the recorded grid); the frame
  of the recording itself (:attr:`RecordedSPM.frame`) gives it back exactly.
- ``spectrum`` returns the spectrum recorded nearest the asked position; the
  *reported* position is the recorded point's, the requested one what was
  asked. A position outside the grid, or at a point the grid never measured
  (a NaN row, e.g. of a grid stopped early), raises
  :class:`~autoscope.errors.NotRecorded`; so does a sweep other than the
  recorded one (its start, stop and point count are in the message).
- Time passes as on an instrument: a line costs twice its ``line_time``, a
  spectrum ``points * (settle + integration) * sweeps``.
- A bias pulse or a dip cannot be replayed and raises ``NotRecorded``.

The recorded grid's geometry: pixel ``(i, j)`` (row ``i`` from the bottom) sits
at ``center + R(angle) (u, v)`` with ``u = -W p/2 + (j + 1/2) p`` and
``v = -H p/2 + (i + 1/2) p`` (``p`` the pixel size); the centre and angle are
the file's ``grid_center_x_nm``, ``grid_center_y_nm`` and ``grid_angle_deg``
attributes (0 when absent, as for a twin's dataset).

Pure numpy; no ophyd (a backend, beside the twin).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from autoscope.devices.backend import (
    HardwareRanges,
    LineData,
    ScanFrame,
    SpectroscopySettings,
    SpectrumData,
)
from autoscope.errors import ConfigurationError, NotRecorded
from autoscope.io.recorded import RecordedDataset

__all__ = ["RecordedSPM"]


class RecordedSPM:
    """An SPM backend that serves a recorded grid (see the module docstring).

    Parameters
    ----------
    dataset : RecordedDataset, or the path of a recorded-dataset HDF5 file
        Must have spectra (a grid).
    channel : str, optional
        Name of the spectrum channel (default: the file's ``channel``
        attribute, else ``"dIdV"``); the scalarizer's channel of a campaign.
    image_channel : str, optional
        Name of the image channel (default: the file's ``overview_channel``,
        else ``"topography"``).
    mode : str
        ``"stm"`` or ``"pfm"``.
    setpoint_units : str
        Units of the setpoint the device records (nothing is regulated).
    """

    def __init__(
        self,
        dataset: RecordedDataset | str | os.PathLike,
        channel: str | None = None,
        image_channel: str | None = None,
        mode: str = "stm",
        setpoint_units: str = "pA",
    ):
        ds = (
            dataset
            if isinstance(dataset, RecordedDataset)
            else RecordedDataset.read(dataset, require_spectra=True)
        )
        ds.validate(require_spectra=True)
        if mode not in ("stm", "pfm"):
            raise ConfigurationError(f"mode must be 'stm' or 'pfm', got {mode!r}")
        self.source = str(ds.attrs.get("source", ds.attrs.get("grid_uid", "recorded dataset")))
        self.image = np.asarray(ds.image, dtype=np.float64)
        self.spectra = np.asarray(ds.spectra, dtype=np.float32)
        self.axis = np.asarray(ds.spectral_axis, dtype=np.float64)
        self.measured = ~np.isnan(self.spectra).all(axis=-1)
        if not self.measured.any():
            raise ConfigurationError(f"{self.source}: no measured spectrum in the dataset")
        self.pixel_size = 1.0 if ds.pixel_size is None else float(ds.pixel_size)
        self.center = (
            float(ds.attrs.get("grid_center_x_nm", 0.0)),
            float(ds.attrs.get("grid_center_y_nm", 0.0)),
        )
        self.angle = float(ds.attrs.get("grid_angle_deg", 0.0))
        self.mode = mode
        self.channel = channel or str(ds.attrs.get("channel") or "dIdV")
        self.image_channel = image_channel or str(ds.attrs.get("overview_channel") or "topography")
        self.image_channels: Mapping[str, str] = {
            self.image_channel: str(ds.attrs.get("image_units", "") or "")
        }
        self.spectrum_channels: Mapping[str, str] = {
            self.channel: str(ds.attrs.get("channel_units", "") or "")
        }
        self.axis_units = ds.spectral_units or "V"
        self.setpoint_units = setpoint_units
        h, w = self.image.shape
        half = 0.5 * self.pixel_size * np.hypot(w, h)
        reach = max(abs(self.center[0]), abs(self.center[1])) + half
        self.ranges = HardwareRanges(
            scan_range=float(2 * reach * 1.01),
            max_pixels=8192,
            max_lines=8192,
        )
        self._t = 0.0
        self._bias = 0.0
        self._setpoint = 0.0
        self._feedback = True
        self._pos = self.center

    # ------------------------------------------------------------- geometry

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the recorded grid."""
        return self.image.shape

    @property
    def frame(self) -> dict:
        """The recorded grid as a frame: ``center_x``, ``center_y``, ``width``,
        ``height``, ``angle``, ``pixels``, ``lines`` (a ``raster_image`` of it
        returns the overview exactly)."""
        h, w = self.shape
        return {
            "center_x": self.center[0],
            "center_y": self.center[1],
            "width": w * self.pixel_size,
            "height": h * self.pixel_size,
            "angle": self.angle,
            "pixels": w,
            "lines": h,
        }

    def nearest_point(self, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest recorded ``(row, col)`` of positions (nm), and whether they lie on the grid."""
        h, w = self.shape
        a = np.deg2rad(self.angle)
        dx = np.asarray(x, dtype=float) - self.center[0]
        dy = np.asarray(y, dtype=float) - self.center[1]
        u = dx * np.cos(a) + dy * np.sin(a)
        v = -dx * np.sin(a) + dy * np.cos(a)
        col = np.floor(u / self.pixel_size + w / 2).astype(int)
        row = np.floor(v / self.pixel_size + h / 2).astype(int)
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        return np.clip(row, 0, h - 1), np.clip(col, 0, w - 1), inside

    def point_position(self, row: int, col: int) -> tuple[float, float]:
        """Where recorded point ``(row, col)`` sits on the sample (nm)."""
        h, w = self.shape
        u = (col + 0.5 - w / 2) * self.pixel_size
        v = (row + 0.5 - h / 2) * self.pixel_size
        a = np.deg2rad(self.angle)
        return (
            float(self.center[0] + u * np.cos(a) - v * np.sin(a)),
            float(self.center[1] + u * np.sin(a) + v * np.cos(a)),
        )

    # ------------------------------------------------------------- protocol

    def time(self) -> float:
        return self._t

    def get_bias(self) -> float:
        return self._bias

    def set_bias(self, volts: float) -> None:
        self._bias = float(volts)

    def get_setpoint(self) -> float:
        return self._setpoint

    def set_setpoint(self, value: float) -> None:
        self._setpoint = float(value)

    def get_feedback(self) -> bool:
        return self._feedback

    def set_feedback(self, on: bool) -> None:
        self._feedback = bool(on)

    def get_position(self) -> tuple[float, float]:
        return self._pos

    def move_to(self, x: float, y: float) -> tuple[float, float]:
        self._pos = (float(x), float(y))
        return self._pos

    def scan_line(self, frame: ScanFrame, index: int) -> LineData:
        xs, ys = frame.nominal_xy(index)
        row, col, inside = self.nearest_point(xs, ys)
        line = np.where(inside, self.image[row, col], np.nan).astype(np.float32)
        t0 = self._t
        self._t += 2 * frame.line_time
        ends = (float(xs[0]), float(ys[0]), float(xs[-1]), float(ys[-1]))
        self._pos = (ends[0], ends[1])
        return LineData(
            index=index,
            channels={self.image_channel: (line, line.copy())},
            requested=ends,
            reported=ends,
            t_start=t0,
            t_end=self._t,
        )

    def spectrum(self, x: float, y: float, settings: SpectroscopySettings) -> SpectrumData:
        k = len(self.axis)
        span = abs(self.axis[-1] - self.axis[0]) or 1.0
        if (
            settings.points != k
            or abs(settings.start - self.axis[0]) > 1e-6 * span
            or abs(settings.stop - self.axis[-1]) > 1e-6 * span
        ):
            raise NotRecorded(
                f"{self.source} recorded {k}-point sweeps from {self.axis[0]:.6g} to "
                f"{self.axis[-1]:.6g} {self.axis_units}; asked for {settings.points} points "
                f"from {settings.start:.6g} to {settings.stop:.6g}"
            )
        row, col, inside = self.nearest_point(x, y)
        row, col = int(row), int(col)
        if not bool(inside):
            raise NotRecorded(
                f"no spectrum recorded at ({x:.4g}, {y:.4g}) nm: outside the recorded grid "
                f"of {self.source}"
            )
        if not self.measured[row, col]:
            raise NotRecorded(
                f"no spectrum recorded at ({x:.4g}, {y:.4g}) nm: grid point (row {row}, "
                f"col {col}) of {self.source} was never measured"
            )
        reported = self.point_position(row, col)
        t0 = self._t
        self._t += settings.points * (settings.settle + settings.integration) * settings.sweeps
        self._pos = reported
        return SpectrumData(
            axis=self.axis.copy(),
            axis_name="bias",
            axis_units=self.axis_units,
            channels={self.channel: self.spectra[row, col].copy()},
            requested=(float(x), float(y)),
            reported=reported,
            t_start=t0,
            t_end=self._t,
        )

    def bias_pulse(self, volts: float, width: float) -> None:
        raise NotRecorded(f"{self.source} is a recording; a bias pulse cannot be replayed")

    def dip(self, depth: float) -> None:
        raise NotRecorded(f"{self.source} is a recording; a dip cannot be replayed")
