"""Plans through the Nanonis backend: device -> TCP -> fake controller -> twin, real RunEngine and
an in-process Tiled catalog; after an injected fault the finished lines and spectra are in the
catalog and the run is closed with its reason."""

import numpy as np
import pytest

from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TwinSPM
from autoscope.errors import (
    InstrumentConnectionError,
    InstrumentTimeout,
    NanonisError,
    SafetyLimitError,
)
from autoscope.plans.imaging import raster_image
from autoscope.plans.spectroscopy import grid_spectroscopy, spectra_at
from autoscope.plans.tip import condition_tip

QUIET = {"drift": 0.0, "creep": 0.0, "hysteresis": 0.0, "tip_change_rate": 0.0}  # as the fixture
IMAGE = dict(width=8.0, height=8.0, pixels=32, lines=8, line_time=0.1)
GRABS_PER_LINE = 4  # 2 channels x 2 directions; the first poll finds the line done


def _last_run(catalog):
    return catalog.values().last()


def test_raster_image_through_tcp_is_the_twins_image(RE, catalog, fake, make):
    spm = make()
    (uid,) = RE(raster_image(spm, **IMAGE))
    run = catalog[uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    topo = run["primary"]["spm_line_topography_trace"].read()
    direct = TwinSPM("si100_h", seed=0, **QUIET)
    channels, _ = direct.scan_frame(ScanFrame(**IMAGE))
    assert topo.shape == (8, 32)
    np.testing.assert_allclose(topo, channels["topography"][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(run["primary"]["spm_line_index"].read(), np.arange(8))


def test_spectra_and_grid_through_tcp(RE, catalog, fake, make):
    spm = make()
    positions = [[1.0, 1.0], [2.0, -1.0], [0.0, 0.0]]
    (uid,) = RE(spectra_at(spm, positions, n_points=40))
    stream = catalog[uid]["primary"]
    assert stream["spm_spectrum_current"].read().shape == (3, 40)
    np.testing.assert_allclose(stream["spm_spectrum_x_reported"].read(), [1.0, 2.0, 0.0])
    (uid,) = RE(grid_spectroscopy(spm, width=4.0, height=4.0, nx=3, ny=2, n_points=30))
    run = catalog[uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    assert run["primary"]["spm_spectrum_dIdV"].read().shape == (6, 30)


def test_condition_tip_through_tcp(RE, catalog, fake, make):
    spm = make()
    fake.twin.set_tip("blunt")
    RE(condition_tip(spm, action="pulse", voltage=4.0, width=0.05, x=20.0, y=20.0))
    RE(condition_tip(spm, action="dip", depth=0.5))
    causes = [e.cause for e in fake.twin.truth.tip_history.since(0)]
    assert causes[-2:] == ["bias_pulse", "dip"]
    assert fake.twin.get_position() == (20.0, 20.0)


def test_the_device_limits_act_before_anything_is_sent(RE, fake, make):
    spm = make()
    spm.bias.get()
    sent = dict(fake.requests)
    with pytest.raises(SafetyLimitError, match="bias 6.0"):
        RE(raster_image(spm, **IMAGE, bias=6.0))
    with pytest.raises(SafetyLimitError, match="pulse"):
        RE(condition_tip(spm, action="pulse", voltage=9.0))
    assert fake.requests == sent


@pytest.mark.parametrize(
    ("kind", "error", "reason"),
    [
        ("drop", InstrumentConnectionError, "InstrumentConnectionError: connection closed after 0"),
        ("partial", InstrumentConnectionError, "InstrumentConnectionError: connection closed"),
        ("stall", InstrumentTimeout, "InstrumentTimeout: Nanonis Scan.FrameDataGrab gave no"),
        ("error", NanonisError, "NanonisError: Nanonis Scan.FrameDataGrab failed (status 1)"),
    ],
)
def test_a_fault_mid_line_keeps_the_finished_lines(RE, catalog, fake, make, kind, error, reason):
    spm = make(timeout=0.5 if kind == "stall" else 5.0)
    # the second grab of line 3: lines 0-2 are complete, line 3 is half read
    fake.inject_fault(kind, command="Scan.FrameDataGrab", after=3 * GRABS_PER_LINE + 1)
    with pytest.raises(error):
        RE(raster_image(spm, **IMAGE))
    run = _last_run(catalog)
    stop = run.metadata["stop"]
    assert stop["exit_status"] == "fail" and stop["reason"].startswith(reason)
    assert stop["num_events"] == {"primary": 3}
    np.testing.assert_array_equal(run["primary"]["spm_line_index"].read(), [0, 1, 2])
    fake.release()
    # the next plan reconnects and runs
    (uid,) = RE(raster_image(spm, **{**IMAGE, "lines": 2}))
    assert catalog[uid].metadata["stop"]["exit_status"] == "success"


def test_a_spectrum_fault_keeps_the_finished_spectra(RE, catalog, fake, make):
    spm = make()
    fake.inject_fault("error", command="BiasSpectr.Start", after=2, message="sweep aborted")
    with pytest.raises(NanonisError, match="sweep aborted"):
        RE(spectra_at(spm, [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]], n_points=20))
    run = _last_run(catalog)
    stop = run.metadata["stop"]
    assert stop["exit_status"] == "fail"
    assert stop["reason"] == (
        "NanonisError: Nanonis BiasSpectr.Start failed (status 1): sweep aborted"
    )
    assert run["primary"]["spm_spectrum_current"].read().shape == (2, 20)
