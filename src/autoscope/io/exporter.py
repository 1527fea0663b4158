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

A STEM **spectrum image** (a ``spectrum_image``-shaped run, measured or imported)
exports the same way: its spectra on its raster, the overview from the
``stem_image`` run of the same raster (given, or named ``overview_uid``), else the
counts summed over energy. ``line`` (``"Cu_Ka"`` or an energy) keeps only the
channels of that X-ray line's window (:func:`autoscope.io.stem_files.line_window`),
so the element's line intensity per pixel is the dataset's property: the file's
``scalarizer`` attribute names the ``band_integral`` over the window.

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
from autoscope.io.stem_files import line_window
from autoscope.io.xarray_view import frame_coordinates, to_xarray

__all__ = ["add_arguments", "export_recorded", "main", "recorded_from_runs"]


def _is_grid(start: dict) -> bool:
    return "grid" in start and "spectral_axis" in start


def _is_image(start: dict) -> bool:
    return ("frame" in start or start.get("plan_name") == "stem_image") and "image_keys" in start


def _is_spectrum_image(start: dict) -> bool:
    return start.get("plan_name") == "spectrum_image" and "spectra_key" in start


def _overview_start(client, overview_uid: str, named_by: str) -> dict:
    """The start document of the overview run that ``named_by`` names; one line if absent."""
    try:
        return dict(client[overview_uid].metadata["start"])
    except KeyError:
        raise ConfigurationError(
            f"{named_by} names overview {overview_uid}, which is not in the catalog"
        ) from None


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
    line: str | None = None,
) -> dict:
    """Write a recorded-dataset file from catalog runs; returns what was written.

    :func:`recorded_from_runs` with the file written (overwritten); the
    returned dict gains ``path``.
    """
    dataset, info = recorded_from_runs(client, uids, channel, overview_channel, line)
    path = dataset.write(out)
    return {"path": str(path), **info}


def recorded_from_runs(
    client,
    uids,
    channel: str | None = None,
    overview_channel: str | None = None,
    line: str | None = None,
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
        ``topography``, ``Z``, else the first), trace direction; for a STEM
        image, the detector (default ``haadf``, else the first).
    line : str, optional
        Spectrum images only: an X-ray line (``"Cu_Ka"``) or energy (keV); only
        the channels of its window are kept (see the module docstring).

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
    if any(_is_spectrum_image(s) for s in starts.values()):
        return _spectrum_image_dataset(client, uids, starts, overview_channel, line)
    if line is not None:
        raise ConfigurationError(f"line {line!r} applies to a spectrum image run only")
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
        ostart = _overview_start(client, overview_uid, f"grid run {grid_uid}")
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


def _events(client, uid: str, keys) -> dict:
    node = client[uid]["primary"]
    return {k: np.asarray(node[k].read()) for k in keys}


def _spectrum_image_dataset(client, uids, starts, overview_channel, line):
    """:func:`recorded_from_runs` for a STEM spectrum image (and its image run)."""
    sis = [u for u in uids if _is_spectrum_image(starts[u])]
    images = [u for u in uids if _is_image(starts[u])]
    others = [u for u in uids if u not in sis and u not in images]
    if len(sis) != 1 or len(images) > 1 or others:
        kinds = ", ".join(f"{u} ({starts[u].get('plan_name', '?')})" for u in uids)
        raise ConfigurationError(
            f"export needs one spectrum image run and at most one image run, got {kinds}"
        )
    si_uid = sis[0]
    start = starts[si_uid]
    lines, pixels = (int(v) for v in start["image_shape"])
    ax = start["spectral_axis"]
    axis = (
        np.asarray(ax["values"], dtype=np.float64)
        if "values" in ax
        else np.linspace(float(ax["start"]), float(ax["stop"]), int(ax["points"]))
    )
    cols = _events(client, si_uid, (start["line_key"], start["spectra_key"]))
    rows = np.asarray(cols[start["line_key"]], dtype=int)
    cube = np.full((lines, pixels, len(axis)), np.nan)
    cube[rows] = np.asarray(cols[start["spectra_key"]], dtype=np.float64)
    measured = ~np.isnan(cube).all(axis=-1)
    if not measured.any():
        raise ConfigurationError(f"spectrum image run {si_uid} holds no measured line")
    # counts: a run of zeros at a spectrum's minimum is measured, not clipped (the
    # benchmark's ground truth checks such spectra for NaN and inf only)
    attrs: dict = {
        "si_uid": si_uid,
        "signal_type": start.get("signal_type", ""),
        "spectra_kind": "counts",
    }
    if line is not None:
        units = ax.get("units", "")
        if units not in ("keV", "eV"):
            raise ConfigurationError(
                f"line {line!r} needs an energy axis in keV or eV; run {si_uid} has {units!r}"
            )
        name, energy, lo, hi = line_window(line, start.get("energy_resolution_MnKa_eV"))
        scale = 1e3 if units == "eV" else 1.0
        inside = (axis >= lo * scale) & (axis <= hi * scale)
        if inside.sum() < 2:
            raise ConfigurationError(
                f"the window {lo:.3f}..{hi:.3f} keV of line {name} holds {int(inside.sum())} "
                f"channels of run {si_uid} (axis {axis[0]:.4g}..{axis[-1]:.4g} {units})"
            )
        cube, axis = cube[..., inside], axis[inside]
        attrs.update(
            {
                "element_line": name,
                "line_energy_keV": energy,
                "line_window_keV": f"{lo:.4f}:{hi:.4f}",
                # widened to the 6th decimal, so the kept channels at both ends count
                "scalarizer": f"band_integral:{np.floor(axis[0] * 1e6) / 1e6:.6f}:"
                f"{np.ceil(axis[-1] * 1e6) / 1e6:.6f}",
                "property": f"counts of {name} per pixel: the band_integral of the window "
                f"{lo:.3f}..{hi:.3f} keV (the line's FWHM either side)",
            }
        )
    overview_uid = images[0] if images else start.get("overview_uid")
    if overview_uid is not None:
        ostart = _overview_start(client, overview_uid, f"run {si_uid}")
        names = list(ostart["image_keys"])
        ov_channel = overview_channel or _default_channel(names, ("haadf", "HAADF"))
        if ov_channel not in names:
            raise ConfigurationError(
                f"image run {overview_uid} has no detector {ov_channel!r}; it has {names}"
            )
        if [int(v) for v in ostart["image_shape"]] != [lines, pixels]:
            raise ConfigurationError(
                f"image run {overview_uid} is {ostart['image_shape']}, the spectrum image "
                f"{[lines, pixels]}; export needs them on one raster"
            )
        key = ostart["image_keys"][ov_channel]
        ocols = _events(client, overview_uid, (ostart["line_key"], key))
        image = np.full((lines, pixels), np.nan)
        image[np.asarray(ocols[ostart["line_key"]], dtype=int)] = ocols[key]
        formed = f"detector {ov_channel!r} of image run {overview_uid}, float64"
    else:
        if overview_channel is not None:
            raise ConfigurationError(
                f"run {si_uid} has no image run; give one beside it to choose "
                f"detector {overview_channel!r}"
            )
        ov_channel = "total_counts"
        image = np.full((lines, pixels), np.nan)
        image[measured] = np.nansum(cube[measured], axis=-1)
        formed = "counts of every spectrum summed over energy, float64"
    n_measured = int(measured.sum())
    attrs.update(
        {
            "overview_uid": overview_uid or "",
            "channel": "spectra",
            "channel_units": "counts",
            "overview_channel": ov_channel,
            "overview_formed": formed,
            "image_units": "counts",
            "grid_angle_deg": 0.0,
            "grid_center_x_nm": 0.0,
            "grid_center_y_nm": 0.0,
            "n_measured": n_measured,
            "n_missing": int(measured.size - n_measured),
        }
    )
    for key in ("source_file", "source_sha256"):
        if start.get(key):
            attrs[key] = start[key]
    p = start.get("pixel_size", [1.0])[0]
    dataset = RecordedDataset(
        image=image,
        spectra=cube,
        spectral_axis=axis,
        spectral_units=ax.get("units", ""),
        pixel_size=float(p),
        pixel_units=start.get("pixel_units", "nm"),
        attrs=attrs,
    ).validate(require_spectra=True)
    return dataset, {
        "grid_uid": si_uid,
        "overview_uid": overview_uid,
        "channel": attrs.get("element_line", "spectra"),
        "overview_channel": ov_channel,
        "shape": [lines, pixels, len(axis)],
        "n_measured": n_measured,
        "n_missing": int(measured.size - n_measured),
        "scalarizer": attrs.get("scalarizer"),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``autoscope export``."""
    parser.add_argument("runs", nargs="+", metavar="RUN", help="a grid run uid [and an image run]")
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="file to write")
    parser.add_argument("--channel", default=None, help="spectrum channel (default dIdV)")
    parser.add_argument(
        "--overview-channel", default=None, help="image channel of the overview (trace)"
    )
    parser.add_argument(
        "--line",
        default=None,
        metavar="EL_LINE",
        help="spectrum image: keep the window of this X-ray line (Cu_Ka, or an energy in keV)",
    )
    add_data_dir_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope export``; prints what was written."""
    from autoscope.catalog import connect, data_dir

    client = connect(data_dir=data_dir(args.data_dir))
    r = export_recorded(
        client, args.runs, Path(args.out), args.channel, args.overview_channel, args.line
    )
    h, w, k = r["shape"]
    print(
        f"{r['path']}: {h} x {w} grid of {k}-point {r['channel']!r} spectra "
        f"({r['n_measured']} measured, {r['n_missing']} missing), overview "
        f"{r['overview_channel']!r} from {r['overview_uid'] or 'the spectra (channel mean)'}"
    )
    if r.get("scalarizer"):
        print(f"property: --scalarizer {r['scalarizer']}")
    if r["n_missing"]:
        print("grid incomplete: missing points are NaN rows and never candidates")
    return 0
