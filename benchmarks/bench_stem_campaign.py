"""Benchmark of the dose-aware STEM campaign: DKL on HAADF patches against a sparse raster.

For each seed, a nanoparticle twin (its own seeded layout of a prism, a rod and a sphere
dimer of Au on amorphous carbon, 300 kV) runs :func:`autoscope.plans.stem_campaign.
dose_aware_campaign` twice on a fresh device
(:func:`autoscope.studies.stem_demo.run_stem_benchmark`): once with the named agent (default
DKL) and once with ``agent="raster"`` (the same number of spectra on a sparse raster), both at the
same ``dose_fraction`` of a full spectrum image's dose. The score is the share of the true
top-1 % pixels measured (``top1_found_fraction``), where the true map is the scalar of the
*noise-free* spectrum the twin gives at every candidate pixel (the twin's hidden truth,
which benchmarks may read and agents may not).

Usage::

    python benchmarks/bench_stem_campaign.py [--seeds 3] [--first-seed 0] [--pixels 64]
        [--dose-fraction 0.05] [--agent dkl] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys

from autoscope.studies.stem_demo import run_stem_benchmark


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--pixels", type=int, default=64)
    ap.add_argument("--fov", type=float, default=64.0, help="field of view, nm")
    ap.add_argument("--dose-fraction", type=float, default=0.05)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--agent", default="dkl")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("autoscope").setLevel(logging.WARNING)
    logging.getLogger("autoscope.studies.stem_demo").setLevel(logging.INFO)  # a line per run
    out = run_stem_benchmark(
        agents=(args.agent, "raster"),
        seeds=args.seeds,
        first_seed=args.first_seed,
        size=args.pixels,
        dose_fraction=args.dose_fraction,
        batch_size=args.batch,
        fov_nm=args.fov,
    )
    out["command"] = " ".join(["python", "benchmarks/bench_stem_campaign.py", *sys.argv[1:]])
    out["platform"] = platform.platform()
    print(json.dumps({a: v["top1_found_fraction"]["median"] for a, v in out["agents"].items()}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
