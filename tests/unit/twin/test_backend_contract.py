"""TwinSPM satisfies the SPMBackend contract and checks its input before acting."""

import numpy as np
import pytest

from autoscope.devices.backend import (
    LineData,
    ScanFrame,
    SpectroscopySettings,
    SpectrumData,
    SPMBackend,
)
from autoscope.devices.twin import TwinSPM
from autoscope.errors import ConfigurationError, SafetyLimitError


@pytest.mark.parametrize("sample", ["si100_h", "au111", "pfm_film"])
def test_line_and_spectrum_follow_contract(sample):
    tw = TwinSPM(sample, seed=0)
    assert isinstance(tw, SPMBackend)
    ext = tw.sample.default_extent
    frame = ScanFrame(width=ext, height=ext, pixels=40, lines=5, line_time=0.3, angle=15.0)
    ld = tw.scan_line(frame, 2)
    assert isinstance(ld, LineData) and set(ld.channels) == set(tw.image_channels)
    for tr, re in ld.channels.values():
        assert tr.shape == re.shape == (40,) and tr.dtype == np.float32
    assert ld.t_end - ld.t_start == pytest.approx(0.6)
    assert ld.requested == pytest.approx(ld.reported)
    sp = tw.spectrum(ext / 4, -ext / 4, SpectroscopySettings(points=50))
    assert isinstance(sp, SpectrumData) and set(sp.channels) == set(tw.spectrum_channels)
    assert sp.axis.shape == (50,) and sp.requested == sp.reported == (ext / 4, -ext / 4)
    assert tw.get_position() == (ext / 4, -ext / 4)
    # nothing of the truth leaks into measured data
    assert not any("tip" in k or "truth" in k for k in list(ld.channels) + list(sp.channels))


def test_out_of_range_requests_raise_before_anything_happens():
    tw = TwinSPM("si100_h", seed=0)
    t, pos, bias = tw.time(), tw.get_position(), tw.get_bias()
    with pytest.raises(SafetyLimitError, match="11.0"):
        tw.set_bias(11.0)
    with pytest.raises(SafetyLimitError, match="600"):
        tw.move_to(600.0, 0.0)
    with pytest.raises(SafetyLimitError, match="frame corner"):
        tw.scan_line(ScanFrame(center_x=490.0, width=40.0), 0)
    with pytest.raises(ConfigurationError, match="line index 9"):
        tw.scan_line(ScanFrame(lines=4), 9)
    with pytest.raises(SafetyLimitError, match="12"):
        tw.spectrum(0, 0, SpectroscopySettings(start=-12.0))
    with pytest.raises(ConfigurationError, match="points"):
        tw.spectrum(0, 0, SpectroscopySettings(points=3))
    with pytest.raises(SafetyLimitError):
        tw.set_setpoint(0.0)
    tw.set_bias(0.0)
    with pytest.raises(ConfigurationError, match="bias 0.0 V is too small"):
        tw.spectrum(0, 0, SpectroscopySettings())
    with pytest.raises(ConfigurationError, match="bias 0.0 V is too small"):
        tw.scan_line(ScanFrame(), 0)
    tw.set_bias(bias)
    assert (tw.time(), tw.get_position(), tw.get_bias()) == (t, pos, bias)
    pf = TwinSPM("pfm_film", seed=0)
    with pytest.raises(ConfigurationError, match="start < 0 < stop"):
        pf.spectrum(0, 0, SpectroscopySettings(start=0.5, stop=2.0))


def test_feedback_off_scans_at_constant_height():
    tw = TwinSPM("si100_h", seed=0, noise=0.0, drift=0.0, creep=0.0)
    frame = ScanFrame(width=10, height=10, pixels=64, lines=2, line_time=0.2)
    tw.scan_line(frame, 0)
    tw.set_feedback(False)
    topo, cur = (tw.scan_line(frame, 1).channels[k][0] for k in ("topography", "current"))
    assert np.ptp(topo) == 0 and np.ptp(cur) > 5.0  # current carries the contrast
