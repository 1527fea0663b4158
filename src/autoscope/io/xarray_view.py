"""Catalog runs as :class:`xarray.Dataset` with their coordinates: :func:`to_xarray`.

Tiled stores every event array with positional dimensions (``time``,
``dim_int_1`` ...): it keeps the descriptor's ``dims`` in the array's metadata
but does not name the axes with them, and a frame's nm coordinates live in the
start document. :func:`to_xarray` puts them together:

- **raster image** (``raster_image`` and everything with ``frame`` and
  ``image_keys`` in its start document): one variable per image channel,
  dimensions ``(direction, y, x)`` with ``direction`` = ``["trace", "retrace"]``
  and the units of the channel; ``x`` and ``y`` are the pixel centres in nm
  along the frame's fast and slow axes, ``center + u`` and ``center + v``
  (:func:`frame_coordinates`): the sample's x and y for a frame that is not
  rotated. Every frame also carries the 2-D coordinates ``x_sample`` and
  ``y_sample`` ``(y, x)``, where each pixel is on the sample (nm), which is
  what a rotated frame needs. Lines not measured (a stopped scan) are NaN.
  Per-line readings (requested and reported ends, instrument time) are
  variables along ``y``.
- **grid spectroscopy** (``grid`` in the start document): one variable per
  spectrum channel, ``(y, x, bias)``, the sweep axis ``bias`` a coordinate
  with its units, ``x``/``y``/``x_sample``/``y_sample`` as for an image (nodes
  at pixel centres), the reported positions as ``(y, x)`` variables, NaN
  where no spectrum was measured.
- **spectrum image** (``spectrum_image``: a STEM spectrum image, measured or
  imported; one event per line): the spectra as one variable ``spectra``
  ``(y, x, energy)`` (float32, units of the data key, e.g. counts), the energy
  axis a coordinate (its units and its name from the start document's
  ``spectral_axis``, e.g. ``"energy loss"``, as ``long_name``), ``x``/``y`` the
  pixel centres along the scan's own axes and ``x_sample``/``y_sample`` where
  each pixel is on the sample (``scan``: centre, field of view, rotation; the
  ``pixel_units`` of an uncalibrated file), NaN on lines not measured; the
  per-line readings (requested and reported ends, times, dose) are variables
  along ``y`` and ``line_measured`` marks the lines measured.
- **spectra at positions** (``point_spectrum``, ``spectra_at``, a campaign's
  spectra): ``(spectrum, bias)``, positions asked for and reported along
  ``spectrum``.
- anything else: the stream's arrays with the dimension names their
  descriptor gives (``dims``), ``time`` first.

Units are in each variable's ``attrs["units"]``; the start document's
``uid``, ``plan_name`` and (for a campaign) ``campaign`` and
``campaign_step`` are in the dataset's ``attrs``.

Data layer: imports no instrument, plan or agent code.
"""

from __future__ import annotations

import numpy as np

from autoscope.errors import ConfigurationError, DataFormatError

__all__ = ["DIRECTIONS", "dataset_from_columns", "frame_coordinates", "to_xarray"]

#: Values of the ``direction`` dimension of an image.
DIRECTIONS = ("trace", "retrace")

_FRAME_FIELDS = ("center_x", "center_y", "width", "height", "angle")
_LINE_SCALARS = (
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
_SPECTRUM_SCALARS = ("x_requested", "y_requested", "x_reported", "y_reported", "t_start", "t_end")
_RUN_ATTRS = ("uid", "plan_name", "scan_id", "campaign", "campaign_step", "campaign_role")


def frame_coordinates(frame: dict, pixels: int, lines: int) -> dict[str, np.ndarray]:
    """Pixel-centre coordinates (nm) of a ``lines x pixels`` raster of ``frame``.

    Parameters
    ----------
    frame : dict
        ``center_x``, ``center_y``, ``width``, ``height`` (nm) and ``angle``
        (degrees, counter-clockwise), as in a start document's ``frame`` or ``grid``.
    pixels, lines : int
        Pixels per line (along x) and lines (along y, line 0 at the bottom).

    Returns
    -------
    dict
        ``x`` ``(pixels,)`` and ``y`` ``(lines,)``: ``center + u`` and
        ``center + v`` along the frame's own axes; ``x_sample`` and
        ``y_sample`` ``(lines, pixels)``: where each pixel is on the sample.

    Raises
    ------
    ConfigurationError
        if a field is missing or the size is not positive.
    """
    missing = [k for k in _FRAME_FIELDS if k not in frame]
    if missing:
        raise ConfigurationError(f"frame {frame!r} lacks {', '.join(missing)}")
    if int(pixels) < 1 or int(lines) < 1:
        raise ConfigurationError(f"raster size {lines} x {pixels} must be at least 1 x 1")
    cx, cy = float(frame["center_x"]), float(frame["center_y"])
    w, h = float(frame["width"]), float(frame["height"])
    u = -w / 2 + (np.arange(int(pixels)) + 0.5) * w / int(pixels)
    v = -h / 2 + (np.arange(int(lines)) + 0.5) * h / int(lines)
    a = np.deg2rad(float(frame["angle"]))
    uu, vv = np.meshgrid(u, v)
    return {
        "x": cx + u,
        "y": cy + v,
        "x_sample": cx + uu * np.cos(a) - vv * np.sin(a),
        "y_sample": cy + uu * np.sin(a) + vv * np.cos(a),
    }


def to_xarray(run, stream: str = "primary"):
    """Return a catalog run as an :class:`xarray.Dataset` with nm and spectral coordinates.

    Parameters
    ----------
    run : BlueskyRun
        A run of the catalog (``catalog[uid]``); anything with ``metadata["start"]``
        and ``run[stream]`` whose ``read()`` gives the events as a dataset.
    stream : str
        The event stream (default ``"primary"``).

    Returns
    -------
    xarray.Dataset
        See the module docstring for the layout of images, grids and spectra.

    Raises
    ------
    ConfigurationError
        if the run has no stream of that name.
    DataFormatError
        if the events do not fit what the start document says (a line index
        beyond the frame, a grid index beyond the grid).
    """
    start = dict(run.metadata["start"])
    try:
        node = run[stream]
    except KeyError:
        raise ConfigurationError(f"run {start.get('uid', '?')} has no stream {stream!r}") from None
    data_keys = dict(node.metadata["data_keys"])
    # key by key: the stream's own read() names equal-sized axes alike, and an (H, W)
    # array with H == W gets one dimension name twice
    columns = {k: np.asarray(node[k].read()) for k in data_keys if k in node}
    return dataset_from_columns(start, data_keys, columns, stream)


def dataset_from_columns(start: dict, data_keys: dict, columns: dict, stream: str = "primary"):
    """:func:`to_xarray` from a start document, the stream's data keys and its columns.

    ``columns`` maps a data key to its values of every event, stacked (first
    axis: events, in order). Usable on documents as they arrive, without a catalog.
    """
    import xarray as xr

    if stream == "primary" and "frame" in start and "image_keys" in start:
        ds = _image(start, data_keys, columns)
    elif (
        stream == "primary"
        and start.get("plan_name") == "spectrum_image"
        and ("spectra_key" in start)
    ):
        ds = _spectrum_image(start, data_keys, columns)
    elif stream == "primary" and "spectral_axis" in start and "grid" in start:
        ds = _grid(start, data_keys, columns)
    elif stream == "primary" and "spectral_axis" in start:
        ds = _spectra(start, data_keys, columns)
    else:
        ds = xr.Dataset(
            {
                key: (_event_dims(key, data_keys, np.ndim(values)), values)
                for key, values in columns.items()
            }
        )
        for key in ds.data_vars:
            _set_units(ds[key], data_keys.get(key, {}).get("units"))
    ds.attrs.update({k: start[k] for k in _RUN_ATTRS if start.get(k) is not None})
    return ds


def _event_dims(key: str, data_keys: dict, ndim: int) -> tuple[str, ...]:
    dims = list(data_keys.get(key, {}).get("dims") or [])
    dims = dims[: ndim - 1] + [f"{key}_dim_{i}" for i in range(len(dims), ndim - 1)]
    return ("time", *dims)


def _set_units(var, units) -> None:
    if units:
        var.attrs["units"] = units


def _prefix(key: str, suffix: str) -> str:
    """``spm_line_index`` -> ``spm_line_`` + suffix (the device's key of a scalar)."""
    return key[: key.rfind("_") + 1] + suffix


def _rows(index: np.ndarray, n: int, what: str) -> np.ndarray:
    index = np.asarray(index, dtype=np.int64)
    bad = index[(index < 0) | (index >= n)]
    if bad.size:
        raise DataFormatError(f"{what} index {int(bad[0])} is outside 0..{n - 1}")
    return index


def _add_line_readings(ds, fields, line_key, columns, rows, lines, data_keys) -> None:
    """Per-line readings of a raster (NaN on lines not measured) and ``line_measured``.

    ``rows`` are the line numbers of the events, in event order: a line repeated after a
    pause takes its last reading.
    """
    for field in fields:
        key = _prefix(line_key, field)
        if key in columns:
            values = np.full(lines, np.nan)
            values[rows] = columns[key]
            ds[field] = ("y", values)
            _set_units(ds[field], data_keys.get(key, {}).get("units"))
    measured = np.zeros(lines, dtype=bool)
    measured[rows] = True
    ds["line_measured"] = ("y", measured)


def _image(start: dict, data_keys: dict, columns: dict):
    import xarray as xr

    frame = start["frame"]
    lines, pixels = int(frame["lines"]), int(frame["pixels"])
    coords = frame_coordinates(frame, pixels, lines)
    line_key = start.get("line_key", "")
    n_events = len(next(iter(columns.values()))) if columns else 0
    rows = _rows(columns.get(line_key, np.arange(n_events)), lines, "line")
    ds = xr.Dataset(
        coords={
            "direction": list(DIRECTIONS),
            "y": ("y", coords["y"], {"units": "nm", "long_name": "slow-scan axis"}),
            "x": ("x", coords["x"], {"units": "nm", "long_name": "fast-scan axis"}),
            "x_sample": (("y", "x"), coords["x_sample"], {"units": "nm"}),
            "y_sample": (("y", "x"), coords["y_sample"], {"units": "nm"}),
        }
    )
    for channel, keys in start["image_keys"].items():
        image = np.full((2, lines, pixels), np.nan, dtype=np.float32)
        for d, key in enumerate(keys):
            if key in columns:
                # a line repeated after a pause: the last measurement of it stands
                image[d, rows] = columns[key]
        ds[channel] = (("direction", "y", "x"), image)
        _set_units(ds[channel], data_keys.get(keys[0], {}).get("units"))
    _add_line_readings(ds, _LINE_SCALARS, line_key, columns, rows, lines, data_keys)
    ds.attrs.update({f"frame_{k}": float(frame[k]) for k in _FRAME_FIELDS})
    ds.attrs["scan_order"] = start.get("scan_order", "")
    return ds


def _spectral_axis(start: dict, data_keys: dict, columns: dict) -> tuple[str, np.ndarray, dict]:
    info = start["spectral_axis"]
    key = info["key"]
    name = (data_keys.get(key, {}).get("dims") or [info.get("name", "bias")])[0]
    values = np.asarray(columns.get(key, np.empty((0, 0))), dtype=float)
    finite = [row for row in values if np.isfinite(row).all()]
    if finite:
        axis = finite[0]
    else:  # no spectrum yet: the nominal sweep
        axis = np.linspace(info["start"], info["stop"], int(info["points"]))
    attrs = {"units": info.get("units") or data_keys.get(key, {}).get("units", "")}
    return name, axis, attrs


def _spectrum_columns(start: dict, columns: dict):
    for channel, key in start.get("spectrum_keys", {}).items():
        if key in columns:
            yield channel, key, np.asarray(columns[key], dtype=np.float32)


def _spectra(start: dict, data_keys: dict, columns: dict):
    import xarray as xr

    name, axis, axis_attrs = _spectral_axis(start, data_keys, columns)
    index_key = start.get("index_key", "")
    n = len(columns.get(index_key, ()))
    ds = xr.Dataset(
        coords={
            name: (name, axis, axis_attrs),
            "spectrum": ("spectrum", np.asarray(columns.get(index_key, np.arange(n)))),
        }
    )
    for channel, key, values in _spectrum_columns(start, columns):
        ds[channel] = (("spectrum", name), values.reshape(n, -1))
        _set_units(ds[channel], data_keys.get(key, {}).get("units"))
    for field in _SPECTRUM_SCALARS:
        key = _prefix(index_key, field)
        if key in columns:
            ds.coords[field] = ("spectrum", np.asarray(columns[key], dtype=float))
            _set_units(ds.coords[field], data_keys.get(key, {}).get("units"))
    return ds


def _grid(start: dict, data_keys: dict, columns: dict):
    import xarray as xr

    grid = start["grid"]
    ny, nx = int(grid["ny"]), int(grid["nx"])
    coords = frame_coordinates(grid, nx, ny)
    name, axis, axis_attrs = _spectral_axis(start, data_keys, columns)
    index_key = start.get("index_key", "")
    flat = _rows(columns.get(index_key, np.zeros(0, int)), nx * ny, "grid")
    iy, ix = np.divmod(flat, nx)
    ds = xr.Dataset(
        coords={
            "y": ("y", coords["y"], {"units": "nm"}),
            "x": ("x", coords["x"], {"units": "nm"}),
            name: (name, axis, axis_attrs),
            "x_sample": (("y", "x"), coords["x_sample"], {"units": "nm"}),
            "y_sample": (("y", "x"), coords["y_sample"], {"units": "nm"}),
        }
    )
    for channel, key, values in _spectrum_columns(start, columns):
        cube = np.full((ny, nx, len(axis)), np.nan, dtype=np.float32)
        cube[iy, ix] = values.reshape(len(flat), -1)
        ds[channel] = (("y", "x", name), cube)
        _set_units(ds[channel], data_keys.get(key, {}).get("units"))
    for field in _SPECTRUM_SCALARS:
        key = _prefix(index_key, field)
        if key in columns:
            values = np.full((ny, nx), np.nan)
            values[iy, ix] = columns[key]
            ds[field] = (("y", "x"), values)
            _set_units(ds[field], data_keys.get(key, {}).get("units"))
    measured = np.zeros((ny, nx), dtype=bool)
    measured[iy, ix] = True
    ds["measured"] = (("y", "x"), measured)
    ds.attrs.update({f"grid_{k}": float(grid[k]) for k in _FRAME_FIELDS})
    return ds


def _scan_frame(start: dict) -> tuple[dict, int, int, str]:
    """A STEM run's raster as a ``frame`` of :func:`frame_coordinates`; lines, pixels, units."""
    scan = start.get("scan") or {}
    shape = start.get("image_shape")
    if not shape or "fov_nm" not in scan:
        raise DataFormatError(
            f"run {start.get('uid', '?')}: a spectrum image needs 'image_shape' and "
            f"'scan.fov_nm' in its start document; it has {sorted(start)}"
        )
    lines, pixels = (int(v) for v in shape)
    center = scan.get("center_nm") or (0.0, 0.0)
    width = float(scan["fov_nm"])
    # an imported raster of lines != pixels states its height; a plan's raster is square
    height = float(scan.get("fov_y_nm", width * lines / pixels))
    frame = {
        "center_x": float(center[0]),
        "center_y": float(center[1]),
        "width": width,
        "height": height,
        "angle": float(scan.get("rotation", 0.0)),
    }
    return frame, lines, pixels, str(start.get("pixel_units") or "nm")


def _energy_axis(start: dict) -> np.ndarray:
    info = start["spectral_axis"]
    if "values" in info:
        return np.asarray(info["values"], dtype=float)
    return np.linspace(float(info["start"]), float(info["stop"]), int(info["points"]))


def _spectrum_image(start: dict, data_keys: dict, columns: dict):
    import xarray as xr

    frame, lines, pixels, units = _scan_frame(start)
    coords = frame_coordinates(frame, pixels, lines)
    info = start["spectral_axis"]
    key, line_key = start["spectra_key"], start.get("line_key", "")
    axis = _energy_axis(start)
    name = (data_keys.get(key, {}).get("dims") or ["x", "energy"])[-1]
    n_events = len(next(iter(columns.values()))) if columns else 0
    rows = _rows(columns.get(line_key, np.arange(n_events)), lines, "line")
    axis_attrs = {"units": info.get("units", ""), "long_name": info.get("name", name)}
    ds = xr.Dataset(
        coords={
            "y": ("y", coords["y"], {"units": units, "long_name": "slow-scan axis"}),
            "x": ("x", coords["x"], {"units": units, "long_name": "fast-scan axis"}),
            name: (name, axis, axis_attrs),
            "x_sample": (("y", "x"), coords["x_sample"], {"units": units}),
            "y_sample": (("y", "x"), coords["y_sample"], {"units": units}),
        }
    )
    cube = np.full((lines, pixels, len(axis)), np.nan, dtype=np.float32)
    if key in columns and len(rows):
        values = np.asarray(columns[key], dtype=np.float32)
        if values.shape[1:] != (pixels, len(axis)):
            raise DataFormatError(
                f"run {start.get('uid', '?')}: spectra of shape {values.shape[1:]} per line, "
                f"the start document says {(pixels, len(axis))} (pixels, channels)"
            )
        # a line repeated after a pause: the last measurement of it stands
        cube[rows] = values
    ds["spectra"] = (("y", "x", name), cube)
    _set_units(ds["spectra"], data_keys.get(key, {}).get("units"))
    fields = (*_LINE_SCALARS, "dose")
    _add_line_readings(ds, fields, line_key, columns, rows, lines, data_keys)
    ds.attrs.update({f"frame_{k}": float(frame[k]) for k in _FRAME_FIELDS})
    for k in ("signal_type", "scan_order", "instrument", "source_file"):
        if start.get(k) is not None:
            ds.attrs[k] = start[k]
    return ds
