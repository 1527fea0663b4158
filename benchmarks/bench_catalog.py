"""Benchmark: scan lines and frames into the embedded catalog, beside h5py on local disk.

Every scan line is one event, written as it is measured: 512 px, float32,
trace and retrace of two channels (4 arrays, 8 KiB a line). Frames are
256 x 256 float32 of two channels (512 KiB an event). Both go through a real
RunEngine and autoscope's CatalogWriter (bluesky_tiled_plugins.TiledWriter on
a background thread) to the embedded Tiled server, a real process on
127.0.0.1. The baseline writes the same arrays with h5py to a local file from
a RunEngine callback (resizable chunked datasets, one append and flush per
event).

Figures per scenario (medians over ``--repeat`` repetitions):

- callback p50/p95: time the RunEngine spends in the callback per event
  (what holds a scan line back);
- durable p50/p95 (catalog only): from the callback call until the event is
  written to Tiled (readable by any client);
- events/s and MB/s: events flat out, from the first event until the run
  is complete (the catalog's stop waits for every write);
- server CPU s (catalog sinks): CPU time the catalog server process spent on
  the scenario, per run (spectra) or per line: what bounds a campaign of short
  runs, and less sensitive to the machine's load than wall time;
- the ratios catalog/h5py (and routes/h5py).

Sinks: ``catalog`` is autoscope's writer as the profile makes it: each run's
queued documents in one request to the embedded server's
``/api/v1/autoscope/documents`` endpoint (:mod:`autoscope.catalog.ingest`);
``routes`` is the same writer through Tiled's own routes only (``direct=False``:
one request per array key and one table append per batch, one per node
created), what a plain ``tiled serve`` gets; ``h5py`` is the baseline.

Scenarios: ``lines`` (4 keys of 512 px a line), ``lines2`` (the same bytes
as 2 keys of shape (2, 512), trace and retrace stacked per channel) and
``frames`` run flat out (throughput); ``paced`` emits a 4-key line every
``--period`` s (default 0.5 s, an STM line), ``paced_fast`` every
``--fast-period`` s (0.05 s, a fast AFM); ``raster128`` is a 128 x 128 image
(4 keys of 128 px a line) flat out, whose figure is the wait at its end (the
stop document waits until the run is in the catalog); ``spectra`` is one run
per spectrum (256 points, bias axis and current, float32), one every
``--spectrum-period`` s (1 s), as a grid or a campaign measures them.

The durable lag is also given in lines (lag / line period): below 1 means
the catalog holds every line before the next one is measured.

    python benchmarks/bench_catalog.py [--repeat 3] [--json results.json]
        [--sinks catalog,routes,h5py] [--only lines,raster128,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import h5py
import numpy as np
from bluesky import RunEngine

from autoscope.catalog import connect, ensure_server, make_writer, stop_server
from autoscope.catalog.paths import read_server_file

CHANNELS = {"topo": "nm", "current": "pA"}
KINDS = ("lines", "lines2", "frames", "paced", "paced_fast", "raster128", "spectra")


class LineSource:
    """Readable: one scan line per read, trace and retrace of two channels (seeded)."""

    def __init__(self, width: int, n_distinct: int = 64, seed: int = 0, name: str = "spm"):
        self.name = name
        self.parent = None
        self.width = width
        rng = np.random.default_rng(seed)
        keys = [f"{name}_{ch}_{d}" for ch in CHANNELS for d in ("trace", "retrace")]
        self._lines = [
            {k: rng.normal(size=width).astype(np.float32) for k in keys} for _ in range(n_distinct)
        ]
        self._i = 0

    def describe(self):
        return {
            f"{self.name}_{ch}_{d}": {
                "source": f"bench://{self.name}/{ch}/{d}",
                "dtype": "array",
                "dtype_numpy": "<f4",
                "shape": [self.width],
                "units": units,
            }
            for ch, units in CHANNELS.items()
            for d in ("trace", "retrace")
        }

    def read(self):
        line = self._lines[self._i % len(self._lines)]
        self._i += 1
        now = time.time()
        return {k: {"value": v, "timestamp": now} for k, v in line.items()}


class StackedLineSource(LineSource):
    """The lines of :class:`LineSource`, one key per channel: shape (2, width), trace, retrace."""

    def __init__(self, width: int, n_distinct: int = 64, seed: int = 0, name: str = "spm"):
        super().__init__(width, n_distinct, seed, name)
        self._lines = [
            {
                f"{name}_{ch}": np.stack([line[f"{name}_{ch}_trace"], line[f"{name}_{ch}_retrace"]])
                for ch in CHANNELS
            }
            for line in self._lines
        ]

    def describe(self):
        return {
            f"{self.name}_{ch}": {
                "source": f"bench://{self.name}/{ch}",
                "dtype": "array",
                "dtype_numpy": "<f4",
                "shape": [2, self.width],
                "dims": ["direction", "x"],
                "units": units,
            }
            for ch, units in CHANNELS.items()
        }


class FrameSource(LineSource):
    """Readable: one frame (size x size, float32) of two channels per read."""

    def __init__(self, size: int, n_distinct: int = 4, seed: int = 1, name: str = "stem"):
        self.name = name
        self.parent = None
        self.size = size
        rng = np.random.default_rng(seed)
        self._lines = [
            {f"{name}_{ch}": rng.normal(size=(size, size)).astype(np.float32) for ch in CHANNELS}
            for _ in range(n_distinct)
        ]
        self._i = 0

    def describe(self):
        return {
            f"{self.name}_{ch}": {
                "source": f"bench://{self.name}/{ch}",
                "dtype": "array",
                "dtype_numpy": "<f4",
                "shape": [self.size, self.size],
                "units": units,
            }
            for ch, units in CHANNELS.items()
        }


def event_bytes(source) -> int:
    """Bytes of array data in one event of ``source``."""
    return sum(v["value"].nbytes for v in source.read().values())


class SpectrumSource(LineSource):
    """Readable: one spectrum per read (bias axis and current, 256 float32 points)."""

    def __init__(self, points: int = 256, seed: int = 2, name: str = "sts"):
        self.name = name
        self.parent = None
        self.points = points
        rng = np.random.default_rng(seed)
        bias = np.linspace(-1, 1, points, dtype=np.float32)
        self._lines = [
            {f"{name}_bias": bias, f"{name}_current": rng.normal(size=points).astype(np.float32)}
            for _ in range(8)
        ]
        self._i = 0

    def describe(self):
        return {
            f"{self.name}_{k}": {
                "source": f"bench://{self.name}/{k}",
                "dtype": "array",
                "dtype_numpy": "<f4",
                "shape": [self.points],
                "units": u,
            }
            for k, u in (("bias", "V"), ("current", "pA"))
        }


def spectra_plan(source, n: int, period: float):
    """``n`` runs of one spectrum each, ``period`` s apart (a campaign's spectra)."""
    for _ in range(n):

        @bpp.run_decorator(md={"plan_name": "bench_spectrum"})
        def one():
            yield from bps.trigger_and_read([source])

        yield from one()
        yield from bps.sleep(period)


def scan_plan(source, n: int, period: float):
    """``n`` events of ``source``; ``period`` s between them (0: flat out)."""

    @bpp.run_decorator(md={"plan_name": "bench_catalog"})
    def inner():
        for _ in range(n):
            yield from bps.trigger_and_read([source])
            if period:
                yield from bps.sleep(period)

    return (yield from inner())


class H5Writer:
    """RunEngine callback: append each event's arrays to resizable HDF5 datasets, flush."""

    def __init__(self, path: Path):
        self.path = path
        self.file = None
        self.datasets = {}

    def __call__(self, name, doc):
        if name == "start":
            self.file = h5py.File(self.path, "w")
        elif name == "descriptor":
            for key, dk in doc["data_keys"].items():
                shape = tuple(dk["shape"])
                self.datasets[key] = self.file.create_dataset(
                    key, shape=(0, *shape), maxshape=(None, *shape), dtype=dk["dtype_numpy"],
                    chunks=(1, *shape),
                )  # fmt: skip
        elif name == "event":
            for key, value in doc["data"].items():
                ds = self.datasets[key]
                ds.resize(ds.shape[0] + 1, axis=0)
                ds[-1] = value
            self.file.flush()
        elif name == "stop":
            self.file.close()


def timed(callback, costs: list[float], stops: list[float] | None = None):
    """Wrap ``callback`` to record the seconds spent per event (and per stop) document."""

    def wrapper(name, doc):
        t0 = time.perf_counter()
        callback(name, doc)
        if name == "event":
            costs.append(time.perf_counter() - t0)
        elif name == "stop" and stops is not None:
            stops.append(time.perf_counter() - t0)

    return wrapper


def server_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) the process ``pid`` has used so far (nan if unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, q) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def run_once(kind: str, sink: str, args, client, workdir: Path, rep: int) -> dict:
    """One repetition of one scenario into one sink; returns its figures."""
    if kind == "frames":
        source, n, period = FrameSource(args.frame_size), args.frames, 0.0
    elif kind == "lines":
        source, n, period = LineSource(args.width), args.lines, 0.0
    elif kind == "lines2":
        source, n, period = StackedLineSource(args.width), args.lines, 0.0
    elif kind == "paced":
        source, n, period = LineSource(args.width), args.paced_lines, args.period
    elif kind == "paced_fast":
        source, n, period = LineSource(args.width), args.fast_lines, args.fast_period
    elif kind == "raster128":
        source, n, period = LineSource(128), 128, 0.0
    else:
        source, n, period = SpectrumSource(), args.spectra, args.spectrum_period
    nbytes = event_bytes(source)
    RE = RunEngine({})
    costs: list[float] = []
    stops: list[float] = []
    writer = None
    if sink in ("catalog", "routes"):
        writer = make_writer(client, data_dir=args.data_dir, direct=sink == "catalog")
        RE.subscribe(timed(writer, costs, stops))
    else:
        h5 = H5Writer(workdir / f"{kind}-{rep}.h5")
        if kind == "spectra":
            h5 = _per_run_h5(workdir, f"{kind}-{rep}")
        RE.subscribe(timed(h5, costs, stops))
    cpu0 = server_cpu_s(args.server_pid)
    t0 = time.perf_counter()
    error = None
    try:
        if kind == "spectra":
            RE(spectra_plan(source, n, period))
        else:
            RE(scan_plan(source, n, period))
    except Exception as exc:  # a writer that gives up (the old one did, after 120 s)
        error = f"{type(exc).__name__}: {exc}"
        stops.append(time.perf_counter() - t0)
    wall = time.perf_counter() - t0
    out = {
        "events": n,
        "event_bytes": nbytes,
        "wall_s": wall,
        "callback_p50_ms": pct(costs, 50) * 1e3,
        "callback_p95_ms": pct(costs, 95) * 1e3,
        "callback_max_ms": max(costs) * 1e3,
    }
    out["stop_wait_max_s"] = max(stops)
    if error is not None:
        out["error"] = error[:300]
    if period == 0:
        out["events_per_s"] = n / wall
        out["MB_per_s"] = n * nbytes / wall / 1e6
    if writer is not None:
        writer.flush(timeout=600)
        out["server_cpu_s"] = server_cpu_s(args.server_pid) - cpu0
        out["server_cpu_per_event_s"] = out["server_cpu_s"] / n
        durable = writer.latencies()
        out["durable_p50_ms"] = pct(durable, 50) * 1e3
        out["durable_p95_ms"] = pct(durable, 95) * 1e3
        if period:
            out["lag_p50_lines"] = pct(durable, 50) / period
            out["lag_p95_lines"] = pct(durable, 95) / period
        writer.close()
    return out


def _per_run_h5(workdir: Path, stem: str):
    """h5py baseline for one-event runs: a new file per run, as the catalog makes a run."""
    state = {"n": 0, "writer": None}

    def callback(name, doc):
        if name == "start":
            state["writer"] = H5Writer(workdir / f"{stem}-{state['n']}.h5")
            state["n"] += 1
        state["writer"](name, doc)

    return callback


def median_of(reps: list[dict]) -> dict:
    keys = [k for k in reps[0] if isinstance(reps[0][k], (int, float))]
    out = {k: statistics.median(r[k] for r in reps if k in r) for k in keys}
    errors = [r["error"] for r in reps if "error" in r]
    if errors:
        out["errors"] = errors
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--width", type=int, default=512, help="pixels per scan line")
    parser.add_argument("--lines", type=int, default=64, help="lines per flat-out run")
    parser.add_argument("--frame-size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--paced-lines", type=int, default=24)
    parser.add_argument("--period", type=float, default=0.5, help="s between paced lines")
    parser.add_argument("--fast-lines", type=int, default=60)
    parser.add_argument("--fast-period", type=float, default=0.05, help="s between fast lines")
    parser.add_argument("--spectra", type=int, default=10, help="spectra (runs) at 1 a period")
    parser.add_argument("--spectrum-period", type=float, default=1.0)
    parser.add_argument("--only", default=None, help="comma-separated scenarios to run")
    parser.add_argument("--data-dir", default=None, help="catalog folder (default: a temp one)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--sinks", default="catalog,routes,h5py", help="comma-separated sinks")
    parser.add_argument(
        "--server-timeout", type=float, default=300.0, help="s to wait for the server to start"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        workdir = Path(tmp)
        args.data_dir = args.data_dir or str(workdir / "catalog")
        t0 = time.perf_counter()
        info = ensure_server(args.data_dir, timeout=args.server_timeout)
        startup = time.perf_counter() - t0
        rec = read_server_file(Path(args.data_dir))
        args.server_pid = rec["pid"] if rec else None
        try:
            client = connect(info.uri, info.api_key)
            results = {}
            kinds = args.only.split(",") if args.only else KINDS
            for kind in kinds:
                for sink in args.sinks.split(","):
                    reps = [
                        run_once(kind, sink, args, client, workdir, r) for r in range(args.repeat)
                    ]
                    results[f"{kind}/{sink}"] = {"median": median_of(reps), "repetitions": reps}
        finally:
            stop_server(args.data_dir)

    print(f"server start {startup:.1f} s; medians of {args.repeat} repetitions")
    header = (f"{'scenario':<20}{'events/s':>10}{'MB/s':>9}{'cb p50':>9}{'cb p95':>9}"
              f"{'durable p50':>13}{'durable p95':>13}{'lag p95 lines':>15}{'end wait s':>12}"
              f"{'srv cpu/ev s':>14}  (ms)")  # fmt: skip
    print(header)
    for name, res in results.items():
        m = res["median"]
        nan = float("nan")
        print(
            f"{name:<20}{m.get('events_per_s', nan):>10.1f}{m.get('MB_per_s', nan):>9.2f}"
            f"{m['callback_p50_ms']:>9.2f}{m['callback_p95_ms']:>9.2f}"
            f"{m.get('durable_p50_ms', nan):>13.1f}{m.get('durable_p95_ms', nan):>13.1f}"
            f"{m.get('lag_p95_lines', nan):>15.2f}{m['stop_wait_max_s']:>12.2f}"
            f"{m.get('server_cpu_per_event_s', nan):>14.3f}"
        )
    ratios = {}
    for sink in ("catalog", "routes"):
        if f"{kinds[0]}/{sink}" not in results or f"{kinds[0]}/h5py" not in results:
            continue
        for kind in kinds:
            c, h = results[f"{kind}/{sink}"]["median"], results[f"{kind}/h5py"]["median"]
            r = ratios.setdefault(f"{sink}/h5py", {})[kind] = {
                "callback_p95": c["callback_p95_ms"] / h["callback_p95_ms"]
            }
            if "events_per_s" in c:
                r["throughput"] = c["events_per_s"] / h["events_per_s"]
        print(f"ratio {sink}/h5py: " + "; ".join(
            f"{k}: " + ", ".join(f"{n} {v:.2f}" for n, v in r.items())
            for k, r in ratios[f"{sink}/h5py"].items()
        ))  # fmt: skip
    if args.json:
        payload = {
            "benchmark": "bench_catalog",
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "server_start_s": startup,
            "results": results,
            "ratios": ratios,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
