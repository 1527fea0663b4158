"""Benchmark of the SPM twin: simulated instrument time per wall-clock second.

Measures (median of ``--repeats`` runs):

- imaging: one 512 x 512 STM frame (trace + retrace) with every effect on --
  drift with wander, creep after a frame move, hysteresis, PI feedback,
  white + 1/f + mains noise, spontaneous tip changes, a multi-apex tip;
- imaging_pfm: the same for a PFM frame (height, amplitude, phase);
- grid_stm / grid_pfm: a 64 x 64 grid of 200-point spectra (STM I/dIdV,
  PFM BE-SS loops) through ``TwinSPM.spectra_at``;
- dataset_pfm / dataset_stm: ``make_dataset`` at the grid size (96-point
  loops, 128-point dI/dV), image plus a spectrum at every pixel.

The figure of merit is the speed-up: instrument seconds the run represents
divided by wall seconds it took (and, less sensitive to other load on the
machine, divided by the process CPU seconds). Prints a table and, with ``--json PATH``,
writes the numbers.

Usage::

    python benchmarks/bench_twin.py [--repeats 3] [--size 512] [--grid 64] [--json out.json]

``--stem``: the STEM twin instead (issue 16 §6: a 512 x 512 HAADF frame, a 64 x 64 spectrum
image), with the options of ``benchmarks/bench_stem_twin.py``::

    python benchmarks/bench_twin.py --stem [--pixels 64] [--haadf 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time

import numpy as np
from benchlib import machine, write_json

from autoscope.devices.backend import ScanFrame, SpectroscopySettings
from autoscope.devices.twin import TwinSPM, make_dataset, make_tip

log = logging.getLogger("bench_twin")


def _frame_run(sample: str, size: int, seed: int) -> tuple[float, float, float]:
    tw = TwinSPM(
        sample,
        seed=seed,
        drift=0.02,
        drift_wander=0.2,
        creep=0.015,
        hysteresis=0.05,
        noise=1.0,
        tip_change_rate=1 / 120.0,
        tip=make_tip(
            "multi", "stm" if sample != "pfm_film" else "pfm", np.random.default_rng(seed)
        ),
    )
    ext = tw.sample.default_extent
    frame = ScanFrame(
        center_x=ext / 2,
        center_y=ext / 3,
        width=ext,
        height=ext,
        pixels=size,
        lines=size,
        line_time=1.0,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    tw.scan_frame(frame)
    return time.perf_counter() - t0, time.process_time() - c0, tw.time()


def _grid_run(sample: str, grid: int, points: int, seed: int) -> tuple[float, float, float]:
    tw = TwinSPM(sample, seed=seed, tip_change_rate=1 / 600.0)
    ext = tw.sample.default_extent
    g = (np.arange(grid) + 0.5) / grid * ext - ext / 2
    x, y = np.meshgrid(g, g)
    if sample == "pfm_film":
        s = SpectroscopySettings(start=-2.5, stop=2.5, points=points)
    else:
        s = SpectroscopySettings(start=-1.5, stop=1.5, points=points)
    t0, c0 = time.perf_counter(), time.process_time()
    tw.spectra_at(x.ravel(), y.ravel(), s)
    return time.perf_counter() - t0, time.process_time() - c0, tw.time()


def _dataset_run(kind: str, grid: int, seed: int) -> tuple[float, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    d = make_dataset(kind, size=grid, seed=seed, points=96 if kind == "pfm" else 128)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # instrument time it stands for: the image (2 x 0.5 s per line) plus every spectrum
    n = grid * grid
    k = d["spectra"].shape[-1]
    per = k * 0.012 * (1 if kind == "pfm" else 2) + 0.05
    return wall, cpu, grid * 1.0 + n * per


def _measure(fn, repeats: int) -> dict:
    walls, cpus, insts = [], [], []
    for r in range(repeats):
        wall, cpu, inst = fn(r)
        walls.append(wall)
        cpus.append(cpu)
        insts.append(inst)
    wall = statistics.median(walls)
    cpu = statistics.median(cpus)
    inst = statistics.median(insts)
    return {
        "wall_s": wall,
        "wall_runs_s": walls,
        "cpu_s": cpu,
        "instrument_s": inst,
        "speedup": inst / wall,
        "speedup_cpu": inst / cpu,
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--stem" in argv:  # the STEM twin's cases (issue 16 §6) live in bench_stem_twin.py
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench_stem_twin

        return bench_stem_twin.main([a for a in argv if a != "--stem"])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=512, help="frame pixels and lines")
    ap.add_argument("--grid", type=int, default=64, help="grid points per side")
    ap.add_argument("--points", type=int, default=200, help="points per spectrum")
    ap.add_argument("--json", help="write results to this JSON file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    cases = {
        "imaging_stm": lambda r: _frame_run("si100_h", args.size, r),
        "imaging_pfm": lambda r: _frame_run("pfm_film", args.size, r),
        "grid_stm": lambda r: _grid_run("si100_h", args.grid, args.points, r),
        "grid_pfm": lambda r: _grid_run("pfm_film", args.grid, args.points, r),
        "dataset_pfm": lambda r: _dataset_run("pfm", args.grid, r),
        "dataset_stm": lambda r: _dataset_run("stm", args.grid, r),
    }
    results = {}
    for name, fn in cases.items():
        results[name] = _measure(fn, args.repeats)
        res = results[name]
        print(
            f"{name:12s} wall {res['wall_s']:7.2f} s  cpu {res['cpu_s']:7.2f} s  "
            f"instrument {res['instrument_s']:9.1f} s  speed-up {res['speedup']:7.0f}x "
            f"(per cpu-s {res['speedup_cpu']:7.0f}x)"
        )
    out = {
        "benchmark": "twin",
        "params": vars(args) | {"json": None},
        "machine": machine(numpy=np.__version__),
        "results": results,
    }
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
