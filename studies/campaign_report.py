"""``autoscope report``: a campaign's report drawn from the catalog alone.

Any campaign whose runs are in the catalog (queued through the queue server,
run interactively, replayed, run by ``autoscope demo``) gets the same report,
from what the catalog holds. Its figure has two rows:

- maps: the overview the agent saw; the points it chose, coloured by order;
  the last report's predicted mean and uncertainty; the ground truth with its
  top-1 % contour, when one is known;
- curves: the discovery curve (share of the true top-1 % found against
  measurements) with the expectation of random sampling (hypergeometric, with
  its 5-95 % band) and the curve of every replay of the campaign in the catalog
  (``autoscope replay CAMPAIGN --agent gp --dataset FILE``) on the same ground
  truth; without a ground truth, the best value measured so far instead. Then
  the model weights over time (the ``bma`` agent records the weight of each
  model and the image-feature share at every report), and three measured
  spectra, the best, the median and the worst, with their scalar marked. The
  curves carry the instrument time the reports record as a second x axis.

The ground truth is a recorded-dataset file of the same grid (``--dataset``),
the twin's measured grid (``--twin pfm:SEED``; by default the twin the
campaign's reports name, as ``autoscope replay`` takes it), or, from Python, any map
(``truth=``, as the demo gives the twin's hidden loop-area map). Where none is
known the report says so instead of drawing one.

Writes ``campaign_report.png``, ``campaign_report.html`` and ``summary.json``
into the output folder. :func:`campaign_report` reads the catalog into a
:class:`ReportData`; :func:`write_report` draws and writes any
:class:`ReportData`, so a report can be tested, or made from a campaign held in
memory (:func:`agent_report_data`), without a catalog. ``autoscope demo`` draws
its report here too: with :func:`campaign_report` from its catalog (the twin's
hidden map as the truth), from memory when it runs without one.
"""

from __future__ import annotations

import argparse
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoscope.agents.scalarizers import get_scalarizer
from autoscope.catalog.paths import add_data_dir_argument
from autoscope.errors import ConfigurationError
from autoscope.live.campaign import scalar_units
from autoscope.live.drawing import add_scale_bar, grid_extent

__all__ = [
    "PANELS",
    "ReportData",
    "Spectrum",
    "add_arguments",
    "agent_report_data",
    "campaign_report",
    "discovery_curve",
    "main",
    "random_discovery",
    "report_figure",
    "typical_spectra",
    "write_report",
]

#: Titles of the figure's panels, in order (the HTML names each one).
PANELS = (
    "overview",
    "chosen points, in order",
    "predicted (last report)",
    "uncertainty (std)",
    "ground truth",
    "discovery",
    "model weights",
    "best spectrum",
    "typical spectrum (median)",
    "worst spectrum",
)


@dataclass
class Spectrum:
    """One measured spectrum of the report.

    Attributes
    ----------
    label : ``"best"``, ``"typical (median)"`` or ``"worst"``
    index : candidate index; ``number``: which measurement (1 = first)
    position : ``(x, y)`` in the candidates' units
    axis, values : ``(K,)`` the spectral axis and the channel
    value : the scalar of this spectrum as the campaign recorded it
    """

    label: str
    index: int
    number: int
    position: tuple[float, float]
    axis: np.ndarray
    values: np.ndarray
    value: float


@dataclass
class ReportData:
    """Everything a campaign report draws; plain arrays, no catalog.

    Attributes
    ----------
    campaign : the campaign id
    image : ``(H, W)`` the overview the agent saw; ``image_label`` its colour-bar label
    positions : ``(H*W, 2)`` candidate positions; ``position_units`` their units
    order : candidate indices in the order measured; ``values`` the scalar of each
    scalar_label : the scalar's name and units
    scalarizer : its spec (``"band_integral:0.2:0.4"`` ...), to mark it on the spectra
    mean, std : ``(H, W)`` the last report's maps (NaN or None without a model)
    truth : ``(H, W)`` the true scalar map or None; ``truth_source`` says where from
    measurable : ``(H*W,)`` bool, candidates that could be measured (None: all)
    replays : ``{label: candidate indices in order}``, other agents on the same grid
    model_steps : ``[(measurements, model summary dict), ...]`` one per report
    time : ``(measurements, instrument seconds)`` arrays at the reports, or None
    spectra : the :class:`Spectrum` objects to draw (best, typical, worst)
    spectrum_labels : ``(axis label, response label)`` of the spectra panels
    agent : the agent's name; ``summary``: the table of the HTML; ``notes``: said under it
    """

    campaign: str
    image: np.ndarray
    image_label: str
    positions: np.ndarray
    position_units: str
    order: np.ndarray
    values: np.ndarray
    scalar_label: str
    scalarizer: str | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    truth: np.ndarray | None = None
    truth_source: str | None = None
    measurable: np.ndarray | None = None
    replays: dict = field(default_factory=dict)
    model_steps: list = field(default_factory=list)
    time: tuple | None = None
    spectra: list = field(default_factory=list)
    spectrum_labels: tuple[str, str] = ("axis", "signal")
    agent: str | None = None
    summary: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @property
    def top(self) -> np.ndarray | None:
        """``(H*W,)`` bool: the true top-1 % among the measurable candidates (None: no truth)."""
        from autoscope.studies.benchmark import top_set

        if self.truth is None:
            return None
        t = np.asarray(self.truth, dtype=float).ravel()
        if self.measurable is not None:
            t = np.where(np.asarray(self.measurable, bool).ravel(), t, np.nan)
        return top_set(t)


# ----------------------------------------------------------------- pure parts


def discovery_curve(order, top) -> np.ndarray:
    """Share of the ``top`` set found after each measurement of ``order`` (repeats count once)."""
    top = np.asarray(top, dtype=bool).ravel()
    order = np.asarray(order, dtype=int)
    first = np.zeros(len(order), dtype=bool)
    _, where = np.unique(order, return_index=True)
    first[where] = True
    return np.cumsum(first & top[order]) / max(int(top.sum()), 1)


def random_discovery(n: int, candidates: int, top: int, band=(0.05, 0.95)):
    """Random sampling without replacement: expected share of the top set found, and a band.

    After ``k`` draws from ``candidates`` holding ``top`` hits, the hits are
    hypergeometric: the expected share is ``k / candidates``; the band is the
    ``band`` quantiles of the share.

    Returns
    -------
    ``(mean, low, high)``, each ``(n,)`` for ``k = 1 .. n``
    """
    from scipy.special import gammaln

    k = np.arange(1, n + 1, dtype=float)[:, None]
    hits = np.arange(min(top, n) + 1, dtype=float)[None, :]
    # log pmf of the whole (draws x hits) table at once (scipy's ppf solves one at a time)
    with np.errstate(invalid="ignore"):
        log_pmf = (
            gammaln(top + 1) - gammaln(hits + 1) - gammaln(top - hits + 1)
            + gammaln(candidates - top + 1) - gammaln(k - hits + 1)
            - gammaln(candidates - top - k + hits + 1)
            - gammaln(candidates + 1) + gammaln(k + 1) + gammaln(candidates - k + 1)
        )  # fmt: skip
    possible = (hits <= k) & (k - hits <= candidates - top)
    cdf = np.cumsum(np.where(possible, np.exp(np.where(possible, log_pmf, 0.0)), 0.0), axis=1)
    low = (cdf < band[0] - 1e-9).sum(axis=1)
    high = (cdf < band[1] - 1e-9).sum(axis=1)
    k = k.ravel()
    return k / candidates, low / top, high / top


def typical_spectra(values) -> list[tuple[str, int]]:
    """``[(label, position in values), ...]`` of the best, the median and the worst finite value."""
    v = np.asarray(values, dtype=float)
    ok = np.flatnonzero(np.isfinite(v))
    if not len(ok):
        return []
    ranked = ok[np.argsort(v[ok], kind="stable")]
    picks = [("best", ranked[-1]), ("typical (median)", ranked[len(ranked) // 2])]
    picks.append(("worst", ranked[0]))
    out, seen = [], set()
    for label, i in picks:
        if int(i) not in seen:
            seen.add(int(i))
            out.append((label, int(i)))
    return out


def _marker_size(width_px: int, panel_in: float = 2.4) -> float:
    """Scatter marker area (pt^2) about one overview pixel wide, within 0.3-12."""
    pt_per_px = 72.0 * panel_in / max(width_px, 1)
    return float(np.clip((0.9 * pt_per_px) ** 2, 0.3, 12.0))


def _time_scale(seconds: float) -> tuple[float, str]:
    if seconds >= 3 * 3600:
        return 3600.0, "h"
    if seconds >= 180:
        return 60.0, "min"
    return 1.0, "s"


# ------------------------------------------------------------------- drawing


def _mark_scalar(ax, spec: str | None, axis: np.ndarray, y: np.ndarray, colour: str) -> None:
    """Shade or mark on ``ax`` what the scalarizer ``spec`` measures, with a legend entry."""
    name, *args = str(spec or "").split(":")
    if name == "band_integral" and len(args) == 2:
        lo, hi = float(args[0]), float(args[1])
        inside = (axis >= lo) & (axis <= hi)
        o = np.argsort(axis[inside], kind="stable")
        ax.axvspan(lo, hi, color=colour, alpha=0.12, lw=0)
        ax.fill_between(axis[inside][o], y[inside][o], color=colour, alpha=0.4, lw=0,
                        label=f"integral, {lo:g} to {hi:g}")  # fmt: skip
    elif name == "loop_area":
        ax.fill(axis, y, color=colour, alpha=0.3, lw=0, label="loop area")
    elif name == "peak_position":
        x = get_scalarizer(spec)(y, axis)
        if np.isfinite(x):
            ax.axvline(x, color=colour, lw=1, ls="--", label="peak position")
    elif name == "peak_prominence":
        k = int(np.nanargmax(y))
        value = get_scalarizer(spec)(y, axis)
        ax.vlines(axis[k], y[k] - value, y[k], color=colour, lw=2, label="peak prominence")
    else:
        return
    ax.legend(fontsize=7, loc="best")


def report_figure(data: ReportData):
    """The report's matplotlib Figure: a row of maps and a row of curves and spectra."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    h, w = np.shape(data.image)
    xy = np.asarray(data.positions, dtype=float)
    extent = grid_extent(xy, (h, w))
    order = np.asarray(data.order, dtype=int)
    px, py = xy[order].T if len(order) else (np.zeros(0), np.zeros(0))
    units = data.position_units
    fig = Figure(figsize=(17, 7.8), dpi=90, layout="constrained")
    maps_row, curves_row = fig.subfigures(2, 1, height_ratios=[1.0, 1.0])
    maps = maps_row.subplots(1, 5)
    curves = curves_row.subplots(1, 5)
    s = _marker_size(w)
    top = data.top

    # ---- maps
    panels = [
        (PANELS[0], data.image, "gray", data.image_label),
        (PANELS[1], data.image, "gray", None),  # the overview's bar is the first panel's
        (PANELS[2], data.mean, "viridis", data.scalar_label),
        (PANELS[3], data.std, "magma", f"std of {data.scalar_label}"),
        (PANELS[4], data.truth, "viridis", data.scalar_label),
    ]
    for ax, (title, image, cmap, label) in zip(maps, panels):
        ax.set_title(title, fontsize=10, loc="left", pad=16)  # above the scale bar
        ax.set_xlabel(f"x ({units})", fontsize=8)
        ax.set_ylabel(f"y ({units})", fontsize=8)
        ax.tick_params(labelsize=7)
        if image is None or not np.isfinite(image).any():
            ax.text(0.5, 0.5, "not known", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        im = ax.imshow(image, origin="lower", cmap=cmap, extent=extent, interpolation="nearest")
        add_scale_bar(ax, extent[1] - extent[0], 0.012 * (extent[3] - extent[2]))
        if label is not None:
            maps_row.colorbar(im, ax=ax, shrink=0.8).set_label(label, fontsize=8)
    sc = maps[1].scatter(
        px, py, c=np.arange(1, len(px) + 1), cmap="plasma", s=s, linewidths=0, vmin=1
    )
    maps_row.colorbar(sc, ax=maps[1], shrink=0.8).set_label("measurement number", fontsize=8)
    if top is not None:
        maps[4].contour(
            top.reshape(h, w).astype(float),
            levels=[0.5],
            colors="w",
            linewidths=0.8,
            extent=extent,
            origin="lower",
        )
        maps[4].scatter(px, py, s=s, c="r", linewidths=0)

    # ---- discovery (or best so far)
    ax = curves[0]
    n = np.arange(1, len(order) + 1)
    label = f"{data.agent or 'agent'} (this campaign)"
    if top is not None:
        ax.set_title(f"{PANELS[5]}: share of the top-1 % found", fontsize=10, loc="left")
        candidates = int(np.sum(data.measurable)) if data.measurable is not None else h * w
        if len(order):
            mean, lo, hi = random_discovery(len(order), candidates, int(top.sum()))
            ax.fill_between(n, lo, hi, color="0.6", alpha=0.3, lw=0, label="random, 5-95 %")
            ax.plot(n, mean, color="0.4", ls="--", lw=1, label="random, expected")
        for i, (name, other) in enumerate(sorted(data.replays.items())):
            curve = discovery_curve(other, top)
            ax.plot(np.arange(1, len(curve) + 1), curve, lw=1.2, color=f"C{i + 1}", label=name)
        ax.plot(n, discovery_curve(order, top), color="C0", lw=1.8, label=label)
        ax.set_ylabel("share of the top-1 % found", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
    else:
        ax.set_title(f"{PANELS[5]}: best value so far (no ground truth)", fontsize=10, loc="left")
        v = np.asarray(data.values, dtype=float)
        if np.isfinite(v).any():
            ax.plot(n, np.fmax.accumulate(np.where(np.isfinite(v), v, -np.inf)), label=label)
        ax.set_ylabel(f"best {data.scalar_label}", fontsize=8)
    ax.set_xlabel("measurements", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")

    # ---- model weights over time
    ax = curves[1]
    ax.set_title(PANELS[6], fontsize=10, loc="left")
    steps = [(m, s) for m, s in data.model_steps if isinstance(s, dict) and s.get("weights")]
    if steps:
        at = np.array([m for m, _ in steps], dtype=float)
        names = sorted({k for _, s in steps for k in s["weights"]})
        marker = "o" if len(steps) < 30 else None  # a few reports: show each one
        for i, name in enumerate(names):
            ax.plot(at, [s["weights"].get(name, np.nan) for _, s in steps], color=f"C{i}",
                    lw=1.5, marker=marker, ms=3, label=f"weight of {name}")  # fmt: skip
        share = [s.get("feature_share", np.nan) for _, s in steps]
        ax.plot(at, share, color="k", ls=":", lw=1.5, marker=marker, ms=3,
                label="image-feature share")  # fmt: skip
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7, loc="best")
        ax.set_ylabel("weight", fontsize=8)
    else:
        ax.text(
            0.5,
            0.5,
            f"one model ({data.agent or 'agent'}):\nno weights recorded",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=9,
        )
    ax.set_xlabel("measurements", fontsize=8)
    if len(order):
        for a in curves[:2]:
            a.set_xlim(0, len(order) + 0.5)

    # ---- instrument time as a second x axis
    if data.time is not None and len(data.time[0]):
        m_at = np.concatenate([[0.0], np.asarray(data.time[0], float)])
        t_at = np.concatenate([[0.0], np.asarray(data.time[1], float)])
        keep = np.concatenate([[True], np.diff(m_at) > 0])
        m_at, t_at = m_at[keep], np.maximum.accumulate(t_at[keep])
        t_at = t_at + np.arange(len(t_at)) * 1e-9 * max(t_at[-1], 1.0)  # strictly rising
        scale, unit = _time_scale(float(t_at[-1]))
        slope = (t_at[-1] - t_at[0]) / max(m_at[-1] - m_at[0], 1.0)

        def to_time(m, m_at=m_at, t_at=t_at):
            m = np.asarray(m, float)
            inside = np.interp(m, m_at, t_at)
            return np.where(m > m_at[-1], t_at[-1] + (m - m_at[-1]) * slope, inside) / scale

        def to_count(t, m_at=m_at, t_at=t_at):
            t = np.asarray(t, float) * scale
            inside = np.interp(t, t_at, m_at)
            return np.where(t > t_at[-1], m_at[-1] + (t - t_at[-1]) / slope, inside)

        for a in curves[:2]:
            top_axis = a.secondary_xaxis("top", functions=(to_time, to_count))
            top_axis.set_xlabel(f"instrument time ({unit})", fontsize=8)
            top_axis.tick_params(labelsize=7)

    # ---- spectra
    x_label, y_label = data.spectrum_labels
    by_label = {sp.label: sp for sp in data.spectra}
    label_units = data.scalar_label.rpartition("(")[2].rstrip(")")
    value_units = f" {label_units}" if "(" in data.scalar_label else ""
    for ax, title, key in zip(curves[2:], PANELS[7:], ("best", "typical (median)", "worst")):
        sp = by_label.get(key)
        ax.set_xlabel(x_label, fontsize=8)
        ax.set_ylabel(y_label, fontsize=8)
        if sp is None:
            ax.set_title(title, fontsize=10, loc="left")
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
            continue
        axis = np.asarray(sp.axis, float)
        y = np.asarray(sp.values, float)
        ax.plot(axis, y, color="C0", lw=1)
        _mark_scalar(ax, data.scalarizer, axis, y, "C1")
        ax.set_title(
            f"{title}: {sp.value:.3g}{value_units}\nmeasurement {sp.number} at "
            f"({sp.position[0]:.4g}, {sp.position[1]:.4g}) {units}",
            fontsize=9,
            loc="left",
        )
    for ax in curves:
        ax.tick_params(labelsize=7)
    return fig


_CAPTIONS = {
    "overview": "the image the agent chose from",
    "chosen points, in order": "every measured point on the overview, coloured by when it "
    "was measured",
    "predicted (last report)": "the model's predicted scalar at the last report",
    "uncertainty (std)": "the model's predicted standard deviation at the last report",
    "ground truth": "the true scalar map (white contour: its top 1 %; red: measured points)",
    "discovery": "the share of the true top-1 % locations measured against measurements, "
    "with the expectation of random sampling (hypergeometric, 5-95 % band) and every replay "
    "of the campaign on the same ground truth; without a ground truth, the best value so far",
    "model weights": "the weight of each model and the share of the prediction's prior "
    "variance that comes from image features, at every report",
    "best spectrum": "the spectrum with the highest scalar, its scalar marked",
    "typical spectrum (median)": "the spectrum with the median scalar, its scalar marked",
    "worst spectrum": "the spectrum with the lowest scalar, its scalar marked",
}


def write_report(data: ReportData, out_dir, figure=None) -> dict:
    """Draw ``data`` into ``campaign_report.png``, ``.html`` and ``summary.json`` in ``out_dir``.

    ``figure``: the :func:`report_figure` of ``data`` when the caller drew it
    already (to look at it too); drawn here otherwise. Returns the summary
    (``data.summary``, with ``report``: the HTML's path).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig = report_figure(data) if figure is None else figure
    png = out / "campaign_report.png"
    fig.savefig(png, dpi=90)
    summary = dict(data.summary)

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    rows_html = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(cell(v))}</td></tr>"
        for k, v in summary.items()
    )
    guide = "".join(
        f"<li><b>{html.escape(name)}</b>: {html.escape(_CAPTIONS[name])}</li>" for name in PANELS
    )
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in data.notes)
    title = f"autoscope campaign {html.escape(data.campaign)}"
    (out / "campaign_report.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<h1>{title}</h1><img src='{png.name}' alt='campaign report' style='max-width:100%'>"
        f"<h2>panels</h2><ul>{guide}</ul>{notes}"
        f"<h2>summary</h2><table border='1' cellpadding='4'>{rows_html}</table></body></html>\n"
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    summary["report"] = str(out / "campaign_report.html")
    return summary


# ------------------------------------------------------------ from memory


def agent_report_data(
    agent,
    image,
    campaign: str = "",
    image_label: str = "",
    scalar_label: str = "",
    scalarizer: str | None = None,
    truth=None,
    truth_source: str | None = None,
    instrument_seconds: float | None = None,
    summary: dict | None = None,
    notes=(),
) -> ReportData:
    """A :class:`ReportData` of a campaign held in memory by ``agent``, for :func:`write_report`.

    What a campaign's catalog gives :func:`campaign_report`, taken from the
    agent itself (an :class:`~autoscope.agents.agent.ActiveLearningAgent`): the
    measurements in order, the last step's maps, every model step's summary
    (the weights of ``bma``). The spectra are not held by an agent, so the
    spectra panels say so. ``instrument_seconds``: the campaign's instrument
    time, drawn as a time axis spread evenly over the measurements.
    """
    rep = agent.report()
    order = np.asarray(agent.obs_index, dtype=int)
    values = np.asarray(agent.obs_value, dtype=float)
    model_steps, n = [], 0
    for step in agent.steps:
        n += len(step.chosen)
        if step.model:
            model_steps.append((n, dict(step.model)))
    time = None
    if instrument_seconds is not None and len(order):
        time = (np.array([len(order)]), np.array([float(instrument_seconds)]))
    return ReportData(
        campaign=campaign,
        image=np.asarray(image, dtype=float),
        image_label=image_label,
        positions=np.asarray(agent.candidates.positions, dtype=float),
        position_units=agent.candidates.units,
        order=order,
        values=values,
        scalar_label=scalar_label,
        scalarizer=scalarizer,
        mean=np.asarray(rep["mean"], dtype=float),
        std=np.asarray(rep["std"], dtype=float),
        truth=None if truth is None else np.asarray(truth, dtype=float),
        truth_source=truth_source,
        model_steps=model_steps,
        time=time,
        agent=getattr(agent, "kind", None),
        summary=dict(summary or {}),
        notes=list(notes),
    )


# ------------------------------------------------------------ from the catalog


def _units(client, c) -> tuple[str, str, dict]:
    """Colour-bar labels (overview channel, scalar), and the overview run's units."""
    try:
        units = dict(client[c.overview_uid].metadata["start"].get("units") or {})
    except (KeyError, TypeError):
        units = {}
    images = dict(units.get("image_channels") or {})
    spectra = dict(units.get("spectrum_channels") or {})
    if c.overview_channel == "piezoresponse":
        image_units = images.get("amplitude", "a.u.")
    else:
        image_units = images.get(c.overview_channel, "")
    image = f"{c.overview_channel} ({image_units})" if image_units else c.overview_channel
    s = c.settings
    response = spectra.get(s.get("channel") or "", "")
    if c.overview_channel == "piezoresponse" and not response:
        response = "a.u."
    value_units = scalar_units(s.get("scalarizer"), response, units.get("bias", "V"))
    name = str(s.get("scalarizer") or "scalar").split(":")[0]
    return image, f"{name} ({value_units})" if value_units else name, units


def _columns(client, uid: str, keys) -> dict:
    """Columns ``keys`` of a report run's ``agent`` stream, as lists (no map is read)."""
    from autoscope.agents.reporting import REPORT_STREAM

    stream = client[uid][REPORT_STREAM]
    out = {}
    for key in keys:
        col = stream[key].read()
        out[key] = list(np.asarray(getattr(col, "values", col)).tolist())
    return out


def _read_steps(client, c) -> tuple[list, list, tuple | None]:
    """Per report: the model summaries, the errors, and (measurements, instrument seconds)."""
    model_steps, errors, counts, seconds = [], [], [], []
    for ruid in c.report_uids:
        cols = _columns(client, ruid, ("agent_n_measured", "agent_model", "agent_error"))
        for n, model, error in zip(cols["agent_n_measured"], cols["agent_model"],
                                   cols["agent_error"]):  # fmt: skip
            model_steps.append((int(n), json.loads(model)))
            if error:
                errors.append(error)
        t = client[ruid].metadata["start"].get("instrument_seconds")
        if t is not None and cols["agent_n_measured"]:
            counts.append(int(cols["agent_n_measured"][-1]))
            seconds.append(float(t))
    time = (np.array(counts), np.array(seconds)) if counts else None
    return model_steps, errors, time


def _replays(client, campaign: str) -> dict:
    """``{label: order}`` of every replay of ``campaign`` in the catalog (its report runs)."""
    from tiled.queries import Key

    out = {}
    for uid, run in client.search(Key("start.replay_of") == campaign).items():
        start = run.metadata["start"]
        if start.get("plan_name") != "agent_report":
            continue
        observed = _columns(client, uid, ("agent_observed",))["agent_observed"]
        order = [int(i) for row in observed for i, _ in json.loads(row)]
        label = f"replay {start.get('replay_agent') or start.get('agent')}"
        while label in out:
            label += "'"
        out[label] = order
    return out


def _measured_spectra(client, c, picks, truth=None) -> tuple[list, str]:
    """The spectra of ``picks`` (``[(label, position in c.order)]``) and where they came from.

    From the campaign's ``spectra_at`` runs (found by the positions they asked
    for); for a replayed campaign, which measured nothing, from the ground
    truth's recorded grid when one is given.
    """
    from tiled.queries import Key

    from autoscope.agents.experiment import SpectraExperiment

    order = c.order
    values = dict(c.observations)
    want = {label: order[i] for label, i in picks}
    pos = np.asarray(c.candidates.positions, dtype=float)
    pixel = float(np.min(np.ptp(pos, axis=0) / np.maximum(np.array(c.candidates.shape[::-1]) - 1,
                                                          1)))  # fmt: skip
    found: dict = {}
    experiment = SpectraExperiment(
        c.settings.get("scalarizer") or "loop_area", channel=c.settings.get("channel") or "dIdV"
    )
    runs = client.search(Key("start.campaign") == c.uid)
    for run in runs.values():
        start = run.metadata["start"]
        if start.get("plan_name") != "spectra_at":
            continue
        asked = np.asarray((start.get("plan_args") or {}).get("positions") or [], float)
        if not asked.size:
            continue
        for label, index in want.items():
            if label in found:
                continue
            d = np.hypot(*(asked.reshape(-1, 2) - pos[index]).T)
            row = int(np.argmin(d))
            if d[row] <= 0.5 * (pixel or 1.0):
                try:
                    m = experiment.unpack_run(run)
                except ConfigurationError:
                    continue
                found[label] = (m.axis, m.spectra[row])
        if len(found) == len(want):
            break
    source = "the campaign's spectra runs"
    if not found and truth is not None and getattr(truth, "spectra", None) is not None:
        h, w = c.candidates.shape
        spectra = np.asarray(truth.spectra, float).reshape(h * w, -1)
        found = {label: (truth.spectral_axis, spectra[i]) for label, i in want.items()}
        source = f"the ground truth's grid ({truth.source})"
    out = []
    for label, i in picks:
        if label in found:
            axis, y = found[label]
            index = order[i]
            out.append(
                Spectrum(
                    label,
                    index,
                    i + 1,
                    tuple(pos[index]),
                    np.asarray(axis, float),
                    np.asarray(y, float),
                    float(values[index]),
                )  # fmt: skip
            )
    return out, source if out else "not found"


def _truth_of(c, dataset, twin, truth):
    """``(truth map, measurable mask, GroundTruth or None, source)`` of what was given.

    With nothing given, a campaign whose reports name the twin it ran on (the
    demo's included) is scored on that twin's measured grid, as ``autoscope
    replay`` scores it (the same helpers, so both draw on the same truth).
    """
    from autoscope.studies.groundtruth import load_recorded, scalar_map
    from autoscope.studies.replay import recorded_twin, twin_truth

    shape = tuple(c.candidates.shape)
    given = [x is not None for x in (dataset, twin, truth)]
    if sum(given) > 1:
        raise ConfigurationError("give one ground truth: a dataset, a twin or a map")
    if not any(given):
        twin = recorded_twin(c.settings)
    gt = None
    if dataset is not None:
        gt, source = load_recorded(dataset), str(dataset)
    elif twin is not None:
        gt = twin_truth(twin, c)
        source = gt.source
    elif truth is not None:
        t = np.asarray(truth, dtype=float)
        if t.shape != shape:
            raise ConfigurationError(
                f"the ground-truth map is {t.shape}, the campaign's candidates are {shape}"
            )
        return t, None, None, "given map"
    else:
        return None, None, None, None
    if gt.image.shape != shape:
        raise ConfigurationError(
            f"ground truth {source} is {gt.image.shape}, the campaign's candidates are {shape}"
        )
    return scalar_map(gt, c.settings.get("scalarizer")), gt.measured_mask.ravel(), gt, source


def campaign_report(
    client,
    campaign: str,
    out_dir,
    dataset=None,
    twin: str | None = None,
    truth=None,
    truth_source: str | None = None,
    extra: dict | None = None,
) -> dict:
    """Draw a campaign's report from the catalog; returns its summary (also ``summary.json``).

    Parameters
    ----------
    client : Tiled client of the catalog
    campaign : the campaign id
    out_dir : folder for ``campaign_report.png``, ``.html``, ``summary.json``
    dataset : recorded-dataset file of the same grid: the ground truth
    twin : ``"KIND"`` or ``"KIND:SEED"`` (pfm, stm): the twin's measured grid as the ground
        truth; by default, with no other truth given, the twin the campaign's reports name
    truth : ``(H, W)`` map of the true scalar (e.g. the twin's hidden map); ``truth_source``
        names it
    extra : more rows for the summary (the demo's instrument hours ...)

    Raises
    ------
    ConfigurationError
        If the catalog holds no such campaign, more than one ground truth is
        given, or the ground truth's grid differs from the campaign's candidates.
    """
    from autoscope.studies.replay import load_campaign

    c = load_campaign(client, campaign)
    model_steps, errors, time = _read_steps(client, c)
    last_uid = c.report_uids[-1]
    stream = client[last_uid]["agent"]
    mean = np.asarray(stream["agent_mean"].read(), float)[-1]
    std = np.asarray(stream["agent_std"].read(), float)[-1]
    values = np.array([v for _, v in c.observations], dtype=float)
    s = c.settings
    summary = {
        "campaign": campaign,
        "agent": s.get("agent"),
        "acquisition": s.get("acquisition"),
        "scalarizer": s.get("scalarizer"),
        "channel": s.get("channel"),
        "overview_uid": c.overview_uid,
        "overview_channel": c.overview_channel,
        "candidates": int(np.prod(c.candidates.shape)),
        "measured": len(c.observations),
        "budget": s.get("budget"),
        "best_value": float(np.nanmax(values)) if np.isfinite(values).any() else None,
        "agent_failures": len(errors),
        "report_runs": len(c.report_uids),
        "replay_of": s.get("replay_of"),
    }
    if time is not None:
        summary["instrument_seconds"] = float(time[1][-1])
    for key, value in c.assumed.items():
        summary[f"assumed_{key}"] = value
    truth_map, measurable, gt, source = _truth_of(c, dataset, twin, truth)
    if truth_source is not None:
        source = truth_source
    notes = []
    data = ReportData(
        campaign=campaign,
        image=c.image,
        image_label="",
        positions=np.asarray(c.candidates.positions, dtype=float),
        position_units=c.candidates.units,
        order=np.asarray(c.order, dtype=int),
        values=values,
        scalar_label="",
        scalarizer=s.get("scalarizer"),
        mean=mean,
        std=std,
        truth=truth_map,
        truth_source=source,
        measurable=measurable,
        model_steps=model_steps,
        time=time,
        agent=s.get("agent"),
    )
    data.image_label, data.scalar_label, units = _units(client, c)
    if truth_map is not None:
        top = data.top
        data.replays = _replays(client, campaign)
        curve = discovery_curve(data.order, top)
        summary["top1_locations"] = int(top.sum())
        summary["top1_found_fraction"] = float(curve[-1]) if len(curve) else 0.0
        summary["top1_found_auc"] = float(np.mean(curve)) if len(curve) else 0.0
        for name, order in data.replays.items():
            summary[f"top1_found_fraction_{name.replace(' ', '_')}"] = float(
                discovery_curve(order, top)[-1]
            )
        summary["ground_truth"] = str(source)
        if not data.replays:
            notes.append(
                "No replay of this campaign is in the catalog, so the discovery panel shows "
                "random sampling (its expectation, computed) and this campaign only. "
                f"`autoscope replay {campaign} --agent gp --dataset FILE.h5` adds the GP's "
                "curve on the same ground truth."
            )
    else:
        summary["ground_truth"] = "unknown (give --dataset FILE.h5 or --twin KIND:SEED)"
        notes.append(
            "The ground truth of this campaign is not known: no true map, no share found; "
            "the discovery panel shows the best value measured so far."
        )
    if time is None:
        notes.append("The reports record no instrument time: no time axis.")
    picks = typical_spectra(values)
    data.spectra, spectra_source = _measured_spectra(client, c, picks, gt)
    summary["spectra_from"] = spectra_source
    channel = s.get("channel") or "signal"
    response = dict(units.get("spectrum_channels") or {}).get(channel, "")
    if not response and channel == "piezoresponse":
        response = "a.u."
    bias = units.get("bias", "V")
    data.spectrum_labels = (f"bias ({bias})", f"{channel} ({response})" if response else channel)
    summary.update(extra or {})
    data.summary = summary
    data.notes = notes
    return write_report(data, out_dir)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``autoscope report``."""
    parser.add_argument("campaign", metavar="CAMPAIGN_UID")
    truth = parser.add_mutually_exclusive_group()
    truth.add_argument("--dataset", metavar="FILE.h5", default=None, help="ground truth")
    truth.add_argument(
        "--twin",
        metavar="KIND:SEED",
        default=None,
        help="ground truth: this twin's measured grid (pfm or stm; default: the twin the "
        "campaign's reports name, if any)",
    )
    parser.add_argument("--out", default="autoscope-report", help="output folder")
    add_data_dir_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope report``; prints the summary."""
    from autoscope.catalog import connect, data_dir

    client = connect(data_dir=data_dir(args.data_dir))
    summary = campaign_report(client, args.campaign, args.out, args.dataset, args.twin)
    for key, value in summary.items():
        print(f"  {key}: {value:.3g}" if isinstance(value, float) else f"  {key}: {value}")
    return 0
