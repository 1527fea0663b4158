"""AFM force maps through the optional afm extra (afmformats): read, import, export.

Real JPK maps from the afmformats 0.18.7 sdist's tests (``realdata.FORCE_MAP_FILES``,
fetched into the user cache by ``make realdata``, never committed; a test skips with
the reason when the sdist or afmformats is not here). Each is a grid from which a few
curves were extracted: the rest of the grid is missing, and stays missing through
import and export.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from autoscope.agents.scalarizers import adhesion, get_scalarizer
from autoscope.catalog.testing import inprocess_catalog
from autoscope.catalog.writer import make_writer
from autoscope.errors import ConfigurationError, DataFormatError
from autoscope.io import forcemap, realdata
from autoscope.io.exporter import export_recorded
from autoscope.io.forcemap import read_force_map
from autoscope.io.importer import compose_file, import_files
from autoscope.io.recorded import RecordedDataset
from autoscope.io.xarray_view import frame_coordinates
from autoscope.studies.groundtruth import load_recorded, scalar_map


def _fetch(key, folder):
    pytest.importorskip("afmformats", reason="the afm extra (afmformats) is not installed")
    try:
        return realdata.fetch_to(realdata.known_file(key), folder)
    except FileNotFoundError as exc:
        pytest.skip(f"{key} not available here ({exc}); `make realdata` fetches it")


@pytest.fixture(scope="module")
def map2x2(tmp_path_factory):
    return _fetch("jpk_force_map_2x2", tmp_path_factory.mktemp("afm"))


def test_jpk_force_map_is_a_grid_with_its_corner_curves(map2x2):
    g = read_force_map(map2x2, points=128)
    assert (g.nx, g.ny) == (10, 10) and g.n_measured == 4
    corners = np.zeros((10, 10), dtype=bool)
    corners[[0, 0, 9, 9], [0, 9, 0, 9]] = True
    np.testing.assert_array_equal(g.measured, corners)
    assert g.size == pytest.approx((600e3, 600e3)) and g.sweep_units == "nm"
    assert list(g.channels) == ["force retract", "force approach"]
    assert g.units == {"force retract": "nN", "force approach": "nN"}
    for cube in g.channels.values():
        assert cube.shape == (10, 10, 128)
        assert np.isfinite(cube[corners]).all() and np.isnan(cube[~corners]).all()
    # the axis: 0 at the turnaround, up to the shortest curve's z range (4.4 um here)
    assert g.sweep[0] > 0 and np.all(np.diff(g.sweep) > 0)
    assert g.sweep[-1] == pytest.approx(np.nanmin(g.parameters["Z range"]), rel=0.01)
    # the recorded stage positions are the grid's nodes (60 um apart), within the
    # 0.4 um the stage missed them by
    nodes = frame_coordinates(
        {"center_x": g.center[0], "center_y": g.center[1], "width": g.size[0],
         "height": g.size[1], "angle": 0.0}, g.nx, g.ny,
    )  # fmt: skip
    np.testing.assert_allclose(g.parameters["X"][corners], nodes["x_sample"][corners], atol=500)
    np.testing.assert_allclose(g.parameters["Y"][corners], nodes["y_sample"][corners], atol=500)
    assert g.header["Spring constant (N/m)"] == "0.0154817"
    assert g.header["Instrument"] == "JPK00758-CellHesion-200"
    # in contact the approach force is near the 2 nN setpoint above the free baseline
    approach = g.channels["force approach"][corners]
    assert np.all(approach[:, 0] - np.median(approach[:, -20:], axis=1) > 1.5)


def test_binned_adhesion_agrees_with_afmformats_raw_curves(map2x2):
    afm = pytest.importorskip("afmformats")
    g = read_force_map(map2x2)
    ours = np.full((g.ny, g.nx), np.nan)
    ours[g.measured] = get_scalarizer("adhesion").apply(
        g.channels["force retract"][g.measured], g.sweep
    )
    span = g.sweep[-1] + (g.sweep[1] - g.sweep[0]) / 2
    for c in afm.load_data(map2x2):
        md = c.metadata
        seg = np.asarray(c["segment"])
        hp = np.asarray(c["height (piezo)"]) * 1e9
        z = hp - hp[seg == 0].min()
        f = np.asarray(c["force"])[(seg == 1) & (z <= span)] * 1e9
        zr = z[(seg == 1) & (z <= span)]
        raw = np.median(f[zr >= 0.8 * span]) - f.min()
        # the bins average about 50 samples: the dip's floor is a little shallower
        assert ours[md["grid index y"], md["grid index x"]] == pytest.approx(raw, rel=0.1)


def test_force_map_composes_an_overview_and_a_grid_run(map2x2):
    out = compose_file(map2x2)
    assert out.format == "jpk-force-map"
    assert out.notes == [
        f"{map2x2}: the force map holds curves at 4 of its 100 grid nodes; 96 missing"
    ]
    overview, grid = out.runs
    assert (overview.role, grid.role) == ("overview", "grid")
    start = grid.documents[0][1]
    assert start["plan_name"] == "grid_spectroscopy"
    assert start["source_format"] == "jpk-force-map" and start["source_file"] == map2x2.name
    assert start["instrument"] == "JPK00758-CellHesion-200"
    assert start["overview_uid"] == overview.uid
    assert (start["n_measured"], start["n_missing"]) == (4, 96)
    assert start["spectral_axis"]["units"] == "nm" and start["spectral_axis"]["name"] == "z"
    assert list(start["spectrum_keys"]) == ["force_retract", "force_approach"]
    assert ["Spring constant (N/m)", "0.0154817"] in start["file_header"]
    events = [d for n, d in grid.documents if n == "event_page"]
    assert sorted(i for page in events for i in page["data"]["spm_spectrum_index"]) == [
        0, 9, 90, 99,
    ]  # fmt: skip
    stop = grid.documents[-1][1]
    assert stop["exit_status"] == "abort" and "4 of 100" in stop["reason"]
    ostart = overview.documents[0][1]
    assert ostart["overview_channel"] == "Height" and "turnaround" in ostart["overview_formed"]


@pytest.mark.long
def test_force_map_import_export_keeps_the_missing_nodes_missing(map2x2, tmp_path):
    with inprocess_catalog(tmp_path / "catalog") as client:
        writer = make_writer(client, data_dir=tmp_path / "catalog")
        try:
            (r,) = import_files([map2x2], client, writer)
            writer.flush()
            grid_uid = r["runs"][1]["uid"]
            assert client[grid_uid].metadata["start"]["n_measured"] == 4
            info = export_recorded(client, [grid_uid], tmp_path / "afm.h5")
        finally:
            writer.close()
    assert (info["n_measured"], info["n_missing"], info["channel"]) == (4, 96, "force_retract")
    truth = load_recorded(tmp_path / "afm.h5")
    assert int(truth.measured_mask.sum()) == 4
    values = scalar_map(truth, "adhesion")
    assert np.isfinite(values[truth.measured]).all() and (values[truth.measured] > 0).all()
    # the overview: the contact height at each curve, NaN where none was measured
    written = RecordedDataset.read(tmp_path / "afm.h5")
    assert np.isfinite(written.image[truth.measured]).all()
    assert np.isnan(written.image[~truth.measured]).all()


def test_a_bad_force_map_names_the_file_and_nothing_is_composed(tmp_path):
    pytest.importorskip("afmformats", reason="the afm extra (afmformats) is not installed")
    bad = tmp_path / "broken.jpk-force-map"
    bad.write_bytes(b"PK\x03\x04 not a zip archive at all")
    with pytest.raises(DataFormatError, match=r"broken\.jpk-force-map: afmformats cannot read"):
        compose_file(bad)


def test_without_the_extra_the_error_names_it(tmp_path, monkeypatch):
    path = tmp_path / "map.jpk-force-map"
    path.write_bytes(b"")
    real = importlib.import_module

    def no_afmformats(name, *args):
        if name == "afmformats":
            raise ImportError("No module named 'afmformats'")
        return real(name, *args)

    monkeypatch.setattr(forcemap.importlib, "import_module", no_afmformats)
    with pytest.raises(ConfigurationError, match=r"JPK force map.*autoscope\[afm\]"):
        read_force_map(path)


def test_adhesion_is_the_dip_below_the_free_baseline():
    z = np.linspace(0.0, 100.0, 101)
    force = np.where(z < 30, -2.0 + z / 15, 0.5)  # dips to -2 nN, free at 0.5 nN
    assert adhesion(force, z) == pytest.approx(2.5)
    assert adhesion(np.full(101, 0.5) + 0.01 * np.sin(z), z) < 0.03
    with pytest.raises(ConfigurationError, match="baseline share 1"):
        adhesion(force, z, 1.0)
