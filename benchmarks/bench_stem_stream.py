"""Benchmark of the spectrum-image data path: StreamResource/StreamDatum into Tiled vs h5py.

A spectrum image of ``--pixels`` x ``--pixels`` spectra of ``--channels`` float32
channels, taken at ``--rate`` spectra per second of instrument time, goes two ways:

- **h5py** (the baseline): the same arrays written line by line into one chunked HDF5
  dataset (a chunk per line), flushed after each line, the file closed and read back;
- **catalog**: :func:`autoscope.plans.stem.spectrum_image` on a STEM device that streams
  (``stem.stream_to(StreamHDF5Writer(stream_dir(...)))``): each line is appended to HDF5
  by the detector and announced with StreamResource/StreamDatum; the RunEngine's documents
  go to an in-process Tiled catalog through autoscope's background ``CatalogWriter``
  (``make_writer``; ``--writer tiledwriter``: bluesky-tiled-plugins' ``TiledWriter``
  called by the RunEngine itself); done when the catalog serves every line
  (``client[uid]["primary"][key].read()``).

The detector is a replay backend: the device, limits, dose ledger and plan are the real
ones; only the spectra are drawn beforehand (Poisson counts around a twin spectrum), so the
figure is the data path's, not the twin's physics. Reported: time to durable and readable
for both and their ratio; the longest time a line held the RunEngine beyond the detector's
own time (trigger to next trigger minus the line's instrument time, which the backend
does not sleep), the median, and the longest callback time of the writer per document.

``--floor`` adds two bounds: the plan, device and HDF5 stream with no catalog writer (the
acquisition side alone), and Tiled's least work for the same arrays (the lines already in
one HDF5 file; one run with a single StreamResource and a single StreamDatum for all of
them registered by ``TiledWriter``, then read back): no catalog path can be faster than
that, so it says whether "within 2x of h5py" can be reached at all.

Usage::

    python benchmarks/bench_stem_stream.py [--pixels 64] [--channels 2048]
        [--repeats 3] [--floor] [--floor-chunk-lines 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bluesky import RunEngine

from autoscope.catalog.external import stream_dir
from autoscope.catalog.testing import inprocess_catalog
from autoscope.catalog.writer import make_writer
from autoscope.devices.stem.backend import STEMLineData, STEMRanges
from autoscope.devices.stem.device import STEM
from autoscope.io.stream_hdf5 import MIMETYPE, StreamHDF5Writer
from autoscope.plans.stem import spectrum_image


class ReplaySTEM:
    """A STEM backend whose spectrum-image lines are drawn beforehand (no physics, no sleep)."""

    detectors = {"haadf": "counts"}

    def __init__(self, lines: np.ndarray) -> None:
        self.lines = lines
        self.ranges = STEMRanges(field_nm=100.0, fov_nm=100.0)
        self._t = 0.0
        self._blanked = True
        self._current = 30.0
        self._eht = 300.0
        self._ab = dict.fromkeys(("C10", "C12", "C21", "C23", "C30", "C32", "C34", "C50"), 0.0)

    def time(self):
        return self._t

    def get_eht(self):
        return self._eht

    def set_eht(self, kv):
        self._eht = kv

    def get_beam_current(self):
        return self._current

    def set_beam_current(self, pa):
        self._current = pa

    def get_aberrations(self):
        return dict(self._ab)

    def set_aberration(self, name, nm):
        self._ab[name] = nm

    def get_blanked(self):
        return self._blanked

    def set_blanked(self, blanked):
        self._blanked = bool(blanked)

    def get_probe_position(self):
        return (0.0, 0.0)

    def move_probe(self, x, y):
        return (x, y)

    def scan_line(self, scan, index, detectors, eels=None):
        x, y = scan.positions(index)
        req = (float(x[0]), float(y[0]), float(x[-1]), float(y[-1]))
        t0 = self._t
        self._t += scan.pixels * eels.exposure
        return STEMLineData(index, {}, req, req, t0, self._t, self.lines[index])

    def eels(self, x, y, settings):
        raise NotImplementedError("the replay backend only replays spectrum-image lines")

    def park(self, x, y, seconds):
        self._t += seconds
        return (x, y)


def make_lines(n_lines, pixels, channels, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = -10 + 0.25 * np.arange(channels)
    shape = 2e4 * np.exp(-0.5 * (e / 0.3) ** 2) + 50 * np.clip(e, 1, None) ** -1.5
    return rng.poisson(shape, (n_lines, pixels, channels)).astype(np.float32)


def bench_h5py(lines: np.ndarray, folder: Path) -> float:
    import h5py

    path = folder / f"h5py-{time.perf_counter_ns()}.h5"
    t0 = time.perf_counter()
    with h5py.File(path, "w", libver="latest") as f:
        ds = f.create_dataset(
            "spectra",
            shape=(0, *lines.shape[1:]),
            maxshape=(None, *lines.shape[1:]),
            chunks=(1, *lines.shape[1:]),
            dtype=lines.dtype,
        )
        f.swmr_mode = True
        for i, line in enumerate(lines):
            ds.resize(i + 1, axis=0)
            ds[i] = line
            ds.flush()
    with h5py.File(path, "r") as f:
        back = f["spectra"][()]
    dt = time.perf_counter() - t0
    assert np.array_equal(back, lines)
    return dt


class _Timing:
    """RunEngine callback: wall time of every document's delivery and each line's gap."""

    def __init__(self, writer):
        self.writer = writer
        self.callback = []
        self.event_times = []

    def __call__(self, name, doc):
        t = time.perf_counter()
        self.writer(name, doc)
        self.callback.append(time.perf_counter() - t)
        if name == "event":
            self.event_times.append(time.perf_counter())


def bench_catalog(lines: np.ndarray, folder: Path, client, exposure: float, how: str) -> dict:
    n, pixels, channels = lines.shape
    stem = STEM(ReplaySTEM(lines), name="stem")
    stem.stream_to(StreamHDF5Writer(stream_dir(folder)))
    if how == "tiledwriter":
        from bluesky_tiled_plugins import TiledWriter

        writer = TiledWriter(client, max_array_size=0)
    else:
        writer = make_writer(client, data_dir=folder)
    timing = _Timing(writer)
    RE = RunEngine({}, call_returns_result=False)
    token = RE.subscribe(timing)
    uids = []
    RE.subscribe(lambda name, doc: uids.append(doc["uid"]) if name == "start" else None)
    t0 = time.perf_counter()
    RE(
        spectrum_image(
            stem, fov_nm=50.0, pixels=pixels, exposure=exposure, channels=channels, md={}
        )
    )
    writer.flush() if hasattr(writer, "flush") else None
    node = client[uids[-1]]["primary"]["stem_si_line_spectra"]
    back = node.read()
    dt = time.perf_counter() - t0
    RE.unsubscribe(token)
    if hasattr(writer, "close"):
        writer.close()
    assert np.array_equal(np.asarray(back), lines)
    gaps = np.diff(timing.event_times)
    line_seconds = pixels * exposure
    return {
        "seconds": dt,
        "line_gap_median_s": float(np.median(gaps)) if len(gaps) else 0.0,
        "line_gap_max_s": float(gaps.max()) if len(gaps) else 0.0,
        "callback_max_s": float(max(timing.callback)),
        "line_instrument_seconds": line_seconds,
    }


def bench_plan_alone(lines: np.ndarray, folder: Path, exposure: float) -> float:
    """The same plan, device and HDF5 stream with no catalog writer (documents dropped):
    what the acquisition side costs before any catalog work."""
    n, pixels, channels = lines.shape
    stem = STEM(ReplaySTEM(lines), name="stem")
    stem.stream_to(StreamHDF5Writer(folder / f"alone-{time.perf_counter_ns()}"))
    RE = RunEngine({}, call_returns_result=False)
    t0 = time.perf_counter()
    RE(
        spectrum_image(
            stem, fov_nm=50.0, pixels=pixels, exposure=exposure, channels=channels, md={}
        )
    )
    return time.perf_counter() - t0


def bench_tiled_floor(lines: np.ndarray, folder: Path, client, chunk_lines: int = 1) -> dict:
    """Tiled's own least work for the same data: the lines already in one HDF5 file (not
    timed), then one run registered with a single StreamResource and a single StreamDatum
    for all the lines (start, descriptor, resource, datum, stop: what registering once
    costs) by ``TiledWriter``, and the array read back through the catalog. Times the
    registration and the read-back apart."""
    import h5py
    from bluesky_tiled_plugins import TiledWriter
    from event_model import compose_run

    n, pixels, channels = lines.shape
    key = "stem_si_line_spectra"
    path = Path(stream_dir(folder)) / f"floor-{time.perf_counter_ns()}.h5"  # readable storage
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", libver="latest") as f:
        f.create_dataset(key, data=lines, chunks=(chunk_lines, pixels, channels))
    run = compose_run()
    desc = run.compose_descriptor(
        name="primary",
        data_keys={
            key: {
                "source": "bench",
                "dtype": "array",
                "dtype_numpy": "<f4",
                "shape": [pixels, channels],
                "external": "STREAM:",
            }
        },
    )
    sres = run.compose_stream_resource(
        mimetype=MIMETYPE,
        uri=path.absolute().as_uri().replace("file:///", "file://localhost/", 1),
        data_key=key,
        parameters={
            "dataset": f"/{key}",
            "chunk_shape": [chunk_lines, pixels, channels],
            "swmr": False,
        },
    )
    datum = sres.compose_stream_datum(
        indices={"start": 0, "stop": n}, seq_nums={"start": 1, "stop": n + 1}
    )
    datum["descriptor"] = desc.descriptor_doc["uid"]
    writer = TiledWriter(client)
    t0 = time.perf_counter()
    writer("start", run.start_doc)
    writer("descriptor", desc.descriptor_doc)
    writer("stream_resource", sres.stream_resource_doc)
    writer("stream_datum", datum)
    writer("stop", run.compose_stop())
    t1 = time.perf_counter()
    back = client[run.start_doc["uid"]]["primary"][key].read()
    t2 = time.perf_counter()
    assert np.array_equal(np.asarray(back), lines)
    return {"register_s": t1 - t0, "read_back_s": t2 - t1, "seconds": t2 - t0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pixels", type=int, default=64)
    ap.add_argument("--channels", type=int, default=2048)
    ap.add_argument("--rate", type=float, default=1000.0, help="spectra per second")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--writer",
        choices=("catalogwriter", "tiledwriter"),
        default="catalogwriter",
        help="autoscope's background CatalogWriter (default) or TiledWriter called in line",
    )
    ap.add_argument(
        "--floor",
        action="store_true",
        help="also the bounds: the plan with no catalog writer, and Tiled's least work "
        "(one StreamResource and one StreamDatum for all lines, then the read-back)",
    )
    ap.add_argument(
        "--floor-chunk-lines",
        type=int,
        default=1,
        help="HDF5 chunk (lines) of the floor's file: does the read-back depend on it?",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    lines = make_lines(args.pixels, args.pixels, args.channels)
    h5, cat, alone, floor = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with inprocess_catalog(folder / "catalog") as client:
            warm = make_lines(4, 4, args.channels)
            bench_catalog(warm, folder / "catalog", client, 1.0 / args.rate, args.writer)
            if args.floor:
                bench_tiled_floor(warm, folder / "catalog", client)
            for _ in range(args.repeats):
                h5.append(bench_h5py(lines, folder))
                cat.append(
                    bench_catalog(lines, folder / "catalog", client, 1.0 / args.rate, args.writer)
                )
                if args.floor:
                    alone.append(bench_plan_alone(lines, folder, 1.0 / args.rate))
                    floor.append(
                        bench_tiled_floor(lines, folder / "catalog", client, args.floor_chunk_lines)
                    )
    out = {
        "benchmark": "stem_stream",
        "command": " ".join(["python", "benchmarks/bench_stem_stream.py", *sys.argv[1:]]),
        "pixels": args.pixels,
        "channels": args.channels,
        "writer": args.writer,
        "megabytes": lines.nbytes / 1e6,
        "h5py_seconds_median": statistics.median(h5),
        "catalog_seconds_median": statistics.median(c["seconds"] for c in cat),
        "line_gap_max_s": max(c["line_gap_max_s"] for c in cat),
        "line_gap_median_s": statistics.median(c["line_gap_median_s"] for c in cat),
        "callback_max_s": max(c["callback_max_s"] for c in cat),
        "runs": {"h5py": h5, "catalog": cat, "plan_alone": alone, "tiled_floor": floor},
        "platform": platform.platform(),
    }
    out["ratio_catalog_over_h5py"] = out["catalog_seconds_median"] / out["h5py_seconds_median"]
    if floor:
        out["plan_alone_seconds_median"] = statistics.median(alone)
        for k in ("register_s", "read_back_s", "seconds"):
            out[f"tiled_floor_{k}_median"] = statistics.median(f[k] for f in floor)
        out["ratio_tiled_floor_over_h5py"] = (
            out["tiled_floor_seconds_median"] / out["h5py_seconds_median"]
        )
    print(json.dumps({k: v for k, v in out.items() if k not in ("runs", "platform")}, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
