"""Is the evidence-weighted agent never worse than the simple one? Four families, held-out seeds.

For each target family and budget (a share of the grid), every agent runs the
same campaigns (:func:`autoscope.studies.benchmark.run_seed`: same ground
truth, same seeds, seed points counted against the budget) on run seeds that
were never used for tuning (default 300 onwards; seeds 0-9 and 100-129 served
for tuning in earlier sessions). The families:

- ``pfm``: the PFM twin, ``loop_area`` (a hidden smooth field decides the top set);
- ``stm``: the STM twin, the dangling-bond state ``band_integral:-0.5:-0.2``
  (the image decides);
- ``decoy``: the STM twin's spectra of sample ``s`` with the overview image of
  sample ``s + 10007``, so the image says nothing about the property;
- ``real``: a recorded-dataset file (``--real FILE``, HDF5 of DESIGN.md:
  an image with a spectrum at every pixel, measured by someone else) with
  ``--real-scalarizer``; the same file for every seed (the seed changes the
  agents' seed points and networks).

Per family, budget and agent it reports the median and per-seed
``top1_found_auc`` and ``top1_found_fraction``, the seeds that ended below
half of the top set, and seconds per step; then the targets of issue 15:

- the new agent's median ``top1_found_auc`` is at least the better of DKL's
  and the GP's minus 0.02;
- it ends below half of the top set on no more seeds than the better of the two;
- on the decoy, its median ``top1_found_auc`` is at least the GP's.

The JSON is rewritten after every campaign, so a long run that is stopped
keeps what it measured.

Usage (the full study; ``--seeds 3 --size 32`` for a quick reduced one)::

    python benchmarks/bench_agent_families.py --families pfm,stm,decoy --size 64 \\
        --budgets 0.02,0.05 --seeds 30 --first-seed 300 --agents bma,dkl,gp,random \\
        --json agent_families.json
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time

import numpy as np
import torch

from autoscope.errors import ConfigurationError
from autoscope.studies.benchmark import default_factory, run_seed, write_json
from autoscope.studies.groundtruth import GroundTruth, load_recorded, scalar_map, twin_dataset

__all__ = ["FAMILIES", "family_truth", "main", "run_study", "targets"]

log = logging.getLogger(__name__)

FAMILIES = ("pfm", "stm", "decoy", "real")
STM_SCALARIZER = "band_integral:-0.5:-0.2"
DECOY_OFFSET = 10007


def family_truth(
    family: str,
    size: int,
    seed: int,
    real: str | None = None,
    real_scalarizer: str | None = None,
) -> tuple[GroundTruth, np.ndarray]:
    """Ground truth and scalar map ``(H, W)`` of ``family`` for run seed ``seed``."""
    if family == "pfm":
        truth = twin_dataset("pfm", size, seed)
        return truth, scalar_map(truth, "loop_area")
    if family == "stm":
        truth = twin_dataset("stm", size, seed)
        return truth, scalar_map(truth, STM_SCALARIZER)
    if family == "decoy":
        truth = twin_dataset("stm", size, seed)
        other = twin_dataset("stm", size, seed + DECOY_OFFSET)
        decoy = dataclasses.replace(
            truth, image=other.image, source=f"{truth.source} with the image of {other.source}"
        )
        return decoy, scalar_map(truth, STM_SCALARIZER)
    if family == "real":
        if real is None or real_scalarizer is None:
            raise ConfigurationError("the real family needs --real FILE and --real-scalarizer")
        truth = load_recorded(real)
        return truth, scalar_map(truth, real_scalarizer)
    raise ConfigurationError(f"unknown target family {family!r}; known: {', '.join(FAMILIES)}")


def _summary(rows: list[dict]) -> dict:
    auc = [r["top1_found_auc"] for r in rows]
    found = [r["top1_found_fraction"] for r in rows]
    return {
        "seeds": len(rows),
        "top1_found_auc": {"median": float(np.median(auc)), "per_seed": auc},
        "top1_found_fraction": {"median": float(np.median(found)), "per_seed": found},
        "below_half": int(sum(f < 0.5 for f in found)),
        "seconds_per_step": float(np.median([r["seconds_per_step"] for r in rows])),
    }


def targets(summary: dict, family: str, new: str = "bma") -> dict | None:
    """Issue 15's targets for one family and budget (None when an agent is missing)."""
    if not all(k in summary for k in (new, "dkl", "gp")):
        return None
    med = {k: summary[k]["top1_found_auc"]["median"] for k in (new, "dkl", "gp")}
    half = {k: summary[k]["below_half"] for k in (new, "dkl", "gp")}
    out = {
        "auc_at_least_better_minus_0.02": med[new] >= max(med["dkl"], med["gp"]) - 0.02,
        "below_half_at_most_the_better": half[new] <= min(half["dkl"], half["gp"]),
    }
    if family == "decoy":
        out["decoy_at_least_the_gp"] = med[new] >= med["gp"]
    return out


def run_study(
    families: list[str],
    budgets: list[float],
    agents: list[str],
    seeds: int,
    first_seed: int,
    size: int,
    real: str | None = None,
    real_scalarizer: str | None = None,
    json_path: str | None = None,
) -> dict:
    """Run every family x budget x agent x seed; return (and keep writing) the results."""
    out: dict = {
        "size": size,
        "seeds": list(range(first_seed, first_seed + seeds)),
        "budgets": budgets,
        "agents": agents,
        "families": {},
    }
    for family in families:
        fam: dict = {}
        out["families"][family] = fam
        for share in budgets:
            rows: dict[str, list[dict]] = {a: [] for a in agents}
            for seed in range(first_seed, first_seed + seeds):
                truth, values = family_truth(family, size, seed, real, real_scalarizer)
                n = int(truth.measured_mask.sum())
                budget = max(5, int(round(share * n)))
                for agent in agents:
                    t0 = time.perf_counter()
                    res = run_seed(truth, values, default_factory(agent), budget, seed)
                    res.pop("_measured")
                    res.pop("_step_seconds")
                    rows[agent].append(res)
                    log.info(
                        "%s %.0f%% %s seed %d: auc %.3f found %.2f (%.0f s)",
                        family,
                        100 * share,
                        agent,
                        seed,
                        res["top1_found_auc"],
                        res["top1_found_fraction"],
                        time.perf_counter() - t0,
                    )
                summary = {a: _summary(r) for a, r in rows.items() if r}
                fam[f"{share:g}"] = {
                    "budget": budget,
                    "candidates": n,
                    "agents": summary,
                    "targets": targets(summary, family),
                }
                if json_path:
                    write_json(json_path, out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", default="pfm,stm,decoy", help=f"of {', '.join(FAMILIES)}")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--budgets", default="0.02,0.05", help="shares of the grid")
    p.add_argument("--agents", default="bma,dkl,gp,random")
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--first-seed", type=int, default=300, help="held-out seeds start here")
    p.add_argument("--real", default=None, metavar="FILE.h5", help="recorded dataset (real)")
    p.add_argument("--real-scalarizer", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    result = run_study(
        families=args.families.split(","),
        budgets=[float(b) for b in args.budgets.split(",")],
        agents=args.agents.split(","),
        seeds=args.seeds,
        first_seed=args.first_seed,
        size=args.size,
        real=args.real,
        real_scalarizer=args.real_scalarizer,
        json_path=args.json,
    )
    for family, per_budget in result["families"].items():
        for share, block in per_budget.items():
            cells = "  ".join(
                f"{a}: auc {s['top1_found_auc']['median']:.3f} <half {s['below_half']}"
                for a, s in block["agents"].items()
            )
            print(f"{family} {float(share):.0%} (budget {block['budget']}): {cells}")
            print(f"    targets: {block['targets']}")
    return 0
