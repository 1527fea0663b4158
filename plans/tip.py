"""Tip conditioning plans."""

# No "from __future__ import annotations": the queue server reads the annotations as
# objects to describe and validate plan parameters.

from typing import Optional

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator

from autoscope.errors import ConfigurationError
from autoscope.plans.utils import check_md, check_spm, run_metadata, run_with_reason

__all__ = ["condition_tip", "TIP_ACTIONS"]

TIP_ACTIONS = ("pulse", "dip")


def condition_tip(
    spm: Readable,
    action: str = "pulse",
    voltage: float = 3.0,
    width: float = 0.05,
    depth: float = 0.5,
    x: Optional[float] = None,
    y: Optional[float] = None,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Condition the tip with a bias pulse or a controlled dip, as one event.

    Moves to (x, y) first when both are given, else acts where the probe is.
    The event (stream ``"primary"``) records the action, its instrument start
    and end time and the requested and reported probe position; the action's
    parameters are in the descriptor's configuration and in the start
    document. Whether the tip got better is for an image or a spectrum after
    it to tell.

    Parameters
    ----------
    spm : Readable
        The SPM device (``autoscope.devices.SPM``).
    action : str
        ``"pulse"`` (bias pulse of ``voltage`` for ``width``) or ``"dip"``
        (controlled indentation by ``depth``).
    voltage : float
        Pulse voltage in V (``"pulse"`` only).
    width : float
        Pulse width in s (``"pulse"`` only).
    depth : float
        Dip depth in nm (``"dip"`` only).
    x, y : float, optional
        Where to condition, in nm (both or neither).
    md : dict, optional
        Extra metadata for the start document (merged last).

    Returns
    -------
    str
        The run uid.

    Raises
    ------
    SafetyLimitError
        when the pulse, the dip or the position is beyond the device's
        limits; raised before anything moves.
    ConfigurationError
        for an unknown action or arguments of the wrong type.
    """
    spm = check_spm(spm)
    if action not in TIP_ACTIONS:
        raise ConfigurationError(f"action must be one of {TIP_ACTIONS}, got {action!r}")
    if action == "pulse":
        voltage, width = spm.limits.check_pulse(voltage, width)
        params = {"voltage": voltage, "width": width}
    else:
        depth = spm.limits.check_dip(depth)
        params = {"depth": depth}
    if (x is None) != (y is None):
        raise ConfigurationError(f"give both x and y or neither, got x={x!r}, y={y!r}")
    if x is not None:
        x, y = spm.limits.check_position(x, y, what="conditioning position")
    check_md(md)
    plan_args = {"action": action, **params, "x": x, "y": y}
    metadata = run_metadata(
        spm, "condition_tip", plan_args, {"tip_action": {"action": action, **params}}, md
    )
    tip = spm.tip

    def inner() -> MsgGenerator[None]:
        if x is not None:
            yield from bps.mv(spm.probe, (x, y))
        if action == "pulse":
            yield from bps.mv(tip.pulse_voltage, voltage, tip.pulse_width, width)
        else:
            yield from bps.mv(tip.dip_depth, depth)
        yield from bps.mv(tip.action, action)
        yield from bps.trigger_and_read([tip, spm.probe])

    return (yield from bpp.stage_wrapper(run_with_reason(inner(), metadata), [spm]))
