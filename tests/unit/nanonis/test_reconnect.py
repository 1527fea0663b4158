"""A reconnect resumes the tip-watched image: the link to the controller breaks mid-line, the
plan closes that segment with the fault as its reason, the client reconnects on the next call
and the plan finishes the frame; every completed line is in the catalog exactly once."""

import pytest

from autoscope.devices.nanonis.client import NanonisClient
from autoscope.plans.tip_watch import tip_watched_image

FRAME = dict(width=9.6, height=6.4, pixels=96, lines=48, line_time=0.5)
FAST_ONLY = dict(slow_windows=0, check_level=1.0)  # as in test_watched_and_campaign.py
GRABS_PER_LINE = 4  # 2 channels x 2 directions; the first poll finds the line done


def _segments(catalog, uids):
    runs = [catalog[u] for u in uids]
    # a sharp tip: no recovery, every run is a segment of the frame
    assert [r.metadata["start"]["plan_name"] for r in runs] == ["tip_watched_image"] * len(runs)
    assert len({r.metadata["start"]["frame_uid"] for r in runs}) == 1
    return runs


def _lines(run) -> list[int]:
    if not run.metadata["stop"]["num_events"].get("primary"):
        return []
    return run["primary"]["spm_line_index"].read().tolist()


def _assert_every_line_once(runs):
    lines = [i for r in runs for i in _lines(r)]
    assert sorted(lines) == list(range(FRAME["lines"]))


@pytest.mark.parametrize(
    ("kind", "timeout", "reason"),
    [
        ("drop", 5.0, "InstrumentConnectionError at line 20: connection closed after 0 of 40"),
        ("partial", 5.0, "InstrumentConnectionError at line 20: connection closed after"),
        ("stall", 2.0, "InstrumentTimeout at line 20: Nanonis Scan.FrameDataGrab gave no answer"),
    ],
)
def test_the_frame_resumes_in_the_controllers_scan_after_a_reconnect(
    RE, catalog, fake, make, tiny_weights, kind, timeout, reason
):
    """The controller kept scanning while the link was down: the plan picks its scan up again."""
    spm = make(timeout=timeout)
    # the second grab of line 20: lines 0-19 are complete, line 20 is half read
    fake.inject_fault(kind, command="Scan.FrameDataGrab", after=20 * GRABS_PER_LINE + 1)
    uids = RE(tip_watched_image(spm, **FRAME, **FAST_ONLY, weights=str(tiny_weights)))
    fake.release()
    first, second = _segments(catalog, uids)

    stop = first.metadata["stop"]
    assert stop["exit_status"] == "fail"
    assert stop["reason"].startswith(reason) and stop["reason"].endswith("resuming at line 20")
    assert _lines(first) == list(range(20))

    start = second.metadata["start"]
    assert start["start_line"] == 20 and start["resumes"] == uids[0]
    assert start["reason"].startswith("resume after")
    assert second.metadata["stop"]["exit_status"] == "success"
    _assert_every_line_once([first, second])

    assert spm.backend.client.reconnects == 1
    # one scan on the controller: the lines after the reconnect are its lines, not a rescan
    assert fake.requests["Scan.FrameSet"] == 1 and not fake.scan_faults


def test_a_scan_stopped_while_the_link_was_down_is_rescanned_from_its_first_missing_line(
    RE, catalog, fake, make, tiny_weights
):
    """The controller's scan stopped meanwhile (an operator at the controller, here through a
    second client when the failed segment closes): the plan reads the lines the controller
    finished, meets the stopped scan as a fault, and rescans from the first missing line."""
    spm = make()

    def operator_stops_the_scan(name, doc):
        if name == "stop" and doc["exit_status"] == "fail" and not stopped:
            stopped.append(doc["run_start"])
            with NanonisClient(fake.host, fake.port) as operator:
                operator.call("Scan.Action", 1, 1)

    stopped = []
    RE.subscribe(operator_stops_the_scan)
    fake.inject_fault("drop", command="Scan.FrameDataGrab", after=3 * GRABS_PER_LINE + 1)
    uids = RE(
        tip_watched_image(spm, **FRAME, **FAST_ONLY, weights=str(tiny_weights), max_fault_retries=2)
    )
    assert stopped == [uids[0]]
    first, second, third = _segments(catalog, uids)
    assert first.metadata["stop"]["reason"].startswith(
        "InstrumentConnectionError at line 3: connection closed after 0 of 40 bytes of the "
        "answer to Nanonis Scan.FrameDataGrab"
    )
    assert _lines(first) == [0, 1, 2]

    # the second segment reads what the controller scanned before it stopped, then fails
    k = third.metadata["start"]["start_line"]
    assert 3 < k < FRAME["lines"]
    assert _lines(second) == list(range(3, k))
    stop = second.metadata["stop"]
    assert stop["exit_status"] == "fail"
    assert stop["reason"] == (
        f"InstrumentFault at line {k}: the controller's scan stopped before line {k} of the "
        f"frame was complete; resuming at line {k}"
    )
    assert third.metadata["start"]["resumes"] == uids[1]
    assert third.metadata["stop"]["reason"] == "frame complete"
    _assert_every_line_once([first, second, third])
    # the rescan is a new scan on the controller: the lines k.. of the frame
    assert fake.requests["Scan.FrameSet"] == 2
    assert spm.backend.client.reconnects == 1
