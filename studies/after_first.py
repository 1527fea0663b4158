"""Where do the agents measure once they have found the first top-1 % location?

Runs each agent's campaign on the same twin samples (as ``autoscope benchmark``
does) and follows its measurements from the first one that lands in the top-1 %
set. Each of the next ``--window`` measurements counts as *near* when it is
within ``--radius`` pixels (Chebyshev distance) of a top-1 % location found so
far, else as *far*. Per agent it reports how many measurements went near and
far, how many of each hit the top set, the percentile (0-1, over the grid) of
the true value at the far ones, how many of the far ones the model predicted
in its own top set (posterior mean above the ``topq`` level: the model
expected a hit there, rather than exploring its uncertainty), and the
measurements from the first find to half of the set.

This explains a tie-break: when two agents both measure the whole top set, the
one that spends fewer measurements away from the island it has found fills it
sooner (higher ``top1_found_auc``).

Usage::

    python benchmarks/bench_agent_after_first.py --twin pfm --size 64 --budget 205 \\
        --seeds 10 --agents dkl,gp --json benchmarks/results/agent_after_first.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

import numpy as np
import torch

from autoscope.agents.acquisition import top_level
from autoscope.studies.benchmark import (
    add_twin_study_arguments,
    default_factory,
    run_seed,
    top_set,
    twin_samples,
    write_json,
)


def follow(
    order: list[int],
    first: int | None,
    values: np.ndarray,
    width: int,
    window: int,
    radius: int,
    predicted_top: dict[int, bool] | None = None,
) -> dict | None:
    """Near/far counts of the ``window`` measurements after the first top-1 % find.

    ``order`` is the measured candidates in order and ``first`` the number of
    the measurement that found the first top location (both from
    :func:`run_seed`: ``_measured`` and ``steps_to_first_top1``); ``None``
    when there was no find. ``predicted_top`` maps a measured candidate to
    whether the model that chose it predicted it in its top set (absent: the
    step had no model).
    """
    if first is None:
        return None
    predicted_top = predicted_top or {}
    top = top_set(values)
    rank = values.argsort().argsort() / max(len(values) - 1, 1)
    seen = [divmod(order[first - 1], width)]
    near = far = near_hits = far_hits = far_predicted = 0
    far_pct: list[float] = []
    for i in order[first : first + window]:
        y, x = divmod(i, width)
        is_near = any(max(abs(y - fy), abs(x - fx)) <= radius for fy, fx in seen)
        if is_near:
            near += 1
            near_hits += bool(top[i])
        else:
            far += 1
            far_hits += bool(top[i])
            far_predicted += bool(predicted_top.get(i, False))
            far_pct.append(float(rank[i]))
        if top[i]:
            seen.append((y, x))
    return {
        "near": near,
        "near_hits": near_hits,
        "far": far,
        "far_hits": far_hits,
        "far_predicted_top": far_predicted,
        "far_percentiles": far_pct,
    }


def predicted_top_recorder() -> tuple[dict[int, bool], Callable]:
    """``(record, observe)``: ``observe`` for :func:`run_seed` fills ``record``.

    For each candidate a model chose: was its posterior mean above the
    ``topq`` level of that step (the agent's ``quantile`` of the predicted map,
    raised to the measured values' as the acquisition does)?
    """
    record: dict[int, bool] = {}

    def observe(agent, indices) -> None:
        rep = agent.report()
        if rep["source"] != "model":
            return
        mean = rep["mean"].ravel()
        level = top_level(mean, agent.quantile, agent.observations()[1])
        for i in np.asarray(indices).tolist():
            record[int(i)] = bool(mean[i] > level)

    return record, observe


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_twin_study_arguments(p)
    p.add_argument("--window", type=int, default=40, help="measurements followed after the find")
    p.add_argument("--radius", type=int, default=4, help="pixels that count as near a find")
    args = p.parse_args(argv)
    for name in ("window", "radius", "seeds"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    torch.set_num_threads(1)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    data = twin_samples(args.twin, args.size, args.scalarizer, seeds)
    out = {
        "budget": args.budget,
        "dataset": f"twin:{args.twin}:{args.size}",
        "seeds": list(seeds),
        "window": args.window,
        "radius": args.radius,
        "agents": {},
    }
    for agent in args.agents.split(","):
        rows = []
        for seed, (truth, values) in data.items():
            record, observe = predicted_top_recorder()
            r = run_seed(
                truth,
                values,
                default_factory(agent, seed_design=args.seed_design),
                args.budget,
                seed,
                observe=observe,
            )
            first, half = r["steps_to_first_top1"], r["steps_to_half_top1"]
            counts = follow(
                r["_measured"],
                first,
                values.ravel(),
                values.shape[1],
                args.window,
                args.radius,
                record,
            )
            row = {
                "first": first,
                "half": half,
                "first_to_half": None if half is None else half - first,
                **(counts or {}),
                "seed": seed,
                "top1_found_auc": r["top1_found_auc"],
            }
            rows.append(row)
            shown = {k: v for k, v in row.items() if k != "far_percentiles"}
            print(f"{agent:<6} seed {seed:>4}: {json.dumps(shown)}", flush=True)
        ok = [r for r in rows if r["first"] is not None]
        near, far = sum(r["near"] for r in ok), sum(r["far"] for r in ok)
        pct = [q for r in ok for q in r["far_percentiles"]]
        gaps = [r["first_to_half"] for r in ok if r["first_to_half"] is not None]
        total = {
            "seeds_with_a_find": len(ok),
            "near": near,
            "near_hits": sum(r["near_hits"] for r in ok),
            "far": far,
            "far_hits": sum(r["far_hits"] for r in ok),
            "far_predicted_top": sum(r["far_predicted_top"] for r in ok),
            "far_share": far / max(near + far, 1),
            "far_percentile_median": float(np.median(pct)) if pct else None,
            "first_to_half_median": float(np.median(gaps)) if gaps else None,
        }
        out["agents"][agent] = {"per_seed": rows, "total": total}
        print(
            f"{agent}: after the first find, {far} of {near + far} measurements far "
            f"({total['far_share']:.0%}, {total['far_hits']} hits, "
            f"{total['far_predicted_top']} predicted in the top set; median true value of the "
            f"far ones at percentile {_fmt(total['far_percentile_median'])}), {near} near "
            f"({total['near_hits']} hits); first find to half the set: median "
            f"{_fmt(total['first_to_half_median'], 'g')} measurements",
            flush=True,
        )
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
