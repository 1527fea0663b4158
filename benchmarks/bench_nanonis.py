"""Overhead of the Nanonis TCP path per scan line and per spectrum, against the twin direct.

Both paths run the same twin (same seed, same order of calls); the TCP path is
NanonisSPM -> loopback socket -> FakeNanonis -> twin, so the difference of the
medians is what the wire format, the client, the polling of a line and the
fake's decoding cost. A real line takes 0.5-3 s; the overhead should be far below.

Usage::

    python benchmarks/bench_nanonis.py --pixels 256 --lines 32 --spectra 20 --points 200 \\
        --json benchmarks/results/bench_nanonis.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time

from autoscope.devices.backend import ScanFrame, SpectroscopySettings
from autoscope.devices.nanonis.backend import NanonisSPM
from autoscope.devices.nanonis.fake import FakeNanonis
from autoscope.devices.twin import TwinSPM

log = logging.getLogger("bench_nanonis")


def _timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def run(pixels: int, lines: int, spectra: int, points: int, seed: int) -> dict:
    frame = ScanFrame(width=20.0, height=20.0, pixels=pixels, lines=lines, line_time=0.5)
    settings = SpectroscopySettings(points=points)
    direct = TwinSPM("si100_h", seed=seed)
    line_direct = _timed(lambda i: direct.scan_line(frame, i), lines)
    spec_direct = _timed(lambda i: direct.spectrum(0.1 * i, 0.0, settings), spectra)
    with FakeNanonis(TwinSPM("si100_h", seed=seed)) as fake:
        backend = NanonisSPM(fake.host, fake.port, poll_interval=0.0)
        try:
            backend.get_bias()  # connect outside the timing
            line_tcp = _timed(lambda i: backend.scan_line(frame, i), lines)
            spec_tcp = _timed(lambda i: backend.spectrum(0.1 * i, 0.0, settings), spectra)
        finally:
            backend.close()

    def med_ms(xs):
        return 1e3 * statistics.median(xs)

    return {
        "benchmark": "nanonis_tcp_overhead",
        "params": {
            "pixels": pixels,
            "lines": lines,
            "spectra": spectra,
            "points": points,
            "seed": seed,
        },
        "line_ms": {"twin_direct": med_ms(line_direct), "tcp_fake": med_ms(line_tcp)},
        "spectrum_ms": {"twin_direct": med_ms(spec_direct), "tcp_fake": med_ms(spec_tcp)},
        # the fake scans ahead of the client (one line per request it answers), so a
        # line's median hides twin work done during earlier lines: the mean over the
        # whole frame is the fair figure per line
        "frame_ms": {"twin_direct": 1e3 * sum(line_direct), "tcp_fake": 1e3 * sum(line_tcp)},
        "overhead_ms": {
            "per_line_mean_over_frame": 1e3 * (sum(line_tcp) - sum(line_direct)) / lines,
            "per_line_median": med_ms(line_tcp) - med_ms(line_direct),
            "per_spectrum": med_ms(spec_tcp) - med_ms(spec_direct),
        },
        "statistic": "median",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pixels", type=int, default=256)
    p.add_argument("--lines", type=int, default=32)
    p.add_argument("--spectra", type=int, default=20)
    p.add_argument("--points", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the result here")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run(a.pixels, a.lines, a.spectra, a.points, a.seed)
    text = json.dumps(result, indent=2)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    log.info("%s", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
