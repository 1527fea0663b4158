"""LiveCampaign: an autonomous campaign you can watch, updated every agent step.

Subscribe it to the RunEngine (``RE.subscribe(LiveCampaign())``) or feed it a
catalog's runs (``autoscope watch``). It follows the runs of one campaign (the
``campaign`` id in their start documents) and shows

- the overview image (the campaign's ``raster_image``, ``campaign_role ==
  "overview"``; a raster just before a campaign's first run that has no id is
  taken as its overview too, as ``autoscope demo`` records it) with the points
  measured so far on top, coloured by their order, as each spectrum arrives;
- the agent's predicted mean and uncertainty (standard deviation) maps of its
  latest report (``agent_report`` runs, stream ``"agent"``), on the same nm axes;
- the discovery curve: with a ground truth (``truth=``, a map of the true scalar
  on the candidate grid, which only a twin or a finished grid can give) the
  share of the true top ``top_fraction`` locations measured, against spectra,
  beside what random choice would find; without one, the best value measured so far;
- the budget (spectra measured of the campaign's budget) and the instrument
  time spent and left (the report's ``instrument_seconds`` and
  ``instrument_seconds_left``), as bars.

It only reads documents: the view never talks to the agent or the instrument.
"""

from __future__ import annotations

import json

import numpy as np

from autoscope.errors import ConfigurationError
from autoscope.io.pfm import piezoresponse
from autoscope.io.xarray_view import frame_coordinates
from autoscope.live.drawing import add_scale_bar, colour_limits, colour_map
from autoscope.live.view import LiveView

__all__ = ["LiveCampaign", "scalar_units"]

#: Units of a scalarizer's value from the response's and the axis' units.
_SCALAR_UNITS = {
    "loop_area": "{r}·{a}",
    "band_integral": "{r}·{a}",
    "peak_prominence": "{r}",
    "peak_position": "{a}",
}


def scalar_units(scalarizer: str | None, response: str, axis: str) -> str:
    """The units of a scalarizer's value (``"a.u.·V"`` for a PFM loop area); ``""`` unknown."""
    if not scalarizer:
        return ""
    rule = _SCALAR_UNITS.get(scalarizer.split(":")[0])
    if rule is None or not (response or axis):
        return ""
    return rule.format(r=response or "1", a=axis or "1")


def _minutes(seconds) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "?"
    return f"{seconds / 60:.1f} min"


class _Overview:
    """The overview raster of a campaign: one channel's trace, line by line."""

    def __init__(self, start: dict, channel: str | None):
        keys = start["image_keys"]
        self.start = start
        self.pfm = (
            channel in (None, "piezoresponse")
            and "piezoresponse" not in keys
            and {"amplitude", "phase"} <= set(keys)
            and start.get("phase_reference") is not None
        )
        if self.pfm:
            self.channel = "piezoresponse"
        else:
            self.channel = channel or next(iter(keys))
            if self.channel not in keys:
                raise ConfigurationError(
                    f"overview channel {self.channel!r} is not among the run's image "
                    f"channels {list(keys)}"
                )
        frame = start["frame"]
        self.shape = (int(frame["lines"]), int(frame["pixels"]))
        self.image = np.full(self.shape, np.nan)
        self.units = ""
        self.descriptor = None
        c = frame_coordinates(frame, self.shape[1], self.shape[0])
        dx = float(frame["width"]) / self.shape[1]
        dy = float(frame["height"]) / self.shape[0]
        self.extent = (
            c["x"][0] - dx / 2,
            c["x"][-1] + dx / 2,
            c["y"][0] - dy / 2,
            c["y"][-1] + dy / 2,
        )
        self.angle = float(frame["angle"])

    def describe(self, doc: dict) -> None:
        keys = self.start["image_keys"]
        trace = keys["amplitude" if self.pfm else self.channel][0]
        self.units = doc["data_keys"].get(trace, {}).get("units", "")
        self.descriptor = doc["uid"]

    def add_line(self, data: dict) -> None:
        keys = self.start["image_keys"]
        i = int(data[self.start["line_key"]])
        if self.pfm:
            line = piezoresponse(
                np.asarray(data[keys["amplitude"][0]], dtype=float),
                np.asarray(data[keys["phase"][0]], dtype=float),
                float(self.start["phase_reference"]),
            )
        else:
            line = np.asarray(data[keys[self.channel][0]], dtype=float)
        self.image[i] = line


class LiveCampaign(LiveView):
    """Draws an autonomous campaign as it runs (a Bluesky callback).

    Parameters
    ----------
    truth : array (H, W), optional
        The true scalar on the campaign's candidate grid (rows up the image, as
        the agent's maps). Only a twin or a finished grid has it; with it the
        view draws the discovery curve, without it the best value so far.
    top_fraction : float
        Share of the candidates that counts as "top" for the discovery curve (0.01: 1 %).
    overview_channel : str, optional
        Image channel of the overview to show (default: ``"piezoresponse"``
        formed from amplitude and phase on a PFM, as the agent sees it, else
        the run's first channel).
    cmap : str
        Colour map of the overview.
    figure, figsize
        As :class:`~autoscope.live.view.LiveView`.
    """

    def __init__(
        self,
        truth=None,
        top_fraction: float = 0.01,
        overview_channel: str | None = None,
        cmap: str = "gray",
        figure=None,
        figsize=(13.0, 7.5),
    ):
        super().__init__(figure=figure, figsize=figsize)
        if not (isinstance(top_fraction, int | float) and 0.0 < top_fraction < 1.0):
            raise ConfigurationError(f"top_fraction {top_fraction!r} must be between 0 and 1")
        if truth is not None:
            truth = np.asarray(truth, dtype=float)
            if truth.ndim != 2 or not np.isfinite(truth).any():
                raise ConfigurationError(
                    f"truth of shape {truth.shape} must be a 2-D map with finite values"
                )
            ok = np.isfinite(truth.ravel())
            k = max(1, int(np.ceil(top_fraction * ok.sum())))
            threshold = np.sort(truth.ravel()[ok])[::-1][k - 1]
            self._top = ok & (truth.ravel() >= threshold)
        else:
            self._top = None
        self.truth = truth
        self.top_fraction = float(top_fraction)
        self.overview_channel = overview_channel
        self.cmap = colour_map(cmap)
        self.axes: dict[str, object] = {}
        self._artists: dict[str, object] = {}
        self._reset(None)
        self._pending: _Overview | None = None

    # --- state ---------------------------------------------------------------------------

    def _reset(self, campaign: str | None) -> None:
        self.campaign = campaign
        self.overview: _Overview | None = None
        self.points: list[tuple[float, float]] = []  # requested positions, in measured order
        self.report_start: dict | None = None  # start document of the latest report
        self.report: dict | None = None  # event data of the latest report
        self.measured_indices: list[int] = []  # candidate indices, as the reports list them
        self.curve: list[tuple[int, float]] = []  # (spectra measured, found share or best)
        self.units = {"response": "", "axis": ""}
        self.step: int | None = None
        self._run: tuple[str, dict] | None = None
        self._descriptors: dict[str, str] = {}

    @property
    def budget(self) -> int | None:
        md = self.report_start or {}
        budget = md.get("campaign_budget", md.get("budget"))
        return None if budget is None else int(budget)

    @property
    def n_measured(self) -> int:
        reported = int(self.report["agent_n_measured"]) if self.report else 0
        return max(reported, len(self.points))

    @property
    def found(self) -> float | None:
        """Share of the true top locations measured so far (None without a truth)."""
        if self._top is None:
            return None
        idx = np.asarray(self.measured_indices, dtype=int)
        return float(self._top[idx].sum() / self._top.sum()) if idx.size else 0.0

    # --- documents -----------------------------------------------------------------------

    def handle(self, name, doc):
        if name == "start":
            return self._start(doc)
        if name == "descriptor":
            if self._run is None:
                return False
            kind, _ = self._run
            wanted = "agent" if kind == "report" else "primary"
            if doc.get("name") != wanted:
                return False
            self._descriptors[doc["uid"]] = kind
            if kind in ("overview", "pending"):
                target = self.overview if kind == "overview" else self._pending
                target.describe(doc)
            elif kind == "spectra":
                start = self._run[1]
                keys = doc["data_keys"]
                axis_key = start["spectral_axis"]["key"]
                channel = (self.report_start or {}).get("channel")
                spectrum_key = start["spectrum_keys"].get(channel) or next(
                    iter(start["spectrum_keys"].values())
                )
                self.units = {
                    "response": keys.get(spectrum_key, {}).get("units", ""),
                    "axis": keys.get(axis_key, {}).get("units", ""),
                }
                self._needs_layout = True
            return kind != "pending"
        if name == "event":
            kind = self._descriptors.get(doc["descriptor"])
            if kind is None:
                return False
            data = doc["data"]
            if kind == "pending":
                self._pending.add_line(data)
                return False
            if kind == "overview":
                self.overview.add_line(data)
            elif kind == "spectra":
                start = self._run[1]
                i = int(data[start["index_key"]])
                x, y = start["positions_requested"][i]
                self.points.append((float(x), float(y)))
            elif kind == "report":
                self._take_report(data)
            return True
        return False

    def _start(self, doc: dict) -> bool:
        campaign = doc.get("campaign")
        raster = "frame" in doc and "image_keys" in doc
        if campaign is None:
            self._run = None
            if raster:  # maybe the overview of a campaign whose runs follow (autoscope demo)
                self._pending = _Overview(doc, self.overview_channel)
                self._run = ("pending", doc)
            return False
        changed = campaign != self.campaign
        if changed:
            pending = self._pending
            self._reset(campaign)
            if pending is not None and not raster:
                self.overview = pending
        self._pending = None
        if raster and (doc.get("campaign_role") == "overview" or self.overview is None):
            self.overview = _Overview(doc, self.overview_channel)
            self._run = ("overview", doc)
            changed = True
        elif doc.get("plan_name") == "agent_report":
            self._run = ("report", doc)
            if self.report_start is None or self.report_start.get("candidates_shape") != doc.get(
                "candidates_shape"
            ):
                changed = True
            self.report_start = doc
        elif "spectral_axis" in doc and "spectrum_keys" in doc and "positions_requested" in doc:
            self._run = ("spectra", doc)
            self.step = doc.get("campaign_step", self.step)
        else:
            self._run = None
        if changed:
            self.relayout()
        return True

    def _take_report(self, data: dict) -> None:
        self.report = data
        self.step = int(data["agent_step"])
        try:
            observed = json.loads(data.get("agent_observed") or "[]")
        except (TypeError, ValueError):
            observed = []
        self.measured_indices += [int(i) for i, _ in observed]
        n = int(data["agent_n_measured"])
        if self._top is not None:
            if self.truth.size != np.prod(np.shape(data["agent_mean"])):
                raise ConfigurationError(
                    f"truth of shape {self.truth.shape} does not match the campaign's "
                    f"candidate grid {list(np.shape(data['agent_mean']))}"
                )
            self.curve.append((n, self.found))
        else:
            best = float(data["agent_best"])
            self.curve.append((n, best))

    # --- drawing -------------------------------------------------------------------------

    def _grid_extent(self, shape):
        if self.overview is not None and self.overview.shape == tuple(shape):
            return self.overview.extent, True
        h, w = shape
        return (-0.5, w - 0.5, -0.5, h - 0.5), False

    def layout(self):
        self.axes, self._artists = {}, {}
        if self.campaign is None:
            self.figure.text(0.5, 0.5, "waiting for a campaign", ha="center", va="center")
            return
        grid = self.figure.add_gridspec(2, 3, height_ratios=[1.25, 1.0], hspace=0.45, wspace=0.5)
        titles = {
            "overview": "overview",
            "mean": "predicted mean",
            "std": "uncertainty (std)",
        }
        shape = (self.report_start or {}).get("candidates_shape")
        if shape is None and self.overview is not None:
            shape = self.overview.shape
        scalar = (self.report_start or {}).get("scalarizer")
        units = scalar_units(scalar, self.units["response"], self.units["axis"])
        for col, key in enumerate(("overview", "mean", "std")):
            ax = self.figure.add_subplot(grid[0, col])
            ax.set_title(titles[key], fontsize=9, loc="left")
            ax.set_facecolor("white")
            ax.tick_params(labelsize=7)
            self.axes[key] = ax
            if key == "overview":
                if self.overview is None:
                    ax.text(0.5, 0.5, "no overview yet", ha="center", va="center",
                            transform=ax.transAxes)  # fmt: skip
                    continue
                data_shape, extent, nm = self.overview.shape, self.overview.extent, True
                cmap, label = (
                    self.cmap,
                    (
                        f"{self.overview.channel} ({self.overview.units})"
                        if self.overview.units
                        else self.overview.channel
                    ),
                )
            else:
                if shape is None:
                    ax.text(0.5, 0.5, "no agent report yet", ha="center", va="center",
                            transform=ax.transAxes)  # fmt: skip
                    continue
                data_shape = tuple(shape)
                extent, nm = self._grid_extent(data_shape)
                cmap = colour_map("viridis" if key == "mean" else "magma")
                name = scalar or "scalar"
                what = f"{name}" if key == "mean" else f"std of {name}"
                label = f"{what} ({units})" if units else what
            im = ax.imshow(
                np.full(data_shape, np.nan),
                origin="lower",
                extent=extent,
                cmap=cmap,
                interpolation="nearest",
                aspect="equal",
            )
            bar = self.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
            bar.set_label(label, fontsize=8)
            bar.ax.tick_params(labelsize=7)
            if nm:
                rotated = self.overview is not None and self.overview.angle != 0.0
                ax.set_xlabel("x (nm, frame axes)" if rotated else "x (nm)", fontsize=8)
                ax.set_ylabel("y (nm)", fontsize=8)
                add_scale_bar(ax, extent[1] - extent[0], 0.012 * (extent[3] - extent[2]))
            else:
                ax.set_xlabel("candidate column (no overview seen)", fontsize=8)
                ax.set_ylabel("candidate row", fontsize=8)
            self._artists[key] = im
        # measured points over the overview, coloured by their order
        ax = self.axes["overview"]
        budget = max(self.budget or 1, 1)
        self._artists["points"] = ax.scatter(
            [], [], c=[], cmap="plasma", s=26, marker="o",
            edgecolors="white", linewidths=0.6, zorder=3,
        )  # fmt: skip
        if self.overview is not None:
            bar = self.figure.colorbar(
                self._artists["points"], ax=ax, fraction=0.046, pad=0.2, location="bottom"
            )
            bar.set_label("order (spectrum number)", fontsize=8)
            bar.ax.tick_params(labelsize=7)
        for key in ("mean", "std"):
            if key in self._artists:
                self._artists[f"{key}_points"] = self.axes[key].scatter(
                    [], [], s=8, c="white", edgecolors="black", linewidths=0.4, zorder=3
                )
        # discovery curve
        ax = self.figure.add_subplot(grid[1, 0:2])
        ax.tick_params(labelsize=7)
        ax.set_xlabel("spectra measured", fontsize=8)
        if self._top is not None:
            pct = f"{100 * self.top_fraction:g} %"
            ax.set_title(f"discovery: share of the true top {pct} measured", fontsize=9, loc="left")
            ax.set_ylabel(f"top {pct} found (fraction)", fontsize=8)
            ax.set_ylim(-0.02, 1.02)
            n_all = self.truth.size
            ax.plot([0, n_all], [0, 1], color="0.6", lw=0.8, ls="--", label="random (expected)")
        else:
            ax.set_title("best value measured so far (no ground truth)", fontsize=9, loc="left")
            name = scalar or "scalar"
            ax.set_ylabel(f"best {name} ({units})" if units else f"best {name}", fontsize=8)
        ax.set_xlim(0, budget)
        (self._artists["curve"],) = ax.plot([], [], "o-", color="C3", ms=3, lw=1.4, label="agent")
        ax.legend(loc="upper left", fontsize=8)
        self.axes["curve"] = ax
        # budget and instrument time
        ax = self.figure.add_subplot(grid[1, 2])
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.6, 1.6)
        ax.set_yticks([0, 1], ["instrument\ntime", "budget\n(spectra)"], fontsize=8)
        ax.set_xticks([0, 0.5, 1], ["0", "50 %", "100 %"], fontsize=7)
        ax.set_title("budget and instrument time", fontsize=9, loc="left")
        self._artists["bars"] = ax.barh([1, 0], [0, 0], height=0.5, color=["C0", "C1"])
        ax.barh([1, 0], [1, 1], height=0.5, fill=False, edgecolor="0.4")
        self._artists["budget_text"] = ax.text(0.02, 1.38, "", fontsize=8)
        self._artists["time_text"] = ax.text(0.02, -0.55, "", fontsize=8)
        self.axes["status"] = ax

    def draw(self):
        if self.campaign is None:
            return
        if "overview" in self._artists:
            image = self.overview.image
            self._artists["overview"].set_data(np.ma.masked_invalid(image))
            self._artists["overview"].set_clim(*colour_limits(image))
        points = np.asarray(self.points, dtype=float).reshape(-1, 2)
        scatter = self._artists["points"]
        scatter.set_offsets(points)
        scatter.set_array(np.arange(1, len(points) + 1, dtype=float))
        scatter.set_clim(1, max(self.budget or len(points), 2))
        if self.report is not None:
            for key in ("mean", "std"):
                if key in self._artists:
                    values = np.asarray(self.report[f"agent_{key}"], dtype=float)
                    self._artists[key].set_data(np.ma.masked_invalid(values))
                    self._artists[key].set_clim(*colour_limits(values))
                    note = "" if np.isfinite(values).any() else " (no model yet)"
                    title = "predicted mean" if key == "mean" else "uncertainty (std)"
                    self.axes[key].set_title(title + note, fontsize=9, loc="left")
        for key in ("mean", "std"):
            if f"{key}_points" in self._artists:
                self._artists[f"{key}_points"].set_offsets(self._point_positions(points))
        if self.curve:
            n, v = zip(*self.curve, strict=True)
            self._artists["curve"].set_data(n, v)
            if self._top is None:
                ax = self.axes["curve"]
                ax.relim()
                ax.autoscale_view(scalex=False)
        self._draw_status()
        agent = (self.report_start or {}).get("agent", "?")
        acquisition = (self.report_start or {}).get("acquisition")
        source = self.report["agent_source"] if self.report else "-"
        found = self.found
        found_text = (
            "" if found is None else f"; top {100 * self.top_fraction:g} % found {found:.0%}"
        )
        step = "-" if self.step is None else self.step
        self.figure.suptitle(
            f"campaign {self.campaign[:8]}: step {step}, {self.n_measured} of "
            f"{self.budget or '?'} spectra; agent {agent}"
            + (f" ({acquisition})" if acquisition else "")
            + f", last choice by {source}{found_text}",
            fontsize=10,
        )

    def _point_positions(self, points: np.ndarray) -> np.ndarray:
        """Measured points in the maps' coordinates (nm; candidate pixels without an overview)."""
        shape = (self.report_start or {}).get("candidates_shape")
        if shape is None:
            return points
        _, nm = self._grid_extent(tuple(shape))
        if nm or not self.measured_indices:
            return points
        rows, cols = np.divmod(np.asarray(self.measured_indices, dtype=int), int(shape[1]))
        return np.stack([cols, rows], axis=1).astype(float)

    def _draw_status(self):
        md = self.report_start or {}
        budget = self.budget
        n = self.n_measured
        spent = md.get("instrument_seconds")
        left = md.get("instrument_seconds_left")
        bars = self._artists["bars"]
        bars[0].set_width(min(n / budget, 1.0) if budget else 0.0)
        if spent is not None and left is not None and spent + left > 0:
            bars[1].set_width(spent / (spent + left))
        else:
            bars[1].set_width(0.0)
        self._artists["budget_text"].set_text(
            f"{n} of {budget if budget else '?'} spectra, {max((budget or n) - n, 0)} left"
        )
        self._artists["time_text"].set_text(
            f"{_minutes(spent)} spent, ~{_minutes(left)} left (estimate)"
        )
