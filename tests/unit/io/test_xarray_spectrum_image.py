"""autoscope.io.to_xarray on spectrum images: ``(y, x, energy)`` with coordinates and attrs.

A real RunEngine records a small spectrum image of the STEM twin; the dataset made of
its documents (:func:`dataset_from_columns`, what :func:`to_xarray` does with a
catalog run's columns) carries the spectra on the device's own geometry
(:meth:`STEMScan.positions`), the energy axis of the start document and the per-line
readings; read back from a real catalog (``long``), the run gives the same dataset. A
stopped spectrum image (lines missing) and an uncalibrated import (pixel units, lines !=
pixels) go through the same code.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from autoscope.devices import STEMLimits, make_stem
from autoscope.devices.stem.backend import STEMScan
from autoscope.errors import DataFormatError
from autoscope.io import to_xarray
from autoscope.io.xarray_view import dataset_from_columns
from autoscope.plans.stem import spectrum_image

KEY = "stem_si_line_spectra"


@pytest.fixture(scope="module")
def documents():
    """The documents of a 5 x 5 spectrum image, 64 channels, rotated 30 degrees."""
    from bluesky import RunEngine

    docs: list[tuple[str, dict]] = []
    engine = RunEngine({}, call_returns_result=False)
    engine.subscribe(lambda name, doc: docs.append((name, doc)))
    limits = STEMLimits(beam_current_pa=200.0, dose_per_area=1e7, dose_total=1e12)
    stem = make_stem("twin", sample="nanoparticles", seed=0, limits=limits)
    engine(
        spectrum_image(
            stem, center_x=2.0, center_y=-1.0, fov_nm=20.0, pixels=5, channels=64,
            dispersion=0.5, energy_offset=-2.0, rotation=30.0,
        )
    )  # fmt: skip
    return docs


def _columns(docs, lines=None):
    """(start, data keys, columns) of the primary stream, the first ``lines`` events."""
    start = next(d for n, d in docs if n == "start")
    descriptor = next(d for n, d in docs if n == "descriptor" and d["name"] == "primary")
    events = [d for n, d in docs if n == "event" and d["descriptor"] == descriptor["uid"]]
    events = events[:lines]
    columns = {k: np.asarray([e["data"][k] for e in events]) for k in descriptor["data_keys"]}
    return start, descriptor["data_keys"], columns


def test_spectrum_image_is_y_x_energy_on_the_device_geometry(documents):
    start, keys, columns = _columns(documents)
    ds = dataset_from_columns(start, keys, columns)
    spectra = ds["spectra"]
    assert spectra.dims == ("y", "x", "energy") and spectra.shape == (5, 5, 64)
    assert spectra.dtype == np.float32 and spectra.attrs["units"] == "counts"
    # the events, line by line, unchanged
    np.testing.assert_array_equal(spectra.values, columns[KEY])
    assert (spectra.values.sum(axis=-1) > 0).all()
    np.testing.assert_allclose(ds["energy"].values, -2.0 + 0.5 * np.arange(64))
    assert ds["energy"].attrs == {"units": "eV", "long_name": "energy loss"}
    # pixel centres where the device put the beam
    scan = STEMScan(center_nm=(2.0, -1.0), fov_nm=20.0, pixels=5, rotation=30.0)
    for i in range(5):
        xs, ys = scan.positions(i)
        np.testing.assert_allclose(ds["x_sample"].values[i], xs, atol=1e-12)
        np.testing.assert_allclose(ds["y_sample"].values[i], ys, atol=1e-12)
    np.testing.assert_allclose(ds["x"].values, 2.0 + (np.arange(5) - 2.0) * 4.0)
    assert ds["x"].attrs["units"] == "nm" and ds["x_sample"].attrs["units"] == "nm"
    # per-line readings along y, every line measured
    assert ds["line_measured"].values.all()
    assert ds["t_end"].dims == ("y",) and (ds["t_end"] >= ds["t_start"]).all()
    assert ds["dose"].attrs["units"] == "e/Å^2" and (ds["dose"] > 0).all()
    assert ds.attrs["uid"] == start["uid"] and ds.attrs["plan_name"] == "spectrum_image"
    assert ds.attrs["frame_angle"] == 30.0 and ds.attrs["frame_width"] == 20.0


@pytest.mark.long
def test_the_catalog_run_gives_the_same_dataset(documents, tmp_path):
    from bluesky_tiled_plugins import TiledWriter

    from autoscope.catalog.testing import inprocess_catalog

    start, keys, columns = _columns(documents)
    with inprocess_catalog(tmp_path) as client:
        writer = TiledWriter(client, max_array_size=0)
        for name, doc in documents:
            writer(name, doc)
        ds = to_xarray(client[start["uid"]])
    xr.testing.assert_identical(ds, dataset_from_columns(start, keys, columns))


def test_stopped_spectrum_image_has_nan_lines_not_zeros(documents):
    # the first 2 lines only, as a run stopped after line 1 holds them
    ds = dataset_from_columns(*_columns(documents, lines=2))
    assert list(ds["line_measured"].values) == [True, True, False, False, False]
    assert np.isnan(ds["spectra"].values[2:]).all()
    assert np.isfinite(ds["spectra"].values[:2]).all()
    assert np.isnan(ds["t_start"].values[2:]).all()


def _imported_start(**axis):
    return {
        "uid": "u1",
        "plan_name": "spectrum_image",
        "spectra_key": "stem_si_spectra",
        "line_key": "stem_si_index",
        "image_shape": [2, 3],
        "pixel_units": "pixel",
        "scan": {"center_nm": [0.0, 0.0], "fov_nm": 3.0, "fov_y_nm": 2.0, "rotation": 0.0},
        "spectral_axis": {"name": "energy", "units": "keV", **axis},
        "signal_type": "EDS_TEM",
        "source_file": "a.bcf",
    }


def test_uncalibrated_import_keeps_pixel_units_and_a_listed_axis():
    start = _imported_start(start=0.1, stop=0.4, points=3, values=[0.1, 0.15, 0.4])
    keys = {"stem_si_spectra": {"dims": ["x", "energy"], "units": "counts"}}
    cube = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    # lines come in any order; each lands on its own row
    ds = dataset_from_columns(
        start, keys, {"stem_si_index": np.array([1, 0]), "stem_si_spectra": cube[::-1]}
    )
    np.testing.assert_array_equal(ds["spectra"].values, cube)
    np.testing.assert_allclose(ds["energy"].values, [0.1, 0.15, 0.4])
    np.testing.assert_allclose(ds["x"].values, [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(ds["y"].values, [-0.5, 0.5])
    assert ds["x"].attrs["units"] == "pixel" and ds["energy"].attrs["units"] == "keV"
    assert ds.attrs["signal_type"] == "EDS_TEM" and ds.attrs["source_file"] == "a.bcf"


def test_spectra_that_do_not_fit_the_start_document_are_refused():
    start = _imported_start(start=0.1, stop=0.4, points=4)
    keys = {"stem_si_spectra": {"dims": ["x", "energy"], "units": "counts"}}
    with pytest.raises(DataFormatError, match=r"\(3, 3\) per line.*\(3, 4\)"):
        dataset_from_columns(
            start,
            keys,
            {"stem_si_index": np.array([0]), "stem_si_spectra": np.zeros((1, 3, 3))},
        )
    with pytest.raises(DataFormatError, match="line index 5 is outside 0..1"):
        dataset_from_columns(
            start,
            keys,
            {"stem_si_index": np.array([5]), "stem_si_spectra": np.zeros((1, 3, 4))},
        )
