"""Tip changes happen at random instrument times, also mid-line; conditioning is stochastic."""

import numpy as np
import pytest

from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TIP_KINDS, TwinSPM, make_tip
from autoscope.devices.twin.tip import TipProcess
from autoscope.errors import ConfigurationError, SafetyLimitError

FRAME = ScanFrame(width=12, height=12, pixels=64, lines=40, line_time=1.0)


def test_changes_mid_line_are_labelled_and_visible():
    tw = TwinSPM("si100_h", seed=11, tip_change_rate=0.05)
    _, labels = tw.scan_frame(FRAME)
    events = labels["events"]
    assert len(events) >= 2
    n = 0
    for ev in events:
        assert ev.cause == "spontaneous"
        row = ev.frame_line
        assert labels["changed"][row]
        assert 0 <= ev.sample < 2 * FRAME.pixels
        lt = labels["t_start"][row]
        assert lt <= ev.time < labels["t_end"][row]
        n += 0 < ev.sample < 2 * FRAME.pixels - 1
    assert n >= 1  # at least one change inside a line, not at its ends
    # labels agree with the history and rate ~ Poisson
    assert labels["changed"].sum() == len({e.frame_line for e in events})
    for i in range(FRAME.lines):
        if not labels["changed"][i]:
            assert labels["kind"][i] == labels["kind_end"][i]
        if i + 1 < FRAME.lines:
            assert labels["kind_end"][i] == labels["kind"][i + 1]
    assert labels["kind_end"][-1] == tw.truth.tip_state.kind
    # the image shows it: lines scanned after a change differ in roughness statistics
    assert set(labels["kind"]) == {e.before for e in events} | {e.after for e in events}


def test_tip_change_rate_matches_poisson_mean():
    proc = TipProcess("stm", np.random.default_rng(0), change_rate=0.01)
    counts = [len(proc.spontaneous_times(0, 1000)) for _ in range(400)]
    assert np.mean(counts) == pytest.approx(10, rel=0.05)


def test_conditioning_moderate_pulses_heal_violent_ones_harm():
    blunt = make_tip("blunt")
    sharp = make_tip("sharp")
    proc = TipProcess("stm", np.random.default_rng(1), change_rate=0.0)
    heal = np.mean([proc.after_pulse(blunt, 3.0, 0.1).is_good for _ in range(1000)])
    harm = np.mean([not proc.after_pulse(sharp, 9.0, 0.1).is_good for _ in range(1000)])
    tiny = np.mean([proc.after_pulse(blunt, 0.3, 0.01) is blunt for _ in range(1000)])
    assert heal > 0.4 and harm > 0.5 and tiny > 0.95
    dip_heal = np.mean([proc.after_dip(blunt, 0.8).is_good for _ in range(1000)])
    deep_harm = np.mean([not proc.after_dip(sharp, 4.0).is_good for _ in range(1000)])
    assert dip_heal > 0.5 and deep_harm > 0.6


def test_conditioning_on_twin_records_events_and_validates():
    tw = TwinSPM("si100_h", seed=2, tip="blunt", tip_change_rate=0.0)
    for _ in range(10):
        tw.bias_pulse(3.0, 0.1)
    causes = {e.cause for e in tw.truth.tip_history}
    assert causes <= {"bias_pulse"} and len(tw.truth.tip_history) >= 1
    with pytest.raises(SafetyLimitError, match="12"):
        tw.bias_pulse(12.0, 0.1)
    with pytest.raises(SafetyLimitError, match="7"):
        tw.dip(7.0)
    with pytest.raises(ConfigurationError):
        tw.set_tip("wobbly")


@pytest.mark.parametrize("kind", TIP_KINDS)
def test_each_tip_kind_changes_the_image(kind):
    frame = ScanFrame(width=8, height=8, pixels=64, lines=16, line_time=0.2)
    ref = TwinSPM("si100_h", seed=3, noise=0.0, drift=0.0, tip_change_rate=0.0)
    a, _ = ref.scan_frame(frame)
    tw = TwinSPM("si100_h", seed=3, noise=0.0, drift=0.0, tip_change_rate=0.0, tip=kind)
    b, _ = tw.scan_frame(frame)
    diff = np.abs(a["topography"][0] - b["topography"][0]).mean()
    if kind == "sharp":
        assert diff == 0
    else:
        assert diff > 0.1 * a["topography"][0].std()


def test_pfm_contact_scanning_wears_the_tip_blunt():
    tw = TwinSPM("pfm_film", seed=0, tip_change_rate=0.0, tip_wear=1e-4)
    r0 = tw.truth.tip_state.radius
    frame = ScanFrame(width=2000, height=2000, pixels=16, lines=200, line_time=0.05)
    tw.scan_frame(frame, lines=range(10))
    assert tw.truth.tip_state.radius == pytest.approx(r0 + 1e-4 * 10 * 2 * 2000)
    tw.scan_frame(frame)
    assert tw.truth.tip_state.kind == "blunt"
    assert [e.cause for e in tw.truth.tip_history] == ["wear"]
    stm = TwinSPM("si100_h", seed=0, tip_change_rate=0.0)
    stm.scan_frame(ScanFrame(pixels=16, lines=20, line_time=0.05))
    assert stm.truth.tip_state.radius == 0.08  # no wear without contact


def test_tip_changes_during_a_grid_of_spectra_split_the_spectra():
    from autoscope.devices.backend import SpectroscopySettings

    tw = TwinSPM("si100_h", seed=6, tip_change_rate=0.05, noise=0.0)
    s = SpectroscopySettings(points=64)
    xs = np.linspace(-3, 3, 40)
    _, ch, times = tw.spectra_at(xs, np.zeros(40), s)
    assert all(np.isfinite(v).all() for v in ch.values())
    events = tw.truth.tip_history
    assert len(events) >= 2 and np.all(np.diff(times) > 0)
    dur = 64 * (s.settle + s.integration) * 2
    for ev in events:  # every change fell inside one spectrum, at the point it names
        i = int(np.searchsorted(times, ev.time) - 1)
        assert times[i] <= ev.time < times[i] + dur
        assert ev.sample == int((ev.time - times[i]) / (dur / 64))
        assert ev.line is None
