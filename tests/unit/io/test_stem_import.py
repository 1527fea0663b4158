"""STEM files through the optional rosettasciio extra: import into the catalog, export.

Real files from the hyperspy 1.7.6 wheel's IO test data (fetched into the user cache
by ``make realdata``, never committed; a test skips with the reason when the wheel or
rosettasciio is not here). A Bruker ``.bcf`` goes into the catalog as a
``stem_image`` run and a ``spectrum_image`` run, comes back out as a recorded
dataset of one element line whose counts match rosettasciio's own cube, and the
benchmark's ground truth reads it.
"""

import importlib
import sys

import numpy as np
import pytest

from autoscope.catalog.testing import inprocess_catalog
from autoscope.catalog.writer import make_writer
from autoscope.errors import ConfigurationError
from autoscope.io import realdata
from autoscope.io.exporter import export_recorded
from autoscope.io.importer import compose_file, import_files
from autoscope.io.recorded import RecordedDataset
from autoscope.io.stem_files import line_window, read_stem
from autoscope.studies.groundtruth import load_recorded, scalar_map


def _fetch(key, folder):
    pytest.importorskip("rsciio", reason="the rsciio extra (rosettasciio) is not installed")
    real = realdata.known_file(key)
    try:
        return realdata.fetch_to(real, folder / key)
    except FileNotFoundError as exc:
        pytest.skip(f"{key} not available here ({exc}); `make realdata` fetches it")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalog")
    with inprocess_catalog(folder) as client:
        w = make_writer(client, data_dir=folder)
        yield client, w
        w.close()


def test_bcf_import_export_line_map(catalog, tmp_path):
    client, writer = catalog
    path = _fetch("bruker_tem_bcf", tmp_path)
    (r,) = import_files([path], client, writer, bin=4)  # 16 x 16 spectra of 4 x 4 pixels
    writer.flush()
    assert r["status"] == "imported" and [x["role"] for x in r["runs"]] == [
        "image",
        "spectrum image",
    ]
    image_uid, si_uid = (x["uid"] for x in r["runs"])
    si = client[si_uid].metadata["start"]
    assert si["plan_name"] == "spectrum_image" and si["overview_uid"] == image_uid
    assert si["source_format"] == "bruker-bcf" and si["image_shape"] == [16, 16]
    assert si["spectral_axis"]["units"] == "keV" and si["spectral_axis"]["points"] == 2048
    assert si["xray_lines"] == ["Cu_Ka", "O_Ka", "Pd_La", "Ti_Ka"]
    assert si["beam_energy_kV"] == 200.0
    assert client[image_uid].metadata["start"]["image_keys"] == {"haadf": "stem_line_haadf"}
    (again,) = import_files([path], client, writer)
    assert again["status"] == "duplicate"

    out = export_recorded(client, [si_uid], tmp_path / "cu.h5", line="Cu_Ka")
    ds = RecordedDataset.read(out["path"], require_spectra=True)
    # what rosettasciio itself reads, rows turned so line 0 is at the bottom
    from rsciio import bruker

    raw = {o["metadata"]["General"]["title"]: o for o in bruker.file_reader(str(path))}
    haadf = np.asarray(raw["HAADF"]["data"], float)[::-1]
    haadf = haadf.astype(np.float32).reshape(16, 4, 16, 4).mean(axis=(1, 3))
    cube = np.asarray(raw["EDX"]["data"], float)[::-1].reshape(16, 4, 16, 4, -1).sum(axis=(1, 3))
    e = raw["EDX"]["axes"][2]
    axis = e["offset"] + e["scale"] * np.arange(cube.shape[2])
    _, _, lo, hi = line_window("Cu_Ka")
    inside = (axis >= lo) & (axis <= hi)
    np.testing.assert_allclose(ds.image, haadf, rtol=1e-6)
    np.testing.assert_array_equal(ds.spectra, cube[..., inside])
    np.testing.assert_allclose(ds.spectral_axis, axis[inside])
    assert ds.attrs["element_line"] == "Cu_Ka" and ds.attrs["n_missing"] == 0
    assert ds.attrs["scalarizer"].startswith("band_integral:")
    assert ds.pixel_size == pytest.approx(si["pixel_size"][0])
    assert ds.pixel_size == pytest.approx(4 * raw["EDX"]["axes"][0]["scale"] * 1e3)
    # counts: zero channels at a spectrum's minimum are measured, not clipped; every
    # pixel gets its line's counts (a flagged spectrum would warn, and warnings fail)
    truth = load_recorded(out["path"])
    assert truth.counts
    values = scalar_map(truth, ds.attrs["scalarizer"])
    lo, hi = (float(v) for v in ds.attrs["scalarizer"].split(":")[1:])
    expected = np.trapezoid(ds.spectra, ds.spectral_axis, axis=-1)
    assert lo <= ds.spectral_axis[0] and hi >= ds.spectral_axis[-1]
    np.testing.assert_allclose(values, expected)
    with pytest.raises(ConfigurationError, match="unknown X-ray line 'Xx_Ka'"):
        export_recorded(client, [si_uid], tmp_path / "x.h5", line="Xx_Ka")


def test_jeol_binned_and_dm4_eels(tmp_path):
    asw = _fetch("jeol_asw", tmp_path)
    f = compose_file(asw, bin=8)
    image, si = f.runs
    start = si.documents[0][1]
    assert start["image_shape"] == [64, 64] and start["binned"] == 8
    assert image.documents[0][1]["image_shape"] == [64, 64]
    assert sorted(image.documents[0][1]["image_keys"]) == [
        "c_k",
        "cu_k",
        "fe_k",
        "img1",
        "o_k",
        "s_k",
    ]
    rec = read_stem(_fetch("dm4_eels_si", tmp_path))
    (eels,) = rec.spectrum_images
    # the file's navigate flags are the other way round; the energy axis is the signal
    assert eels.data.shape == (2, 2, 2048) and eels.axis_units == "eV"
    assert eels.axis[0] == 300.0 and eels.signal_type == "EELS"


def test_without_rsciio_one_line_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "scan.bcf"
    path.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "rsciio.bruker", None)  # import raises ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'autoscope\[rsciio\]'") as err:
        compose_file(path)
    assert "\n" not in str(err.value) and "GPL-3" in str(err.value)
    assert importlib.util.find_spec("autoscope.io.stem_files") is not None


# a Velox .emd read compiles rosettasciio's numba stream decoder first: about 12 s
@pytest.mark.long
def test_velox_emd_haadf_and_eds(tmp_path):
    path = _fetch("velox_superx_10x50", tmp_path)
    image, si = compose_file(path).runs
    start = si.documents[0][1]
    assert start["image_shape"] == [50, 10] and start["signal_type"] == "EDS_TEM"
    assert start["overview_uid"] == image.uid
    assert start["spectral_axis"]["units"] == "keV"
