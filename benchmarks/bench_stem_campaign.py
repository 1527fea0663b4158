"""Benchmark of the dose-aware STEM campaign: DKL on HAADF patches against a sparse raster.

For each seed, a nanoparticle twin (its own seeded layout of a prism, a rod and a sphere
dimer of Au on amorphous carbon, 300 kV) runs :func:`autoscope.plans.stem_campaign.
dose_aware_campaign` twice on a fresh device: once with the named agent (default DKL) and
once with ``agent="raster"`` (the same number of spectra on a sparse raster), both at the
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
import statistics
import sys
import time

import numpy as np
from bluesky import RunEngine

from autoscope.agents.scalarizers import get_scalarizer
from autoscope.devices import make_stem
from autoscope.devices.twin.stem.eels import Spectrometer, acquire
from autoscope.plans.stem_campaign import dose_aware_campaign
from autoscope.studies.benchmark import top_set

log = logging.getLogger("bench_stem_campaign")

SCALARIZER = "band_integral:1.2:3.0"
SPEC = dict(channels=256, dispersion=0.02, energy_offset=-1.0, exposure=0.01)


def truth_map(stem, positions: np.ndarray) -> np.ndarray:
    """The scalar of the noise-free spectrum at each position (nm), from the twin itself."""
    twin = stem.backend.twin
    spec = Spectrometer(
        channels=SPEC["channels"],
        dispersion=SPEC["dispersion"],
        offset=SPEC["energy_offset"],
        exposure=SPEC["exposure"],
    )
    scalar = get_scalarizer(SCALARIZER)
    out = np.empty(len(positions))
    for k, (x, y) in enumerate(positions):
        local = twin.sample.local_spectrum(x * 10.0, y * 10.0, kv=twin.probe.kv)
        expected, _ = acquire(local, spec, twin.current_pa, 0.0, None)
        out[k] = scalar(expected, spec.axis())
    return out


def run_one(seed: int, agent: str, pixels: int, fov: float, fraction: float, batch: int):
    stem = make_stem("twin", sample="nanoparticles", seed=seed)
    docs: list = []
    t0 = time.perf_counter()
    RunEngine({}, call_returns_result=False)(
        dose_aware_campaign(
            stem,
            agent=agent,
            scalarizer=SCALARIZER,
            dose_fraction=fraction,
            batch_size=batch,
            fov_nm=fov,
            pixels=pixels,
            channels=SPEC["channels"],
            dispersion=SPEC["dispersion"],
            energy_offset=SPEC["energy_offset"],
            exposure=SPEC["exposure"],
            seed=seed,
        ),
        lambda n, d: docs.append((n, d)),
    )
    wall = time.perf_counter() - t0
    dose_md = next(d for n, d in docs if n == "start" and d.get("plan_name") == "dose_map")
    h, w = dose_md["candidate_shape"]
    p = dose_md["pixel_size"]
    x0, y0 = dose_md["origin"]
    rows, cols = np.mgrid[0:h, 0:w]
    xy = np.column_stack([x0 + (cols.ravel() + 0.5) * p, y0 + (rows.ravel() + 0.5) * p])
    truth = truth_map(stem, xy)
    top = top_set(truth)
    measured = np.zeros(h * w, bool)
    measured[dose_md["measured_indices"]] = True
    return {
        "seed": seed,
        "agent": agent,
        "spectra": int(measured.sum()),
        "top1_found_fraction": float((measured & top).sum() / top.sum()),
        "n_top1": int(top.sum()),
        "electrons": stem.ledger.total_electrons,
        "wall_seconds": wall,
        "instrument_seconds": stem.backend.time(),
    }


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
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for agent in (args.agent, "raster"):
            r = run_one(seed, agent, args.pixels, args.fov, args.dose_fraction, args.batch)
            log.info(
                "seed %d %-6s: %d spectra, top-1%% found %.2f (%d), %.0f s",
                seed,
                agent,
                r["spectra"],
                r["top1_found_fraction"],
                r["n_top1"],
                r["wall_seconds"],
            )
            rows.append(r)

    def median(agent):
        return statistics.median(r["top1_found_fraction"] for r in rows if r["agent"] == agent)

    out = {
        "benchmark": "stem_campaign",
        "command": " ".join(["python", "benchmarks/bench_stem_campaign.py", *sys.argv[1:]]),
        "sample": "nanoparticles",
        "scalarizer": SCALARIZER,
        "pixels": args.pixels,
        "fov_nm": args.fov,
        "dose_fraction": args.dose_fraction,
        "batch": args.batch,
        "seeds": list(range(args.first_seed, args.first_seed + args.seeds)),
        "runs": rows,
        "median_top1_found_fraction": {args.agent: median(args.agent), "raster": median("raster")},
        "platform": platform.platform(),
    }
    print(json.dumps(out["median_top1_found_fraction"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
