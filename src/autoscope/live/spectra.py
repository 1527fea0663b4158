"""LiveSpectra: the last spectra as they arrive; for a grid, the map of a scalar filling in.

Follows every run whose start document has a ``spectral_axis`` (``point_spectrum``,
``spectra_at``, ``grid_spectroscopy``, a campaign's spectra). The spectra are
drawn against their axis with its units; for a grid (``grid`` in the start
document) a second panel maps a scalar of each spectrum (``"mean"``,
``"max"``, ``"min"``, ``"ptp"`` or a function of ``(axis, values)``) on the
grid's nm axes, nodes not yet measured in grey.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from autoscope.errors import ConfigurationError
from autoscope.io.xarray_view import frame_coordinates
from autoscope.live.drawing import add_scale_bar, colour_limits, colour_map
from autoscope.live.view import LiveView

__all__ = ["SCALARS", "LiveSpectra"]

#: Scalars of a spectrum the grid map can show, by name.
SCALARS = {
    "mean": lambda axis, v: float(np.nanmean(v)),
    "max": lambda axis, v: float(np.nanmax(v)),
    "min": lambda axis, v: float(np.nanmin(v)),
    "ptp": lambda axis, v: float(np.nanmax(v) - np.nanmin(v)),
}


class LiveSpectra(LiveView):
    """Draws the last ``n_last`` spectra of a run and, for a grid, a scalar's map.

    Parameters
    ----------
    channel : str, optional
        Spectrum channel to draw (default: the run's first, e.g. ``"current"``).
    n_last : int
        How many of the latest spectra to show (older ones fade).
    scalar : str or callable
        What the grid map shows: a name of :data:`SCALARS` or ``f(axis, values) -> float``.
    cmap : str
        Colour map of the grid map.
    stream, figure, figsize
        As :class:`~autoscope.live.image.LiveImage`.
    """

    def __init__(
        self,
        channel: str | None = None,
        n_last: int = 10,
        scalar="mean",
        cmap: str = "viridis",
        stream: str = "primary",
        figure=None,
        figsize=(10.0, 4.5),
    ):
        super().__init__(figure=figure, figsize=figsize)
        if not isinstance(n_last, int) or isinstance(n_last, bool) or n_last < 1:
            raise ConfigurationError(f"n_last {n_last!r} must be a positive integer")
        if not callable(scalar) and scalar not in SCALARS:
            raise ConfigurationError(
                f"scalar {scalar!r} is not one of {', '.join(SCALARS)} or a function"
            )
        self.channel = channel
        self.n_last = n_last
        self.scalar_name = scalar if isinstance(scalar, str) else getattr(scalar, "__name__", "f")
        self._scalar = SCALARS[scalar] if isinstance(scalar, str) else scalar
        self.cmap = colour_map(cmap)
        self.stream = stream
        self.start: dict | None = None
        self.spectra: deque = deque(maxlen=n_last)
        self.count = 0
        self.grid_map: np.ndarray | None = None
        self.units: dict[str, str] = {}
        self.spectrum_axis = None
        self.map_axis = None
        self._descriptor = None
        self._key = None
        self._map_image = None

    def handle(self, name, doc):
        if name == "start":
            if "spectral_axis" not in doc or "spectrum_keys" not in doc:
                self.start = None
                return False
            keys = doc["spectrum_keys"]
            channel = self.channel or next(iter(keys))
            if channel not in keys:
                raise ConfigurationError(
                    f"channel {channel!r} is not among the run's spectrum channels {list(keys)}"
                )
            self.start, self._key = doc, keys[channel]
            self.spectra.clear()
            self.count = 0
            grid = doc.get("grid")
            self.grid_map = (
                None if grid is None else np.full((int(grid["ny"]), int(grid["nx"])), np.nan)
            )
            self._descriptor = None
            self.relayout()
            return True
        if self.start is None:
            return False
        if name == "descriptor" and doc.get("name") == self.stream:
            self._descriptor = doc["uid"]
            axis_key = self.start["spectral_axis"]["key"]
            self.units = {
                "axis": doc["data_keys"].get(axis_key, {}).get("units", ""),
                "channel": doc["data_keys"].get(self._key, {}).get("units", ""),
            }
            self._needs_layout = True
            return True
        if name == "event" and doc["descriptor"] == self._descriptor:
            data = doc["data"]
            axis = np.asarray(data[self.start["spectral_axis"]["key"]], dtype=float)
            values = np.asarray(data[self._key], dtype=float)
            index = int(data.get(self.start.get("index_key", ""), self.count))
            self.spectra.append((index, axis, values))
            self.count += 1
            if self.grid_map is not None:
                iy, ix = divmod(index, self.grid_map.shape[1])
                if 0 <= iy < self.grid_map.shape[0]:
                    self.grid_map[iy, ix] = self._scalar(axis, values)
            return True
        return False

    def _channel_name(self) -> str:
        return next(c for c, k in self.start["spectrum_keys"].items() if k == self._key)

    def layout(self):
        self.spectrum_axis = self.map_axis = self._map_image = None
        if self.start is None:
            self.figure.text(0.5, 0.5, "waiting for spectra", ha="center", va="center")
            return
        info = self.start["spectral_axis"]
        channel = self._channel_name()
        units = self.units.get("channel", "")
        if self.grid_map is None:
            self.spectrum_axis = self.figure.add_subplot(1, 1, 1)
        else:
            self.spectrum_axis = self.figure.add_subplot(1, 2, 1)
            self.map_axis = self.figure.add_subplot(1, 2, 2)
            grid = self.start["grid"]
            ny, nx = self.grid_map.shape
            c = frame_coordinates(grid, nx, ny)
            dx, dy = float(grid["width"]) / nx, float(grid["height"]) / ny
            extent = (
                c["x"][0] - dx / 2,
                c["x"][-1] + dx / 2,
                c["y"][0] - dy / 2,
                c["y"][-1] + dy / 2,
            )
            self._map_image = self.map_axis.imshow(
                np.ma.masked_invalid(self.grid_map),
                origin="lower",
                extent=extent,
                cmap=self.cmap,
                interpolation="nearest",
            )
            rotated = float(grid["angle"]) != 0.0
            self.map_axis.set_xlabel("x (nm, grid axes)" if rotated else "x (nm)")
            self.map_axis.set_ylabel("y (nm)")
            bar = self.figure.colorbar(self._map_image, ax=self.map_axis, fraction=0.046)
            bar.set_label(f"{self.scalar_name} of {channel} ({units})" if units else channel)
            add_scale_bar(self.map_axis, extent[1] - extent[0], 0.012 * (extent[3] - extent[2]))
        self.spectrum_axis.set_xlabel(f"{info.get('name', 'bias')} ({self.units.get('axis', '')})")
        self.spectrum_axis.set_ylabel(f"{channel} ({units})" if units else channel)
        self.figure.subplots_adjust(wspace=0.35)

    def draw(self):
        if self.start is None:
            return
        ax = self.spectrum_axis
        for line in list(ax.lines):
            line.remove()
        n = len(self.spectra)
        for k, (index, axis, values) in enumerate(self.spectra):
            newest = k == n - 1
            ax.plot(
                axis,
                values,
                color="C0" if newest else "0.3",
                alpha=1.0 if newest else 0.25 + 0.5 * (k + 1) / n,
                lw=1.6 if newest else 0.8,
                label=f"#{index}" if newest else None,
            )
        if n:
            ax.relim()
            ax.autoscale_view()
            ax.legend(loc="best", fontsize=8)
        total = self.start.get("num_points", "?")
        ax.set_title(f"spectra: {self.count} of {total} (last {min(n, self.n_last)} shown)")
        if self._map_image is not None:
            self._map_image.set_data(np.ma.masked_invalid(self.grid_map))
            self._map_image.set_clim(*colour_limits(self.grid_map))
            self.map_axis.set_title(f"{self.scalar_name} map, filling in", fontsize=10)
        self.figure.suptitle(
            f"{self.start.get('plan_name', 'spectra')} #{self.start.get('scan_id', '?')} "
            f"{self.start['uid'][:8]}",
            fontsize=9,
        )
