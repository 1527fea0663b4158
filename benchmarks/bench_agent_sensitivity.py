"""How much does one campaign's outcome move when the data move by a hair?

Runs the benchmark's campaigns twice on the same twin samples: once on the
scalar map as simulated, once with every value multiplied by
``1 + eps * N(0, 1)`` (seeded per run seed, default eps = 1e-6, far below the
twin's measurement noise). An agent whose per-seed figures change a lot under
such a perturbation cannot be judged on a handful of seeds: compare it on many
(``autoscope benchmark --seeds K --first-seed S``).

Usage::

    python benchmarks/bench_agent_sensitivity.py --twin pfm --size 64 --budget 205 \\
        --seeds 10 --agents dkl,gp --json benchmarks/results/agent_sensitivity.json

Prints, per agent and seed, ``top1_found_fraction`` and ``top1_found_auc``
without and with the perturbation, and the largest change of each.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from autoscope.studies.benchmark import (
    add_twin_study_arguments,
    default_factory,
    run_seed,
    twin_samples,
    write_json,
)

KEYS = ("top1_found_fraction", "top1_found_auc", "steps_to_first_top1")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_twin_study_arguments(p)
    p.add_argument("--eps", type=float, default=1e-6, help="relative size of the perturbation")
    args = p.parse_args(argv)
    if not args.eps > 0:
        p.error(f"--eps must be > 0, got {args.eps}")
    torch.set_num_threads(1)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    data = {}
    for seed, (truth, values) in twin_samples(args.twin, args.size, args.scalarizer, seeds).items():
        noise = np.random.default_rng(1000 + seed).standard_normal(values.shape)
        data[seed] = (truth, values, values * (1 + args.eps * noise))
    out = {"eps": args.eps, "budget": args.budget, "dataset": f"twin:{args.twin}:{args.size}"}
    for agent in args.agents.split(","):
        rows = []
        for seed, (truth, values, perturbed) in data.items():
            row = {"seed": seed}
            for label, v in (("as_simulated", values), ("perturbed", perturbed)):
                r = run_seed(
                    truth,
                    v,
                    default_factory(agent, seed_design=args.seed_design),
                    args.budget,
                    seed,
                )
                row[label] = {k: r[k] for k in KEYS}
            rows.append(row)
            a, b = row["as_simulated"], row["perturbed"]
            print(
                f"{agent:<6} seed {seed:>4}: top1 {a['top1_found_fraction']:.2f} -> "
                f"{b['top1_found_fraction']:.2f}, auc {a['top1_found_auc']:.2f} -> "
                f"{b['top1_found_auc']:.2f}",
                flush=True,
            )
        changes = {
            k: max(abs(r["as_simulated"][k] - r["perturbed"][k]) for r in rows)
            for k in ("top1_found_fraction", "top1_found_auc")
        }
        moved = sum(r["as_simulated"] != r["perturbed"] for r in rows)
        print(
            f"{agent}: {moved} of {len(rows)} campaigns changed; largest change of "
            f"top1_found_fraction {changes['top1_found_fraction']:.2f}, "
            f"of top1_found_auc {changes['top1_found_auc']:.2f}"
        )
        out[agent] = {"per_seed": rows, "largest_change": changes, "campaigns_changed": moved}
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
