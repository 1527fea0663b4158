"""NanonisSPM satisfies the SPMBackend contract through TCP, with the data the twin measures."""

import numpy as np
import pytest

from autoscope.devices.backend import (
    LineData,
    ScanFrame,
    SpectroscopySettings,
    SpectrumData,
    SPMBackend,
)
from autoscope.devices.nanonis.backend import NanonisSPM, sub_frame
from autoscope.devices.twin import TwinSPM
from autoscope.errors import ConfigurationError, InstrumentFault, NanonisError

QUIET = {"drift": 0.0, "creep": 0.0, "hysteresis": 0.0, "tip_change_rate": 0.0}  # as the fixture
FRAME = ScanFrame(width=8.0, height=8.0, pixels=32, lines=6, line_time=0.3, angle=15.0)


def test_line_and_spectrum_follow_the_contract_and_match_the_twin(fake, nanonis):
    direct = TwinSPM("si100_h", seed=0, **QUIET)  # the same twin, called directly
    assert isinstance(nanonis, SPMBackend)
    for i in range(FRAME.lines):
        ld = nanonis.scan_line(FRAME, i)
        ref = direct.scan_line(FRAME, i)
        assert isinstance(ld, LineData) and ld.index == i
        assert set(ld.channels) == set(nanonis.image_channels) == {"topography", "current"}
        for ch, (tr, re) in ld.channels.items():
            assert tr.shape == re.shape == (32,) and tr.dtype == np.float32
            np.testing.assert_allclose(tr, ref.channels[ch][0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(re, ref.channels[ch][1], rtol=1e-5, atol=1e-6)
        assert ld.requested == pytest.approx(ref.requested)
        assert ld.reported == pytest.approx(ld.requested, abs=1e-5)
        assert ld.t_end >= ld.t_start
    settings = SpectroscopySettings(points=50)
    sp = nanonis.spectrum(2.0, -1.0, settings)
    ref = direct.spectrum(2.0, -1.0, settings)
    assert isinstance(sp, SpectrumData) and set(sp.channels) == set(nanonis.spectrum_channels)
    np.testing.assert_allclose(sp.axis, ref.axis, atol=1e-6)
    np.testing.assert_allclose(sp.channels["current"], ref.channels["current"], rtol=1e-5)
    # dIdV is the lock-in's demodulated current: the twin's nS times the modulation (pA)
    np.testing.assert_allclose(
        sp.channels["dIdV"], ref.channels["dIdV"] * 1e-9 * 0.01 * 1e12, rtol=1e-4, atol=1e-9
    )
    assert sp.requested == (2.0, -1.0) and sp.reported == pytest.approx((2.0, -1.0))
    assert nanonis.get_position() == pytest.approx((2.0, -1.0))


def test_sub_frame_covers_the_same_pixels():
    for k in (1, 3, 5):
        sub = sub_frame(FRAME, k)
        assert sub.lines == FRAME.lines - k
        for r in range(sub.lines):
            np.testing.assert_allclose(sub.nominal_xy(r), FRAME.nominal_xy(k + r), atol=1e-9)


def test_resuming_mid_frame_starts_a_scan_at_that_line(fake, nanonis):
    nanonis.scan_line(FRAME, 0)
    nanonis.move_to(1.0, 1.0)  # stops the scan (a tip-watch plan conditions elsewhere)
    ld = nanonis.scan_line(FRAME, 3)
    assert ld.index == 3 and ld.reported == pytest.approx(ld.requested, abs=1e-5)
    assert fake.requests["Scan.Action"] == 3  # start, stop, start again
    again = nanonis.scan_line(FRAME, 3)  # asking for a line already read scans it again
    assert fake.requests["Scan.Action"] == 5 and again.index == 3


def test_pixels_the_controller_does_not_keep_are_refused(fake, nanonis):
    with pytest.raises(ConfigurationError, match="frame pixels 40 .* ask for 32 pixels"):
        nanonis.scan_line(ScanFrame(width=8, height=8, pixels=40, lines=4), 0)
    with pytest.raises(ConfigurationError, match="line index 9"):
        nanonis.scan_line(ScanFrame(lines=4, pixels=32), 9)


def test_controller_refusals_and_twin_faults_arrive_as_instrument_faults(fake, nanonis):
    t = fake.twin.time()
    with pytest.raises(NanonisError, match="outside the scan range of"):
        nanonis.move_to(600.0, 0.0)
    assert fake.twin.time() == t  # refused before it moved
    fake.twin.inject_fault("lost_contact", after_lines=2)
    nanonis.scan_line(FRAME, 0)
    nanonis.scan_line(FRAME, 1)
    with pytest.raises(InstrumentFault, match="stopped before line 2 .*contact lost"):
        nanonis.scan_line(FRAME, 2)
    assert fake.scan_faults and "LostContact" in fake.scan_faults[0]
    nanonis.set_feedback(True)  # re-approach
    fake.twin.inject_fault("tip_crash", after_spectra=0)
    with pytest.raises(NanonisError, match="TipCrash: tip crashed"):
        nanonis.spectrum(0.0, 0.0, SpectroscopySettings(points=20))


def test_pulse_and_dip_reach_the_twin(fake, nanonis):
    fake.twin.set_tip("blunt")
    nanonis.bias_pulse(4.0, 0.05)
    nanonis.dip(0.5)
    causes = [e.cause for e in fake.twin.truth.tip_history.since(0)]
    assert "bias_pulse" in causes and "dip" in causes


def test_bad_signal_configuration_is_refused():
    with pytest.raises(ConfigurationError, match="image_signals"):
        NanonisSPM("127.0.0.1", 6501, image_signals={"topography": "Z"})


def test_an_unknown_signal_name_is_named(fake):
    backend = NanonisSPM(
        fake.host, fake.port, image_signals={"topography": ("Z height (m)", 1e9, "nm")}
    )
    with pytest.raises(ConfigurationError, match="'Z height \\(m\\)' is not among"):
        backend.scan_line(FRAME, 0)
    backend.close()
