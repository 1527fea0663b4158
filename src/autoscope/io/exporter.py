"""Catalog runs as a recorded-dataset file: what ``autoscope export`` writes.

A recorded dataset (:mod:`autoscope.io.recorded`) is an overview image and a
full grid of spectra on the same ``(H, W)`` pixels; ``autoscope benchmark
--dataset`` and the recorded-data backend read it. :func:`export_recorded`
makes one from runs of the catalog, measured or imported:

- the **grid**: one ``grid_spectroscopy``-shaped run (``grid`` and
  ``spectral_axis`` in its start document). Its spectra of one channel become
  ``spectra`` ``(ny, nx, K)``; a point the grid never measured is a NaN row
  (never a candidate), and the counts go into ``n_measured`` / ``n_missing``.
- the **overview**: an image run given beside the grid, else the run the grid's
  start document names as ``overview_uid`` (an imported ``.3ds`` has one), else
  the grid's own channel mean over the sweep. An image on another raster than
  the grid is sampled at the grid's nodes (nearest pixel, through both frames'
  geometry, rotation included); a node outside the image is an error.

The file's attributes say where everything came from (``grid_uid``,
``overview_uid``, ``channel``, ``overview_channel``, ``overview_formed``).

Data layer: reads runs through :func:`autoscope.io.to_xarray`; no instrument,
plan or agent code.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from autoscope.catalog.paths import add_data_dir_argument
from autoscope.errors import ConfigurationError
from autoscope.io.recorded import RecordedDataset
from autoscope.io.xarray_view import frame_coordinates, to_xarray

__all__ = ["add_arguments", "export_recorded", "main", "recorded_from_runs"]


def _is_grid(start: dict) -> bool:
    return "grid" in start and "spectral_axis" in start


def _is_image(start: dict) -> bool:
    return "frame" in start and "image_keys" in start


def _default_channel(names, preferred) -> str:
    for p in preferred:
        if p in names:
            return p
    return next(iter(names))


def _sample_image(image: np.ndarray, frame: dict, grid: dict, nx: int, ny: int) -> np.ndarray:
    """The image's nearest pixel at each grid node ``(ny, nx)``; NaN-free check by the caller."""
    nodes = frame_coordinates(grid, nx, ny)
    lines, pixels = image.shape
    a = np.deg2rad(float(frame["angle"]))
    dx = nodes["x_sample"] - float(frame["center_x"])
    dy = nodes["y_sample"] - float(frame["center_y"])
    u = dx * np.cos(a) + dy * np.sin(a)  # into the image frame's own axes
    v = -dx * np.sin(a) + dy * np.cos(a)
    w, h = float(frame["width"]), float(frame["height"])
    col = np.floor((u + w / 2) / (w / pixels)).astype(int)
    row = np.floor((v + h / 2) / (h / lines)).astype(int)
    tol = 1e-9
    outside = (u < -w / 2 - tol) | (u > w / 2 + tol) | (v < -h / 2 - tol) | (v > h / 2 + tol)
    if outside.any():
        iy, ix = np.argwhere(outside)[0]
        raise ConfigurationError(
            f"the overview frame does not cover grid node (row {iy}, col {ix}) at "
            f"({nodes['x_sample'][iy, ix]:.4g}, {nodes['y_sample'][iy, ix]:.4g}) nm"
        )
    return image[np.clip(row, 0, lines - 1), np.clip(col, 0, pixels - 1)].astype(np.float64)


def export_recorded(
    client,
    uids,
    out: str | os.PathLike,
    channel: str | None = None,
    overview_channel: str | None = None,
) -> dict:
    """Write a recorded-dataset file from catalog runs; returns what was written.

    :func:`recorded_from_runs` with the file written (overwritten); the
    returned dict gains ``path``.
    """
    dataset, info = recorded_from_runs(client, uids, channel, overview_channel)
    path = dataset.write(out)
    return {"path": str(path), **info}


def recorded_from_runs(
    client,
    uids,
    channel: str | None = None,
    overview_channel: str | None = None,
) -> tuple[RecordedDataset, dict]:
    """A recorded dataset from catalog runs, in memory, and what it was made of.

    Parameters
    ----------
    client : Tiled client of the catalog root
    uids : sequence of str
        One grid run, and optionally one image run for the overview.
    channel : str, optional
        Spectrum channel (default ``dIdV``, else ``LI_Demod_1_X``, else the first).
    overview_channel : str, optional
        Image channel (default: the overview run's ``overview_channel``, else
        ``topography``, ``Z``, else the first), trace direction.

    Returns
    -------
    (RecordedDataset, dict)
        The dataset, and ``grid_uid``, ``overview_uid`` (None for a channel mean),
        ``channel``, ``overview_channel``, ``shape`` ``[H, W, K]``,
        ``n_measured``, ``n_missing``.

    Raises
    ------
    ConfigurationError
        If a uid is not in the catalog, there is not exactly one grid run (or
        more than one image run), a channel is absent, the grid's points are not
        square, the overview does not cover the grid, or no point was measured.
    """
    uids = list(uids)
    if not uids:
        raise ConfigurationError("give the uid of a grid run (and optionally an image run)")
    starts = {}
    for uid in uids:
        try:
            starts[uid] = dict(client[uid].metadata["start"])
        except KeyError:
            raise ConfigurationError(f"no run {uid!r} in the catalog") from None
    grids = [u for u, s in starts.items() if _is_grid(s)]
    images = [u for u, s in starts.items() if _is_image(s)]
    others = [u for u in uids if u not in grids and u not in images]
    if len(grids) != 1 or len(images) > 1 or others:
        kinds = ", ".join(f"{u} ({starts[u].get('plan_name', '?')})" for u in uids)
        raise ConfigurationError(
            f"export needs one grid run and at most one image run, got {kinds}"
        )
    grid_uid = grids[0]
    gstart = starts[grid_uid]
    grid_ds = to_xarray(client[grid_uid])
    names = list(gstart.get("spectrum_keys", {}))
    if not names:
        raise ConfigurationError(f"grid run {grid_uid} names no spectrum channel")
    channel = channel or _default_channel(names, ("dIdV", "LI_Demod_1_X", "didv"))
    if channel not in grid_ds:
        raise ConfigurationError(f"grid run {grid_uid} has no channel {channel!r}; it has {names}")
    spectra = np.asarray(grid_ds[channel].values, dtype=np.float64)  # (ny, nx, K)
    measured = np.asarray(grid_ds["measured"].values, dtype=bool)
    if not measured.any():
        raise ConfigurationError(f"grid run {grid_uid} holds no measured spectrum")
    spectra[~measured] = np.nan
    axis_name = [d for d in grid_ds[channel].dims if d not in ("y", "x")][0]
    axis = np.asarray(grid_ds[axis_name].values, dtype=np.float64)
    grid = gstart["grid"]
    ny, nx = int(grid["ny"]), int(grid["nx"])
    dx, dy = float(grid["width"]) / nx, float(grid["height"]) / ny
    if abs(dx - dy) > 0.01 * dx:
        raise ConfigurationError(
            f"grid run {grid_uid}: points are {dx:.4g} x {dy:.4g} nm apart, not square; "
            "the recorded-dataset format has one pixel_size"
        )

    overview_uid = images[0] if images else gstart.get("overview_uid")
    if overview_uid is not None:
        try:
            ostart = dict(client[overview_uid].metadata["start"])
        except KeyError:
            raise ConfigurationError(
                f"grid run {grid_uid} names overview {overview_uid}, which is not in the catalog"
            ) from None
        ov_names = list(ostart["image_keys"])
        ov_channel = overview_channel or _default_channel(
            ov_names, (ostart.get("overview_channel"), "topography", "Z")
        )
        ov_ds = to_xarray(client[overview_uid])
        if ov_channel not in ov_ds:
            raise ConfigurationError(
                f"overview run {overview_uid} has no image channel {ov_channel!r}; "
                f"it has {ov_names}"
            )
        trace = np.asarray(ov_ds[ov_channel].sel(direction="trace").values, dtype=np.float64)
        image = _sample_image(trace, ostart["frame"], grid, nx, ny)
        formed = ostart.get("overview_formed") or (
            f"trace of image channel {ov_channel!r} of run {overview_uid}"
        )
        if trace.shape != (ny, nx) or ostart["frame"].get("angle") != grid.get("angle"):
            formed += ", nearest pixel at each grid node"
        image_units = ov_ds[ov_channel].attrs.get("units", "")
    else:
        if overview_channel is not None:
            raise ConfigurationError(
                f"grid run {grid_uid} has no overview run; give one beside it to choose "
                f"its channel {overview_channel!r}"
            )
        ov_channel = channel
        image = np.full((ny, nx), np.nan)
        image[measured] = spectra[measured].mean(axis=-1)
        formed = f"mean of spectrum channel {channel!r} over the sweep, float64"
        image_units = grid_ds[channel].attrs.get("units", "")
    image[~measured & ~np.isfinite(image)] = np.nan
    n_measured = int(measured.sum())
    attrs = {
        "grid_uid": grid_uid,
        "overview_uid": overview_uid or "",
        "channel": channel,
        "channel_units": grid_ds[channel].attrs.get("units", ""),
        "overview_channel": ov_channel,
        "overview_formed": formed,
        "image_units": image_units,
        "grid_angle_deg": float(grid.get("angle", 0.0)),
        "grid_center_x_nm": float(grid["center_x"]),
        "grid_center_y_nm": float(grid["center_y"]),
        "n_measured": n_measured,
        "n_missing": int(measured.size - n_measured),
    }
    for key in ("source_file", "source_sha256"):
        if gstart.get(key):
            attrs[key] = gstart[key]
    dataset = RecordedDataset(
        image=image,
        spectra=spectra,
        spectral_axis=axis,
        spectral_units=grid_ds[axis_name].attrs.get("units", ""),
        pixel_size=dx,
        pixel_units="nm",
        attrs=attrs,
    ).validate(require_spectra=True)
    return dataset, {
        "grid_uid": grid_uid,
        "overview_uid": overview_uid,
        "channel": channel,
        "overview_channel": ov_channel,
        "shape": [ny, nx, len(axis)],
        "n_measured": n_measured,
        "n_missing": int(measured.size - n_measured),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``autoscope export``."""
    parser.add_argument("runs", nargs="+", metavar="RUN", help="a grid run uid [and an image run]")
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="file to write")
    parser.add_argument("--channel", default=None, help="spectrum channel (default dIdV)")
    parser.add_argument(
        "--overview-channel", default=None, help="image channel of the overview (trace)"
    )
    add_data_dir_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope export``; prints what was written."""
    from autoscope.catalog import connect, data_dir

    client = connect(data_dir=data_dir(args.data_dir))
    r = export_recorded(client, args.runs, Path(args.out), args.channel, args.overview_channel)
    h, w, k = r["shape"]
    print(
        f"{r['path']}: {h} x {w} grid of {k}-point {r['channel']!r} spectra "
        f"({r['n_measured']} measured, {r['n_missing']} missing), overview "
        f"{r['overview_channel']!r} from {r['overview_uid'] or 'the spectra (channel mean)'}"
    )
    if r["n_missing"]:
        print("grid incomplete: missing points are NaN rows and never candidates")
    return 0
