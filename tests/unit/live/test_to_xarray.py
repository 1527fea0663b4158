"""autoscope.io.to_xarray on runs of a real RunEngine read back from the in-process catalog."""

from __future__ import annotations

import numpy as np
import pytest
from tiled.queries import Key

from autoscope.devices.backend import ScanFrame
from autoscope.errors import ConfigurationError
from autoscope.io import to_xarray
from autoscope.io.xarray_view import frame_coordinates
from autoscope.plans import grid_spectroscopy, raster_image
from autoscope.plans.campaign import autonomous_campaign

from .conftest import SMALL_CAMPAIGN


def test_line_and_spectrum_descriptors_name_their_dims(spm):
    line = spm.line.describe()
    assert line["spm_line_topography_trace"]["dims"] == ["x"]
    assert line["spm_line_current_retrace"]["dims"] == ["x"]
    spectrum = spm.spectrum.describe()
    assert spectrum["spm_spectrum_bias"]["dims"] == ["bias"]
    assert spectrum["spm_spectrum_dIdV"]["dims"] == ["bias"]


@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_frame_coordinates_agree_with_the_device_geometry(angle):
    frame = ScanFrame(center_x=3.0, center_y=-2.0, width=12.0, height=8.0, pixels=6, lines=4)
    frame = ScanFrame(**{**frame.__dict__, "angle": angle})
    c = frame_coordinates(frame.__dict__, frame.pixels, frame.lines)
    for i in range(frame.lines):
        xs, ys = frame.nominal_xy(i)
        np.testing.assert_allclose(c["x_sample"][i], xs)
        np.testing.assert_allclose(c["y_sample"][i], ys)
    np.testing.assert_allclose(c["x"], 3.0 - 6.0 + (np.arange(6) + 0.5) * 2.0)
    np.testing.assert_allclose(c["y"], -2.0 - 4.0 + (np.arange(4) + 0.5) * 2.0)


def test_bad_frame_names_the_missing_field():
    with pytest.raises(ConfigurationError, match="angle"):
        frame_coordinates({"center_x": 0, "center_y": 0, "width": 1, "height": 1}, 4, 4)


def test_raster_has_nm_axes_directions_and_rotated_sample_coordinates(RE, catalog, spm):
    uid = RE(
        raster_image(spm, center_x=2.0, center_y=1.0, width=10.0, height=8.0,
                     pixels=16, lines=12, line_time=0.05, angle=25.0)
    ).run_start_uids[0]  # fmt: skip
    run = catalog[uid]
    ds = to_xarray(run)
    topo = ds["topography"]
    assert topo.dims == ("direction", "y", "x") and topo.shape == (2, 12, 16)
    assert list(ds["direction"].values) == ["trace", "retrace"]
    assert topo.attrs["units"] == "nm" and ds["current"].attrs["units"] == "pA"
    assert ds["x"].attrs["units"] == "nm"
    np.testing.assert_allclose(ds["x"].values, 2.0 - 5.0 + (np.arange(16) + 0.5) * 10 / 16)
    np.testing.assert_allclose(ds["y"].values, 1.0 - 4.0 + (np.arange(12) + 0.5) * 8 / 12)
    # rows are the lines as measured, trace and retrace apart
    stream = run["primary"]
    trace = stream["spm_line_topography_trace"].read()
    retrace = stream["spm_line_topography_retrace"].read()
    np.testing.assert_array_equal(topo.sel(direction="trace").values, trace)
    np.testing.assert_array_equal(topo.sel(direction="retrace").values, retrace)
    # the rotated frame: 2-D sample coordinates where each pixel really is
    frame = ScanFrame(center_x=2.0, center_y=1.0, width=10.0, height=8.0, pixels=16,
                      lines=12, angle=25.0)  # fmt: skip
    xs, ys = frame.nominal_xy(5)
    assert ds["x_sample"].dims == ("y", "x")
    np.testing.assert_allclose(ds["x_sample"].values[5], xs)
    np.testing.assert_allclose(ds["y_sample"].values[5], ys)
    # each line's requested start is the first pixel's centre minus half a pixel along the line
    assert ds["x_start_requested"].dims == ("y",) and ds["t_end"].attrs["units"] == "s"
    assert ds.attrs["uid"] == uid and ds.attrs["frame_angle"] == 25.0
    assert bool(ds["line_measured"].all())


def test_grid_is_a_cube_with_bias_coordinate_and_positions(RE, catalog, spm):
    uid = RE(
        grid_spectroscopy(spm, center_x=1.0, center_y=2.0, width=6.0, height=4.0,
                          nx=3, ny=2, start=-1.0, stop=1.5, n_points=25)
    ).run_start_uids[0]  # fmt: skip
    ds = to_xarray(catalog[uid])
    assert ds["dIdV"].dims == ("y", "x", "bias") and ds["dIdV"].shape == (2, 3, 25)
    assert ds["bias"].attrs["units"] == "V" and ds["dIdV"].attrs["units"] == "nS"
    assert ds["bias"].values[0] == pytest.approx(-1.0) and ds["bias"].values[-1] == 1.5
    np.testing.assert_allclose(ds["x"].values, [-1.0, 1.0, 3.0])
    np.testing.assert_allclose(ds["y"].values, [1.0, 3.0])
    stream = catalog[uid]["primary"]
    spectra = stream["spm_spectrum_dIdV"].read()
    np.testing.assert_array_equal(ds["dIdV"].values.reshape(6, 25), spectra)
    np.testing.assert_allclose(
        ds["x_requested"].values.ravel(), stream["spm_spectrum_x_requested"].read()
    )
    np.testing.assert_allclose(ds["x_sample"].values, ds["x_requested"].values)
    assert bool(ds["measured"].all())


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_campaign_spectra_have_axis_positions_and_campaign(RE, catalog, pfm):
    campaign = RE(
        autonomous_campaign(pfm, agent="random", budget=4, batch_size=2, **SMALL_CAMPAIGN)
    ).plan_result
    runs = catalog.search(Key("campaign") == campaign)
    spectra = [r for r in runs.values() if r.metadata["start"]["plan_name"] == "spectra_at"]
    assert len(spectra) == 2
    for run in spectra:
        ds = to_xarray(run)
        start = run.metadata["start"]
        assert ds.attrs["campaign"] == campaign
        assert ds.attrs["campaign_step"] == start["campaign_step"]
        assert ds["piezoresponse"].dims == ("spectrum", "bias")
        assert ds["piezoresponse"].shape == (2, 32)
        assert ds["bias"].attrs["units"] == "V"
        np.testing.assert_allclose(
            np.stack([ds["x_requested"].values, ds["y_requested"].values], axis=1),
            start["positions_requested"],
        )
        assert ds["x_reported"].attrs["units"] == "nm"
    overview = [r for r in runs.values() if r.metadata["start"].get("campaign_role") == "overview"]
    ds = to_xarray(overview[0])
    for channel in overview[0].metadata["start"]["image_keys"]:
        assert ds[channel].shape == (2, 8, 8) and np.isfinite(ds[channel].values).all()
    assert ds["x"].attrs["units"] == "nm"


def test_other_streams_keep_their_descriptor_dims(RE, catalog, pfm):
    campaign = RE(
        autonomous_campaign(pfm, agent="random", budget=2, batch_size=2, **SMALL_CAMPAIGN)
    ).plan_result
    (report,) = [
        r for r in catalog.search(Key("campaign") == campaign).values()
        if r.metadata["start"]["plan_name"] == "agent_report"
    ]  # fmt: skip
    ds = to_xarray(report, stream="agent")
    assert ds["agent_mean"].dims[0] == "time" and ds["agent_mean"].shape[1:] == (8, 8)
    with pytest.raises(ConfigurationError, match="nope"):
        to_xarray(report, stream="nope")
