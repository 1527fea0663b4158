"""Nanonis binary ``.3ds`` grid spectroscopy files: a reader and a writer of our own.

Written from the format's public description (no real grid ships in any
package we could find; the tests use files :func:`write_3ds` makes). A file is:

- An ASCII (Latin-1) header of ``key=value`` lines, values often in double
  quotes, ending with the line ``:HEADER_END:``. The keys the reader needs:

  ``Grid dim``                ``"32 x 32"``: points per line (nx) and lines (ny)
  ``Grid settings``           ``cx;cy;w;h;angle``: centre and size in m, angle in deg
  ``Sweep Signal``            ``"Bias (V)"``: the swept quantity and its unit
  ``Fixed parameters``        ``"Sweep Start;Sweep End"``: stored with every point
  ``Experiment parameters``   ``"X (m);Y (m);Z (m);..."``: stored with every point
  ``# Parameters (4 byte)``   number of fixed plus experiment parameters
  ``Experiment size (bytes)`` ``Points x channels x 4``
  ``Points``                  values per sweep
  ``Channels``                ``"Current (A);LI Demod 1 X (A)"``

  and it keeps every other entry (``Filetype``, ``Delay before measuring (s)``,
  ``Experiment``, ``Start time``, ``End time``, ``User``, ``Comment``, module
  settings) in :attr:`Grid3ds.header`.
- A line break, then big-endian float32 data, point after point (a line of
  ``nx`` points, then the next line): each point's parameters (fixed, then
  experiment), then each channel's ``Points`` values.

The sweep axis is linear from ``Sweep Start`` to ``Sweep End`` of the first
measured point (``Filetype=Linear``; a multi-segment sweep is not rebuilt).
Points are kept in the order of the file: row ``k`` of every array is the
``k``-th line of the grid; the ``X``/``Y`` parameters say where each point was
measured. Values are converted to autoscope's units (m -> nm, A -> pA; see
:mod:`autoscope.io.units`).

A grid that stopped early holds fewer points than it declares, possibly with
the last one cut short; Nanonis may also leave unmeasured points as records of
zeros. Such points are missing: NaN in every array and ``False`` in
:attr:`Grid3ds.measured`, never zeros that look like data. The reader then
emits an :class:`~autoscope.errors.IncompleteGridWarning` naming the counts.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError, Grid3dsFormatError, IncompleteGridWarning
from autoscope.io.recorded import write_recorded_dataset
from autoscope.io.units import project_unit

__all__ = ["Grid3ds", "grid3ds_to_recorded", "parse_3ds", "read_3ds", "write_3ds"]

_END_TAG = b":HEADER_END:"
_DTYPE = np.dtype(">f4")
_NAME_UNIT = re.compile(r"^(?P<name>.*?\S)\s*\((?P<unit>[^()]*)\)\s*$")
_DIM = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
_REQUIRED = (
    "Grid dim",
    "Grid settings",
    "Sweep Signal",
    "Fixed parameters",
    "Experiment parameters",
    "# Parameters (4 byte)",
    "Experiment size (bytes)",
    "Points",
    "Channels",
)
_SI = {"nm": ("m", 1e-9), "pA": ("A", 1e-12), "nm/s": ("m/s", 1e-9), "pA/V": ("A/V", 1e-12)}


@dataclass
class Grid3ds:
    """A Nanonis grid of spectra, every channel and parameter, in autoscope's units.

    Attributes
    ----------
    source : str
        File the grid came from.
    nx, ny : int
        Points per line and lines, as the header declares them.
    center : (float, float)
        Grid centre in nm.
    size : (float, float)
        Grid width and height in nm.
    angle : float
        Grid rotation in degrees.
    sweep_signal, sweep_units : str
        Swept quantity and its unit (``"Bias"``, ``"V"``).
    sweep : numpy.ndarray
        float64 ``(points,)``, the sweep axis.
    channels : dict
        ``{name: float32 (ny, nx, points)}``; NaN at missing points.
    units : dict
        ``{channel name: unit}``.
    parameters : dict
        ``{name: float32 (ny, nx)}`` of every fixed and experiment parameter
        (``"Sweep Start"``, ``"X"``, ``"Z"``, ...); NaN at missing points.
    parameter_units : dict
        ``{parameter name: unit}``.
    measured : numpy.ndarray
        bool ``(ny, nx)``: the points the file holds in full.
    header : dict
        Every header entry, ``{key: value}`` with the quotes removed.
    """

    source: str
    nx: int
    ny: int
    center: tuple[float, float]
    size: tuple[float, float]
    angle: float
    sweep_signal: str
    sweep_units: str
    sweep: np.ndarray
    channels: dict[str, np.ndarray]
    units: dict[str, str]
    parameters: dict[str, np.ndarray]
    parameter_units: dict[str, str]
    measured: np.ndarray
    header: dict[str, str] = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        """Points the grid declares (``nx * ny``)."""
        return self.nx * self.ny

    @property
    def n_measured(self) -> int:
        """Points the file holds in full."""
        return int(self.measured.sum())

    @property
    def pixel_size(self) -> tuple[float, float]:
        """Point spacing ``(dx, dy)`` in nm."""
        return self.size[0] / self.nx, self.size[1] / self.ny

    def channel(self, name: str) -> np.ndarray:
        """Spectra of channel ``name``, ``(ny, nx, points)``.

        Raises
        ------
        ConfigurationError
            If the grid has no such channel; the message lists the channels.
        """
        if name not in self.channels:
            raise ConfigurationError(
                f"{self.source}: no channel {name!r}; it has {sorted(self.channels)}"
            )
        return self.channels[name]

    def parameter(self, name: str) -> np.ndarray:
        """Per-point parameter ``name`` (``"Z"``, ``"X"``, ...), ``(ny, nx)``.

        Raises
        ------
        ConfigurationError
            If the grid has no such parameter; the message lists the parameters.
        """
        if name not in self.parameters:
            raise ConfigurationError(
                f"{self.source}: no parameter {name!r}; it has {sorted(self.parameters)}"
            )
        return self.parameters[name]


def _split_name_unit(text: str) -> tuple[str, str]:
    match = _NAME_UNIT.match(text.strip())
    if match:
        return match.group("name"), match.group("unit").strip()
    return text.strip(), ""


def _parse_header(text: str, source: str) -> dict[str, str]:
    header: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise Grid3dsFormatError(f"{source}: header line {n} is not key=value: {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        header[key.strip()] = value
    return header


def _int_entry(header: Mapping[str, str], key: str, source: str) -> int:
    text = header[key].strip()
    try:
        value = int(text)
    except ValueError:
        raise Grid3dsFormatError(f"{source}: {key!r} must be an integer, got {text!r}") from None
    if value < 0:
        raise Grid3dsFormatError(f"{source}: {key!r} must be >= 0, got {value}")
    return value


def _names(header: Mapping[str, str], key: str) -> list[str]:
    return [p.strip() for p in header[key].split(";") if p.strip()]


def parse_3ds(data: bytes, source: str = "<bytes>") -> Grid3ds:
    """Parse the bytes of a Nanonis ``.3ds`` file.

    Parameters
    ----------
    data : bytes
        Whole file content.
    source : str
        Name used in messages and stored in :attr:`Grid3ds.source`.

    Returns
    -------
    Grid3ds

    Warns
    -----
    IncompleteGridWarning
        If points are missing (the file stops early, its last point is cut
        short, or a point's record is all zeros); the message names the counts.

    Raises
    ------
    Grid3dsFormatError
        If there is no ``:HEADER_END:``, a needed header entry is missing or
        malformed, the entries disagree (parameter count, experiment size,
        channels), the data block is longer than the grid, or the file holds no
        measured point. Nothing is returned half-read.
    """
    end = data.find(_END_TAG)
    if end < 0:
        raise Grid3dsFormatError(f"{source}: no :HEADER_END: line; not a Nanonis .3ds file")
    header = _parse_header(data[:end].decode("latin-1"), source)
    missing = [k for k in _REQUIRED if k not in header]
    if missing:
        raise Grid3dsFormatError(f"{source}: header lacks {', '.join(repr(k) for k in missing)}")

    dim = _DIM.match(header["Grid dim"])
    if not dim or int(dim.group(1)) < 1 or int(dim.group(2)) < 1:
        raise Grid3dsFormatError(
            f"{source}: 'Grid dim' must be 'NX x NY' with NX, NY >= 1, got {header['Grid dim']!r}"
        )
    nx, ny = int(dim.group(1)), int(dim.group(2))
    try:
        settings = [float(v) for v in header["Grid settings"].split(";")]
    except ValueError:
        settings = []
    if len(settings) != 5 or not all(np.isfinite(settings)):
        raise Grid3dsFormatError(
            f"{source}: 'Grid settings' must be five numbers cx;cy;w;h;angle, "
            f"got {header['Grid settings']!r}"
        )
    sweep_signal, sweep_si = _split_name_unit(header["Sweep Signal"])
    fixed = _names(header, "Fixed parameters")
    experiment = _names(header, "Experiment parameters")
    n_params = _int_entry(header, "# Parameters (4 byte)", source)
    if n_params != len(fixed) + len(experiment):
        raise Grid3dsFormatError(
            f"{source}: '# Parameters (4 byte)' is {n_params} but 'Fixed parameters' and "
            f"'Experiment parameters' name {len(fixed)} + {len(experiment)}"
        )
    if len(fixed) < 2:
        raise Grid3dsFormatError(
            f"{source}: 'Fixed parameters' must name the sweep's start and end, got {fixed}"
        )
    points = _int_entry(header, "Points", source)
    if points < 1:
        raise Grid3dsFormatError(f"{source}: 'Points' must be >= 1, got {points}")
    channel_fields = _names(header, "Channels")
    if not channel_fields:
        raise Grid3dsFormatError(f"{source}: 'Channels' names no channel")
    exp_size = _int_entry(header, "Experiment size (bytes)", source)
    if exp_size != points * len(channel_fields) * 4:
        raise Grid3dsFormatError(
            f"{source}: 'Experiment size (bytes)' is {exp_size} but {len(channel_fields)} "
            f"channel(s) of {points} points need {points * len(channel_fields) * 4}"
        )

    # fixed parameters (the sweep's start and end) carry the sweep signal's unit
    param_fields = [(p, sweep_si) for p in fixed] + [_split_name_unit(p) for p in experiment]
    channel_list = [_split_name_unit(c) for c in channel_fields]
    for what, names in (("parameter", param_fields), ("channel", channel_list)):
        seen = [n for n, _ in names]
        dup = sorted({n for n in seen if seen.count(n) > 1})
        if dup:
            raise Grid3dsFormatError(f"{source}: {what} name(s) {dup} appear twice")

    start = end + len(_END_TAG)
    if data[start : start + 2] == b"\r\n":
        start += 2
    elif data[start : start + 1] == b"\n":
        start += 1
    per_point = n_params + points * len(channel_list)
    point_bytes = per_point * _DTYPE.itemsize
    total = nx * ny
    available = len(data) - start
    if available > total * point_bytes:
        raise Grid3dsFormatError(
            f"{source}: data block holds {available} bytes, more than the "
            f"{total * point_bytes} that {nx} x {ny} points of {per_point} float32 need"
        )
    n_full, cut = divmod(available, point_bytes)
    records = np.full((total, per_point), np.nan, dtype=np.float32)
    stored = np.frombuffer(data, dtype=_DTYPE, count=n_full * per_point, offset=start)
    records[:n_full] = stored.reshape(n_full, per_point)
    measured = np.zeros(total, dtype=bool)
    measured[:n_full] = True
    blank = measured & (np.all(records == 0.0, axis=1) | np.all(np.isnan(records), axis=1))
    measured &= ~blank
    records[~measured] = np.nan
    n_measured = int(measured.sum())
    if n_measured == 0:
        raise Grid3dsFormatError(
            f"{source}: grid declares {total} points but the file holds no measured point"
        )
    if n_measured < total:
        notes = []
        if cut:
            notes.append(f"point {n_full + 1} cut short after {cut} bytes")
        if blank.any():
            notes.append(f"{int(blank.sum())} stored as zeros")
        detail = f" ({'; '.join(notes)})" if notes else ""
        warnings.warn(
            IncompleteGridWarning(
                f"{source}: grid declares {total} points, file holds {n_measured}; "
                f"{total - n_measured} marked missing{detail}"
            ),
            stacklevel=2,
        )

    first = int(np.flatnonzero(measured)[0])
    sweep_units, sweep_factor = project_unit(sweep_si)
    names = [n for n, _ in param_fields]
    i_start = names.index("Sweep Start") if "Sweep Start" in names else 0
    i_end = names.index("Sweep End") if "Sweep End" in names else 1
    sweep = np.linspace(
        float(records[first, i_start]) * sweep_factor,
        float(records[first, i_end]) * sweep_factor,
        points,
    )
    parameters: dict[str, np.ndarray] = {}
    parameter_units: dict[str, str] = {}
    for k, (name, si) in enumerate(param_fields):
        unit, factor = project_unit(si)
        parameters[name] = (records[:, k] * np.float32(factor)).reshape(ny, nx)
        parameter_units[name] = unit
    channels: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for c, (name, si) in enumerate(channel_list):
        unit, factor = project_unit(si)
        block = records[:, n_params + c * points : n_params + (c + 1) * points]
        channels[name] = np.ascontiguousarray(block * np.float32(factor)).reshape(ny, nx, points)
        units[name] = unit
    cx, cy, w, h, angle = settings
    return Grid3ds(
        source=source,
        nx=nx,
        ny=ny,
        center=(cx * 1e9, cy * 1e9),
        size=(w * 1e9, h * 1e9),
        angle=angle,
        sweep_signal=sweep_signal,
        sweep_units=sweep_units,
        sweep=sweep,
        channels=channels,
        units=units,
        parameters=parameters,
        parameter_units=parameter_units,
        measured=measured.reshape(ny, nx),
        header=header,
    )


def read_3ds(path: str | os.PathLike) -> Grid3ds:
    """Read a Nanonis ``.3ds`` grid spectroscopy file (see :func:`parse_3ds`).

    Raises
    ------
    ConfigurationError
        If there is no such file.
    Grid3dsFormatError
        If the file is malformed; the message names the file and the problem.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(f".3ds file {str(p)!r} does not exist")
    return parse_3ds(p.read_bytes(), str(p))


def _si(unit: str) -> tuple[str, float]:
    return _SI.get(unit, (unit, 1.0))


def write_3ds(
    path: str | os.PathLike,
    channels: Mapping[str, np.ndarray],
    units: Mapping[str, str],
    sweep: tuple[float, float],
    size: tuple[float, float],
    *,
    sweep_signal: str = "Bias",
    sweep_units: str = "V",
    parameters: Mapping[str, np.ndarray] | None = None,
    center: tuple[float, float] = (0.0, 0.0),
    angle: float = 0.0,
    points_written: int | None = None,
    extra_header: Mapping[str, str] | None = None,
) -> Path:
    """Write spectra as a Nanonis ``.3ds`` grid (big-endian float32, SI units).

    The inverse of :func:`read_3ds`, used to test the reader and to export
    grids for other software. Arrays are given in autoscope's units.

    Parameters
    ----------
    path : str or os.PathLike
        File to write (overwritten).
    channels : mapping
        ``{name: (ny, nx, points)}``, all the same shape.
    units : mapping
        ``{name: unit}`` for every channel and parameter (``"nm"``, ``"pA"``
        are stored as m and A).
    sweep : (float, float)
        Sweep start and end in ``sweep_units`` (the fixed parameters).
    size : (float, float)
        Grid width and height in nm.
    sweep_signal, sweep_units : str
        The swept quantity (``"Bias"``, ``"V"``).
    parameters : mapping, optional
        Experiment parameters ``{name: (ny, nx)}`` (``"X"``, ``"Y"``, ``"Z"``).
    center, angle : grid centre (nm) and rotation (deg)
    points_written : int, optional
        Write only the first ``points_written`` points, as a grid stopped early.
    extra_header : mapping, optional
        More header entries (``Experiment``, ``User``, module settings).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ConfigurationError
        If there are no channels, shapes differ, a unit is missing, or
        ``points_written`` is beyond the grid.
    """
    if not channels:
        raise ConfigurationError("write_3ds needs at least one channel")
    params = dict(parameters or {})
    shape = None
    for name, arr in channels.items():
        a = np.asarray(arr)
        if a.ndim != 3:
            raise ConfigurationError(f"channel {name!r}: must be (ny, nx, points), got {a.shape}")
        if shape is None:
            shape = a.shape
        elif a.shape != shape:
            raise ConfigurationError(f"channel {name!r}: shape {a.shape} differs from {shape}")
    ny, nx, points = shape
    for name, arr in params.items():
        if np.shape(arr) != (ny, nx):
            raise ConfigurationError(
                f"parameter {name!r}: must be (ny, nx) = {(ny, nx)}, got {np.shape(arr)}"
            )
    for name in [*channels, *params]:
        if name not in units:
            raise ConfigurationError(f"write_3ds: no unit given for {name!r}")
    n_write = nx * ny if points_written is None else int(points_written)
    if not 0 <= n_write <= nx * ny:
        raise ConfigurationError(f"points_written must be in 0..{nx * ny}, got {points_written}")
    sweep_si, sweep_factor = _si(sweep_units)
    cols = [np.full(nx * ny, sweep[0] * sweep_factor), np.full(nx * ny, sweep[1] * sweep_factor)]
    param_names = []
    for name, arr in params.items():
        si, factor = _si(units[name])
        param_names.append(f"{name} ({si})")
        cols.append(np.asarray(arr, dtype=np.float64).ravel() * factor)
    channel_names = []
    for name, arr in channels.items():
        si, factor = _si(units[name])
        channel_names.append(f"{name} ({si})")
        cols.append(np.asarray(arr, dtype=np.float64).reshape(nx * ny, points) * factor)
    records = np.column_stack([c if c.ndim == 2 else c[:, None] for c in cols])
    entries = {
        "Grid dim": f'"{nx} x {ny}"',
        "Grid settings": ";".join(
            f"{v:.6E}"
            for v in (center[0] * 1e-9, center[1] * 1e-9, size[0] * 1e-9, size[1] * 1e-9, angle)
        ),
        "Filetype": "Linear",
        "Sweep Signal": f'"{sweep_signal} ({sweep_si})"',
        "Fixed parameters": '"Sweep Start;Sweep End"',
        "Experiment parameters": f'"{";".join(param_names)}"',
        "# Parameters (4 byte)": str(2 + len(param_names)),
        "Experiment size (bytes)": str(points * len(channel_names) * 4),
        "Points": str(points),
        "Channels": f'"{";".join(channel_names)}"',
        "Delay before measuring (s)": "0.000000E+0",
        "Experiment": '"Grid Spectroscopy"',
    }
    entries.update({k: str(v) for k, v in (extra_header or {}).items()})
    text = "".join(f"{k}={v}\r\n" for k, v in entries.items()) + ":HEADER_END:\r\n"
    out = Path(path)
    body = np.ascontiguousarray(records[:n_write], dtype=_DTYPE).tobytes()
    out.write_bytes(text.encode("latin-1") + body)
    return out


def grid3ds_to_recorded(
    grid: Grid3ds | str | os.PathLike,
    out_path: str | os.PathLike,
    channel: str,
    overview: str = "mean",
) -> Path:
    """Convert a ``.3ds`` grid to a recorded-dataset HDF5 file (:mod:`autoscope.io.recorded`).

    Parameters
    ----------
    grid : Grid3ds, or the path of a ``.3ds`` file
    out_path : str or os.PathLike
        File to write (overwritten).
    channel : str
        The channel whose spectra become ``spectra`` (``"LI Demod 1 X"``).
    overview : str
        What becomes ``image``: ``"mean"`` (the chosen channel's mean over
        the sweep), a per-point parameter (``"Z"``, the topography at each
        point), or another channel's name (its mean).

    Missing points stay missing: NaN rows of ``spectra`` and NaN in ``image``;
    the counts go into the attributes ``n_measured`` and ``n_missing``. The
    pixel size is the x spacing (nm).

    Raises
    ------
    ConfigurationError
        If the channel or overview is not in the grid, or the points are not
        square (within 1 %), which the single ``pixel_size`` cannot state.
    """
    g = grid if isinstance(grid, Grid3ds) else read_3ds(grid)
    spectra = g.channel(channel)
    if overview == "mean" or overview in g.channels:
        src = spectra if overview == "mean" else g.channels[overview]
        image = np.full((g.ny, g.nx), np.nan)
        image[g.measured] = src[g.measured].astype(np.float64).mean(axis=-1)
        image_units = g.units[channel if overview == "mean" else overview]
    elif overview in g.parameters:
        image = g.parameters[overview].astype(np.float64)
        image_units = g.parameter_units[overview]
    else:
        raise ConfigurationError(
            f"{g.source}: overview {overview!r} is neither 'mean', a parameter "
            f"{sorted(g.parameters)} nor a channel {sorted(g.channels)}"
        )
    image[~g.measured] = np.nan
    dx, dy = g.pixel_size
    if abs(dx - dy) > 0.01 * dx:
        raise ConfigurationError(
            f"{g.source}: points are {dx:.4g} x {dy:.4g} nm apart, not square; "
            "the recorded-dataset format has one pixel_size"
        )
    attrs = {
        "source": g.source,
        "channel": channel,
        "channel_units": g.units[channel],
        "overview": overview,
        "image_units": image_units,
        "sweep_signal": g.sweep_signal,
        "grid_angle_deg": float(g.angle),
        "grid_center_x_nm": float(g.center[0]),
        "grid_center_y_nm": float(g.center[1]),
        "n_measured": g.n_measured,
        "n_missing": g.n_points - g.n_measured,
    }
    return write_recorded_dataset(
        out_path,
        image,
        np.asarray(spectra, dtype=np.float64),
        g.sweep,
        spectral_units=g.sweep_units,
        pixel_size=dx,
        pixel_units="nm",
        attrs=attrs,
    )
