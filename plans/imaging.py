"""Imaging plans: a raster image recorded one event per scan line."""

# No "from __future__ import annotations": the queue server reads the annotations as
# objects to describe and validate plan parameters.

import dataclasses
from typing import Optional

import bluesky.preprocessors as bpp
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator

from autoscope.plans import stubs
from autoscope.plans.utils import (
    check_md,
    check_spm,
    checked_frame,
    run_metadata,
    run_with_reason,
)

__all__ = ["raster_image"]


def raster_image(
    spm: Readable,
    center_x: float = 0.0,
    center_y: float = 0.0,
    width: float = 20.0,
    height: float = 20.0,
    pixels: int = 256,
    lines: int = 256,
    line_time: float = 1.0,
    angle: float = 0.0,
    bias: Optional[float] = None,
    setpoint: Optional[float] = None,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Record a raster image, one event per scan line as it is measured.

    Lines run from the bottom of the frame (index 0) upwards; each event in
    stream ``"primary"`` holds every image channel's trace and retrace
    (float32, ``[pixels]``, ordered by increasing x in the frame), the line
    index, requested and reported start/end positions (nm) and the
    instrument time (s). The start document records the frame, the pixel
    size, the image shape and which data keys assemble the image.

    Parameters
    ----------
    spm : Readable
        The SPM device (``autoscope.devices.SPM``).
    center_x, center_y : float
        Frame centre in nm.
    width, height : float
        Frame size in nm (before rotation).
    pixels : int
        Pixels per line.
    lines : int
        Number of lines.
    line_time : float
        Seconds per trace (the retrace takes as long).
    angle : float
        Scan angle in degrees, counter-clockwise.
    bias : float, optional
        Sample bias in V to set before the first line (``None``: leave it).
    setpoint : float, optional
        Feedback setpoint (pA for STM) to set before the first line.
    md : dict, optional
        Extra metadata for the start document (merged last).

    Returns
    -------
    str
        The run uid.

    Raises
    ------
    SafetyLimitError
        when the frame (any corner after rotation), bias or setpoint is beyond
        the device's limits; raised before anything moves.
    ConfigurationError
        for arguments of the wrong type or range.
    InstrumentFault
        from the instrument during the image; the lines already measured are
        in the run, which closes with exit status ``fail``.
    """
    spm = check_spm(spm)
    frame = checked_frame(spm, center_x, center_y, width, height, angle, pixels, lines, line_time)
    if bias is not None:
        bias = spm.limits.check_bias(bias)
    if setpoint is not None:
        setpoint = spm.limits.check_setpoint(setpoint, units=spm.backend.setpoint_units)
    check_md(md)

    line = spm.line
    plan_args = {**dataclasses.asdict(frame), "bias": bias, "setpoint": setpoint}
    extra = {
        "frame": dataclasses.asdict(frame),
        "pixel_size": [frame.width / frame.pixels, frame.height / frame.lines],
        "pixel_units": "nm",
        "image_shape": [frame.lines, frame.pixels],
        "shape": [frame.lines],
        "num_points": frame.lines,
        "line_key": line.index.name,
        "image_keys": {ch: list(keys) for ch, keys in line.channel_keys().items()},
        "scan_order": "line 0 at the bottom of the frame, upwards; pixels by increasing x; "
        "retrace flipped to increasing x",
        "hints": {"dimensions": [([line.index.name], "primary")]},
    }
    metadata = run_metadata(spm, "raster_image", plan_args, extra, md)

    def inner() -> MsgGenerator[None]:
        if bias is not None:
            yield from stubs.mv(spm.bias, bias)
        if setpoint is not None:
            yield from stubs.mv(spm.setpoint, setpoint)
        yield from stubs.mv(spm.frame, frame)
        for i in range(frame.lines):
            # a pause (e.g. a tip-state watcher) takes effect between lines; resuming
            # repeats the line that was interrupted
            yield from stubs.checkpoint()
            yield from stubs.mv(line.index, i)
            yield from stubs.trigger_and_read([line])

    return (yield from bpp.stage_wrapper(run_with_reason(inner(), metadata), [spm]))
