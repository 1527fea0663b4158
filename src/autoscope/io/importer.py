"""Vendor files as Bluesky runs: what ``autoscope import`` writes into the catalog.

Each file becomes the documents of the runs a measurement would have made, in
the shapes the plans write, so imported runs are searched, plotted
(:func:`autoscope.io.to_xarray`), exported and replayed like measured ones:

=============  ====================================================================
file           runs
=============  ====================================================================
``.sxm``       one ``raster_image``-shaped run: an event per scan line with every
               channel's forward (trace) and backward (retrace) line, the line's
               requested and reported ends; ``frame``, ``image_keys``, ``line_key``
``.3ds``       two runs: the grid's overview, ``raster_image``-shaped, formed from
               the topography recorded at every point (the ``Z`` parameter, else
               the first channel's mean over the sweep); and a
               ``grid_spectroscopy``-shaped run, one event per measured point with
               every channel's spectrum and the point's recorded position, whose
               start document names the overview (``overview_uid``). Points a
               stopped grid never measured have no event; the run closes with
               exit status ``abort`` and says how many points the file holds.
``.dat``       one ``point_spectrum``-shaped run (one event, the file's channels)
STEM files     ``.emd``, ``.bcf``, ``.dm3``/``.dm4``, ``.ASW``/``.pts``, read through
               rosettasciio (the optional ``rsciio`` extra, GPL-3; see
               :mod:`autoscope.io.stem_files`): a ``stem_image``-shaped run per
               raster of images (an event per line, one key per detector,
               ``image_keys``), and a ``spectrum_image``-shaped run per spectrum
               image (an event per line of spectra, ``spectra_key``, the energy axis
               in ``spectral_axis``), whose start document names the image run of
               the same raster (``overview_uid``). Line 0 is at the bottom of the
               frame, as the plans write it; ``bin`` sums ``bin x bin`` pixels.
AFM force      ``.jpk-force-map``, ``.jpk-qi-data``, read through afmformats (the
maps           optional ``afm`` extra; see :mod:`autoscope.io.forcemap`): two runs as
               for a ``.3ds``: the overview (the height at each curve's turnaround)
               and a ``grid_spectroscopy``-shaped run of the force curves (retract
               and approach, nN, against the piezo height above the turnaround, nm);
               nodes without a curve are missing, as in a stopped grid.
=============  ====================================================================

Every start document carries ``imported: True``, ``source_file`` (the name),
``source_path``, ``source_sha256``, ``source_format``, ``instrument``, the
recorded time (``recorded_at``, and ``time`` itself), bias, setpoint, frame
size and angle where the file states them, and the whole vendor header as
``file_header``. The data keys use the device name ``spm`` and the channel
names of the file (spaces as underscores), with autoscope's units (nm, pA).

Nothing is half-imported: every file given is read and its documents composed
before the first document is written, so a bad file stops the command with a
:class:`~autoscope.errors.DataFormatError` naming the file and the fault, and
the catalog is unchanged. A file whose sha256 is already in the catalog is
skipped (:func:`find_imported`), unless asked otherwise.

Data layer: imports the catalog and the readers, no instrument, plan or agent.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from autoscope.catalog.paths import add_data_dir_argument
from autoscope.errors import ConfigurationError, DataFormatError, IncompleteGridWarning
from autoscope.io.dat import NanonisSpectrum, read_dat
from autoscope.io.forcemap import FORCE_MAP_FORMATS, OVERVIEW, read_force_map, suffix_of
from autoscope.io.grid3ds import Grid3ds, read_3ds
from autoscope.io.stem_files import STEM_FORMATS, StemRecording, read_stem
from autoscope.io.sxm import SxmImage, read_sxm

__all__ = [
    "FORMATS",
    "ImportedFile",
    "add_arguments",
    "compose_file",
    "file_sha256",
    "find_imported",
    "import_files",
    "main",
]

log = logging.getLogger(__name__)

DEVICE = "spm"
_LINE_FIELDS = (
    "index",
    "x_start_requested",
    "y_start_requested",
    "x_end_requested",
    "y_end_requested",
    "x_start_reported",
    "y_start_reported",
    "x_end_reported",
    "y_end_reported",
    "t_start",
    "t_end",
)
_SPECTRUM_FIELDS = (
    "index",
    "x_requested",
    "y_requested",
    "x_reported",
    "y_reported",
    "t_start",
    "t_end",
)
#: suffix -> (format name, what it becomes)
FORMATS = {
    ".sxm": ("nanonis-sxm", "raster image"),
    ".3ds": ("nanonis-3ds", "overview image + grid spectroscopy"),
    ".dat": ("nanonis-dat", "point spectrum"),
    **{
        suffix: (fmt, "STEM image(s) + spectrum image(s), through rosettasciio (rsciio extra)")
        for suffix, (fmt, _, _) in STEM_FORMATS.items()
    },
    **{
        suffix: (fmt, "overview image + grid of force curves, through afmformats (afm extra)")
        for suffix, (fmt, _) in FORCE_MAP_FORMATS.items()
    },
}
_KNOWN_ELSEWHERE = {
    ".sm4": "RHK",
    ".gwy": "Gwyddion",
    ".spm": "Bruker/Veeco",
    ".mtrx": "Omicron MATRIX",
}


@dataclass
class ImportedRun:
    """The documents of one run, in order (start, descriptor, event page(s), stop)."""

    role: str
    documents: list[tuple[str, dict]]

    @property
    def uid(self) -> str:
        return self.documents[0][1]["uid"]


@dataclass
class ImportedFile:
    """One file's runs, composed and not yet written."""

    path: Path
    sha256: str
    format: str
    runs: list[ImportedRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _key(name: str) -> str:
    """A channel name as a data-key part: ``"LI Demod 1 X"`` -> ``"LI_Demod_1_X"``."""
    out = re.sub(r"[^0-9A-Za-z_]+", "_", name.strip()).strip("_")
    return out or "channel"


def _unique_keys(names, reserved=()) -> dict[str, str]:
    """Data-key parts for ``names``, unique without regard to case (Tiled keeps a
    stream's columns in SQL, where ``Bias`` and ``bias`` are one column), and
    none equal to a ``reserved`` part (the sweep axis, the index)."""
    taken = {r.lower() for r in reserved}
    seen: dict[str, str] = {}
    for name in names:
        k = _key(name)
        while k.lower() in taken:
            k += "_"
        taken.add(k.lower())
        seen[name] = k
    return seen


def _parse_time(text: str | None, fmts: tuple[str, ...]) -> float | None:
    """Seconds since the epoch of a vendor date (read as local time), or None."""
    if not text or not text.strip():
        return None
    t = " ".join(text.split())
    for fmt in fmts:
        try:
            return datetime.strptime(t, fmt).timestamp()
        except ValueError:
            continue
    return None


def _finite_or_none(value) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _json_header(header: dict) -> list[list[str]]:
    """The vendor header as ``[[key, value], ...]`` (its keys hold dots and slashes,
    which a start document's keys may not)."""
    return [[str(k), str(v).strip()] for k, v in header.items()]


def _source_md(path: Path, digest: str, fmt: str, recorded: float | None) -> dict:
    md = {
        "imported": True,
        "source_file": path.name,
        "source_path": str(path.resolve()),
        "source_sha256": digest,
        "source_format": fmt,
        "imported_at": time.time(),
    }
    if recorded is not None:
        md["recorded_at"] = datetime.fromtimestamp(recorded).isoformat()
    return md


def _units_md(image_channels: dict | None = None, spectrum_channels: dict | None = None) -> dict:
    units = {"length": "nm", "position": "nm", "bias": "V", "time": "s", "angle": "deg"}
    if image_channels is not None:
        units["image_channels"] = dict(image_channels)
    if spectrum_channels is not None:
        units["spectrum_channels"] = dict(spectrum_channels)
    return units


def _scalar_key(source: str, dtype: str = "number", units: str | None = None) -> dict:
    d = {"source": source, "dtype": dtype, "shape": []}
    d["dtype_numpy"] = "<i8" if dtype == "integer" else "<f8"
    if units:
        d["units"] = units
    return d


def _array_key(source: str, n: int, dims: str, units: str | None, dtype_numpy="<f4") -> dict:
    d = {"source": source, "dtype": "array", "shape": [int(n)], "dtype_numpy": dtype_numpy}
    d["dims"] = [dims]
    if units:
        d["units"] = units
    return d


def _compose(start_md, data_keys, rows, exit_status, reason, t0, dt, role, object_name):
    """Documents of one run: start, one descriptor, one event page, stop."""
    from event_model import compose_run

    bundle = compose_run(metadata=start_md, time=t0)
    docs: list[tuple[str, dict]] = [("start", bundle.start_doc)]
    for k in data_keys:
        data_keys[k]["object_name"] = object_name
    desc = bundle.compose_descriptor(
        data_keys=data_keys, name="primary", object_keys={object_name: list(data_keys)}
    )
    docs.append(("descriptor", desc.descriptor_doc))
    if rows:
        times = [t0 + dt * (i + 1) for i in range(len(rows))]
        data = {k: [r[k] for r in rows] for k in data_keys}
        page = desc.compose_event_page(
            data=data,
            timestamps={k: times for k in data_keys},
            seq_num=list(range(1, len(rows) + 1)),
            time=times,
            validate=False,
        )
        docs.append(("event_page", page))
    t_end = t0 + dt * (len(rows) + 1)
    docs.append(("stop", bundle.compose_stop(exit_status=exit_status, reason=reason, time=t_end)))
    return ImportedRun(role, docs)


def _raster_run(
    *,
    images: dict[str, tuple[np.ndarray, np.ndarray | None]],
    units: dict[str, str],
    frame: dict,
    line_time: float,
    md: dict,
    t0: float,
    role: str,
) -> ImportedRun:
    """A ``raster_image``-shaped run from ``{channel: (trace, retrace or None)}`` images.

    A line whose every trace value is NaN was not scanned and gets no event.
    """
    lines, pixels = int(frame["lines"]), int(frame["pixels"])
    names = _unique_keys(images, reserved=_LINE_FIELDS)
    prefix = f"{DEVICE}_line_"
    data_keys = {f"{prefix}index": _scalar_key(f"{DEVICE}:line.index", "integer")}
    for end in ("x_start", "y_start", "x_end", "y_end"):
        for kind in ("requested", "reported"):
            data_keys[f"{prefix}{end}_{kind}"] = _scalar_key(f"file:{end}", units="nm")
    data_keys[f"{prefix}t_start"] = _scalar_key("file:t_start", units="s")
    data_keys[f"{prefix}t_end"] = _scalar_key("file:t_end", units="s")
    image_keys = {}
    for channel, (_, retrace) in images.items():
        k = names[channel]
        keys = [f"{prefix}{k}_trace"] + ([f"{prefix}{k}_retrace"] if retrace is not None else [])
        image_keys[k] = keys
        for key in keys:
            data_keys[key] = _array_key(f"file:{channel}", pixels, "x", units[channel])
    from autoscope.io.xarray_view import frame_coordinates

    coords = frame_coordinates(frame, pixels, lines)
    xs, ys = coords["x_sample"], coords["y_sample"]
    first = next(iter(images.values()))[0]
    rows = []
    for i in range(lines):
        if np.isnan(first[i]).all():
            continue
        ends = (float(xs[i, 0]), float(ys[i, 0]), float(xs[i, -1]), float(ys[i, -1]))
        row = {f"{prefix}index": i}
        for kind in ("requested", "reported"):  # a file states one position per line
            for name, v in zip(("x_start", "y_start", "x_end", "y_end"), ends):
                row[f"{prefix}{name}_{kind}"] = v
        row[f"{prefix}t_start"] = 2 * line_time * i if math.isfinite(line_time) else float("nan")
        row[f"{prefix}t_end"] = row[f"{prefix}t_start"] + (
            line_time if math.isfinite(line_time) else float("nan")
        )
        for channel, (trace, retrace) in images.items():
            keys = image_keys[names[channel]]
            row[keys[0]] = np.asarray(trace[i], dtype=np.float32)
            if retrace is not None:
                row[keys[1]] = np.asarray(retrace[i], dtype=np.float32)
        rows.append(row)
    start = {
        **md,
        "plan_name": "raster_image",
        "plan_args": {**frame, "line_time": line_time},
        "detectors": [DEVICE],
        "units": _units_md(image_channels={names[c]: units[c] for c in images}),
        "frame": {**frame, "line_time": line_time},
        "pixel_size": [frame["width"] / pixels, frame["height"] / lines],
        "pixel_units": "nm",
        "image_shape": [lines, pixels],
        "shape": [lines],
        "num_points": lines,
        "line_key": f"{prefix}index",
        "image_keys": image_keys,
        "source_channels": {names[c]: c for c in images},
        "scan_order": "line 0 at the bottom of the frame, upwards; pixels by increasing x; "
        "retrace flipped to increasing x",
        "hints": {"dimensions": [([f"{prefix}index"], "primary")]},
    }
    missing = lines - len(rows)
    status, reason = ("success", "") if not missing else ("abort", f"{missing} lines not scanned")
    dt = 2 * line_time if math.isfinite(line_time) and line_time > 0 else 0.0
    return _compose(start, data_keys, rows, status, reason, t0, dt, role, f"{DEVICE}_line")


def _sxm_runs(sxm: SxmImage, path: Path, digest: str) -> list[ImportedRun]:
    recorded = _parse_time(
        f"{sxm.header.get('REC_DATE', '')} {sxm.header.get('REC_TIME', '')}",
        ("%d.%m.%Y %H:%M:%S",),
    )
    t0 = recorded if recorded is not None else os.path.getmtime(path)
    frame = {
        "center_x": float(sxm.center[0]),
        "center_y": float(sxm.center[1]),
        "width": float(sxm.scan_size[0]),
        "height": float(sxm.scan_size[1]),
        "angle": float(sxm.angle),
        "pixels": int(sxm.pixels),
        "lines": int(sxm.lines),
    }
    images = {
        ch: (
            dirs.get("forward", dirs.get("backward")),
            dirs.get("backward") if "forward" in dirs else None,
        )
        for ch, dirs in sxm.channels.items()
    }
    md = {
        **_source_md(path, digest, "nanonis-sxm", recorded),
        "instrument": f"Nanonis (SXM version {sxm.header.get('NANONIS_VERSION', '?').strip()})",
        "bias": _finite_or_none(sxm.bias),
        "setpoint": _finite_or_none(sxm.setpoint),
        "setpoint_units": sxm.setpoint_units,
        "scan_size": [float(sxm.scan_size[0]), float(sxm.scan_size[1])],
        "scan_angle": float(sxm.angle),
        "scan_direction": sxm.scan_direction,
        "comment": sxm.header.get("COMMENT", "").strip(),
        "file_header": _json_header(sxm.header),
    }
    line_time = float(sxm.line_time[0])
    return [
        _raster_run(
            images=images,
            units=sxm.units,
            frame=frame,
            line_time=line_time,
            md=md,
            t0=t0,
            role="image",
        )
    ]


def _grid_overview(g: Grid3ds) -> tuple[np.ndarray, str, str, str]:
    """``(image (ny, nx) float64, channel name, unit, how it was formed)``."""
    if "Z" in g.parameters:
        return (
            g.parameters["Z"].astype(np.float64),
            "Z",
            g.parameter_units["Z"],
            "the Z parameter (tip height) recorded at every grid point, in nm; "
            "NaN where no point was measured",
        )
    name = next(iter(g.channels))
    image = np.full((g.ny, g.nx), np.nan)
    image[g.measured] = g.channels[name][g.measured].astype(np.float64).mean(axis=-1)
    return image, name, g.units[name], f"mean of channel {name!r} over the sweep, float64"


def _grid_runs(
    g: Grid3ds,
    path: Path,
    digest: str,
    fmt: str = "nanonis-3ds",
    instrument: str = "Nanonis (3ds grid)",
    overview: tuple[str, str, str] | None = None,
) -> list[ImportedRun]:
    """The overview and grid runs of a grid; ``overview``: the parameter that forms the
    overview image, its unit and how it was formed (default: :func:`_grid_overview`)."""
    fmts = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S")
    recorded = _parse_time(g.header.get("Start time"), fmts)
    ended = _parse_time(g.header.get("End time"), fmts)
    t0 = recorded if recorded is not None else os.path.getmtime(path)
    frame = {
        "center_x": float(g.center[0]),
        "center_y": float(g.center[1]),
        "width": float(g.size[0]),
        "height": float(g.size[1]),
        "angle": float(g.angle),
    }
    source = _source_md(path, digest, fmt, recorded)
    common = {
        **source,
        "instrument": instrument,
        "bias": _finite_or_none(
            g.header.get("Bias>Bias (V)") if g.header.get("Bias>Bias (V)") else None
        ),
        "scan_size": [frame["width"], frame["height"]],
        "scan_angle": frame["angle"],
        "experiment": g.header.get("Experiment", ""),
        "comment": g.header.get("Comment", ""),
        "file_header": _json_header(g.header),
    }
    if overview is not None:
        ov_name, ov_units, formed = overview
        image = g.parameters[ov_name].astype(np.float64)
    else:
        image, ov_name, ov_units, formed = _grid_overview(g)
    overview = _raster_run(
        images={ov_name: (image, None)},
        units={ov_name: ov_units},
        frame={**frame, "pixels": g.nx, "lines": g.ny},
        line_time=float("nan"),
        md={
            **common,
            "campaign_role": "overview",
            "overview_channel": _key(ov_name),
            "overview_formed": formed,
        },
        t0=t0,
        role="overview",
    )

    axis_name = _key(g.sweep_signal).lower() or "bias"
    names = _unique_keys(g.channels, reserved=(*_SPECTRUM_FIELDS, axis_name))
    prefix = f"{DEVICE}_spectrum_"
    k = len(g.sweep)
    data_keys = {f"{prefix}index": _scalar_key(f"{DEVICE}:spectrum.index", "integer")}
    for name in ("x_requested", "y_requested", "x_reported", "y_reported"):
        data_keys[f"{prefix}{name}"] = _scalar_key(f"file:{name}", units="nm")
    data_keys[f"{prefix}t_start"] = _scalar_key("file:t_start", units="s")
    data_keys[f"{prefix}t_end"] = _scalar_key("file:t_end", units="s")
    axis_key = f"{prefix}{axis_name}"
    data_keys[axis_key] = _array_key("file:sweep", k, axis_name, g.sweep_units, "<f8")
    spectrum_keys = {}
    for name, kk in names.items():
        spectrum_keys[kk] = f"{prefix}{kk}"
        data_keys[f"{prefix}{kk}"] = _array_key(f"file:{name}", k, axis_name, g.units[name])
    for name in g.parameters:
        if name in ("Sweep Start", "Sweep End"):
            continue
        key = f"{prefix}param_{_key(name)}"
        if key not in data_keys:
            data_keys[key] = _scalar_key(f"file:{name}", units=g.parameter_units[name])

    from autoscope.io.xarray_view import frame_coordinates

    coords = frame_coordinates(frame, g.nx, g.ny)
    x_rec = g.parameters.get("X")
    y_rec = g.parameters.get("Y")
    per_point = (
        float(ended - recorded) / max(g.n_measured, 1)
        if ended is not None and recorded is not None and ended > recorded
        else float("nan")
    )
    rows = []
    for flat in np.flatnonzero(g.measured.ravel()):
        iy, ix = divmod(int(flat), g.nx)
        xr_, yr_ = float(coords["x_sample"][iy, ix]), float(coords["y_sample"][iy, ix])
        row = {
            f"{prefix}index": int(flat),
            f"{prefix}x_requested": xr_,
            f"{prefix}y_requested": yr_,
            f"{prefix}x_reported": float(x_rec[iy, ix]) if x_rec is not None else xr_,
            f"{prefix}y_reported": float(y_rec[iy, ix]) if y_rec is not None else yr_,
            f"{prefix}t_start": per_point * len(rows),
            f"{prefix}t_end": per_point * (len(rows) + 1),
            axis_key: np.asarray(g.sweep, dtype=np.float64),
        }
        for name, kk in names.items():
            row[f"{prefix}{kk}"] = np.asarray(g.channels[name][iy, ix], dtype=np.float32)
        for name in g.parameters:
            key = f"{prefix}param_{_key(name)}"
            if key in data_keys:
                row[key] = float(g.parameters[name][iy, ix])
        rows.append(row)
    positions = [
        [float(coords["x_sample"][iy, ix]), float(coords["y_sample"][iy, ix])]
        for iy in range(g.ny)
        for ix in range(g.nx)
    ]
    start = {
        **common,
        "plan_name": "grid_spectroscopy",
        "plan_args": {
            **frame,
            "nx": g.nx,
            "ny": g.ny,
            "start": float(g.sweep[0]),
            "stop": float(g.sweep[-1]),
            "n_points": k,
        },
        "detectors": [DEVICE],
        "units": _units_md(spectrum_channels={names[c]: g.units[c] for c in g.channels}),
        "spectroscopy": {"start": float(g.sweep[0]), "stop": float(g.sweep[-1]), "points": k},
        "spectral_axis": {
            "key": axis_key,
            "name": axis_name,
            "units": g.sweep_units,
            "start": float(g.sweep[0]),
            "stop": float(g.sweep[-1]),
            "points": k,
        },
        "spectrum_keys": spectrum_keys,
        "source_channels": {names[c]: c for c in g.channels},
        "index_key": f"{prefix}index",
        "positions_requested": positions,
        "num_points": g.n_points,
        "hints": {"dimensions": [([f"{prefix}index"], "primary")]},
        "grid": {**frame, "nx": g.nx, "ny": g.ny},
        "shape": [g.ny, g.nx],
        "pixel_size": [frame["width"] / g.nx, frame["height"] / g.ny],
        "pixel_units": "nm",
        "grid_order": "row-major in the file's order: index = iy * nx + ix; the reported "
        "positions are the X and Y parameters the file records at each point",
        "overview_uid": overview.uid,
        "n_measured": g.n_measured,
        "n_missing": g.n_points - g.n_measured,
    }
    missing = g.n_points - g.n_measured
    status = "success" if not missing else "abort"
    reason = (
        ""
        if not missing
        else f"{'grid stopped early: ' if fmt == 'nanonis-3ds' else ''}the file holds "
        f"{g.n_measured} of {g.n_points} points; {missing} never measured"
    )
    dt = per_point if math.isfinite(per_point) else 0.0
    grid = _compose(start, data_keys, rows, status, reason, t0, dt, "grid", f"{DEVICE}_spectrum")
    return [overview, grid]


def _dat_runs(d: NanonisSpectrum, path: Path, digest: str) -> list[ImportedRun]:
    fmts = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M")
    recorded = _parse_time(d.header.get("Date") or d.header.get("Saved Date"), fmts)
    t0 = recorded if recorded is not None else os.path.getmtime(path)
    k = len(d.axis)
    axis_name = "bias" if d.axis_units == "V" else (_key(d.axis_name).lower() or "axis")
    names = _unique_keys(d.channels, reserved=(*_SPECTRUM_FIELDS, axis_name))
    prefix = f"{DEVICE}_spectrum_"
    axis_key = f"{prefix}{axis_name}"
    data_keys = {f"{prefix}index": _scalar_key(f"{DEVICE}:spectrum.index", "integer")}
    for name in ("x_requested", "y_requested", "x_reported", "y_reported"):
        data_keys[f"{prefix}{name}"] = _scalar_key(f"file:{name}", units="nm")
    data_keys[axis_key] = _array_key(f"file:{d.axis_name}", k, axis_name, d.axis_units, "<f8")
    spectrum_keys = {}
    for name, kk in names.items():
        key = f"{prefix}{kk}"
        spectrum_keys[kk] = key
        data_keys[key] = _array_key(f"file:{name}", k, axis_name, d.channels[name][1], "<f8")
    x, y = d.position if d.position is not None else (float("nan"), float("nan"))
    row = {
        f"{prefix}index": 0,
        f"{prefix}x_requested": x,
        f"{prefix}y_requested": y,
        f"{prefix}x_reported": x,
        f"{prefix}y_reported": y,
        axis_key: np.asarray(d.axis, dtype=np.float64),
    }
    for name, kk in names.items():
        row[spectrum_keys[kk]] = np.asarray(d.channels[name][0], dtype=np.float64)
    md = {
        **_source_md(path, digest, "nanonis-dat", recorded),
        "instrument": "Nanonis",
        "experiment": d.experiment,
        "bias": d.header_float("Bias>Bias (V)"),
        "file_header": _json_header(d.header),
        "plan_name": "point_spectrum",
        "plan_args": {"x": x, "y": y, "start": float(d.axis[0]), "stop": float(d.axis[-1])},
        "detectors": [DEVICE],
        "units": _units_md(spectrum_channels={names[c]: d.channels[c][1] for c in d.channels}),
        "spectral_axis": {
            "key": axis_key,
            "name": axis_name,
            "units": d.axis_units,
            "start": float(d.axis[0]),
            "stop": float(d.axis[-1]),
            "points": k,
        },
        "spectrum_keys": spectrum_keys,
        "source_channels": {names[c]: c for c in d.channels},
        "index_key": f"{prefix}index",
        "positions_requested": [[x, y]] if d.position is not None else [],
        "num_points": 1,
        "hints": {"dimensions": [([f"{prefix}index"], "primary")]},
    }
    md = {k2: v for k2, v in md.items() if v is not None}
    return [
        _compose(md, data_keys, [row], "success", "", t0, 0.0, "spectrum", f"{DEVICE}_spectrum")
    ]


_STEM_LINE = "stem_line_"
_STEM_SI = "stem_si_line_"


def _stem_line_keys(prefix: str) -> dict:
    keys = {f"{prefix}index": _scalar_key(f"stem:{prefix}index", "integer")}
    for end in ("x_start", "y_start", "x_end", "y_end"):
        for kind in ("requested", "reported"):
            keys[f"{prefix}{end}_{kind}"] = _scalar_key(f"file:{end}", units="nm")
    keys[f"{prefix}t_start"] = _scalar_key("file:t_start", units="s")
    keys[f"{prefix}t_end"] = _scalar_key("file:t_end", units="s")
    return keys


def _stem_line_row(prefix: str, i: int, lines: int, pixels: int, p: float) -> dict:
    """Line ``i``'s index, ends (nm, frame centred on 0, requested = reported: a file
    states one position) and times (NaN: the file does not say)."""
    y = (i + 0.5 - lines / 2) * p
    x0, x1 = (0.5 - pixels / 2) * p, (pixels / 2 - 0.5) * p
    row = {f"{prefix}index": i, f"{prefix}t_start": math.nan, f"{prefix}t_end": math.nan}
    for kind in ("requested", "reported"):
        for name, v in zip(("x_start", "y_start", "x_end", "y_end"), (x0, y, x1, y)):
            row[f"{prefix}{name}_{kind}"] = float(v)
    return row


def _stem_scan_md(lines: int, pixels: int, p: float, units: str) -> dict:
    return {
        "scan": {
            "center_nm": [0.0, 0.0],
            "fov_nm": pixels * p,
            "fov_y_nm": lines * p,
            "pixels": pixels,
            "lines": lines,
            "rotation": 0.0,
        },
        "pixel_size": [p, p],
        "pixel_units": units,
        "image_shape": [lines, pixels],
        "shape": [lines],
        "num_points": lines,
        "scan_order": "line 0 at the bottom of the frame, upwards; pixels by increasing x "
        "(the file's first row is its top line)",
    }


def _stem_runs(rec: StemRecording, path: Path, digest: str) -> list[ImportedRun]:
    recorded = _parse_time(rec.recorded, ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"))
    t0 = recorded if recorded is not None else os.path.getmtime(path)
    p = float(rec.pixel_size) if rec.pixel_size else 1.0
    units = "nm" if rec.pixel_size else "pixel"
    common = {
        **_source_md(path, digest, rec.format, recorded),
        "instrument": rec.instrument or rec.format,
        "instrument_mode": "stem",
        "beam_energy_kV": rec.beam_energy_kV,
        "xray_lines": list(rec.xray_lines),
        "binned": rec.binned,
        "reader": "rosettasciio",
    }
    common = {k: v for k, v in common.items() if v is not None}
    runs: list[ImportedRun] = []
    image_uid: dict[tuple[int, int], str] = {}
    by_shape: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for name, image in rec.images.items():
        by_shape.setdefault(image.shape, {})[name] = image
    for (lines, pixels), images in by_shape.items():
        names = _unique_keys(images, reserved=_LINE_FIELDS)
        keys = _stem_line_keys(_STEM_LINE)
        image_keys = {}
        for det in images:
            image_keys[names[det]] = f"{_STEM_LINE}{names[det]}"
            keys[image_keys[names[det]]] = _array_key(f"file:{det}", pixels, "x", "counts")
        rows = []
        for i in range(lines):
            row = _stem_line_row(_STEM_LINE, i, lines, pixels, p)
            for det, image in images.items():
                row[image_keys[names[det]]] = np.asarray(image[i], dtype=np.float32)
            rows.append(row)
        start = {
            **common,
            "plan_name": "stem_image",
            "plan_args": {"pixels": pixels, "lines": lines, "detectors": list(image_keys)},
            "detectors": ["stem"],
            "units": {"length": "nm", "position": "nm", "time": "s", "image": "counts"},
            **_stem_scan_md(lines, pixels, p, units),
            "line_key": f"{_STEM_LINE}index",
            "image_keys": image_keys,
            "source_channels": {names[d]: d for d in images},
            "hints": {"dimensions": [([f"{_STEM_LINE}index"], "primary")]},
        }
        run = _compose(start, keys, rows, "success", "", t0, 0.0, "image", "stem_line")
        image_uid[(lines, pixels)] = run.uid
        runs.append(run)
    for si in rec.spectrum_images:
        lines, pixels, k = si.data.shape
        keys = _stem_line_keys(_STEM_SI)
        spectra_key = f"{_STEM_SI}spectra"
        keys[spectra_key] = {
            "source": f"file:{si.name}",
            "dtype": "array",
            "shape": [pixels, k],
            "dtype_numpy": "<f4",
            "dims": ["x", "energy"],
            "units": "counts",
        }
        rows = []
        for i in range(lines):
            row = _stem_line_row(_STEM_SI, i, lines, pixels, p)
            row[spectra_key] = np.asarray(si.data[i], dtype=np.float32)
            rows.append(row)
        step = np.diff(si.axis)
        linear = bool(len(step) == 0 or np.allclose(step, step[0], rtol=1e-6, atol=0))
        start = {
            **common,
            "plan_name": "spectrum_image",
            "plan_args": {"pixels": pixels, "lines": lines, "channels": k},
            "detectors": ["stem"],
            "units": {"length": "nm", "position": "nm", "time": "s", "spectra": "counts"},
            **_stem_scan_md(lines, pixels, p, units),
            "line_key": f"{_STEM_SI}index",
            "spectra_key": spectra_key,
            "spectra_storage": "event",
            "signal_type": si.signal_type,
            "source_signal": si.name,
            "spectral_axis": {
                "name": "energy loss" if si.signal_type.startswith("EELS") else "energy",
                "units": si.axis_units,
                "start": float(si.axis[0]),
                "stop": float(si.axis[-1]),
                "points": int(k),
                "linear": linear,
                **({} if linear else {"values": [float(v) for v in si.axis]}),
            },
            "hints": {"dimensions": [([f"{_STEM_SI}index"], "primary")]},
        }
        if si.energy_resolution_eV is not None:
            start["energy_resolution_MnKa_eV"] = si.energy_resolution_eV
        if (lines, pixels) in image_uid:
            start["overview_uid"] = image_uid[(lines, pixels)]
        runs.append(
            _compose(start, keys, rows, "success", "", t0, 0.0, "spectrum image", "stem_si_line")
        )
    return runs


def compose_file(path: str | os.PathLike, bin: int = 1) -> ImportedFile:
    """Read one vendor file and compose the documents of its runs (nothing is written).

    ``bin`` (STEM files only) sums ``bin x bin`` pixels of a spectrum image.

    Raises
    ------
    ConfigurationError
        If the file does not exist or no reader knows its suffix (the message
        lists the suffixes that are known).
    DataFormatError
        If the file's content is malformed; the message names the file and
        the fault (e.g. :class:`~autoscope.errors.SxmFormatError`).
    """
    p = Path(path)
    if bin != 1 and p.suffix.lower() not in STEM_FORMATS:
        raise ConfigurationError(f"{p}: bin {bin!r} applies to STEM files only")
    if not p.is_file():
        raise ConfigurationError(f"file {str(p)!r} does not exist")
    suffix = suffix_of(p) or p.suffix.lower()
    if suffix not in FORMATS:
        other = _KNOWN_ELSEWHERE.get(suffix)
        known = ", ".join(FORMATS)
        what = f" ({other} files are not read by autoscope yet)" if other else ""
        raise ConfigurationError(
            f"{p}: no reader for {suffix or 'files without a suffix'!r}{what}; "
            f"autoscope import reads {known}"
        )
    fmt = FORMATS[suffix][0]
    digest = file_sha256(p)
    out = ImportedFile(p, digest, fmt)
    try:
        if suffix == ".sxm":
            out.runs = _sxm_runs(read_sxm(p), p, digest)
        elif suffix == ".3ds":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", IncompleteGridWarning)
                grid = read_3ds(p)
            out.notes += [str(w.message) for w in caught if w.category is IncompleteGridWarning]
            out.runs = _grid_runs(grid, p, digest)
        elif suffix in FORCE_MAP_FORMATS:
            grid = read_force_map(p)
            if grid.n_measured < grid.n_points:
                out.notes.append(
                    f"{p}: the force map holds curves at {grid.n_measured} of its "
                    f"{grid.n_points} grid nodes; {grid.n_points - grid.n_measured} missing"
                )
            instrument = grid.header.get("Instrument") or FORCE_MAP_FORMATS[suffix][1]
            out.runs = _grid_runs(grid, p, digest, fmt, instrument, OVERVIEW)
        elif suffix in STEM_FORMATS:
            rec = read_stem(p, bin)
            out.runs = _stem_runs(rec, p, digest)
            if rec.skipped:
                out.notes.append(
                    f"{p}: skipped {len(rec.skipped)} signal(s) that are neither an image nor "
                    f"a spectrum image: {', '.join(rec.skipped)}"
                )
        else:
            out.runs = _dat_runs(read_dat(p), p, digest)
    except (DataFormatError, ConfigurationError):
        raise
    except (ValueError, KeyError, IndexError, UnicodeError) as exc:
        raise DataFormatError(
            f"{p}: not a readable {fmt} file ({type(exc).__name__}: {exc})"
        ) from exc
    return out


def find_imported(client, sha256: str) -> list[str]:
    """Uids of the runs in the catalog imported from a file with this sha256."""
    from tiled.queries import Key

    return list(client.search(Key("start.source_sha256") == sha256).keys())


def import_files(
    paths, client, writer=None, *, again: bool = False, data_dir=None, bin: int = 1
) -> list[dict]:
    """Import vendor files into the catalog; returns one summary dict per file.

    Every file is read and composed first; only when all of them are readable
    is anything written (a bad file raises and the catalog is unchanged). A
    file already in the catalog (same sha256), or given twice, is skipped
    unless ``again``.

    Parameters
    ----------
    paths : iterable of path
    client : Tiled client of the catalog root (searched for duplicates)
    writer : callable ``(name, doc)``, optional
        Where the documents go (default: :func:`autoscope.catalog.make_writer` on
        ``client`` and ``data_dir``, flushed and closed at the end).
    again : bool
        Import files already in the catalog once more.
    data_dir : path, optional
        The catalog's data folder, for the default writer's ``failed/`` folder.
    bin : int
        STEM files: sum ``bin x bin`` pixels of each spectrum image (see
        :func:`autoscope.io.stem_files.read_stem`).

    Returns
    -------
    list of dict
        ``path``, ``sha256``, ``format``, ``status`` (``"imported"`` or
        ``"duplicate"``), ``runs`` (``[{"role", "uid"}]``; for a duplicate, the
        runs already there), ``notes`` (e.g. an incomplete grid's counts).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ConfigurationError("give at least one file to import")
    composed = [compose_file(p, bin if p.suffix.lower() in STEM_FORMATS else 1) for p in paths]
    results = []
    to_write: list[ImportedFile] = []
    seen: dict[str, Path] = {}
    for f in composed:
        existing = [] if again else find_imported(client, f.sha256)
        if not again and f.sha256 in seen:
            existing = [f"(same bytes as {seen[f.sha256]} in this import)"]
        if existing:
            results.append(
                {
                    "path": str(f.path),
                    "sha256": f.sha256,
                    "format": f.format,
                    "status": "duplicate",
                    "runs": [{"role": "existing", "uid": u} for u in existing],
                    "notes": f.notes,
                }
            )
            continue
        seen[f.sha256] = f.path
        to_write.append(f)
        results.append(
            {
                "path": str(f.path),
                "sha256": f.sha256,
                "format": f.format,
                "status": "imported",
                "runs": [{"role": r.role, "uid": r.uid} for r in f.runs],
                "notes": f.notes,
            }
        )
    own_writer = writer is None and to_write
    if own_writer:
        from autoscope.catalog.writer import make_writer

        writer = make_writer(client, data_dir=data_dir)
    try:
        for f in to_write:
            for run in f.runs:
                for name, doc in run.documents:
                    writer(name, doc)
        if writer is not None and hasattr(writer, "flush"):
            writer.flush()
    finally:
        if own_writer:
            writer.close()
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``autoscope import``."""
    parser.add_argument("files", nargs="+", metavar="FILE", help=", ".join(FORMATS) + " files")
    add_data_dir_argument(parser)
    parser.add_argument(
        "--again", action="store_true", help="import files already in the catalog once more"
    )
    parser.add_argument(
        "--bin",
        type=int,
        default=1,
        metavar="N",
        help="STEM files: sum N x N pixels of each spectrum image (default 1)",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope import``: one line per run written, one per duplicate skipped."""
    from autoscope.catalog import connect, data_dir

    folder = data_dir(args.data_dir)
    client = connect(data_dir=folder)
    for r in import_files(args.files, client, again=args.again, data_dir=folder, bin=args.bin):
        if r["status"] == "duplicate":
            where = ", ".join(x["uid"] for x in r["runs"])
            print(f"{r['path']}: already in the catalog ({where}); skipped (--again imports it)")
            continue
        for note in r["notes"]:
            print(note)  # names the file itself
        for run in r["runs"]:
            print(f"{r['path']}: {run['role']} run {run['uid']}")
    return 0
