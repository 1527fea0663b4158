"""LiveImage: a raster image drawn line by line as the lines arrive.

Subscribe it to the RunEngine (``RE.subscribe(LiveImage())``); it follows
every run whose start document has a ``frame`` and ``image_keys``
(``raster_image``, a campaign's overview, a tip-watched image) and ignores
the others. For each image channel it shows trace and retrace side by side,
line 0 at the bottom as scanned, on nm axes of the frame (``center + u``,
``center + v``, as :func:`autoscope.io.xarray_view.frame_coordinates`), with
the units on the colour bar, a scale bar, the scan direction and the frame's
rotation in the title, lines not yet scanned in grey, and the levelling the
user chose (``"none"``, ``"offset"``: each line's median removed, ``"plane"``).
"""

from __future__ import annotations

import numpy as np

from autoscope.errors import ConfigurationError
from autoscope.io.xarray_view import DIRECTIONS, frame_coordinates
from autoscope.live.drawing import (
    add_scale_bar,
    check_levelling,
    colour_limits,
    colour_map,
    level,
)
from autoscope.live.view import LiveView

__all__ = ["LiveImage"]

_ARROWS = {"trace": "→", "retrace": "←"}


class LiveImage(LiveView):
    """Draws each image channel of a raster as its lines arrive (a Bluesky callback).

    Parameters
    ----------
    channels : list of str, optional
        Image channels to show (default: every channel of the run).
    levelling : str
        ``"none"``, ``"offset"`` (each line's median removed) or ``"plane"``.
    cmap : str
        A matplotlib colour map (``"afmhot"``, the STM habit).
    stream : str
        The event stream of the lines.
    figure, figsize
        As :class:`~autoscope.live.view.LiveView`.
    """

    def __init__(
        self,
        channels=None,
        levelling: str = "offset",
        cmap: str = "afmhot",
        stream: str = "primary",
        figure=None,
        figsize=(9.0, 6.0),
    ):
        super().__init__(figure=figure, figsize=figsize)
        if channels is not None and (
            isinstance(channels, str) or not all(isinstance(c, str) for c in channels)
        ):
            raise ConfigurationError(f"channels {channels!r} must be a list of channel names")
        self.channels = None if channels is None else list(channels)
        self.levelling = check_levelling(levelling)
        self.cmap = colour_map(cmap)
        self.stream = stream
        self.start: dict | None = None
        self.images: dict[str, np.ndarray] = {}
        self.units: dict[str, str] = {}
        self.measured = np.zeros(0, dtype=bool)
        self.last_line: int | None = None
        self.exit_status: str | None = None
        self.axes: dict[tuple[str, str], object] = {}
        self._artists: dict[tuple[str, str], object] = {}
        self._descriptor: str | None = None

    def set_levelling(self, levelling: str) -> None:
        """Change the levelling; the next draw uses it (the data are untouched)."""
        self.levelling = check_levelling(levelling)
        self._changed = True

    # --- documents ------------------------------------------------------------------------

    def handle(self, name, doc):
        if name == "start":
            if "frame" not in doc or "image_keys" not in doc:
                self.start = None
                return False
            keys = doc["image_keys"]
            chosen = list(keys) if self.channels is None else self.channels
            unknown = [c for c in chosen if c not in keys]
            if unknown:
                raise ConfigurationError(
                    f"channels {unknown} are not among the run's image channels {list(keys)}"
                )
            frame = doc["frame"]
            shape = (2, int(frame["lines"]), int(frame["pixels"]))
            self.start = doc
            self.images = {c: np.full(shape, np.nan, dtype=np.float32) for c in chosen}
            self.units = {}
            self.measured = np.zeros(shape[1], dtype=bool)
            self.last_line = None
            self.exit_status = None
            self._descriptor = None
            self.relayout()
            return True
        if self.start is None:
            return False
        if name == "descriptor" and doc.get("name") == self.stream:
            self._descriptor = doc["uid"]
            for channel in self.images:
                key = self.start["image_keys"][channel][0]
                self.units[channel] = doc["data_keys"].get(key, {}).get("units", "")
            self._needs_layout = True
            return True
        if name == "event" and doc["descriptor"] == self._descriptor:
            data = doc["data"]
            i = int(data[self.start["line_key"]])
            for channel, image in self.images.items():
                for d, key in enumerate(self.start["image_keys"][channel]):
                    image[d, i] = data[key]
            self.measured[i] = True
            self.last_line = i
            return True
        if name == "stop" and doc["run_start"] == self.start["uid"]:
            self.exit_status = doc.get("exit_status")
            return True
        return False

    # --- drawing --------------------------------------------------------------------------

    def displayed(self, channel: str, direction: str) -> np.ndarray:
        """The levelled image of ``channel`` (``"trace"`` or ``"retrace"``) as drawn."""
        return level(self.images[channel][DIRECTIONS.index(direction)], self.levelling)

    def _extent(self):
        frame = self.start["frame"]
        c = frame_coordinates(frame, int(frame["pixels"]), int(frame["lines"]))
        dx = float(frame["width"]) / int(frame["pixels"])
        dy = float(frame["height"]) / int(frame["lines"])
        return (c["x"][0] - dx / 2, c["x"][-1] + dx / 2, c["y"][0] - dy / 2, c["y"][-1] + dy / 2)

    def layout(self):
        self.axes, self._artists = {}, {}
        if self.start is None:
            self.figure.text(0.5, 0.5, "waiting for a raster image", ha="center", va="center")
            return
        frame = self.start["frame"]
        extent = self._extent()
        rotated = float(frame["angle"]) != 0.0
        n = len(self.images)
        grid = self.figure.add_gridspec(n, 2, hspace=0.55, wspace=0.45)
        for row, channel in enumerate(self.images):
            for col, direction in enumerate(DIRECTIONS):
                ax = self.figure.add_subplot(grid[row, col])
                im = ax.imshow(
                    np.full(self.images[channel].shape[1:], np.nan),
                    origin="lower",
                    extent=extent,
                    cmap=self.cmap,
                    interpolation="nearest",
                    aspect="equal",
                )
                ax.set_facecolor("white")
                axis = "frame axes, " if rotated else ""
                ax.set_xlabel(f"x (nm, {axis}fast scan {_ARROWS[direction]})", fontsize=8)
                ax.set_ylabel("y (nm, slow scan ↑)", fontsize=8)
                ax.tick_params(labelsize=7)
                units = self.units.get(channel, "")
                bar = self.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
                bar.set_label(f"{channel} ({units})" if units else channel, fontsize=8)
                bar.ax.tick_params(labelsize=7)
                add_scale_bar(ax, extent[1] - extent[0], 0.012 * (extent[3] - extent[2]))
                self.axes[(channel, direction)] = ax
                self._artists[(channel, direction)] = (im, bar)

    def draw(self):
        if self.start is None:
            return
        frame = self.start["frame"]
        for (channel, direction), (im, _) in self._artists.items():
            shown = self.displayed(channel, direction)
            im.set_data(np.ma.masked_invalid(shown))
            im.set_clim(*colour_limits(shown))
            self.axes[(channel, direction)].set_title(
                f"{channel} {direction} {_ARROWS[direction]}", fontsize=9, loc="left"
            )
        lines = int(frame["lines"])
        done = int(self.measured.sum())
        angle = float(frame["angle"])
        status = f", {self.exit_status}" if self.exit_status else ""
        self.figure.suptitle(
            f"{self.start.get('plan_name', 'scan')} #{self.start.get('scan_id', '?')} "
            f"{self.start['uid'][:8]}: line {done} of {lines}{status}; "
            f"scanned bottom to top ↑, rotation {angle:g}° ccw; levelling {self.levelling}",
            fontsize=9,
        )
