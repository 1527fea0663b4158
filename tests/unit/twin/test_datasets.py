"""Ground-truth datasets: shapes, HDF5 file, a learnable-but-not-perfect structure-property link."""

import h5py
import numpy as np
import pytest

from autoscope.devices.twin import make_dataset, read_dataset, write_dataset
from autoscope.devices.twin.pfm import loop_area
from autoscope.errors import ConfigurationError


@pytest.fixture(scope="module")
def pfm():
    return make_dataset("pfm", size=32, seed=0, points=64)


def test_pfm_dataset_shapes_and_units(pfm):
    assert pfm["image"].shape == (32, 32) and pfm["image"].dtype == np.float32
    assert pfm["spectra"].shape == (32, 32, 64) and pfm["spectra"].dtype == np.float32
    assert pfm["spectral_axis"].shape == (64,)
    assert pfm["spectral_units"] == "V" and pfm["pixel_units"] == "nm"
    assert pfm["pixel_size"] == pytest.approx(2000.0 / 32)
    for k in ("loop_area", "coercive_pos", "coercive_neg", "wall_distance", "domain"):
        assert pfm["truth"][k].shape == (32, 32)


def test_measured_loops_match_truth_and_depend_on_walls_plus_hidden(pfm):
    measured = loop_area(pfm["spectral_axis"], pfm["spectra"].astype(float))
    true = pfm["truth"]["loop_area"]
    assert np.corrcoef(measured.ravel(), true.ravel())[0, 1] > 0.98  # noise, not garbage
    # structure explains part of it: domain type and distance to the nearest wall
    t = pfm["truth"]
    c = t["domain"] != 2
    near = np.exp(-t["wall_distance"] / 40.0)
    r_struct = abs(np.corrcoef(near[c], true[c])[0, 1])
    assert 0.2 < r_struct < 0.9
    # the hidden field explains another part that the image cannot show
    resid = true[c] - np.polyval(np.polyfit(near[c], true[c], 1), near[c])
    assert abs(np.corrcoef(t["hidden_height"][c], resid)[0, 1]) > 0.3


def test_stm_dataset_db_spectra_are_local():
    d = make_dataset("stm", size=24, seed=1, points=64)
    assert d["spectra"].shape == (24, 24, 64) and d["signal_units"] == "nS"
    t = d["truth"]
    near, far = t["db_distance"] < 0.4, t["db_distance"] > 3.0
    if near.any():
        assert t["didv_at_db"][near].mean() > 3 * t["didv_at_db"][far].mean()


def test_write_and_read_recorded_dataset(tmp_path, pfm):
    path = tmp_path / "ds.h5"
    write_dataset(path, pfm)
    with h5py.File(path) as f:
        assert set(f) == {"image", "spectra", "spectral_axis"}
        assert f["spectra"].shape == (32, 32, 64)
        assert f.attrs["spectral_units"] == "V" and f.attrs["pixel_units"] == "nm"
    back = read_dataset(path)
    assert np.array_equal(back["spectra"], pfm["spectra"]) and "truth" not in back
    write_dataset(tmp_path / "t.h5", pfm, truth=True)
    assert np.array_equal(
        read_dataset(tmp_path / "t.h5")["truth"]["loop_area"], pfm["truth"]["loop_area"]
    )


def test_bad_dataset_requests_raise():
    with pytest.raises(ConfigurationError, match="afm"):
        make_dataset("afm")
    with pytest.raises(ConfigurationError, match="2"):
        make_dataset("pfm", size=2)


def test_sample_options_switch_the_hidden_fields_off(pfm):
    off = {"height_hidden": 0.0, "imprint_hidden": 0.0, "coercive_hidden": 0.0}
    d = make_dataset("pfm", size=32, seed=0, points=64, sample_options=off)
    t, t0 = d["truth"], pfm["truth"]
    assert np.array_equal(d["image"], pfm["image"])  # same sample, same image
    # without the hidden imprint field the imprint takes only its two domain values
    assert len(np.unique(np.round(t["imprint"], 9))) == 2
    assert len(np.unique(np.round(t0["imprint"], 9))) > 100
    assert not np.allclose(t["loop_area"], t0["loop_area"])
    s = make_dataset("stm", size=16, seed=1, points=32, sample_options={"band_bending": 0.0})
    assert np.all(s["truth"]["band_bending"] == 0)
    assert np.any(make_dataset("stm", size=16, seed=1, points=32)["truth"]["band_bending"] != 0)
    with pytest.raises(ConfigurationError, match="'hidden_height'.*known:.*height_hidden"):
        make_dataset("pfm", size=8, sample_options={"hidden_height": 0})
