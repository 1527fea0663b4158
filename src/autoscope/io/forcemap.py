"""AFM force maps (a grid of force-distance curves) through afmformats: :func:`read_force_map`.

A force map records a force-distance curve (approach, then retract) at each node
of a grid. afmformats (MIT, by the AFM-analysis group; it pulls in h5py, jprops and
igor2, LGPL-3) reads the vendor files; it is the optional extra ``afm``
(``pip install 'autoscope[afm]'``), imported only here and only when a force map
is read. Without it, reading one raises a
:class:`~autoscope.errors.ConfigurationError` naming the extra.

The map comes back as a :class:`~autoscope.io.grid3ds.Grid3ds`, the grid autoscope's
importer already turns into a ``grid_spectroscopy``-shaped run and its overview
(:func:`autoscope.io.importer.compose_file`):

- **the sweep** is ``z``, the piezo height above the curve's turnaround (its lowest
  point, where the force setpoint was reached), nm: 0 in contact, growing away from
  the surface. Curves of one map differ in length and z range (the approach stops at
  the setpoint), so every segment is averaged into ``points`` bins of one common
  axis from 0 to the smallest z range of the map (bins that catch no sample are
  interpolated from their neighbours).
- **the channels** are ``force retract`` and ``force approach`` (nN) on that axis;
  the retract curve comes first, since the adhesion (the depth of its dip below the
  free baseline: the ``adhesion`` scalarizer) is what a map is most often made for.
- **the parameters** at each node: ``X`` and ``Y`` (where the stage was, nm),
  ``Height`` (the measured height at the turnaround: the sample's topography at the
  force setpoint, nm; the overview image), ``Z range`` (nm) and ``Duration`` (s).
- nodes the file holds no curve for are NaN and unmeasured (the files shipped with
  afmformats are maps from which a few curves were extracted).

Data layer: no instrument, plan or agent code.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from datetime import datetime
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError, DataFormatError
from autoscope.io.grid3ds import Grid3ds

__all__ = ["AFM_EXTRA", "FORCE_MAP_FORMATS", "afmformats_available", "read_force_map"]

AFM_EXTRA = "pip install 'autoscope[afm]'"

#: suffix -> (format name, what it is)
FORCE_MAP_FORMATS = {
    ".jpk-force-map": ("jpk-force-map", "JPK force map"),
    ".jpk-qi-data": ("jpk-qi-data", "JPK QI map"),
}

_NM = 1e9
_NN = 1e9
#: the overview's channel and how it was formed (the importer's start document)
OVERVIEW = (
    "Height",
    "nm",
    "the measured height at the turnaround of each curve (the sample's topography at "
    "the force setpoint), in nm; NaN where no curve was measured",
)


def afmformats_available() -> bool:
    """Whether afmformats can be imported (the ``afm`` extra is installed)."""
    return importlib.util.find_spec("afmformats") is not None


def _afmformats(path: Path):
    try:
        return importlib.import_module("afmformats")
    except ImportError:
        what = FORCE_MAP_FORMATS[suffix_of(path)][1]
        raise ConfigurationError(
            f"{path}: {what} files are read through afmformats (an optional extra): {AFM_EXTRA}"
        ) from None


def suffix_of(path: str | os.PathLike) -> str:
    """The force-map suffix of ``path`` (``".jpk-force-map"``), or ``""``."""
    name = Path(path).name.lower()
    return next((s for s in FORCE_MAP_FORMATS if name.endswith(s)), "")


def _binned(z: np.ndarray, f: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of ``f`` in each bin of ``z``; empty bins interpolated from their neighbours."""
    k = len(edges) - 1
    inside = (z >= edges[0]) & (z <= edges[-1])
    idx = np.clip(np.searchsorted(edges, z[inside], side="right") - 1, 0, k - 1)
    count = np.bincount(idx, minlength=k)
    total = np.bincount(idx, weights=f[inside], minlength=k)
    full = count > 0
    if full.sum() < 2:
        return np.full(k, np.nan)
    centres = 0.5 * (edges[:-1] + edges[1:])
    out = np.empty(k)
    out[full] = total[full] / count[full]
    out[~full] = np.interp(centres[~full], centres[full], out[full])
    return out


def _when(md: dict) -> float | None:
    try:
        return datetime.fromisoformat(f"{md['date']}T{md['time']}").timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def read_force_map(path: str | os.PathLike, points: int = 256) -> Grid3ds:
    """Read an AFM force map through afmformats (the ``afm`` extra).

    Parameters
    ----------
    path : path of a ``.jpk-force-map`` or ``.jpk-qi-data`` file
    points : int
        Bins of the common z axis (at least 8).

    Returns
    -------
    Grid3ds
        See the module docstring; ``header`` holds the map's metadata (instrument,
        spring constant, sensitivity, setpoint, speeds, times) as strings.

    Raises
    ------
    ConfigurationError
        If the file does not exist, its suffix is not a force map's, ``points`` is
        too small, or afmformats is not installed (the message names the extra).
    DataFormatError
        If afmformats cannot read the file, or it holds no curve on a grid, or a
        curve lacks its approach or retract; the message names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(f"file {str(p)!r} does not exist")
    suffix = suffix_of(p)
    if not suffix:
        raise ConfigurationError(
            f"{p}: not a force map; known suffixes: {', '.join(FORCE_MAP_FORMATS)}"
        )
    if not isinstance(points, int) or isinstance(points, bool) or points < 8:
        raise ConfigurationError(f"points must be an integer of at least 8, got {points!r}")
    afm = _afmformats(p)
    what = FORCE_MAP_FORMATS[suffix][1]
    # afmformats logs a reader's traceback before raising; the DataFormatError says it
    quiet = logging.getLogger("afmformats")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL + 1)
    # afmformats' own errors derive from BaseException, not Exception
    errors = getattr(afm, "errors", None)
    own = tuple(
        getattr(errors, n)
        for n in ("AFMFileFormatError", "MissingMetaDataError")
        if isinstance(getattr(errors, n, None), type)
    )
    try:
        curves = list(afm.load_data(p))
    except (Exception, *own) as exc:  # noqa: BLE001 - a reader's faults are its own
        raise DataFormatError(
            f"{p}: afmformats cannot read it as a {what} ({type(exc).__name__}: {exc})"
        ) from exc
    finally:
        quiet.setLevel(level)
    if not curves:
        raise DataFormatError(f"{p}: the {what} holds no curve")
    md0 = dict(curves[0].metadata)
    missing = [
        k
        for k in ("grid shape x", "grid shape y", "grid size x", "grid size y", "grid center x")
        if md0.get(k) is None
    ]
    if missing:
        raise DataFormatError(f"{p}: the {what} states no grid ({', '.join(missing)} missing)")
    nx, ny = int(md0["grid shape x"]), int(md0["grid shape y"])
    if nx < 1 or ny < 1:
        raise DataFormatError(f"{p}: grid of {nx} x {ny} points")
    segments = []
    for c in curves:
        md = c.metadata
        ix, iy = int(md["grid index x"]), int(md["grid index y"])
        if not (0 <= ix < nx and 0 <= iy < ny):
            raise DataFormatError(
                f"{p}: curve {md.get('enum', '?')} at grid index ({ix}, {iy}) is outside "
                f"the {nx} x {ny} grid"
            )
        seg = np.asarray(c["segment"])
        hp = np.asarray(c["height (piezo)"], dtype=float) * _NM
        force = np.asarray(c["force"], dtype=float) * _NN
        approach, retract = seg == 0, seg == 1
        if approach.sum() < 2 or retract.sum() < 2:
            raise DataFormatError(
                f"{p}: curve {md.get('enum', '?')} at ({ix}, {iy}) lacks an approach or a "
                f"retract ({int(approach.sum())} and {int(retract.sum())} samples)"
            )
        turn = int(np.argmin(hp[approach]))
        low = float(hp[approach][turn])
        z = hp - low
        hm = np.asarray(c["height (measured)"], dtype=float) * _NM
        segments.append((ix, iy, z, force, approach, retract, float(hm[approach][turn]), md))
    span = min(min(float(z[a].max()), float(z[r].max())) for _, _, z, _, a, r, _, _ in segments)
    if not span > 0:
        raise DataFormatError(f"{p}: a curve of the {what} has no z range")
    edges = np.linspace(0.0, span, points + 1)
    axis = 0.5 * (edges[:-1] + edges[1:])
    channels = {
        "force retract": np.full((ny, nx, points), np.nan, dtype=np.float32),
        "force approach": np.full((ny, nx, points), np.nan, dtype=np.float32),
    }
    names = ("X", "Y", "Height", "Z range", "Duration")
    parameters = {n: np.full((ny, nx), np.nan, dtype=np.float32) for n in names}
    measured = np.zeros((ny, nx), dtype=bool)
    for ix, iy, z, force, approach, retract, height, md in segments:
        channels["force retract"][iy, ix] = _binned(z[retract], force[retract], edges)
        channels["force approach"][iy, ix] = _binned(z[approach], force[approach], edges)
        for name, value in (
            ("X", md.get("position x")),
            ("Y", md.get("position y")),
            ("Height", height / _NM),
            ("Z range", md.get("z range")),
        ):
            if value is not None:
                parameters[name][iy, ix] = float(value) * _NM
        if md.get("duration") is not None:
            parameters["Duration"][iy, ix] = float(md["duration"])
        measured[iy, ix] = bool(np.isfinite(channels["force retract"][iy, ix]).all())
    times = [t for t in (_when(s[-1]) for s in segments) if t is not None]
    header = {
        "Format": what,
        "Reader": f"afmformats {getattr(afm, '__version__', '?')}",
        "Instrument": str(md0.get("instrument", "")),
        "Software": f"{md0.get('software', '')} {md0.get('software version', '')}".strip(),
        "Imaging mode": str(md0.get("imaging mode", "")),
        "Feedback mode": str(md0.get("feedback mode", "")),
        "Session id": str(md0.get("session id", "")),
        "Curves": str(len(segments)),
        "Z axis": f"piezo height above each curve's turnaround, 0..{span:.6g} nm in {points} "
        "bins (bin means; the smallest z range of the map)",
    }
    for key, unit, scale in (
        ("spring constant", "N/m", 1.0),
        ("sensitivity", "nm/V", _NM),
        ("setpoint", "nN", _NN),
        ("speed approach", "nm/s", _NM),
        ("speed retract", "nm/s", _NM),
    ):
        if md0.get(key) is not None:
            header[f"{key.capitalize()} ({unit})"] = f"{float(md0[key]) * scale:.6g}"
    if times:
        header["Start time"] = datetime.fromtimestamp(min(times)).isoformat()
        header["End time"] = datetime.fromtimestamp(max(times)).isoformat()
    center = (float(md0["grid center x"]) * _NM, float(md0.get("grid center y", 0.0)) * _NM)
    size = (float(md0["grid size x"]) * _NM, float(md0["grid size y"]) * _NM)
    return Grid3ds(
        source=str(p),
        nx=nx,
        ny=ny,
        center=center,
        size=size,
        angle=0.0,
        sweep_signal="z",
        sweep_units="nm",
        sweep=axis,
        channels=channels,
        units={"force retract": "nN", "force approach": "nN"},
        parameters=parameters,
        parameter_units={"X": "nm", "Y": "nm", "Height": "nm", "Z range": "nm", "Duration": "s"},
        measured=measured,
        header=header,
    )
