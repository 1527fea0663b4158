"""Per-line and per-spectrum plan stubs: bluesky's own messages, without its ``@plan`` wrapper.

bluesky 1.15 wraps every plan stub in ``bluesky.utils.Plan``, which formats the
whole Python stack when the stub is called (``traceback.format_stack``, an
``os.stat`` per frame) to warn later about a plan that was never iterated. A
scan line costs ``checkpoint``, ``mv`` and ``trigger_and_read`` plus the five
stubs inside the latter: about 40 % of a plan's RunEngine CPU went to those
stacks (docs/benchmarks.md, "plan stubs"). The functions here yield the same
messages as :func:`bluesky.plan_stubs.checkpoint`, :func:`~bluesky.plan_stubs.mv`
and :func:`~bluesky.plan_stubs.trigger_and_read` (tests/unit/plans/test_stubs.py
drives both and compares), and take the stubs' path where theirs is not the
plain one: a device that may not be re-triggered on resume (a ``rewindable``
signal that says False), or no devices at all.

The plans call them as ``stubs.mv(...)``, so a benchmark can put bluesky's stubs
back in their place and time both (``benchmarks/bench_plan_stubs.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import bluesky.plan_stubs as bps
from bluesky.protocols import Triggerable
from bluesky.utils import Msg, MsgGenerator, all_safe_rewind, separate_devices

__all__ = ["checkpoint", "mv", "trigger_and_read"]


def checkpoint() -> MsgGenerator:
    """:func:`bluesky.plan_stubs.checkpoint`: a pause rewinds to here."""
    return (yield Msg("checkpoint"))


def mv(*args, group=None, timeout=None, **kwargs) -> MsgGenerator[tuple]:
    """:func:`bluesky.plan_stubs.mv`: set ``obj1, value1, obj2, value2, ...`` together, wait.

    Raises
    ------
    ValueError
        An odd number of arguments, or one object named twice (bluesky's cycler says so
        too, in other words).
    """
    if len(args) % 2:
        raise ValueError(f"mv takes object, value pairs; got {len(args)} arguments")
    objects = args[0::2]
    if len(set(map(id, objects))) != len(objects):
        return (yield from bps.mv(*args, group=group, timeout=timeout, **kwargs))
    group = group or str(uuid.uuid4())
    statuses = []
    for obj, value in zip(objects, args[1::2], strict=True):
        statuses.append((yield Msg("set", obj, value, group=group, **kwargs)))
    yield Msg("wait", None, group=group, timeout=timeout)
    return tuple(statuses)


def trigger_and_read(devices: Sequence, name: str = "primary") -> MsgGenerator[dict]:
    """:func:`bluesky.plan_stubs.trigger_and_read`: one event of ``devices`` in stream ``name``.

    A read that raises drops the event and the error goes on, as in bluesky.
    """
    devices = separate_devices(devices)
    if not devices or not all_safe_rewind(devices):
        return (yield from bps.trigger_and_read(devices, name=name))
    group = f"trigger-{uuid.uuid4().hex[:6]}"
    triggered = False
    for obj in devices:
        if isinstance(obj, Triggerable):
            triggered = True
            yield Msg("trigger", obj, group=group)
    if triggered:
        yield Msg("wait", None, group=group, error_on_timeout=True, timeout=None, watch=())
    yield Msg("create", None, name=name)
    readings = {}
    try:
        for obj in devices:
            reading = yield Msg("read", obj)
            if reading is not None:
                readings.update(reading)
    except Exception:  # not GeneratorExit: a closed plan yields nothing more
        yield Msg("drop")
        raise
    yield Msg("save")
    return readings
