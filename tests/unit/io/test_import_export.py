"""``autoscope import`` and ``autoscope export`` on an in-process catalog.

Files made by autoscope's own writers (a ``.sxm`` image, a ``.3ds`` grid,
complete and stopped early, a ``.dat`` spectrum) go into the catalog as runs
shaped like the plans' (checked through :func:`autoscope.io.to_xarray`, which
reads measured runs), carry the file's metadata and sha256, are found again
as duplicates, and a grid comes back out as a recorded dataset that the
benchmark's ground truth reads, with the missing points missing.
"""

import importlib.util
import warnings

import numpy as np
import pytest

from autoscope.catalog.testing import inprocess_catalog
from autoscope.catalog.writer import make_writer
from autoscope.errors import ConfigurationError, DataFormatError, IncompleteGridWarning
from autoscope.io import to_xarray
from autoscope.io.dat import write_dat
from autoscope.io.exporter import export_recorded
from autoscope.io.grid3ds import read_3ds, write_3ds
from autoscope.io.importer import compose_file, file_sha256, find_imported, import_files
from autoscope.io.recorded import RecordedDataset
from autoscope.io.sxm import write_sxm

NY, NX, K = 4, 5, 16


@pytest.fixture(scope="module")
def shared_catalog(tmp_path_factory):
    """One catalog for the module (starting one costs seconds); every test imports
    files of its own content, so no test sees another's runs as duplicates."""
    folder = tmp_path_factory.mktemp("catalog")
    with inprocess_catalog(folder) as client:
        w = make_writer(client, data_dir=folder)
        yield client, w
        w.close()


@pytest.fixture
def catalog_client(shared_catalog):
    return shared_catalog[0]


@pytest.fixture
def writer(shared_catalog):
    return shared_catalog[1]


def _sxm(tmp_path, seed=1):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(6, 8)).astype(np.float32)
    cur = rng.normal(size=(6, 8)).astype(np.float32)
    path = write_sxm(
        tmp_path / "img.sxm",
        {"Z": (z, z + 0.5), "Current": (cur, None)},
        {"Z": "nm", "Current": "pA"},
        (16.0, 12.0),
        center=(3.0, -2.0),
        angle=15.0,
        bias=0.25,
        setpoint=80.0,
    )
    return path, z, cur


def _grid(tmp_path, points_written=None, name="grid.3ds", seed=2):
    rng = np.random.default_rng(seed)
    didv = rng.normal(size=(NY, NX, K)).astype(np.float32)
    cur = (didv * 10).astype(np.float32)
    x, y = np.meshgrid(np.arange(NX) * 2.0 - 4.0, np.arange(NY) * 2.0 - 3.0)
    z = rng.normal(size=(NY, NX))
    path = write_3ds(
        tmp_path / name,
        {"Current": cur, "LI Demod 1 X": didv},
        {"Current": "pA", "LI Demod 1 X": "pA", "X": "nm", "Y": "nm", "Z": "nm"},
        (-1.0, 1.0),
        (10.0, 8.0),
        parameters={"X": x, "Y": y, "Z": z},
        points_written=points_written,
        extra_header={"Start time": "14.02.2026 10:11:12", "End time": "14.02.2026 10:21:12"},
    )
    return path, didv, z


def test_image_becomes_a_raster_image_run(catalog_client, writer, tmp_path):
    path, z, cur = _sxm(tmp_path)
    (result,) = import_files([path], catalog_client, writer)
    assert result["status"] == "imported" and [r["role"] for r in result["runs"]] == ["image"]
    run = catalog_client[result["runs"][0]["uid"]]
    start = run.metadata["start"]
    assert start["plan_name"] == "raster_image"
    assert start["source_file"] == "img.sxm" and start["source_sha256"] == file_sha256(path)
    assert start["bias"] == pytest.approx(0.25) and start["setpoint"] == pytest.approx(80.0)
    assert start["scan_size"] == [16.0, 12.0] and start["scan_angle"] == pytest.approx(15.0)
    assert start["frame"]["center_x"] == pytest.approx(3.0)
    assert any(k == "SCAN_PIXELS" for k, _ in start["file_header"])
    ds = to_xarray(run)
    np.testing.assert_allclose(ds["Z"].sel(direction="trace").values, z, rtol=1e-6)
    np.testing.assert_allclose(ds["Z"].sel(direction="retrace").values, z + 0.5, rtol=1e-6)
    np.testing.assert_allclose(ds["Current"].sel(direction="trace").values, cur, rtol=1e-6)
    assert np.isnan(ds["Current"].sel(direction="retrace").values).all()  # never stored
    assert ds["Z"].attrs["units"] == "nm" and ds["Current"].attrs["units"] == "pA"
    assert ds["line_measured"].values.all()
    assert run.metadata["stop"]["exit_status"] == "success"


def test_stopped_grid_becomes_overview_and_grid_runs_with_missing_points(
    catalog_client, writer, tmp_path
):
    path, didv, z = _grid(tmp_path, points_written=13)
    (result,) = import_files([path], catalog_client, writer)
    assert result["notes"] and "20 points, file holds 13" in result["notes"][0]
    roles = {r["role"]: r["uid"] for r in result["runs"]}
    assert set(roles) == {"overview", "grid"}
    grid = catalog_client[roles["grid"]]
    start = grid.metadata["start"]
    assert start["plan_name"] == "grid_spectroscopy" and start["overview_uid"] == roles["overview"]
    assert (start["n_measured"], start["n_missing"]) == (13, 7)
    stop = grid.metadata["stop"]
    assert stop["exit_status"] == "abort" and "13 of 20 points" in stop["reason"]
    ds = to_xarray(grid)
    measured = ds["measured"].values
    assert int(measured.sum()) == 13 and measured.ravel()[:13].all()
    np.testing.assert_allclose(ds["LI_Demod_1_X"].values[measured], didv[measured], rtol=1e-6)
    assert np.isnan(ds["LI_Demod_1_X"].values[~measured]).all()  # missing, not zeros
    np.testing.assert_allclose(ds["bias"].values, np.linspace(-1, 1, K), rtol=1e-6)
    # reported positions are the ones the file recorded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteGridWarning)
        g = read_3ds(path)
    np.testing.assert_allclose(ds["x_reported"].values[measured], g.parameters["X"][measured])
    overview = to_xarray(catalog_client[roles["overview"]])
    ov = overview["Z"].sel(direction="trace").values
    np.testing.assert_allclose(ov[measured], z[measured], rtol=1e-6)
    assert np.isnan(ov[~measured]).all()
    assert "Z parameter" in catalog_client[roles["overview"]].metadata["start"]["overview_formed"]


def test_spectrum_becomes_a_point_spectrum_run(catalog_client, writer, tmp_path):
    axis = np.linspace(-0.5, 0.5, 33)
    path = write_dat(
        tmp_path / "s.dat",
        axis,
        {"Current": (np.sin(axis) * 10, "pA"), "Bias": (axis, "V")},
        position=(1.5, -2.5),
    )
    (result,) = import_files([path], catalog_client, writer)
    ds = to_xarray(catalog_client[result["runs"][0]["uid"]])
    assert catalog_client[result["runs"][0]["uid"]].metadata["start"]["plan_name"] == (
        "point_spectrum"
    )
    np.testing.assert_allclose(ds["Current"].values[0], np.sin(axis) * 10, rtol=1e-6)
    assert float(ds["x_reported"].values[0]) == pytest.approx(1.5)


def test_same_file_twice_is_a_duplicate(catalog_client, writer, tmp_path):
    path, _, _ = _sxm(tmp_path, seed=3)
    copy = tmp_path / "copy.sxm"
    copy.write_bytes(path.read_bytes())
    first, second = import_files([path, copy], catalog_client, writer)
    assert first["status"] == "imported" and second["status"] == "duplicate"
    (again,) = import_files([path], catalog_client, writer)
    assert again["status"] == "duplicate"
    assert again["runs"][0]["uid"] == first["runs"][0]["uid"]
    assert find_imported(catalog_client, file_sha256(path)) == [first["runs"][0]["uid"]]
    (forced,) = import_files([path], catalog_client, writer, again=True)
    assert forced["status"] == "imported"
    assert len(find_imported(catalog_client, file_sha256(path))) == 2


def test_a_bad_file_imports_nothing(catalog_client, writer, tmp_path):
    good, _, _ = _sxm(tmp_path, seed=4)
    bad = tmp_path / "broken.3ds"
    before = len(catalog_client)
    bad.write_bytes(b'Grid dim="3 x 3"\r\nPoints=8\r\n:HEADER_END:\r\n' + b"\0" * 40)
    with pytest.raises(DataFormatError, match="broken.3ds"):
        import_files([good, bad], catalog_client, writer)
    assert len(catalog_client) == before
    assert find_imported(catalog_client, file_sha256(good)) == []
    with pytest.raises(ConfigurationError, match=r"'\.sm4'.*RHK.*not read"):
        (tmp_path / "x.sm4").write_bytes(b"x")
        compose_file(tmp_path / "x.sm4")
    if importlib.util.find_spec("rsciio") is not None:  # STEM files: the rsciio extra
        (tmp_path / "x.dm4").write_bytes(b"x")
        with pytest.raises(DataFormatError, match=r"x\.dm4: rosettasciio cannot read it"):
            compose_file(tmp_path / "x.dm4")
    with pytest.raises(ConfigurationError, match="does not exist"):
        compose_file(tmp_path / "nothing.sxm")


def test_grid_exports_to_a_recorded_dataset_the_benchmark_reads(catalog_client, writer, tmp_path):
    from autoscope.studies.groundtruth import load_recorded

    path, didv, z = _grid(tmp_path, points_written=13, seed=5)
    (result,) = import_files([path], catalog_client, writer)
    roles = {r["role"]: r["uid"] for r in result["runs"]}
    out = export_recorded(catalog_client, [roles["grid"]], tmp_path / "rec.h5")
    assert out["channel"] == "LI_Demod_1_X" and out["overview_uid"] == roles["overview"]
    assert (out["n_measured"], out["n_missing"]) == (13, 7)
    ds = RecordedDataset.read(tmp_path / "rec.h5", require_spectra=True)
    assert ds.spectra.shape == (NY, NX, K) and ds.pixel_size == pytest.approx(2.0)
    measured = ~np.isnan(ds.spectra).all(axis=-1)
    assert int(measured.sum()) == 13
    np.testing.assert_allclose(ds.spectra[measured], didv[measured], rtol=1e-6)
    np.testing.assert_allclose(ds.image[measured], z[measured], rtol=1e-6)
    assert ds.attrs["overview_channel"] == "Z" and ds.attrs["source_file"] == "grid.3ds"
    truth = load_recorded(tmp_path / "rec.h5")
    assert int(truth.measured_mask.sum()) == 13
    with pytest.raises(ConfigurationError, match="one grid run"):
        export_recorded(catalog_client, [roles["overview"]], tmp_path / "x.h5")
    with pytest.raises(ConfigurationError, match="no channel 'nope'"):
        export_recorded(catalog_client, [roles["grid"]], tmp_path / "x.h5", channel="nope")
