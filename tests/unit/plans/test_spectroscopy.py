"""point_spectrum, spectra_at and grid_spectroscopy on the twin, read back from Tiled."""

from __future__ import annotations

import numpy as np
import pytest

from autoscope.devices.backend import ScanFrame
from autoscope.errors import ConfigurationError, LostContact, SafetyLimitError
from autoscope.plans import grid_spectroscopy, point_spectrum, spectra_at


def test_point_spectrum_has_axis_units_and_positions(RE, catalog, spm):
    (uid,) = RE(point_spectrum(spm, 2.0, -3.0, start=-1.5, stop=1.0, n_points=60))
    run = catalog[uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    stream = run["primary"]
    keys = stream.metadata["data_keys"]
    axis = stream["spm_spectrum_bias"].read()
    assert axis.shape == (1, 60)
    assert axis[0, 0] == pytest.approx(-1.5) and axis[0, -1] == pytest.approx(1.0)
    assert keys["spm_spectrum_bias"]["units"] == "V"
    for ch, units in spm.backend.spectrum_channels.items():
        key = f"spm_spectrum_{ch}"
        assert keys[key]["units"] == units and keys[key]["dtype_numpy"] == "<f4"
        arr = stream[key].read()
        assert arr.dtype == np.float32 and arr.shape == (1, 60) and np.isfinite(arr).all()
    assert stream["spm_spectrum_x_requested"].read()[0] == 2.0
    assert stream["spm_spectrum_y_requested"].read()[0] == -3.0
    assert abs(stream["spm_spectrum_x_reported"].read()[0] - 2.0) < 1.0
    assert stream["spm_spectrum_t_end"].read()[0] > stream["spm_spectrum_t_start"].read()[0]
    start = run.metadata["start"]
    assert start["spectral_axis"] == {
        "key": "spm_spectrum_bias",
        "name": "bias",
        "units": "V",
        "start": -1.5,
        "stop": 1.0,
        "points": 60,
    }
    conf = stream.metadata["configuration"]["spm_spectrum"]["data"]
    assert conf["spm_spectrum_points"] == 60 and conf["spm_spectrum_sweep_start"] == -1.5


def test_spectra_at_keeps_the_order_given(RE, catalog, spm):
    positions = [[5.0, 5.0], [-4.0, 1.0], [0.5, -7.0]]
    (uid,) = RE(spectra_at(spm, positions, n_points=40))
    stream = catalog[uid]["primary"]
    np.testing.assert_array_equal(stream["spm_spectrum_index"].read(), [0, 1, 2])
    np.testing.assert_array_equal(
        stream["spm_spectrum_x_requested"].read(), [p[0] for p in positions]
    )
    np.testing.assert_array_equal(
        stream["spm_spectrum_y_requested"].read(), [p[1] for p in positions]
    )
    start = catalog[uid].metadata["start"]
    assert start["positions_requested"] == positions
    assert start["plan_args"]["positions"] == positions and start["plan_args"]["n_points"] == 40


def test_grid_positions_and_shape(RE, catalog, spm):
    (uid,) = RE(
        grid_spectroscopy(
            spm, center_x=1.0, center_y=2.0, width=6.0, height=4.0, nx=3, ny=2, n_points=30
        )
    )
    run = catalog[uid]
    stream = run["primary"]
    grid = ScanFrame(center_x=1.0, center_y=2.0, width=6.0, height=4.0, pixels=3, lines=2)
    xs = np.concatenate([grid.nominal_xy(i)[0] for i in range(2)])
    ys = np.concatenate([grid.nominal_xy(i)[1] for i in range(2)])
    np.testing.assert_allclose(stream["spm_spectrum_x_requested"].read(), xs)
    np.testing.assert_allclose(stream["spm_spectrum_y_requested"].read(), ys)
    assert run.metadata["start"]["shape"] == [2, 3]
    assert run.metadata["stop"]["num_events"] == {"primary": 6}


def test_fault_mid_grid_keeps_completed_spectra(RE, catalog, spm, docs):
    spm.backend.inject_fault("lost_contact", after_spectra=4)
    with pytest.raises(LostContact):
        RE(grid_spectroscopy(spm, nx=3, ny=3, n_points=30))
    run = catalog[docs.start_uid]
    stop = run.metadata["stop"]
    assert stop["exit_status"] == "fail" and stop["reason"].startswith("LostContact: ")
    assert stop["num_events"] == {"primary": 4}
    stream = run["primary"]
    np.testing.assert_array_equal(stream["spm_spectrum_index"].read(), np.arange(4))
    sent = np.stack([e["data"]["spm_spectrum_current"] for e in docs.of("event")])
    np.testing.assert_array_equal(stream["spm_spectrum_current"].read(), sent)


def test_sweep_beyond_limit_raises_before_anything_moves(RE, spm, backend_state):
    before = backend_state(spm)
    with pytest.raises(SafetyLimitError, match="sweep stop 7.0 V is beyond the device limit"):
        RE(point_spectrum(spm, 0.0, 0.0, start=-1.0, stop=7.0))
    with pytest.raises(SafetyLimitError, match=r"positions\[1\] \(0.0, 250.0\) nm"):
        RE(spectra_at(spm, [[0.0, 0.0], [0.0, 250.0]]))
    with pytest.raises(SafetyLimitError, match="scan frame corner"):
        RE(grid_spectroscopy(spm, width=500.0, height=10.0))
    assert backend_state(spm) == before


@pytest.mark.parametrize(
    "positions,match",
    [
        ([], "positions is empty"),
        ([[1.0, 2.0, 3.0]], r"positions\[0\] must be an \[x, y\] pair"),
        ("abc", "positions must be a list"),
        ([[1.0, "a"]], "positions\\[0\\] y must be a number"),
    ],
)
def test_spectra_at_refuses_bad_positions(spm, positions, match):
    with pytest.raises(ConfigurationError, match=match):
        next(spectra_at(spm, positions))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_points": 1}, "n_points 1 must be >= 2"),
        ({"integration": 0.0}, "integration 0.0 s must be > 0"),
        ({"sweeps": 0}, "sweeps 0 must be >= 1"),
        ({"start": 1.0, "stop": 1.0}, "both 1.0 V"),
    ],
)
def test_point_spectrum_refuses_bad_settings(spm, kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        next(point_spectrum(spm, 0.0, 0.0, **kwargs))


def test_pfm_switching_spectrum_and_image_carry_the_pfm_channels():
    """The same plans run on a PFM twin; channel names and units come from the backend."""
    from bluesky import RunEngine

    from autoscope.devices import make_spm
    from autoscope.plans import raster_image

    spm = make_spm("twin", sample="pfm_film", seed=1)
    engine = RunEngine({}, call_returns_result=False)
    got = []
    engine(
        raster_image(spm, width=800.0, height=800.0, pixels=24, lines=3),
        lambda name, doc: got.append((name, doc)),
    )
    engine(
        point_spectrum(spm, 50.0, -20.0, start=-8.0, stop=8.0, n_points=64),
        lambda name, doc: got.append((name, doc)),
    )
    descriptors = [d for n, d in got if n == "descriptor"]
    line_keys, spec_keys = descriptors[0]["data_keys"], descriptors[1]["data_keys"]
    for ch, units in spm.backend.image_channels.items():
        assert line_keys[f"spm_line_{ch}_trace"]["units"] == units
    for ch, units in spm.backend.spectrum_channels.items():
        assert spec_keys[f"spm_spectrum_{ch}"]["units"] == units
    event = [d for n, d in got if n == "event"][-1]
    axis = event["data"]["spm_spectrum_bias"]
    assert axis.shape == (64,) and axis.max() <= 8.0 and axis.min() >= -8.0
    starts = [d for n, d in got if n == "start"]
    assert all(s["instrument_mode"] == "pfm" for s in starts)
    # nothing of the twin's ground truth is written into a run
    assert not any("truth" in key for s in starts for key in s)
