"""Faults raise at the configured point, deterministically."""

import pytest

from autoscope.devices.backend import ScanFrame, SpectroscopySettings
from autoscope.devices.twin import FaultPlan, TwinSPM, random_fault_plans
from autoscope.errors import ConfigurationError, InstrumentTimeout, LostContact, TipCrash

FRAME = ScanFrame(width=10, height=10, pixels=16, lines=10, line_time=0.1)
SPEC = SpectroscopySettings(points=16)


def test_timeout_after_lines():
    tw = TwinSPM("si100_h", seed=0, tip_change_rate=0.0)
    tw.scan_line(FRAME, 0)
    tw.inject_fault("timeout", after_lines=3)  # counted from now
    for i in range(1, 4):
        tw.scan_line(FRAME, i)
    t = tw.time()
    with pytest.raises(InstrumentTimeout):
        tw.scan_line(FRAME, 4)
    assert tw.time() - t == pytest.approx(tw.timing.timeout_wait)
    tw.scan_line(FRAME, 4)  # fired once, then gone
    assert len(tw.truth.faults) == 1


def test_lost_contact_after_spectra_turns_feedback_off():
    tw = TwinSPM("si100_h", seed=0, faults=FaultPlan("lost_contact", after_spectra=2))
    tw.spectrum(0, 0, SPEC)
    tw.spectrum(1, 0, SPEC)
    with pytest.raises(LostContact):
        tw.spectrum(2, 0, SPEC)
    assert tw.get_feedback() is False
    t = tw.time()
    tw.set_feedback(True)
    assert tw.time() - t == pytest.approx(tw.timing.reapproach)


def test_tip_crash_changes_tip_and_is_recorded():
    tw = TwinSPM(
        "si100_h", seed=0, tip_change_rate=0.0, faults=[FaultPlan("tip_crash", after_lines=1)]
    )
    tw.scan_line(FRAME, 0)
    with pytest.raises(TipCrash):
        tw.scan_line(FRAME, 1)
    assert tw.truth.tip_state.kind in ("blunt", "multi")
    assert tw.truth.tip_history[-1].cause == "crash"


def test_fault_after_time():
    tw = TwinSPM("si100_h", seed=0, faults=FaultPlan("timeout", after_time=1.0))
    tw.scan_line(FRAME, 0)  # starts at 0 s
    with pytest.raises(InstrumentTimeout):
        for i in range(1, 10):
            tw.scan_line(FRAME, i)
    assert i == 5  # lines take 0.2 s: the line starting at 1.0 s raises


def test_bad_fault_plans_raise_clearly():
    with pytest.raises(ConfigurationError, match="meteor"):
        FaultPlan("meteor", after_lines=1)
    with pytest.raises(ConfigurationError, match="exactly one"):
        FaultPlan("timeout", after_lines=1, after_spectra=1)
    assert random_fault_plans(3, n=4) == random_fault_plans(3, n=4)
