"""``autoscope report``: a campaign's report drawn from the catalog alone.

Any campaign whose runs are in the catalog (queued through the queue server,
run interactively, replayed) gets the picture the demo draws, from what the
catalog holds: the overview the agent saw, the points it chose in order, the
last report's predicted mean and uncertainty, and, when a ground truth is
given (``--dataset``, a recorded-dataset file of the same grid), the true map
with its top-1 % contour and the share of it found. Where no ground truth is
known the report says so instead of drawing one.

Writes ``campaign_report.png``, ``campaign_report.html`` and ``summary.json``
into the output folder.
"""

from __future__ import annotations

import argparse
import html
import json
from pathlib import Path

import numpy as np

from autoscope.agents.tiled_adapter import read_reports
from autoscope.catalog.paths import add_data_dir_argument
from autoscope.live.campaign import scalar_units
from autoscope.live.drawing import add_scale_bar, grid_extent
from autoscope.studies.benchmark import top_set
from autoscope.studies.groundtruth import load_recorded, scalar_map
from autoscope.studies.replay import load_campaign

__all__ = ["add_arguments", "campaign_report", "main"]


def _units(client, c) -> tuple[str, str]:
    """Colour-bar labels: the overview channel with its units, and the scalar with its."""
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
    return image, f"{name} ({value_units})" if value_units else name


def campaign_report(client, campaign: str, out_dir, dataset=None) -> dict:
    """Draw a campaign's report from the catalog; returns its summary (also ``summary.json``).

    Raises
    ------
    ConfigurationError
        If the catalog holds no such campaign, or the dataset's grid differs
        from the campaign's candidates.
    """
    from autoscope.errors import ConfigurationError

    c = load_campaign(client, campaign)
    last = read_reports(client, c.report_uids[-1])["steps"][-1]
    values = np.array([v for _, v in c.observations], dtype=float)
    errors = []
    for ruid in c.report_uids:
        errors += [
            s["agent_error"] for s in read_reports(client, ruid)["steps"] if s["agent_error"]
        ]
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
    for key, value in c.assumed.items():
        summary[f"assumed_{key}"] = value
    truth = None
    if dataset is not None:
        gt = load_recorded(dataset)
        if gt.image.shape != tuple(c.candidates.shape):
            raise ConfigurationError(
                f"dataset {dataset} is {gt.image.shape}, the campaign's candidates are "
                f"{tuple(c.candidates.shape)}"
            )
        truth = scalar_map(gt, s.get("scalarizer"))
        top = top_set(np.where(gt.measured_mask, truth, np.nan).ravel())
        order = np.asarray(c.order, dtype=int)
        summary["top1_locations"] = int(top.sum())
        summary["top1_found_fraction"] = float(top[order].sum() / top.sum())
        summary["ground_truth"] = str(dataset)
    else:
        summary["ground_truth"] = "unknown (give --dataset FILE.h5 of the same grid)"

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    # nm axes: candidate (row, col) sits at the centre of its overview pixel
    xy = np.asarray(c.candidates.positions, dtype=float)
    px, py = xy[np.asarray(c.order, dtype=int)].T
    extent = grid_extent(xy, c.candidates.shape)
    image_units, scalar = _units(client, c)
    fig = Figure(figsize=(17, 4.2), layout="constrained")
    axes = fig.subplots(1, 5)
    panels = [
        (f"overview ({c.overview_channel})", c.image, "gray", image_units),
        ("chosen points, in order", c.image, "gray", image_units),
        ("predicted (last report)", np.asarray(last["agent_mean"], float), "viridis", scalar),
        ("uncertainty (std)", np.asarray(last["agent_std"], float), "magma", f"std of {scalar}"),
        ("ground truth", truth, "viridis", scalar),
    ]
    for ax, (title, data, cmap, label) in zip(axes, panels):
        ax.set_title(title, fontsize=10, loc="left", pad=16)  # above the scale bar
        ax.set_xlabel(f"x ({c.candidates.units})", fontsize=8)
        ax.set_ylabel(f"y ({c.candidates.units})", fontsize=8)
        ax.tick_params(labelsize=7)
        if data is None or not np.isfinite(data).any():
            ax.text(0.5, 0.5, "not known", ha="center", va="center", transform=ax.transAxes)
            continue
        im = ax.imshow(data, origin="lower", cmap=cmap, extent=extent)
        add_scale_bar(ax, extent[1] - extent[0], 0.012 * (extent[3] - extent[2]))
        fig.colorbar(im, ax=ax, shrink=0.8).set_label(label, fontsize=8)
    sc = axes[1].scatter(px, py, c=np.arange(1, len(px) + 1), cmap="plasma", s=10)
    fig.colorbar(sc, ax=axes[1], shrink=0.8, location="bottom").set_label(
        "order (spectrum number)", fontsize=8
    )
    if truth is not None:
        axes[4].contour(
            top.reshape(truth.shape),
            levels=[0.5],
            colors="w",
            linewidths=0.8,
            extent=extent,
            origin="lower",
        )
        axes[4].scatter(px, py, s=4, c="r")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = out / "campaign_report.png"
    fig.savefig(png, dpi=90)
    rows_html = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
    )
    note = (
        "The white contour marks the true top-1 % locations, red dots the measured points."
        if truth is not None
        else "The ground truth of this campaign is not known: no true map, no share found."
    )
    (out / "campaign_report.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>autoscope campaign "
        f"{html.escape(campaign)}</title></head><body><h1>campaign {html.escape(campaign)}</h1>"
        f"<img src='{png.name}' style='max-width:100%'><table border='1' cellpadding='4'>"
        f"{rows_html}</table><p>{note}</p></body></html>\n"
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["report"] = str(out / "campaign_report.html")
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``autoscope report``."""
    parser.add_argument("campaign", metavar="CAMPAIGN_UID")
    parser.add_argument("--dataset", metavar="FILE.h5", default=None, help="ground truth")
    parser.add_argument("--out", default="autoscope-report", help="output folder")
    add_data_dir_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope report``; prints the summary."""
    from autoscope.catalog import connect, data_dir

    client = connect(data_dir=data_dir(args.data_dir))
    summary = campaign_report(client, args.campaign, args.out, args.dataset)
    for key, value in summary.items():
        print(f"  {key}: {value:.3g}" if isinstance(value, float) else f"  {key}: {value}")
    return 0
