"""``autoscope demo``: an autonomous campaign on the PFM twin, scored against the twin's truth.

``autoscope demo --chain`` runs the shorter image-and-spectra chain instead
(:mod:`autoscope.studies.chain`), ``autoscope demo --stem`` the dose-aware campaign on the
STEM twin (:mod:`autoscope.studies.stem_demo`).

:func:`run_campaign_demo` runs :func:`autoscope.plans.campaign.autonomous_campaign`'s
stubs with a real RunEngine on a PFM twin (writing every run to the catalog
when one is given), then compares what the agent found with the twin's
ground-truth loop-area map (read from the twin, never shown to the agent),
and writes the report of ``autoscope report CAMPAIGN_UID``
(:func:`autoscope.studies.campaign_report.campaign_report`, drawn from the
catalog, with the twin's hidden map as the truth; from the agent in memory when
no catalog is given): ``campaign_report.png``, ``campaign_report.html`` and
``summary.json``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from autoscope.agents.agent import ActiveLearningAgent
from autoscope.agents.experiment import SpectraExperiment
from autoscope.catalog import connect, data_dir, make_writer
from autoscope.catalog.paths import add_data_dir_argument
from autoscope.devices import make_spm
from autoscope.devices.twin.datasets import make_dataset
from autoscope.errors import ConfigurationError
from autoscope.live.campaign import scalar_units
from autoscope.plans.campaign import campaign_loop, overview_candidates
from autoscope.studies.benchmark import top_set
from autoscope.studies.campaign_report import agent_report_data, campaign_report, write_report
from autoscope.studies.chain import run_chain

__all__ = ["add_arguments", "main", "run_campaign_demo"]

log = logging.getLogger(__name__)

EXTENT = 2000.0  # nm, frame width of the PFM twin datasets
SPECTROSCOPY = {"start": -2.5, "stop": 2.5, "n_points": 96, "settle": 0.002, "integration": 0.01}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``demo`` options to ``parser``."""
    add_data_dir_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the twin and the agent")
    parser.add_argument(
        "--out",
        default="autoscope-demo",
        help="folder for the report file (default: ./autoscope-demo)",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help="campaign grid size (candidates per side); default: the agent's",
    )
    parser.add_argument(
        "--chain",
        action="store_true",
        help="run the image+spectra chain instead of the agent campaign",
    )
    parser.add_argument(
        "--stem",
        action="store_true",
        help="run the dose-aware campaign on the STEM twin instead (nanoparticles, EELS, "
        "5 %% of a spectrum image's dose; --size default 48)",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope demo``; returns the exit status."""

    if args.stem and args.chain:
        raise ConfigurationError("give one of --stem and --chain")
    folder = data_dir(args.data_dir)
    client = connect(data_dir=folder)
    if args.stem:
        from autoscope.studies.stem_demo import run_stem_demo

        kwargs = {"seed": args.seed, "writer": _writer_for(client, folder)}
        if args.size:
            kwargs["size"] = args.size
        _print_summary(run_stem_demo(Path(args.out), **kwargs))
    elif not args.chain:
        kwargs = {"seed": args.seed, "catalog": client, "data_dir": folder}
        if args.size:
            kwargs["size"] = args.size
        summary = run_campaign_demo(Path(args.out), **kwargs)
        _print_summary(summary)
    else:
        writer = make_writer(client, data_dir=folder)
        run_chain(client, writer, seed=args.seed)
    print(f"\ncatalog folder: {folder}")
    print(
        "open it from Python:  from autoscope.catalog import connect; "
        f"catalog = connect(data_dir={str(folder)!r})"
    )
    return 0


def _print_summary(summary: dict) -> None:
    print("\ncampaign summary")
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.3g}"
        print(f"  {key}: {value}")


def _writer_for(catalog, folder=None):
    """The writer of ``catalog``; a Tiled client's spools under ``folder`` (its data folder)."""
    if catalog is None:
        return None
    if hasattr(catalog, "context"):  # a tiled client
        return make_writer(catalog, data_dir=folder)
    if callable(catalog):
        return catalog
    raise ConfigurationError(
        f"catalog must be a Tiled client or a document callback, got {catalog!r}"
    )


def run_campaign_demo(
    out_dir,
    seed: int = 0,
    size: int = 64,
    catalog=None,
    budget: int | None = None,
    agent: str = "bma",
    batch_size: int = 1,
    report_every: int = 5,
    progress: bool = True,
    data_dir=None,
) -> dict:
    """Run an autonomous campaign on the PFM twin and write its report.

    Parameters
    ----------
    out_dir : path, folder for ``campaign_report.png``/``.html`` and ``summary.json``
    seed : int, seeds the twin sample and the agent
    size : int, the overview is ``size x size`` pixels (all candidates); the default 64
        is the benchmarked grid (docs/benchmarks.md)
    catalog : Tiled client, document callback, or None (runs are then not stored)
    budget : int, spectra to measure (default 5 % of the candidates)
    agent : ``"bma"`` (DKL and the GP weighed by evidence), ``"dkl"``, ``"gp"``,
        ``"random"`` or ``"raster"``
    batch_size : points per agent step
    report_every : write the agent's report to the catalog every this many steps
    progress : show a progress bar
    data_dir : the catalog's data folder, where the writer keeps its durable spool
        (default: the default data folder)

    Returns
    -------
    dict: ``campaign``, ``agent``, ``candidates``, ``measured``,
    ``top1_found_fraction``, ``top1_locations``, ``best_found_over_true_max``,
    ``instrument_hours_campaign``, ``instrument_hours_full_grid``,
    ``instrument_hours_saved``, ``wall_seconds``, ``agent_failures``,
    ``overview_phase_reference`` (deg, the one the piezoresponse overview was
    formed with; its run records it too), ``report`` (path of the HTML report).
    """
    import torch
    from bluesky import RunEngine

    size = int(size)
    if not 8 <= size <= 256:
        raise ConfigurationError(f"demo size {size} must be between 8 and 256 pixels")
    n = size * size
    budget = round(0.05 * n) if budget is None else int(budget)
    if not 1 <= budget <= n:
        raise ConfigurationError(f"budget {budget} must be between 1 and {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    t_wall = time.perf_counter()

    # the instrument: the same twin sample the ground truth is computed for
    spm = make_spm(
        "twin",
        sample="pfm_film",
        seed=seed,
        drift=0.0,
        creep=0.0,
        hysteresis=0.0,
        tip_change_rate=0.0,
    )
    RE = RunEngine({}, call_returns_result=True)
    writer = _writer_for(catalog, data_dir)
    if writer is not None:
        RE.subscribe(writer)
    experiment = SpectraExperiment("loop_area", channel="piezoresponse", device=spm.name)
    state: dict = {}

    def plan():
        md = {"purpose": "autoscope demo", "demo_seed": seed}
        candidates, image, overview_uid = yield from overview_candidates(
            spm, 0.0, 0.0, EXTENT, EXTENT, size, 0.5, "piezoresponse", md=md
        )
        decision = ActiveLearningAgent(
            candidates, kind=agent, batch_size=batch_size, budget=budget, seed=seed
        )
        state.update(agent=decision, image=image, overview_uid=overview_uid)
        summary = yield from campaign_loop(
            spm,
            decision,
            experiment,
            budget,
            SPECTROSCOPY,
            report_every=report_every,
            progress=progress,
            md={**md, "overview_uid": overview_uid, "overview_channel": "piezoresponse"},
        )
        state["summary"] = summary
        return summary

    RE(plan())
    if writer is not None and hasattr(writer, "flush"):
        writer.flush()
    summary_loop = state["summary"]
    decision = state["agent"]

    # ground truth from the twin (benchmarks may read it; the agent never did)
    truth_data = make_dataset("pfm", size=size, seed=seed, extent=EXTENT)
    truth = np.asarray(truth_data["truth"]["loop_area"], dtype=float)
    top = top_set(truth.ravel())
    measured = np.asarray(decision.obs_index, dtype=int)
    lo, hi = float(truth.min()), float(truth.max())
    best_true = float(truth.ravel()[measured].max()) if len(measured) else lo

    per_spectrum = summary_loop["instrument_seconds"] / max(summary_loop["measured"], 1)
    overview_s = size * 0.5 * 2  # trace and retrace of every line
    campaign_h = (summary_loop["instrument_seconds"] + overview_s) / 3600
    grid_h = (n * per_spectrum) / 3600
    summary = {
        "campaign": summary_loop["campaign"],
        "agent": agent,
        "candidates": n,
        "measured": int(summary_loop["measured"]),
        "budget_fraction": budget / n,
        "top1_locations": int(top.sum()),
        "top1_found_fraction": float(top[measured].sum() / top.sum()),
        "best_found_over_true_max": (best_true - lo) / (hi - lo) if hi > lo else 1.0,
        "instrument_hours_campaign": campaign_h,
        "instrument_hours_full_grid": grid_h,
        "instrument_hours_saved": grid_h - campaign_h,
        "agent_failures": len(summary_loop["failures"]),
        "stopped_by": summary_loop["stopped_by"],
        "overview_uid": state["overview_uid"],
        # the overview is amplitude * cos(phase - phase_reference), with the twin's reference
        "overview_phase_reference": spm.phase_reference,
        "report_uids": summary_loop["report_uids"][-3:],
        "wall_seconds": time.perf_counter() - t_wall,
    }
    area = scalar_units("loop_area", "a.u.", "V")  # piezoresponse (a.u.) x bias (V)
    source = f"the PFM twin's loop-area map (seed {seed}, never shown to the agent)"
    if hasattr(catalog, "context"):  # a tiled client: the report of `autoscope report`
        full = campaign_report(
            catalog, summary["campaign"], out, truth=truth, truth_source=source, extra=summary
        )
    else:
        data = agent_report_data(
            decision,
            state["image"],
            campaign=summary["campaign"],
            image_label="piezoresponse (a.u.)",
            scalar_label=f"loop_area ({area})",
            scalarizer="loop_area",
            truth=truth,
            truth_source=source,
            instrument_seconds=summary_loop["instrument_seconds"],
            summary={**summary, "ground_truth": source},
            notes=["Run without a catalog: the spectra were not kept, so none is drawn."],
        )
        full = write_report(data, out)
    summary["report"] = full["report"]
    return summary
