"""``autoscope benchmark``: how fast does an agent find the best locations?

The harness replays ground truth (a recorded-dataset file or a twin): the
agent sees the overview image, asks for points, and gets back the scalar of
the spectrum recorded there. Seed points count against the budget. For every
seed it scores:

- ``top1_found_fraction``: share of the top-1 % locations (by the
  ground-truth scalar, at least one location) measured within the budget;
- ``steps_to_first_top1``: measurements (seed points included) until the
  first top-1 % location was measured (``null`` if never; a median over seeds
  that never found one is ``null`` too);
- ``best_found_over_true_max``: best measured scalar with the scalar map
  rescaled to 0-1 over the grid (1 = the true maximum was found);
- ``seconds_per_step``: wall time of one agent step (model update plus
  acquisition over all candidates), model steps only (seed steps excluded);
- ``top1_found_auc``: the share of the top-1 % set found, averaged over the
  measurements of the campaign (the area under the discovery curve, 0-1): two
  agents that both end with the whole set differ here in how fast they got it;
- ``steps_to_half_top1``: measurements until half of the top-1 % set was
  measured (``null`` if never).

The JSON holds each as ``{"median": ..., "per_seed": [...]}``
(``seconds_per_step`` also with ``"p95"`` over all steps of all seeds), and
``agent``, ``budget``, ``seeds``, ``dataset``, ``candidates``, ``measured``
and ``missing``.

An incomplete grid (a recorded file whose spectra are NaN rows where the grid
was never measured, as a converter of a grid stopped early writes it) is
scored on its measured pixels only: they alone are candidates, the top set and
the budget check count them alone, ``missing`` counts the others, and the
printed summary says that the grid is incomplete.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from autoscope.agents.acquisition import ACQUISITIONS, check_acquisition
from autoscope.agents.agent import (
    AGENT_KINDS,
    SEED_DESIGNS,
    ActiveLearningAgent,
    resolve_seed_design,
)
from autoscope.agents.candidates import CandidateSet, default_patch_size
from autoscope.errors import AutoscopeError, ConfigurationError
from autoscope.studies.groundtruth import GroundTruth, load_recorded, scalar_map, twin_dataset
from autoscope.studies.scores import top_set

__all__ = [
    "add_arguments",
    "add_twin_study_arguments",
    "main",
    "run_benchmark",
    "run_seed",
    "top_set",
    "twin_samples",
    "write_json",
    "check_output_path",
]

log = logging.getLogger(__name__)

AgentFactory = Callable[[CandidateSet, int, int], object]


def default_factory(kind: str, **agent_options) -> AgentFactory:
    """A factory ``(candidates, budget, seed) -> ActiveLearningAgent`` for ``kind``."""

    def make(candidates: CandidateSet, budget: int, seed: int) -> ActiveLearningAgent:
        return ActiveLearningAgent(candidates, kind=kind, budget=budget, seed=seed, **agent_options)

    return make


def _withhold(agent, unmeasured: np.ndarray) -> None:
    """Take the never-measured pixels out of ``agent``'s choice before its first step.

    An agent's ``measured`` mask ``(N,)`` is the set it will not suggest (seed
    points, model steps, raster order and fallbacks all skip it); the pixels
    of an incomplete grid that were never measured join it. An agent without
    such a mask is held by the check in :func:`run_seed` instead.
    """
    taken = getattr(agent, "measured", None)
    if isinstance(taken, np.ndarray) and taken.dtype == bool and taken.shape == unmeasured.shape:
        taken |= unmeasured


def run_seed(
    truth: GroundTruth,
    values: np.ndarray,
    factory: AgentFactory,
    budget: int,
    seed: int,
    patch_size: int | None = None,
    batch_size: int = 1,
    observe: Callable[[object, np.ndarray], None] | None = None,
) -> dict:
    """One campaign on ground truth ``values`` ``(H, W)``; returns this seed's scores.

    The agent object must have ``suggest_indices(n) -> indices``,
    ``ingest_indices(indices, values)`` and a ``steps`` list whose items have
    ``source`` and ``seconds`` (as :class:`~autoscope.agents.agent.ActiveLearningAgent`).
    ``observe(agent, indices)``, if given, is called after every suggestion and
    before its values are ingested (to look at the model that chose them).
    The private key ``_measured`` holds the measured candidates in order.

    Only the pixels of ``truth.measured_mask`` are candidates: the top set is
    taken among them, and an agent that asks for another pixel is an error.

    Raises
    ------
    ConfigurationError
        If ``budget`` exceeds the measured pixels.
    AutoscopeError
        If the agent chooses a pixel that was never measured.
    """
    mask = truth.measured_mask.ravel()
    if budget > int(mask.sum()):
        raise ConfigurationError(
            f"budget {budget} exceeds the {int(mask.sum())} measured locations of {truth.source}"
        )
    v = np.where(mask, np.asarray(values, dtype=float).ravel(), np.nan)
    top = top_set(v)
    finite = v[np.isfinite(v)]
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo if hi > lo else 1.0
    candidates = CandidateSet.from_image(
        truth.image, patch_size=patch_size, pixel_size=truth.pixel_size, units=truth.pixel_units
    )
    agent = factory(candidates, budget, seed)
    _withhold(agent, ~mask)
    measured: list[int] = []
    first_top = half_top = None
    found, curve = 0, []
    seen = np.zeros(v.size, dtype=bool)
    while len(measured) < budget:
        n = min(batch_size, budget - len(measured))
        idx = np.asarray(agent.suggest_indices(n), dtype=int)
        never = idx[~mask[idx]]
        if never.size:
            w = truth.image.shape[1]
            raise AutoscopeError(
                f"agent chose pixel (row {never[0] // w}, col {never[0] % w}) of {truth.source}, "
                "which was never measured; only measured pixels are candidates"
            )
        if observe is not None:
            observe(agent, idx)
        agent.ingest_indices(idx, v[idx])
        for i in idx.tolist():
            measured.append(i)
            if top[i] and not seen[i]:
                found += 1
                if first_top is None:
                    first_top = len(measured)
                if half_top is None and 2 * found >= top.sum():
                    half_top = len(measured)
            seen[i] = True
            curve.append(found)
    m = np.asarray(measured, dtype=int)
    mv = v[m]
    best = float(np.nanmax(mv)) if np.isfinite(mv).any() else lo
    model_seconds = [s.seconds for s in agent.steps if s.source not in ("seed",)]
    return {
        "seed": seed,
        "top1_found_fraction": found / int(top.sum()),
        "steps_to_first_top1": first_top,
        "steps_to_half_top1": half_top,
        "top1_found_auc": float(np.mean(curve) / top.sum()),
        "best_found_over_true_max": (best - lo) / span,
        "seconds_per_step": float(np.median(model_seconds)) if model_seconds else 0.0,
        "_step_seconds": model_seconds,
        "_measured": measured,
        "failures": sum(1 for s in agent.steps if s.source == "fallback"),
        "n_top1": int(top.sum()),
    }


def _median_or_null(values: list) -> float | None:
    finite = [np.inf if x is None else float(x) for x in values]
    med = float(np.median(finite)) if finite else None
    return None if med is None or not np.isfinite(med) else med


def run_benchmark(
    scalarizer: str,
    agent: str,
    budget: int,
    seeds: int,
    dataset: str | os.PathLike | None = None,
    twin: str | None = None,
    size: int = 64,
    twin_sample: int | None = None,
    patch_size: int | None = None,
    batch_size: int = 1,
    factory: AgentFactory | None = None,
    first_seed: int = 0,
    **agent_options,
) -> dict:
    """Run ``seeds`` campaigns and aggregate the scores (the JSON of ``autoscope benchmark``).

    Parameters
    ----------
    scalarizer : str, e.g. ``"loop_area"``
    agent : str, ``"bma"``, ``"dkl"``, ``"gp"``, ``"random"``, ``"raster"`` (or a label when
        ``factory`` is given)
    budget : int, measurements per campaign, seed points included
    seeds : int, campaigns (seeds ``first_seed .. first_seed + seeds - 1``)
    dataset : path of a recorded-dataset file, or
    twin : ``"pfm"`` or ``"stm"`` with ``size``; each seed gets its own twin
        sample (sample seed = run seed) unless ``twin_sample`` fixes one.
    patch_size : odd int, default from the image size
    batch_size : points per agent step
    factory : callable ``(candidates, budget, seed) -> agent``, overrides ``agent``
    first_seed : int, the first run seed (default 0); a second range of seeds
        gives held-out campaigns, e.g. to tune on one range and report on another
    **agent_options : passed to :class:`ActiveLearningAgent`
    """
    if (dataset is None) == (twin is None):
        raise ConfigurationError("give exactly one of a dataset file or a twin kind")
    if seeds < 1:
        raise ConfigurationError(f"seeds must be >= 1, got {seeds}")
    if first_seed < 0:
        raise ConfigurationError(f"first seed must be >= 0, got {first_seed}")
    if budget < 1:
        raise ConfigurationError(f"budget must be >= 1, got {budget}")
    if batch_size < 1:
        raise ConfigurationError(f"batch size must be >= 1, got {batch_size}")
    check_acquisition(agent_options.get("acquisition", "topq"), agent_options.get("quantile", 0.99))
    factory_given = factory is not None
    if factory is None:
        if agent not in AGENT_KINDS:
            raise ConfigurationError(f"unknown agent {agent!r}; known: {', '.join(AGENT_KINDS)}")
        factory = default_factory(agent, **agent_options)
    fixed = load_recorded(dataset) if dataset is not None else None
    if fixed is not None:
        n_pix = fixed.image.size
        n_meas = int(fixed.measured_mask.sum())
        if budget > n_meas:
            never = "" if n_meas == n_pix else f" measured ({n_pix - n_meas} never were)"
            raise ConfigurationError(
                f"budget {budget} exceeds the {n_meas} locations{never} of {dataset}"
            )
    elif budget > size * size:
        raise ConfigurationError(f"budget {budget} exceeds the {size * size} locations of the twin")
    per_seed = []
    fixed_values = None if fixed is None else scalar_map(fixed, scalarizer)
    for seed in range(first_seed, first_seed + seeds):
        if fixed is not None:
            truth, values = fixed, fixed_values
        else:
            truth = twin_dataset(twin, size, seed if twin_sample is None else twin_sample)
            values = scalar_map(truth, scalarizer)
        t0 = time.perf_counter()
        result = run_seed(truth, values, factory, budget, seed, patch_size, batch_size)
        log.info(
            "seed %d: top1 %.2f, first top1 at %s, best %.3f, %.3f s/step (%.0f s)",
            seed,
            result["top1_found_fraction"],
            result["steps_to_first_top1"],
            result["best_found_over_true_max"],
            result["seconds_per_step"],
            time.perf_counter() - t0,
        )
        per_seed.append(result)
    all_steps = [s for r in per_seed for s in r.pop("_step_seconds")]
    for r in per_seed:
        r.pop("_measured")
    if fixed is not None:
        ds = str(dataset)
        shape = fixed.image.shape
        n_measured = int(fixed.measured_mask.sum())
    else:
        sample = "run seed" if twin_sample is None else str(twin_sample)
        ds = f"twin:{twin}:{size}x{size} (sample seed = {sample})"
        shape = (size, size)
        n_measured = size * size
    out = {
        "agent": agent,
        "budget": budget,
        "seeds": seeds,
        "first_seed": first_seed,
        "dataset": ds,
        "scalarizer": scalarizer,
        "patch_size": patch_size if patch_size is not None else default_patch_size(shape),
        "batch_size": batch_size,
        "candidates": n_measured,
        "measured": n_measured,
        "missing": int(shape[0] * shape[1]) - n_measured,
    }
    if factory_given:
        out["agent_options"] = "custom factory"
    elif agent in ("bma", "dkl", "gp"):
        out["acquisition"] = agent_options.get("acquisition", "topq")
        if out["acquisition"] == "topq":
            out["quantile"] = float(agent_options.get("quantile", 0.99))
        out["seed_design"] = resolve_seed_design(agent, agent_options.get("seed_design"))
    for key in (
        "top1_found_fraction",
        "steps_to_first_top1",
        "best_found_over_true_max",
        "top1_found_auc",
        "steps_to_half_top1",
    ):
        vals = [r[key] for r in per_seed]
        out[key] = {"median": _median_or_null(vals), "per_seed": vals}
    sps = [r["seconds_per_step"] for r in per_seed]
    out["seconds_per_step"] = {
        "median": float(np.median(all_steps)) if all_steps else 0.0,
        "p95": float(np.percentile(all_steps, 95)) if all_steps else 0.0,
        "per_seed": sps,
    }
    out["failures"] = {
        "total": sum(r["failures"] for r in per_seed),
        "per_seed": [r["failures"] for r in per_seed],
    }
    return out


def check_output_path(path: str | os.PathLike, inputs=(), what: str = "--json") -> Path:
    """Refuse, before any work, an output path that cannot or must not be written.

    A folder (or the path itself) that is an existing file, a path that is a
    folder, and a path that is one of ``inputs`` (the same file by any name,
    a hard link or a symlink included) each raise :class:`ConfigurationError`
    naming the path; an output must never overwrite the data it was made from.
    """
    out = Path(path)
    if out.is_dir():
        raise ConfigurationError(f"{what} {str(path)!r} is a folder; give a file name")
    for parent in out.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigurationError(
                f"{what} {str(path)!r}: {str(parent)!r} is a file, not a folder"
            )
    if out.exists():
        for source in inputs:
            if source is not None and Path(source).exists() and os.path.samefile(out, source):
                raise ConfigurationError(
                    f"{what} {str(path)!r} is the input file {str(source)!r}; "
                    "it would be overwritten"
                )
    return out


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON (with a final newline) to ``path``, making its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2) + "\n")


def add_twin_study_arguments(parser: argparse.ArgumentParser, agents: str = "dkl,gp") -> None:
    """Options of a study script that runs several agents on the same twin samples.

    ``--twin --size --scalarizer --budget --seeds --first-seed --agents --seed-design --json``;
    the scripts in ``benchmarks/`` that look into campaigns share them.
    """
    parser.add_argument("--twin", choices=("pfm", "stm"), default="pfm")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--scalarizer", default="loop_area")
    parser.add_argument("--budget", type=int, default=205)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--agents", default=agents, help=f"comma-separated (default {agents})")
    parser.add_argument(
        "--seed-design",
        choices=SEED_DESIGNS,
        default=None,
        help="seed points (default: image for dkl, spatial for gp)",
    )
    parser.add_argument("--json", default=None)


def twin_samples(
    twin: str, size: int, scalarizer: str, seeds
) -> dict[int, tuple[GroundTruth, np.ndarray]]:
    """``{seed: (ground truth, scalar map (H, W))}`` of the twin sample of every run seed."""
    out = {}
    for seed in seeds:
        truth = twin_dataset(twin, size, seed)
        out[seed] = (truth, scalar_map(truth, scalarizer))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``autoscope benchmark``."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", metavar="FILE.h5", help="recorded-dataset HDF5 file (read only)")
    src.add_argument(
        "--twin",
        choices=("pfm", "stm", "stem"),
        help="simulate ground truth with a twin (stem: the dose-aware STEM campaign, "
        "the agent against a sparse raster and random choice at the same dose)",
    )
    parser.add_argument(
        "--size", type=int, default=64, help="twin image size in pixels (default 64)"
    )
    parser.add_argument(
        "--twin-sample",
        type=int,
        default=None,
        help="fix the twin sample's seed (default: a new sample per run seed)",
    )
    parser.add_argument(
        "--scalarizer",
        default="loop_area",
        metavar="NAME[:ARGS]",
        help="loop_area, band_integral:LO:HI, peak_prominence, peak_position, adhesion "
        "(default loop_area)",
    )
    parser.add_argument("--agent", choices=AGENT_KINDS, default="bma")
    parser.add_argument(
        "--budget",
        type=int,
        default=None,
        help="measurements per run, seeds included (required but with --twin stem)",
    )
    parser.add_argument(
        "--dose-fraction",
        type=float,
        default=0.05,
        help="--twin stem: share of a full spectrum image's dose the spectra may use "
        "(default 0.05); the budget is that share of the pixels",
    )
    parser.add_argument(
        "--baselines",
        default="raster,random",
        help="--twin stem: agents run at the same dose beside --agent (default raster,random)",
    )
    parser.add_argument("--seeds", type=int, default=1, help="number of runs (seeds S..S+K-1)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        metavar="S",
        help="first run seed (default 0); another range gives held-out campaigns",
    )
    parser.add_argument("--json", metavar="OUT", help="write the results here as JSON")
    parser.add_argument(
        "--patch-size",
        type=int,
        default=None,
        help="odd patch size in pixels (default: about 1/5 of the image side, 3 to 13)",
    )
    parser.add_argument(
        "--acquisition",
        choices=ACQUISITIONS,
        default="topq",
        help="topq: expected excess over the predicted top-quantile level (default); "
        "ei: expected improvement over the best value",
    )
    parser.add_argument(
        "--quantile",
        type=float,
        default=0.99,
        help="level of topq as a quantile of the predicted map (default 0.99: the top 1 %%)",
    )
    parser.add_argument(
        "--seed-design",
        choices=SEED_DESIGNS,
        default=None,
        help="seed points spread over the image (spatial) or half of them over the kinds "
        "of structure it shows (image); default: image for dkl, spatial for gp",
    )
    parser.add_argument("--batch-size", type=int, default=1, help="points per agent step (q)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: up to 2)"
    )


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope benchmark``; prints a summary, writes JSON if asked."""
    import torch

    torch.set_num_threads(args.threads or max(1, min(2, os.cpu_count() or 1)))
    if args.json:
        check_output_path(args.json, inputs=[args.dataset])
    if args.twin == "stem":
        return _stem_benchmark(args)
    if args.budget is None:
        raise ConfigurationError("--budget is required (but with --twin stem)")
    result = run_benchmark(
        scalarizer=args.scalarizer,
        agent=args.agent,
        budget=args.budget,
        seeds=args.seeds,
        first_seed=args.first_seed,
        dataset=args.dataset,
        twin=args.twin,
        size=args.size,
        twin_sample=args.twin_sample,
        patch_size=args.patch_size,
        batch_size=args.batch_size,
        acquisition=args.acquisition,
        quantile=args.quantile,
        seed_design=args.seed_design,
    )
    if args.json:
        write_json(args.json, result)
    print(
        f"{result['agent']} on {result['dataset']}, budget {result['budget']}, "
        f"{result['seeds']} seeds from {result['first_seed']}: top1_found_fraction median "
        f"{result['top1_found_fraction']['median']:.3f}, best_found_over_true_max median "
        f"{result['best_found_over_true_max']['median']:.3f}, steps_to_first_top1 median "
        f"{result['steps_to_first_top1']['median']}, seconds_per_step median "
        f"{result['seconds_per_step']['median']:.3f} (p95 {result['seconds_per_step']['p95']:.3f})"
    )
    if result["missing"]:
        total = result["measured"] + result["missing"]
        print(
            f"grid incomplete: {result['measured']} of {total} points measured; "
            "agents choose among the measured ones"
        )
    return 0


def _stem_benchmark(args: argparse.Namespace) -> int:
    """``autoscope benchmark --twin stem``: :func:`autoscope.studies.stem_demo.
    run_stem_benchmark` with the agent and its baselines at one dose."""
    from autoscope.studies.stem_demo import run_stem_benchmark

    if args.budget is not None:
        raise ConfigurationError(
            "--twin stem spends a dose, not a budget: give --dose-fraction instead of --budget"
        )
    agents = [args.agent] + [a for a in args.baselines.split(",") if a]
    unknown = [a for a in agents if a not in AGENT_KINDS]
    if unknown:
        raise ConfigurationError(f"unknown agent {unknown[0]!r}; known: {', '.join(AGENT_KINDS)}")
    result = run_stem_benchmark(
        agents=agents,
        seeds=args.seeds,
        first_seed=args.first_seed,
        size=args.size,
        dose_fraction=args.dose_fraction,
    )
    if args.json:
        write_json(args.json, result)
    for agent, scores in result["agents"].items():
        top = scores["top1_found_fraction"]
        print(
            f"{agent} on {result['dataset']}, {result['dose_fraction']:.3g} of a spectrum "
            f"image's dose ({scores['spectra']['median']:.0f} spectra), {result['seeds']} seeds "
            f"from {result['first_seed']}: top1_found_fraction median {top['median']:.3f} "
            f"(per seed {', '.join(f'{v:.2f}' for v in top['per_seed'])})"
        )
    return 0
