"""autoscope's own Nanonis readers against a kept library's on the same files.

xarray-nanonis (MIT, 2025; numpy, xarray, pandas) reads ``.sxm``, ``.dat``
and ``.3ds`` into xarray Datasets in SI units. ADR 0014 says why autoscope
keeps its own readers; these tests hold the two to the same numbers:

- the real ``.sxm`` and ``.dat`` files of :data:`autoscope.io.realdata.KNOWN_FILES`
  (fetched into the user cache by ``make realdata``; a test skips with the
  reason when a file is absent), every channel and direction;
- ``.3ds`` grids that :func:`~autoscope.io.grid3ds.write_3ds` makes (no real
  grid ships in any package), complete and stopped early.
"""

import re
import warnings

import numpy as np
import pytest

from autoscope.errors import IncompleteGridWarning
from autoscope.io import realdata
from autoscope.io.dat import parse_dat
from autoscope.io.grid3ds import read_3ds, write_3ds
from autoscope.io.sxm import parse_sxm
from autoscope.io.units import project_unit

xn = pytest.importorskip("xarray_nanonis", reason="xarray-nanonis is in the test extra")

SXM = [f.key for f in realdata.KNOWN_FILES if f.kind == "sxm"]
DAT = [f.key for f in realdata.KNOWN_FILES if f.kind == "dat"]


def _real_file(key, tmp_path):
    real = realdata.known_file(key)
    try:
        data, source = realdata.locate(real)
    except FileNotFoundError as exc:
        pytest.skip(f"{key} not available here ({exc}); `make realdata` fetches it")
    path = tmp_path / real.name
    path.write_bytes(data)
    return data, source, path


def _lib_name(name, unit, ds):
    """The library's variable for one of our channels: spaces become underscores,
    and a unit it does not know stays in the name (``Phase_(deg)``)."""
    base = re.sub(r"\s+", "_", name.strip())
    for candidate in (base, f"{base}_({unit})"):
        if candidate in ds.data_vars:
            return candidate
    return None


@pytest.mark.parametrize("key", SXM)
def test_sxm_reader_matches_xarray_nanonis(key, tmp_path):
    data, source, path = _real_file(key, tmp_path)
    ours = parse_sxm(data, source)
    lib = xn.Read_NanonisFile(str(path)).dataset
    assert (lib.sizes["y"], lib.sizes["x"]) == (ours.lines, ours.pixels)
    directions = [str(d) for d in lib["dir"].values]
    compared = 0
    for channel, images in ours.channels.items():
        var = _lib_name(channel, ours.units[channel], lib)
        assert var is not None, f"{channel!r} of {key} is not among {list(lib.data_vars)}"
        unit, factor = project_unit(lib[var].attrs["units"])
        assert unit == ours.units[channel]
        for direction, image in images.items():
            theirs = lib[var].isel(dir=directions.index(direction)).values * factor
            np.testing.assert_allclose(image, theirs, rtol=1e-6, atol=0, equal_nan=True)
            compared += 1
    assert compared >= 4


@pytest.mark.parametrize("key", DAT)
def test_dat_reader_matches_xarray_nanonis(key, tmp_path):
    data, source, path = _real_file(key, tmp_path)
    ours = parse_dat(data.decode("latin-1"), source)
    lib = xn.Read_NanonisFile(str(path)).dataset
    # the library keeps the sweep as float32
    np.testing.assert_allclose(ours.axis, lib["bias"].values, rtol=1e-6)
    # both keep the columns in the file's order, the sweep's own column as the coordinate
    assert len(ours.channels) == len(lib.data_vars), (list(ours.channels), list(lib.data_vars))
    for (channel, (values, unit)), var in zip(ours.channels.items(), lib.data_vars):
        assert var.replace("_", " ").startswith(channel.split(" [")[0]), (channel, var)
        lib_unit, factor = project_unit(lib[var].attrs.get("units") or "")
        if lib_unit != unit:  # a unit the library keeps in the name: values as written
            factor = 1.0
        np.testing.assert_allclose(values, lib[var].values * factor, rtol=1e-6, atol=0)


def _grid(tmp_path, points_written=None):
    rng = np.random.default_rng(3)
    ny, nx, k = 4, 5, 16
    cur = (rng.normal(size=(ny, nx, k)) * 100).astype(np.float32)
    didv = rng.normal(size=(ny, nx, k)).astype(np.float32)
    x, y = np.meshgrid(np.arange(nx) * 2.0, np.arange(ny) * 2.0)
    z = rng.normal(size=(ny, nx))
    units = {"Current": "pA", "LI Demod 1 X": "pA", "X": "nm", "Y": "nm", "Z": "nm"}
    path = write_3ds(
        tmp_path / f"grid_{points_written}.3ds",
        {"Current": cur, "LI Demod 1 X": didv},
        units,
        (-1.0, 1.0),
        (10.0, 8.0),
        parameters={"X": x, "Y": y, "Z": z},
        points_written=points_written,
    )
    return path


@pytest.mark.parametrize("points_written", [None, 13])
def test_3ds_reader_matches_xarray_nanonis(tmp_path, points_written):
    path = _grid(tmp_path, points_written)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteGridWarning)
        ours = read_3ds(path)
    lib = xn.Read_NanonisFile(str(path)).dataset
    np.testing.assert_allclose(ours.sweep, lib["bias"].values, rtol=1e-6)
    for channel in ("Current", "LI Demod 1 X"):
        var = _lib_name(channel, ours.units[channel], lib)
        _, factor = project_unit(lib[var].attrs["units"])
        theirs = np.moveaxis(lib[var].values, 0, -1) * factor  # (bias, y, x) -> (y, x, bias)
        np.testing.assert_allclose(ours.channels[channel], theirs, rtol=1e-6, equal_nan=True)
    # both mark the points a stopped grid never measured as missing, not as zeros
    n_missing = 0 if points_written is None else 20 - points_written
    assert int((~ours.measured).sum()) == n_missing
    assert int(np.isnan(lib["Current"].values).all(axis=0).sum()) == n_missing
