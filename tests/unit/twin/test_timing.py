"""The clock counts the timing model in instrument seconds."""

import math

import pytest

from autoscope.devices.backend import ScanFrame, SpectroscopySettings
from autoscope.devices.twin import InstrumentClock, Timing, TwinSPM
from autoscope.errors import ConfigurationError


def test_clock_counts_every_cost():
    clock = InstrumentClock(start=100.0)
    tm = Timing()
    tw = TwinSPM("si100_h", seed=0, clock=clock, tip_change_rate=0.0)
    assert tw.time() == 0.0
    frame = ScanFrame(
        center_x=30.0, center_y=40.0, width=10, height=10, pixels=32, lines=4, line_time=0.75
    )
    tw.scan_line(frame, 0)  # move of the working point (50 nm) + trace + retrace
    move = tm.move_overhead + 50.0 / tm.move_speed + tm.settle_after_move
    assert tw.time() == pytest.approx(move + 1.5)
    tw.scan_line(frame, 1)  # same frame: no move
    assert tw.time() == pytest.approx(move + 3.0)
    t = tw.time()
    s = SpectroscopySettings(points=100, settle=0.003, integration=0.007, sweeps=2)
    sp = tw.spectrum(30.0, 40.0, s)  # no move: already at the working point
    assert tw.time() - t == pytest.approx(tm.spectrum_overhead + 100 * 0.01 * 2 * 2)
    assert sp.t_end - sp.t_start == pytest.approx(100 * 0.01 * 4)
    t = tw.time()
    tw.move_to(30.0, 43.0)
    assert tw.time() - t == pytest.approx(
        tm.move_overhead + 3.0 / tm.move_speed + tm.settle_after_move
    )
    t = tw.time()
    tw.bias_pulse(3.0, 0.2)
    assert tw.time() - t == pytest.approx(tm.pulse_overhead + 0.2)
    t = tw.time()
    tw.dip(0.5)
    assert tw.time() - t == pytest.approx(tm.dip_time)
    assert clock.now() == pytest.approx(100.0 + tw.time())


def test_pfm_spectrum_time_is_points_times_settle_plus_integration():
    tw = TwinSPM("pfm_film", seed=0, tip_change_rate=0.0)
    s = SpectroscopySettings(points=128, settle=0.005, integration=0.015)
    sp = tw.spectrum(0.0, 0.0, s)
    assert sp.t_end - sp.t_start == pytest.approx(128 * 0.02)


def test_spectra_at_costs_the_same_as_single_spectra():
    s = SpectroscopySettings(points=32)
    a = TwinSPM("si100_h", seed=0, tip_change_rate=0.0)
    b = TwinSPM("si100_h", seed=0, tip_change_rate=0.0)
    pts = [(0.0, 0.0), (1.0, 0.5), (2.0, 3.0)]
    for x, y in pts:
        a.spectrum(x, y, s)
    b.spectra_at([p[0] for p in pts], [p[1] for p in pts], s)
    assert a.time() == pytest.approx(b.time())


def test_clock_rejects_bad_speedup_and_negative_time():
    with pytest.raises(ConfigurationError, match="0.5"):
        InstrumentClock(speedup=0.5)
    with pytest.raises(ConfigurationError):
        InstrumentClock().advance(-1.0)
    assert math.isinf(InstrumentClock().speedup)
