"""Benchmark of the STEM twin: simulated instrument time per second of computer time.

Measures (median of ``--repeats`` runs, each on a fresh twin after one warm-up line):

- ``si``: a ``--pixels`` x ``--pixels`` spectrum image (``--channels`` channels,
  ``--exposure`` s per spectrum, 1 ms read-out) through the twin backend's spectrum-image
  lines (:meth:`TwinSTEM.eels_line`: expected counts for the line at once, noise in one
  draw, dose and damage once per line), on each ``--samples`` sample;
- ``si_per_spectrum`` (baseline, ``--baseline``): the same lines one :meth:`TwinSTEM.eels_at`
  at a time, as the backend did before (a few lines only: it is slow);
- ``noise_bound``: the counting noise alone (numpy's exact Poisson draw and the read
  noise's normal draw of the same number of spectra, at the sample's expected counts): the
  most any spectrum image with that noise can reach;
- ``haadf``: a 512 x 512 HAADF frame at 2 µs dwell (issue 16 §6: ≤ 50 ms, ≥ 10x real time),
  the first at its size (maps and probe transform rendered); ``haadf_repeat``: the same frame
  scanned again with the probe unchanged (a live view).

Also run by ``python benchmarks/bench_twin.py --stem`` (issue 16 §6 names that file).

The figure of merit is the speed-up: instrument seconds the run represents divided by the
process CPU seconds it took (less sensitive than wall time to other load on a shared machine;
wall time is printed too), and the twin's spectra per CPU second against the real-time rate
of the dwell (``1 / (exposure + read-out)``). Prints a table; ``--json PATH`` writes it.

Usage::

    python benchmarks/bench_stem_twin.py [--pixels 64] [--channels 2048] [--exposure 0.01]
        [--samples nanoparticles,graphene,oxide] [--repeats 3] [--baseline]
        [--noise-threads 0] [--json out.json]
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

from autoscope.devices.stem.backend import EELSSettings, STEMScan
from autoscope.devices.stem.twin_backend import TwinSTEMBackend
from autoscope.devices.twin.stem import probe as probe_module
from autoscope.devices.twin.stem.eels import Spectrometer, acquire_many
from autoscope.devices.twin.stem.twin import STEMFrame, TwinSTEM

log = logging.getLogger("bench_stem_twin")

READOUT = 1e-3  # s per spectrum, as the twin reads out


def _si(
    sample: str,
    pixels: int,
    channels: int,
    exposure: float,
    per_spectrum: bool,
    noise_threads: int = 0,
):
    """(wall s, CPU s, instrument s, spectra) of an SI on a fresh twin after a warm-up."""
    backend = TwinSTEMBackend(sample, seed=0, noise_threads=noise_threads)
    backend.set_blanked(False)
    scan = STEMScan(fov_nm=20.0, pixels=pixels, pixel_time_us=exposure * 1e6)
    eels = EELSSettings(channels=channels, dispersion=0.25, energy_offset=-10.0, exposure=exposure)
    backend.scan_line(scan, 0, (), eels)  # warm-up: the sample's plasmon norms, shape cache
    lines = range(pixels) if not per_spectrum else range(min(pixels, 4))
    t_inst = backend.time()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in lines:
        if per_spectrum:
            x, y = scan.positions(i)
            for j in range(pixels):
                backend.eels(float(x[j]), float(y[j]), eels)
        else:
            backend.scan_line(scan, i, (), eels)
    return (
        time.perf_counter() - t0,
        time.process_time() - c0,
        backend.time() - t_inst,
        len(lines) * pixels,
    )


def _noise(sample: str, pixels: int, channels: int, exposure: float):
    """The bound the counting noise sets: the exact Poisson draw and the read noise's normal
    draw of a spectrum-image line (the expected counts of the sample's first line, taken
    once), ``pixels`` lines, nothing else: ``(wall s, CPU s, instrument s, spectra)``."""
    twin = TwinSTEM(sample, seed=0)
    spec = Spectrometer(channels=channels, dispersion=0.25, offset=-10.0, exposure=exposure)
    x = (np.arange(pixels) + 0.5) / pixels * 20.0 - 10.0
    local = twin.sample.local_spectra(x * 10.0, np.zeros(pixels), twin.probe.kv)
    lam = acquire_many(local, spec, twin.current_pa, np.zeros(pixels), None)[1] / spec.gain
    rng = np.random.default_rng(0)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(pixels):
        counts = rng.poisson(lam).astype(float)
        counts += rng.normal(0.0, spec.read_noise, lam.shape)
    return (
        time.perf_counter() - t0,
        time.process_time() - c0,
        pixels * pixels * (exposure + READOUT),
        pixels * pixels,
    )


def _haadf(size: int, repeat: bool = False):
    """A frame on a fresh twin after a 16-pixel warm-up (its render grid differs, so the
    frame renders its maps and the probe transform first); ``repeat``: the frame scanned a
    second time with the probe unchanged (a live view: the maps are rendered again only when
    an atom moved or the contamination grew)."""
    probe_module._INTENSITIES.clear()  # a cold start: no probe intensity kept from before
    twin = TwinSTEM("graphene", seed=0)
    frame = STEMFrame(fov_nm=20.0, pixels=size, dwell_us=2.0)
    twin.scan_frame(STEMFrame(fov_nm=20.0, pixels=16, dwell_us=2.0))  # warm-up
    if repeat:
        twin.scan_frame(frame)
    t_inst = twin.clock.now()
    t0, c0 = time.perf_counter(), time.process_time()
    twin.scan_frame(frame)
    return time.perf_counter() - t0, time.process_time() - c0, twin.clock.now() - t_inst, 0


def _row(name, runs):
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    inst = statistics.median(r[2] for r in runs)
    n = runs[0][3]
    row = {
        "case": name,
        "wall_s": wall,
        "cpu_s": cpu,
        "instrument_s": inst,
        "speedup_cpu": inst / cpu,
        "speedup_wall": inst / wall,
    }
    if n:
        row.update(spectra=n, spectra_per_cpu_s=n / cpu, ms_cpu_per_spectrum=1e3 * cpu / n)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pixels", type=int, default=64)
    ap.add_argument("--channels", type=int, default=2048)
    ap.add_argument("--exposure", type=float, default=0.01, help="s per spectrum")
    ap.add_argument("--samples", default="nanoparticles,graphene,oxide")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", action="store_true", help="also one eels_at per spectrum")
    ap.add_argument("--haadf", type=int, default=512, help="HAADF frame size (0: skip)")
    ap.add_argument(
        "--noise-threads",
        type=int,
        default=0,
        help="the twin's noise_threads (0: one draw; n: chunked draws on n threads); "
        "with n > 0 the wall time is the figure of merit",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = []
    for sample in args.samples.split(","):
        cases = [("si", False)] + ([("si_per_spectrum", True)] if args.baseline else [])
        for case, per in cases:
            runs = [
                _si(sample, args.pixels, args.channels, args.exposure, per, args.noise_threads)
                for _ in range(args.repeats)
            ]
            rows.append(
                {
                    **_row(f"{case}:{sample}", runs),
                    "real_time_spectra_per_s": 1 / (args.exposure + READOUT),
                }
            )
        runs = [
            _noise(sample, args.pixels, args.channels, args.exposure) for _ in range(args.repeats)
        ]
        rows.append(
            {
                **_row(f"noise_bound:{sample}", runs),
                "real_time_spectra_per_s": 1 / (args.exposure + READOUT),
            }
        )
    if args.haadf:
        rows.append(_row(f"haadf:{args.haadf}", [_haadf(args.haadf) for _ in range(args.repeats)]))
        rows.append(
            _row(
                f"haadf_repeat:{args.haadf}",
                [_haadf(args.haadf, True) for _ in range(args.repeats)],
            )
        )
    for r in rows:
        extra = (
            f", {r['spectra_per_cpu_s']:.0f} spectra/CPU s ({r['ms_cpu_per_spectrum']:.3f} ms)"
            if "spectra" in r
            else ""
        )
        log.info(
            "%-28s %.3f s CPU, %.3f s wall for %.2f s of instrument: %.1fx (CPU), %.1fx (wall)%s",
            r["case"],
            r["cpu_s"],
            r["wall_s"],
            r["instrument_s"],
            r["speedup_cpu"],
            r["speedup_wall"],
            extra,
        )
    out = {
        "benchmark": "stem_twin",
        "command": " ".join(["python", "benchmarks/bench_stem_twin.py", *sys.argv[1:]]),
        "pixels": args.pixels,
        "channels": args.channels,
        "exposure_s": args.exposure,
        "readout_s": READOUT,
        "repeats": args.repeats,
        "noise_threads": args.noise_threads,
        "rows": rows,
        "platform": platform.platform(),
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
