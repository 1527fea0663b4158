"""The twin's ground truth stays bounded: ring buffers with running counters."""

import pytest

from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TwinSPM
from autoscope.devices.twin.truth import TruthLog
from autoscope.errors import ConfigurationError

FRAME = ScanFrame(width=5.0, height=5.0, pixels=16, lines=10, line_time=0.5)


def test_truth_log_keeps_cap_and_counts_everything():
    log = TruthLog(3, keys=lambda r: [r % 2])
    for r in range(10):
        log.append(r)
    assert len(log) == 3 and list(log) == [7, 8, 9] and log[-1] == 9 and log[0] == 7
    assert log[1:] == [8, 9] and log == [7, 8, 9]
    assert (log.total, log.first, log.dropped, log.last_dropped) == (10, 7, 7, 6)
    assert log.counts == {0: 5, 1: 5}
    assert log.since(8) == [8, 9] and log.since(10) == []
    with pytest.raises(LookupError, match="from 6 on"):
        log.since(6)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None])
def test_truth_log_rejects_bad_cap(bad):
    with pytest.raises(ConfigurationError, match="truth_lines_max"):
        TwinSPM("si100_h", seed=0, truth_lines_max=bad)


def test_twin_truth_bounded_with_counters():
    capped = TwinSPM("si100_h", seed=3, tip_change_rate=0.2, truth_lines_max=7, tip_history_max=2)
    full = TwinSPM("si100_h", seed=3, tip_change_rate=0.2)
    for tw in (capped, full):
        for _ in range(3):
            tw.scan_frame(FRAME)
    assert len(capped.truth.lines) == 7 and len(full.truth.lines) == 30
    assert capped.truth.lines.total == full.truth.lines.total == 30
    # the records held are the newest ones, identical to the unbounded twin's
    assert list(capped.truth.lines) == full.truth.lines[-7:]
    assert [r.line for r in capped.truth.lines.since(25)] == [25, 26, 27, 28, 29]
    # counters cover the dropped records too
    lc = capped.truth.line_counts
    assert lc == full.truth.line_counts and lc["total"] == 30
    assert sum(lc["kind_start"].values()) == 30
    assert lc["changed"] == sum(r.changed for r in full.truth.lines)
    n_events = len(full.truth.tip_history)
    assert n_events > 2, "the test needs more tip changes than the cap"
    assert len(capped.truth.tip_history) == 2 and capped.truth.tip_history.total == n_events
    ec = capped.truth.tip_event_counts
    assert ec == full.truth.tip_event_counts and ec["cause"] == {"spontaneous": n_events}
    assert list(capped.truth.tip_history) == full.truth.tip_history[-2:]
    # tip kind lookups still answer for held times and refuse dropped ones
    t_last = full.truth.tip_history[-1].time
    assert capped.truth.tip_kind_at(t_last) == full.truth.tip_kind_at(t_last)
    assert capped.truth.tip_kind_at(capped.time()) == capped.truth.tip_state.kind
    with pytest.raises(LookupError, match="tip_history_max"):
        capped.truth.tip_kind_at(0.0)
    assert full.truth.tip_kind_at(0.0) == "sharp"


def test_scan_frame_labels_read_events_by_absolute_position():
    capped = TwinSPM("si100_h", seed=3, tip_change_rate=0.2, tip_history_max=2)
    full = TwinSPM("si100_h", seed=3, tip_change_rate=0.2)
    for _ in range(3):
        _, a = capped.scan_frame(FRAME)
        _, b = full.scan_frame(FRAME)
        assert a["events"] == b["events"] and list(a["changed"]) == list(b["changed"])
    assert capped.truth.tip_history.dropped > 0
    # more events in one frame than the ring holds: said, not silently cut
    tiny = TwinSPM("si100_h", seed=3, tip_change_rate=0.2, tip_history_max=1)
    with pytest.raises(LookupError, match="tip_history_max|raise the cap"):
        tiny.scan_frame(FRAME)
