"""``autoscope.plans.stubs`` yields bluesky's plan stub messages, without their stack capture."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import pytest
from ophyd import Component as Cpt
from ophyd import Device, Signal

from autoscope.plans import stubs


class _Readout(Device):
    """A triggerable device: the messages only name it."""

    index = Cpt(Signal, value=0)
    value = Cpt(Signal, value=1.0)


class _Plain:
    """Readable, not triggerable."""

    name = "plain"
    parent = None

    def read(self):  # pragma: no cover - the messages are only compared
        raise AssertionError

    def describe(self):  # pragma: no cover
        raise AssertionError


class _NotRewindable(_Readout):
    rewindable = Cpt(Signal, value=False)


def _drive(gen, fail_read_at=None):
    """Run a plan, answering 'read' with a reading (or raising into it) and 'rewindable'
    with True; the messages, their group names replaced by their kind, and the result."""
    out, reply, reads = [], None, 0

    def record(msg):
        kw = dict(msg.kwargs)
        if "group" in kw:
            group = kw.pop("group")
            kw["group kind"] = group.split("-")[0] if group.startswith("trigger-") else len(group)
        out.append((msg.command, msg.obj, msg.args, kw))

    try:
        msg = next(gen)
        while True:
            record(msg)
            reply = {"set": "status", "rewindable": True}.get(msg.command)
            if msg.command == "read":
                reads += 1
                if reads == fail_read_at:
                    out.append(("raised",))
                    msg = gen.throw(RuntimeError("read failed"))
                    continue
                reply = {f"r{reads}": {"value": reads, "timestamp": 0.0}}
            msg = gen.send(reply)
    except StopIteration as stop:
        return out, stop.value
    except RuntimeError as exc:
        return out, f"raised {exc}"


def test_checkpoint():
    assert _drive(stubs.checkpoint()) == _drive(bps.checkpoint())


@pytest.mark.parametrize("kwargs", [{}, {"timeout": 5.0}, {"group": "g1"}])
def test_mv_one_and_several(kwargs):
    r = _Readout(name="r")
    for args in ((r.index, 3), (r.index, 3, r.value, 2.5)):
        ours, theirs = _drive(stubs.mv(*args, **kwargs)), _drive(bps.mv(*args, **kwargs))
        assert ours == theirs
        assert ours[1] == ("status",) * (len(args) // 2)


def test_mv_refuses_an_odd_argument_list():
    with pytest.raises(ValueError, match="3 arguments"):
        next(stubs.mv(1, 2, 3))


@pytest.mark.parametrize("fail_read_at", [None, 1, 2])
@pytest.mark.parametrize(
    "make",
    [
        lambda: [_Readout(name="a")],
        lambda: [_Readout(name="a"), _Plain(), _Readout(name="b")],
        lambda: [_Plain()],  # nothing to trigger: no wait
        lambda: [_NotRewindable(name="n")],  # bluesky's own path
        lambda: [],
    ],
    ids=["one", "three", "untriggered", "not-rewindable", "none"],
)
def test_trigger_and_read(make, fail_read_at):
    devices = make()
    ours = _drive(stubs.trigger_and_read(devices, name="s"), fail_read_at)
    theirs = _drive(bps.trigger_and_read(devices, name="s"), fail_read_at)
    assert ours == theirs
    commands = [m[0] for m in ours[0]]
    if fail_read_at is not None and commands.count("read") >= fail_read_at:
        assert "drop" in commands and "save" not in commands and ours[1] == "raised read failed"
    elif devices:
        assert commands.count("save") == 1 and "drop" not in commands
        assert sorted(ours[1]) == [f"r{i + 1}" for i in range(len(devices))]
