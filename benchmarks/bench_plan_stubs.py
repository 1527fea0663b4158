"""Benchmark: the plans' RunEngine CPU through autoscope's plan stubs and through bluesky's.

bluesky 1.15's plan stubs (``checkpoint``, ``mv``, ``trigger_and_read`` and the five inside
it) each format the whole Python stack when called, to warn later about a plan never
iterated. :mod:`autoscope.plans.stubs` yields the same messages without that. Each case
runs a plan on a bare RunEngine (no subscribers: only the plan, the RunEngine and the
twin) twice, alternated: once as shipped ("ours") and once with bluesky's stubs put back in
:mod:`autoscope.plans.stubs`' place ("bluesky"). The figure is the process CPU of the
``RE(plan)`` call, median of ``--repeat``; the ratio is bluesky / ours; the throughput is
events (lines or spectra) per CPU second.

Cases:

- ``raster``: ``raster_image`` of the SPM twin, ``--lines`` lines of ``--pixels`` pixels;
- ``spectra``: ``spectra_at`` at ``--spectra`` positions, ``--points`` points each;
- ``stem_si``: ``spectrum_image`` of the STEM twin, ``--si-pixels`` squared, 256 channels.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_plan_stubs.py [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time

import bluesky
import bluesky.plan_stubs as bps
import numpy as np
from benchlib import machine, write_json
from bluesky import RunEngine

from autoscope.devices import make_spm, make_stem
from autoscope.plans import raster_image, spectra_at, stubs
from autoscope.plans.stem import spectrum_image

NAMES = ("checkpoint", "mv", "trigger_and_read")


@contextlib.contextmanager
def bluesky_stubs():
    """Put bluesky's stubs in the place of autoscope's (the plans call ``stubs.<name>``)."""
    ours = {n: getattr(stubs, n) for n in NAMES}
    try:
        for n in NAMES:
            setattr(stubs, n, getattr(bps, n))
        yield
    finally:
        for n, fn in ours.items():
            setattr(stubs, n, fn)


def _cases(args) -> dict:
    spm = make_spm("twin", sample="si100_h", seed=0, name="spm")
    stem = make_stem("twin", sample="nanoparticles", seed=0, name="stem")
    rng = np.random.default_rng(0)
    positions = rng.uniform(-8.0, 8.0, size=(args.spectra, 2)).tolist()
    return {
        "raster": (
            lambda: raster_image(spm, pixels=args.pixels, lines=args.lines, line_time=0.01),
            args.lines,
        ),
        "spectra": (lambda: spectra_at(spm, positions, n_points=args.points), args.spectra),
        "stem_si": (
            lambda: spectrum_image(stem, pixels=args.si_pixels, channels=256, exposure=0.001),
            args.si_pixels,
        ),
    }


def _cpu(RE, make_plan) -> float:
    t0 = time.process_time()
    RE(make_plan())
    return time.process_time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--lines", type=int, default=128)
    ap.add_argument("--pixels", type=int, default=64)
    ap.add_argument("--spectra", type=int, default=64)
    ap.add_argument("--points", type=int, default=64)
    ap.add_argument("--si-pixels", type=int, default=32)
    ap.add_argument("--only", help="comma-separated cases")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    RE = RunEngine({}, call_returns_result=True)
    cases = _cases(args)
    if args.only:
        cases = {k: v for k, v in cases.items() if k in args.only.split(",")}
    results = {}
    print(f"RunEngine CPU s, median of {args.repeat} (alternated); events per CPU s")
    print(
        f"{'case':9s} {'events':>6s} {'ours':>7s} {'bluesky':>8s} {'ratio':>6s} "
        f"{'ev/s ours':>10s} {'ev/s bluesky':>12s}"
    )
    for name, (make_plan, events) in cases.items():
        _cpu(RE, make_plan)  # warm: imports, twin caches
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(_cpu(RE, make_plan))
            with bluesky_stubs():
                theirs.append(_cpu(RE, make_plan))
        a, b = statistics.median(ours), statistics.median(theirs)
        results[name] = {
            "events": events,
            "ours_cpu_s": a,
            "bluesky_cpu_s": b,
            "ours_runs_s": ours,
            "bluesky_runs_s": theirs,
            "ratio": b / a,
            "ours_events_per_cpu_s": events / a,
            "bluesky_events_per_cpu_s": events / b,
        }
        print(
            f"{name:9s} {events:6d} {a:7.3f} {b:8.3f} {b / a:5.2f}x {events / a:10.0f} "
            f"{events / b:12.0f}"
        )
    out = {
        "benchmark": "plan_stubs",
        "params": vars(args) | {"json": None},
        "machine": machine(bluesky=bluesky.__version__),
        "results": results,
    }
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
