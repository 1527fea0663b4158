"""The dose-aware STEM campaign as a demo and a benchmark, scored against the twin's truth.

- :func:`run_stem_demo` (``autoscope demo --stem``): the nanoparticle twin behind the real
  STEM device with a dose budget set in the device, a HAADF overview, then
  :func:`autoscope.plans.stem_campaign.dose_aware_campaign` to its dose budget, every run
  written to the catalog when one is given; then a report (``campaign_report.png`` /
  ``.html``, ``summary.json``): what was found against the twin's hidden truth, and the dose
  used against the device's limits.
- :func:`run_stem_benchmark` (``autoscope benchmark --twin stem``): for each seed, the same
  campaign with each agent (default: DKL, and a sparse raster and random choice at the same
  dose), each on a fresh twin of that seed; the scores per seed and their medians as JSON.

The truth is the campaign's scalar (default: the loss between 1.2 and 3 eV, the particle
plasmons) of the *noise-free* spectrum the twin gives at every candidate pixel, taken from
the twin's hidden sample (which benchmarks may read and agents never do); the score is the
share of its top-1 % pixels measured (``top1_found_fraction``).
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path

import numpy as np

from autoscope.agents.scalarizers import get_scalarizer
from autoscope.devices import STEMLimits, make_stem
from autoscope.devices.stem.dose import electrons
from autoscope.devices.twin.stem.eels import Spectrometer, acquire_many
from autoscope.errors import ConfigurationError
from autoscope.live.drawing import add_scale_bar, grid_extent
from autoscope.studies.scores import top_set
from autoscope.studies.summary_page import write_html

__all__ = [
    "CAMPAIGN",
    "campaign_truth",
    "run_stem_benchmark",
    "run_stem_campaign",
    "run_stem_demo",
    "write_stem_report",
]

log = logging.getLogger(__name__)

#: the campaign's settings (docs/benchmarks.md, STEM rows): nanoparticles, plasmon band
CAMPAIGN = {
    "sample": "nanoparticles",
    "scalarizer": "band_integral:1.2:3.0",
    "fov_nm": 64.0,
    "pixel_time_us": 2.0,
    "exposure": 0.01,
    "channels": 256,
    "dispersion": 0.02,
    "energy_offset": -1.0,
    "batch_size": 8,
}
#: the most any 0.2 nm cell may hold in the demo, e/Å² (a spectrum leaves ~1.5e5 in its spot)
DEMO_DOSE_PER_AREA = 1e6


def campaign_truth(stem, positions_nm: np.ndarray, scalarizer: str | None = None) -> np.ndarray:
    """The scalar of the noise-free spectrum at each position ``(N, 2)`` nm, from the twin.

    Reads the twin behind ``stem`` (its sample as it is now, at its beam energy and current):
    the hidden truth a benchmark may read and an agent may not.
    """
    twin = stem.backend.twin
    spec = Spectrometer(
        channels=CAMPAIGN["channels"],
        dispersion=CAMPAIGN["dispersion"],
        offset=CAMPAIGN["energy_offset"],
        exposure=CAMPAIGN["exposure"],
    )
    scalar = get_scalarizer(scalarizer or CAMPAIGN["scalarizer"])
    xy = np.asarray(positions_nm, float) * 10.0
    locals_ = twin.sample.local_spectra(xy[:, 0], xy[:, 1], kv=twin.probe.kv)
    expected = acquire_many(locals_, spec, twin.current_pa, np.zeros(len(xy)), None)[1]
    return scalar.apply(expected, spec.axis())


def _candidate_xy(dose_md: dict) -> np.ndarray:
    h, w = dose_md["candidate_shape"]
    p = dose_md["pixel_size"]
    x0, y0 = dose_md["origin"]
    rows, cols = np.mgrid[0:h, 0:w]
    return np.column_stack([x0 + (cols.ravel() + 0.5) * p, y0 + (rows.ravel() + 0.5) * p])


def run_stem_campaign(
    seed: int,
    agent: str = "dkl",
    pixels: int = 64,
    dose_fraction: float = 0.05,
    fov_nm: float | None = None,
    batch_size: int | None = None,
    limits: STEMLimits | None = None,
    callbacks=(),
) -> dict:
    """One dose-aware campaign on a fresh nanoparticle twin of ``seed``, scored.

    Returns a dict: ``seed``, ``agent``, ``spectra``, ``top1_found_fraction``, ``n_top1``,
    ``electrons`` (all the device sent), ``dose_max`` (e/Å², its most-exposed cell),
    ``campaign`` (id), ``wall_seconds``, ``instrument_seconds``, and the private keys
    ``_docs`` (every document), ``_truth`` (the truth map, ``(H, W)``), ``_stem`` (the
    device), ``_measured`` (candidate indices in order).
    """
    from bluesky import RunEngine

    from autoscope.plans.stem_campaign import dose_aware_campaign

    stem = make_stem("twin", sample=CAMPAIGN["sample"], seed=seed, limits=limits)
    docs: list = []
    RE = RunEngine({}, call_returns_result=False)
    for cb in callbacks:
        RE.subscribe(cb)
    t0 = time.perf_counter()
    RE(
        dose_aware_campaign(
            stem,
            agent=agent,
            scalarizer=CAMPAIGN["scalarizer"],
            dose_fraction=dose_fraction,
            batch_size=batch_size or CAMPAIGN["batch_size"],
            fov_nm=fov_nm or CAMPAIGN["fov_nm"],
            pixels=pixels,
            pixel_time_us=CAMPAIGN["pixel_time_us"],
            channels=CAMPAIGN["channels"],
            dispersion=CAMPAIGN["dispersion"],
            energy_offset=CAMPAIGN["energy_offset"],
            exposure=CAMPAIGN["exposure"],
            seed=seed,
            md={"purpose": "autoscope STEM campaign", "demo_seed": seed},
        ),
        lambda n, d: docs.append((n, d)),
    )
    wall = time.perf_counter() - t0
    dose_md = next(d for n, d in docs if n == "start" and d.get("plan_name") == "dose_map")
    h, w = dose_md["candidate_shape"]
    truth = campaign_truth(stem, _candidate_xy(dose_md))
    top = top_set(truth)
    order = [int(i) for i in dose_md["measured_indices"]]
    measured = np.zeros(h * w, bool)
    measured[order] = True
    return {
        "seed": seed,
        "agent": agent,
        "spectra": int(measured.sum()),
        "top1_found_fraction": float((measured & top).sum() / top.sum()),
        "n_top1": int(top.sum()),
        "electrons": float(stem.ledger.total_electrons),
        "dose_max": float(stem.ledger.max_dose()),
        "campaign": dose_md["campaign"],
        "wall_seconds": wall,
        "instrument_seconds": float(stem.backend.time()),
        "_docs": docs,
        "_truth": truth.reshape(h, w),
        "_stem": stem,
        "_measured": order,
    }


def _public(result: dict) -> dict:
    return {k: v for k, v in result.items() if not k.startswith("_")}


def run_stem_benchmark(
    agents=("dkl", "raster", "random"),
    seeds: int = 1,
    first_seed: int = 0,
    size: int = 64,
    dose_fraction: float = 0.05,
    batch_size: int | None = None,
    fov_nm: float | None = None,
) -> dict:
    """Each of ``agents`` on each seed's twin at the same dose; the JSON of
    ``autoscope benchmark --twin stem``: ``{"agents": {name: {"top1_found_fraction":
    {"median", "per_seed"}, ...}}, "runs": [...], ...}``."""
    agents = list(dict.fromkeys(agents))
    if not agents:
        raise ConfigurationError("give at least one agent")
    if seeds < 1:
        raise ConfigurationError(f"seeds must be >= 1, got {seeds}")
    if first_seed < 0:
        raise ConfigurationError(f"first seed must be >= 0, got {first_seed}")
    runs = []
    for seed in range(first_seed, first_seed + seeds):
        for agent in agents:
            r = _public(
                run_stem_campaign(
                    seed, agent, size, dose_fraction, fov_nm=fov_nm, batch_size=batch_size
                )
            )
            log.info(
                "seed %d %-6s: %d spectra, top-1%% found %.2f of %d (%.0f s)",
                seed,
                agent,
                r["spectra"],
                r["top1_found_fraction"],
                r["n_top1"],
                r["wall_seconds"],
            )
            runs.append(r)
    summary = {}
    for agent in agents:
        mine = [r for r in runs if r["agent"] == agent]
        summary[agent] = {
            key: {
                "median": statistics.median(r[key] for r in mine),
                "per_seed": [r[key] for r in mine],
            }
            for key in ("top1_found_fraction", "spectra", "electrons", "wall_seconds")
        }
    return {
        "benchmark": "stem_dose_aware_campaign",
        "dataset": f"twin:stem:{CAMPAIGN['sample']}:{size}x{size} (sample seed = run seed)",
        **{k: v for k, v in CAMPAIGN.items() if k != "batch_size"},
        "batch_size": batch_size or CAMPAIGN["batch_size"],
        "fov_nm": fov_nm or CAMPAIGN["fov_nm"],
        "pixels": size,
        "dose_fraction": dose_fraction,
        "seeds": seeds,
        "first_seed": first_seed,
        "agents": summary,
        "runs": runs,
    }


def run_stem_demo(
    out_dir,
    seed: int = 0,
    size: int = 48,
    writer=None,
    agent: str = "dkl",
    dose_fraction: float = 0.05,
) -> dict:
    """Run the dose-aware campaign on the STEM twin and write its report.

    The device is given a dose budget: ``dose_total`` the campaign's electrons (the overview
    and ``dose_fraction`` of a full spectrum image) and ``dose_per_area``
    :data:`DEMO_DOSE_PER_AREA`; the campaign checks them before the beam moves.

    Parameters
    ----------
    out_dir : path, folder for ``campaign_report.png``/``.html`` and ``summary.json``
    seed : int, seeds the twin sample and the agent
    size : int, the overview is ``size x size`` pixels over 64 nm (every pixel a candidate)
    writer : document callback (the catalog's writer), or None (runs are then not stored)
    agent : ``"dkl"``, ``"gp"``, ``"random"`` or ``"raster"``
    dose_fraction : share of a full spectrum image's dose the spectra may use

    Returns
    -------
    dict: the scores of :func:`run_stem_campaign` plus ``candidates``,
    ``dose_limit_electrons``, ``dose_used_fraction_of_limit``, ``dose_per_area_limit``,
    ``spectrum_image_electrons``, ``report``.
    """
    size = int(size)
    if not 16 <= size <= 128:
        raise ConfigurationError(f"STEM demo size {size} must be between 16 and 128 pixels")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    torch.manual_seed(seed)
    current = 30.0  # pA, the twin's default beam current
    overview_e = size * size * electrons(current, CAMPAIGN["pixel_time_us"] * 1e-6)
    per_spectrum = electrons(current, CAMPAIGN["exposure"])
    budget = int(np.floor(dose_fraction * size * size))
    limit = 1.001 * (overview_e + budget * per_spectrum)
    limits = STEMLimits(dose_total=limit, dose_per_area=DEMO_DOSE_PER_AREA)
    result = run_stem_campaign(
        seed, agent, size, dose_fraction, limits=limits, callbacks=[writer] if writer else ()
    )
    if writer is not None and hasattr(writer, "flush"):
        writer.flush()
    summary = _public(result)
    summary.update(
        {
            "candidates": size * size,
            "dose_fraction_of_spectrum_image": dose_fraction,
            "spectrum_image_electrons": size * size * per_spectrum,
            "dose_limit_electrons": limit,
            "dose_used_fraction_of_limit": result["electrons"] / limit,
            "dose_per_area_limit": DEMO_DOSE_PER_AREA,
        }
    )
    report = write_stem_report(out, result, summary)
    summary["report"] = str(report)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _last(docs, plan_name: str, stream: str):
    """The last event of ``stream`` in the last run named ``plan_name``."""
    uid = [d["uid"] for n, d in docs if n == "start" and d.get("plan_name") == plan_name][-1]
    descriptors = {
        d["uid"]
        for n, d in docs
        if n == "descriptor" and d["run_start"] == uid and d.get("name") == stream
    }
    return [d for n, d in docs if n == "event" and d["descriptor"] in descriptors][-1]["data"]


def write_stem_report(out: Path, result: dict, summary: dict) -> Path:
    """``campaign_report.png`` and ``.html`` of a STEM campaign into ``out``; returns the
    HTML path. Panels: the HAADF overview (the agent's input), the spectra in order, the
    agent's last predicted mean and uncertainty, the truth with its top-1 % contour, and the
    dose map (the campaign's, e/Å², withdrawn candidates outlined)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    from autoscope.plans.stem_campaign import image_from_documents

    docs = result["_docs"]
    truth = result["_truth"]
    uid = next(d["uid"] for n, d in docs if n == "start" and d.get("campaign_role") == "overview")
    image = image_from_documents(_run_docs(docs, uid))
    report = _last(docs, "agent_report", "agent")
    dose = _last(docs, "dose_map", "dose")
    dose_md = next(d for n, d in docs if n == "start" and d.get("plan_name") == "dose_map")
    xy = _candidate_xy(dose_md)
    extent = grid_extent(xy, truth.shape)
    order = np.asarray(result["_measured"], int)
    px, py = xy[order, 0], xy[order, 1]
    fig = Figure(figsize=(20, 4.2), layout="constrained")
    axes = fig.subplots(1, 6)
    panels = [
        ("HAADF overview (the agent's input)", image, "gray", "detected electrons"),
        ("spectra, in order", image, "gray", "detected electrons"),
        ("predicted plasmon loss", np.asarray(report["agent_mean"]), "viridis", "loss 1.2-3 eV"),
        ("uncertainty (std)", np.asarray(report["agent_std"]), "magma", "std"),
        ("truth (noise-free spectra)", truth, "viridis", "loss 1.2-3 eV"),
        ("campaign dose map", np.asarray(dose["dose_campaign_dose"]), "inferno", "dose (e/Å²)"),
    ]
    for k, (ax, (title, data, cmap, label)) in enumerate(zip(axes, panels)):
        # the dose map spans the overview's few e/Å² to the spectra's thousands: log colours
        norm = LogNorm() if k == 5 and np.nanmin(data) > 0 else None
        im = ax.imshow(data, origin="lower", cmap=cmap, extent=extent, norm=norm)
        if not np.isfinite(data).any():
            ax.text(0.5, 0.5, f"no model ({result['agent']})", ha="center", transform=ax.transAxes)
        ax.set_title(title, fontsize=10, loc="left", pad=16)
        ax.set_xlabel("x (nm)", fontsize=8)
        ax.set_ylabel("y (nm)", fontsize=8)
        ax.tick_params(labelsize=7)
        add_scale_bar(ax, extent[1] - extent[0], 0.012 * (extent[3] - extent[2]))
        fig.colorbar(im, ax=ax, shrink=0.8).set_label(label, fontsize=8)
    sc = axes[1].scatter(px, py, c=np.arange(1, len(px) + 1), cmap="plasma", s=10)
    fig.colorbar(sc, ax=axes[1], shrink=0.8, location="bottom").set_label(
        "order (spectrum number)", fontsize=8
    )
    top = top_set(truth).reshape(truth.shape)
    axes[4].contour(top, levels=[0.5], colors="w", linewidths=0.8, extent=extent, origin="lower")
    axes[4].scatter(px, py, s=4, c="r")
    withdrawn = np.asarray(dose["dose_withdrawn"], float)
    if withdrawn.any():
        axes[5].contour(
            withdrawn, levels=[0.5], colors="c", linewidths=0.6, extent=extent, origin="lower"
        )
    png = out / "campaign_report.png"
    fig.savefig(png, dpi=90)
    return write_html(
        out,
        png,
        "autoscope dose-aware campaign on the STEM twin",
        summary,
        "The white contour marks the true top-1 % locations, red dots the measured points; "
        "cyan outlines the candidates withdrawn by the damage rule.",
    )


def _run_docs(docs, uid: str) -> list:
    """The documents of run ``uid`` among ``docs``, in order."""
    descriptors = {d["uid"] for n, d in docs if n == "descriptor" and d["run_start"] == uid}
    return [
        (n, d)
        for n, d in docs
        if d.get("uid") == uid or d.get("run_start") == uid or d.get("descriptor") in descriptors
    ]
