"""A recorded grid as an instrument: the same device, plans and agents on recorded data.

``make_spm("recorded", dataset=...)`` serves a recorded dataset: a raster
image of the recording's frame is the recorded overview; a spectrum is the
one recorded nearest the asked position, reported at the recorded point;
a point never measured (a grid stopped early) or a sweep never recorded is a
``NotRecorded`` fault that closes the run with its reason; and the campaign
plan runs on it through to its reports.
"""

import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.devices import make_spm
from autoscope.errors import ConfigurationError, NotRecorded
from autoscope.io.recorded import RecordedDataset
from autoscope.plans.campaign import autonomous_campaign
from autoscope.plans.imaging import raster_image
from autoscope.plans.spectroscopy import spectra_at

H, W, K = 10, 10, 24
PIXEL = 2.0
CENTER = (5.0, -3.0)


def _dataset(missing: int = 0, angle: float = 0.0) -> RecordedDataset:
    rng = np.random.default_rng(7)
    axis = np.linspace(-1.0, 1.0, K)
    rows, cols = np.mgrid[0:H, 0:W]
    strength = np.exp(-((rows - 6.0) ** 2 + (cols - 3.0) ** 2) / 6.0)  # a bright spot
    peak = np.exp(-((axis - 0.3) ** 2) / 0.01)
    spectra = strength[..., None] * peak + 0.01 * rng.normal(size=(H, W, K))
    image = strength + 0.05 * rng.normal(size=(H, W))
    if missing:
        spectra.reshape(H * W, K)[-missing:] = np.nan
    return RecordedDataset(
        image=image,
        spectra=spectra,
        spectral_axis=axis,
        spectral_units="V",
        pixel_size=PIXEL,
        pixel_units="nm",
        attrs={
            "channel": "dIdV",
            "channel_units": "nS",
            "overview_channel": "topography",
            "image_units": "nm",
            "grid_center_x_nm": CENTER[0],
            "grid_center_y_nm": CENTER[1],
            "grid_angle_deg": angle,
            "source": "test grid",
        },
    )


def _collect(RE):
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    return docs


def test_raster_image_of_the_recorded_frame_is_the_overview():
    ds = _dataset(angle=30.0)
    spm = make_spm("recorded", dataset=ds)
    f = spm.backend.frame
    RE = RunEngine({})
    docs = _collect(RE)
    RE(raster_image(spm, f["center_x"], f["center_y"], f["width"], f["height"], W, H, 0.1, 30.0))
    start = next(d for n, d in docs if n == "start")
    trace = start["image_keys"]["topography"][0]
    image = np.full((H, W), np.nan)
    for n, d in docs:
        if n == "event":
            image[d["data"][start["line_key"]]] = d["data"][trace]
    np.testing.assert_allclose(image, ds.image, rtol=1e-6)
    assert spm.backend.time() == pytest.approx(H * 2 * 0.1)


def test_spectrum_is_the_nearest_recorded_one_at_the_recorded_position(tmp_path):
    ds = _dataset()
    path = ds.write(tmp_path / "rec.h5")
    spm = make_spm("recorded", dataset=path)
    backend = spm.backend
    x, y = backend.point_position(6, 3)
    RE = RunEngine({})
    docs = _collect(RE)
    RE(spectra_at(spm, [[x + 0.7, y - 0.6]], start=-1.0, stop=1.0, n_points=K))
    (event,) = [d for n, d in docs if n == "event"]
    data = event["data"]
    assert (data["spm_spectrum_x_requested"], data["spm_spectrum_y_requested"]) == (
        pytest.approx(x + 0.7),
        pytest.approx(y - 0.6),
    )
    assert (data["spm_spectrum_x_reported"], data["spm_spectrum_y_reported"]) == (
        pytest.approx(x),
        pytest.approx(y),
    )
    np.testing.assert_allclose(data["spm_spectrum_dIdV"], ds.spectra[6, 3], rtol=1e-6)


def test_what_was_never_recorded_is_a_fault_that_closes_the_run():
    spm = make_spm("recorded", dataset=_dataset(missing=30))
    backend = spm.backend
    RE = RunEngine({})
    docs = _collect(RE)
    x, y = backend.point_position(H - 1, W - 1)  # among the last 30 points: never measured
    with pytest.raises(NotRecorded, match=r"grid point \(row 9, col 9\).*never measured"):
        RE(spectra_at(spm, [[x, y]], start=-1.0, stop=1.0, n_points=K))
    stop = [d for n, d in docs if n == "stop"][-1]
    assert stop["exit_status"] == "fail" and "never measured" in stop["reason"]
    with pytest.raises(NotRecorded, match="outside the recorded grid"):
        backend.spectrum(CENTER[0] + 25.0, CENTER[1], _settings())
    with pytest.raises(NotRecorded, match="recorded 24-point sweeps from -1 to 1 V"):
        backend.spectrum(*backend.point_position(0, 0), _settings(points=50))
    with pytest.raises(NotRecorded, match="bias pulse cannot be replayed"):
        backend.bias_pulse(2.0, 0.01)
    with pytest.raises(ConfigurationError, match="needs dataset="):
        make_spm("recorded")


def _settings(points=K):
    from autoscope.devices.backend import SpectroscopySettings

    return SpectroscopySettings(start=-1.0, stop=1.0, points=points)


def test_campaign_runs_on_a_recording_and_measures_recorded_spectra():
    ds = _dataset()
    spm = make_spm("recorded", dataset=ds)
    RE = RunEngine({}, call_returns_result=True)
    docs = _collect(RE)
    result = RE(_campaign(spm, budget=6))
    assert result.exit_status == "success"
    spectra = [d["data"] for n, d in docs if n == "event" and "spm_spectrum_dIdV" in d["data"]]
    assert len(spectra) == 6
    backend = spm.backend
    for data in spectra:
        row, col, inside = backend.nearest_point(
            data["spm_spectrum_x_reported"], data["spm_spectrum_y_reported"]
        )
        assert inside
        np.testing.assert_allclose(data["spm_spectrum_dIdV"], ds.spectra[row, col], rtol=1e-6)
    reports = [d for n, d in docs if n == "start" and d["plan_name"] == "agent_report"]
    assert reports and all(r["campaign"] == result.plan_result for r in reports)


def _campaign(spm, budget, batch_size=1):
    f = spm.backend.frame
    return autonomous_campaign(
        spm,
        agent="random",
        scalarizer="band_integral:0.2:0.4",
        channel="dIdV",
        overview_channel="topography",
        budget=budget,
        batch_size=batch_size,
        pixels=W,
        center_x=f["center_x"],
        center_y=f["center_y"],
        width=f["width"],
        height=f["height"],
        line_time=0.01,
        start=-1.0,
        stop=1.0,
        n_points=K,
        progress=False,
    )


def test_a_point_never_recorded_is_withdrawn_and_the_campaign_goes_on():
    """70 % of the grid never measured, the overview complete: the agent asks for
    missing points, each is withdrawn (never asked again), and the campaign measures
    its whole budget among the recorded ones; the reports count the withdrawn."""
    ds = _dataset(missing=70)
    missing = np.isnan(ds.spectra).all(axis=-1).ravel()
    spm = make_spm("recorded", dataset=ds)
    RE = RunEngine({}, call_returns_result=True)
    docs = _collect(RE)
    result = RE(_campaign(spm, budget=6, batch_size=2))
    assert result.exit_status == "success"
    spectra = [d["data"] for n, d in docs if n == "event" and "spm_spectrum_dIdV" in d["data"]]
    assert len(spectra) == 6
    assert all(np.isfinite(s["spm_spectrum_dIdV"]).all() for s in spectra)
    # run by run: a failed run withdrew the point it stopped at, which no later run asks for
    index = {tuple(np.round(spm.backend.point_position(*divmod(i, W)), 6)): i for i in range(H * W)}
    gone: list[int] = []
    start, events = None, 0
    for name, doc in docs:
        if name == "start" and doc["plan_name"] == "spectra_at":
            start, events = doc, 0
            asked = [index[tuple(np.round(p, 6))] for p in doc["positions_requested"]]
            assert not set(asked) & set(gone)
        elif name == "event" and start is not None and "spm_spectrum_dIdV" in doc["data"]:
            events += 1
        elif name == "stop" and start is not None and doc["run_start"] == start["uid"]:
            if doc["exit_status"] == "fail":
                assert "never measured" in doc["reason"]
                gone.append(asked[events])
            start = None
    last = [d for n, d in docs if n == "start" and d["plan_name"] == "agent_report"][-1]
    assert gone and last["withdrawn"] == len(gone) and last["withdrawn_indices"] == gone
    assert missing[gone].all()  # only never-measured points were withdrawn


def test_nan_overview_pixels_are_withdrawn_before_the_first_step():
    """A grid exported without an overview run has NaN overview pixels where it was
    never measured: the campaign accepts the overview, withdraws those pixels before
    the first step, asks for none of them, and stops when the measured ones run out."""
    ds = _dataset(missing=94)
    missing = np.isnan(ds.spectra).all(axis=-1)
    ds.image = np.where(missing, np.nan, ds.image)
    spm = make_spm("recorded", dataset=ds)
    RE = RunEngine({}, call_returns_result=True)
    docs = _collect(RE)
    result = RE(_campaign(spm, budget=8))  # only 6 points were recorded
    assert result.exit_status == "success"
    stops = [d for n, d in docs if n == "stop"]
    assert all(s["exit_status"] == "success" for s in stops)  # never a NotRecorded
    spectra = [d for n, d in docs if n == "event" and "spm_spectrum_dIdV" in d["data"]]
    assert len(spectra) == 6
    last = [d for n, d in docs if n == "start" and d["plan_name"] == "agent_report"][-1]
    assert last["withdrawn"] == 94
    assert sorted(last["withdrawn_indices"]) == np.flatnonzero(missing.ravel()).tolist()
