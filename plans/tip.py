"""Tip conditioning plans."""

# No "from __future__ import annotations": the queue server reads the annotations as
# objects to describe and validate plan parameters.

import logging
from typing import Optional

import bluesky.preprocessors as bpp
import numpy as np
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator
from ophyd import Component as Cpt
from ophyd import Device, Signal

from autoscope.agents.tip.imprint import classify_imprint
from autoscope.devices.spm.limits import check_int, check_real
from autoscope.errors import ConfigurationError
from autoscope.plans import stubs
from autoscope.plans.utils import (
    check_md,
    check_spm,
    checked_frame,
    run_metadata,
    run_with_reason,
)

__all__ = ["condition_tip", "TIP_ACTIONS", "VERIFY"]

logger = logging.getLogger(__name__)

TIP_ACTIONS = ("pulse", "dip")
VERIFY = ("imprint",)
"""Verification steps ``condition_tip`` offers after its action."""


class _ImprintVerdict(Device):
    """What the imprint showed (stream ``imprint_verdict``; see :mod:`.agents.tip.imprint`)."""

    verdict = Cpt(Signal, value="", kind="hinted")
    lobes = Cpt(Signal, value=0, kind="normal")
    width = Cpt(Signal, value=float("nan"), kind="normal")
    elongation = Cpt(Signal, value=float("nan"), kind="normal")
    contrast = Cpt(Signal, value=float("nan"), kind="normal")
    ood = Cpt(Signal, value=float("nan"), kind="normal")
    why = Cpt(Signal, value="", kind="normal")


def condition_tip(
    spm: Readable,
    action: str = "pulse",
    voltage: float = 3.0,
    width: float = 0.05,
    depth: float = 0.5,
    x: Optional[float] = None,
    y: Optional[float] = None,
    verify: Optional[str] = None,
    imprint_size: float = 5.0,
    imprint_pixels: int = 80,
    imprint_line_time: float = 0.2,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Condition the tip with a bias pulse or a controlled dip, as one event.

    Moves to (x, y) first when both are given, else acts where the probe is.
    The event (stream ``"primary"``) records the action, its instrument start
    and end time and the requested and reported probe position; the action's
    parameters are in the descriptor's configuration and in the start
    document. Whether the tip got better is for an image or a spectrum after
    it to tell, or, with ``verify="imprint"`` after a dip, for the imprint:
    the plan then images a square of ``imprint_size`` nm and
    ``imprint_pixels`` pixels centred where the tip went down (stream
    ``imprint``, one event per line) and judges the tip from the mark the dip
    left (:func:`autoscope.agents.tip.imprint.classify_imprint`: ``good``,
    ``multi``, ``blunt`` or ``unknown``; stream ``imprint_verdict``, one
    event, also logged). The twin leaves such marks when
    ``TwinSPM.leave_imprints`` is on.

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
    verify : str, optional
        ``None`` (default: no check) or ``"imprint"`` (after a dip only).
    imprint_size : float
        Width of the imprint image, nm.
    imprint_pixels : int
        Pixels (and lines) of the imprint image.
    imprint_line_time : float
        Seconds per line of the imprint image: fast, so that drift does not
        stretch the mark into a false shoulder.
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
        for an unknown action or verification, ``verify="imprint"`` after a
        pulse, or arguments of the wrong type.
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
    if verify is not None and verify not in VERIFY:
        raise ConfigurationError(f"verify must be None or one of {VERIFY}, got {verify!r}")
    if verify == "imprint" and action != "dip":
        raise ConfigurationError(
            f"verify='imprint' needs a dip (a pulse leaves no mark to image), got action={action!r}"
        )
    frame = None
    if verify == "imprint":
        imprint_size = check_real(
            "imprint_size", imprint_size, low=0.0, low_inclusive=False, units="nm"
        )
        imprint_pixels = check_int("imprint_pixels", imprint_pixels, low=16)
        cx, cy = (x, y) if x is not None else spm.probe.position
        frame = checked_frame(
            spm,
            cx,
            cy,
            imprint_size,
            imprint_size,
            0.0,
            imprint_pixels,
            imprint_pixels,
            imprint_line_time,
            names=("imprint_pixels", "imprint_pixels"),
        )
    check_md(md)
    plan_args = {"action": action, **params, "x": x, "y": y, "verify": verify}
    if frame is not None:
        plan_args.update(
            imprint_size=imprint_size,
            imprint_pixels=imprint_pixels,
            imprint_line_time=imprint_line_time,
        )
    metadata = run_metadata(
        spm, "condition_tip", plan_args, {"tip_action": {"action": action, **params}}, md
    )
    tip = spm.tip

    def inner() -> MsgGenerator[None]:
        if x is not None:
            yield from stubs.mv(spm.probe, (x, y))
        if action == "pulse":
            yield from stubs.mv(tip.pulse_voltage, voltage, tip.pulse_width, width)
        else:
            yield from stubs.mv(tip.dip_depth, depth)
        yield from stubs.mv(tip.action, action)
        yield from stubs.trigger_and_read([tip, spm.probe])
        if frame is not None:
            yield from _verify_imprint(spm, frame)

    return (yield from bpp.stage_wrapper(run_with_reason(inner(), metadata), [spm]))


def _verify_imprint(spm, frame) -> MsgGenerator[str]:
    """Image the imprint (stream ``imprint``) and record what it shows (``imprint_verdict``)."""
    keys = spm.line.channel_keys()
    if "topography" not in keys:
        raise ConfigurationError(
            f"the imprint check needs a 'topography' channel; this instrument has {sorted(keys)}"
        )
    kt, _ = keys["topography"]
    yield from stubs.mv(spm.frame, frame)
    rows = []
    for i in range(frame.lines):
        yield from stubs.mv(spm.line.index, i)
        reading = yield from stubs.trigger_and_read([spm.line], name="imprint")
        rows.append(np.asarray(reading[kt]["value"], dtype=np.float64))
    res = classify_imprint(np.stack(rows), frame.width / frame.pixels)
    log = _ImprintVerdict(name="imprint")
    for name in ("verdict", "lobes", "width", "elongation", "contrast", "ood", "why"):
        getattr(log, name).put(getattr(res, name))
    yield from stubs.trigger_and_read([log], name="imprint_verdict")
    logger.info("imprint after the dip: %s (%s)", res.verdict, res.why)
    return res.verdict
