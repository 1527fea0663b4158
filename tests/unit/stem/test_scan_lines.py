"""``scan_lines`` yields the messages of bluesky's plan stubs, written out (no stack capture)."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import pytest
from ophyd import Component as Cpt
from ophyd import Device, Signal

from autoscope.plans.stem import scan_lines


class _Readout(Device):
    """Stands in for a line readout: the messages only name it."""

    index = Cpt(Signal, value=0)

    def trigger(self):  # pragma: no cover - never called: the messages are only compared
        raise AssertionError


def _drive(gen, fail_read_at=None):
    """Run a plan, answering 'read' with a reading (or raising into it); the messages
    without their group names."""
    out, reply, reads = [], None, 0
    try:
        while True:
            msg = gen.send(reply) if out else next(gen)
            kw = {k: v for k, v in msg.kwargs.items() if k != "group"}
            out.append((msg.command, msg.obj, msg.args, kw, "group" in msg.kwargs))
            reply = None
            if msg.command == "read":
                reads += 1
                if reads == fail_read_at:
                    out.append(("raised",))
                    msg = gen.throw(RuntimeError("read failed"))
                    kw = {k: v for k, v in msg.kwargs.items() if k != "group"}
                    out.append((msg.command, msg.obj, msg.args, kw, "group" in msg.kwargs))
                    gen.send(None)
                reply = {"line": {"value": reads, "timestamp": 0.0}}
    except StopIteration as stop:
        return out, stop.value
    except RuntimeError:
        return out, "raised"


def _stubs(readout, n, stream="primary"):
    readings = []
    for i in range(n):
        yield from bps.checkpoint()
        yield from bps.mv(readout.index, i)
        readings.append((yield from bps.trigger_and_read([readout], name=stream)))
    return readings


@pytest.mark.parametrize("fail_read_at", [None, 2])
def test_scan_lines_yields_what_the_bluesky_stubs_yield(fail_read_at):
    r = _Readout(name="line")
    ours = _drive(scan_lines(None, r, 3, stream="primary"), fail_read_at)
    theirs = _drive(_stubs(r, 3), fail_read_at)
    assert ours == theirs
    commands = [m[0] for m in ours[0]]
    if fail_read_at is None:
        assert commands.count("save") == 3 and ours[1][2]["line"]["value"] == 3
    else:
        assert "drop" in commands and ours[1] == "raised"
