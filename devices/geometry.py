"""Geometry of a rotated raster frame: the one place its formulas are written.

A frame (:class:`~autoscope.devices.backend.ScanFrame`, or anything with
``center_x``, ``center_y``, ``width``, ``height``, ``angle`` and, for pixel
positions, ``pixels`` and ``lines``) is a ``width x height`` rectangle in
frame coordinates ``(u, v)`` centred on 0, rotated by ``angle`` degrees
counter-clockwise about its centre and placed at ``(center_x, center_y)`` in
the sample frame. Pixel ``j`` of line ``i`` sits at
``u = -width/2 + (j + 0.5) * width / pixels`` and
``v = -height/2 + (i + 0.5) * height / lines``; line 0 is at the bottom.

Units: nm and degrees. Pure numpy: the twins, the device, its limits and the
plans all use it (no ophyd, no bluesky).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bounds",
    "corners",
    "frame_to_sample",
    "half_extents",
    "line_uv",
    "pixel_xy",
]


def frame_to_sample(frame, u, v):
    """Sample-frame ``(x, y)`` (nm) of frame coordinates ``(u, v)`` (nm, about the centre)."""
    a = np.deg2rad(frame.angle)
    x = frame.center_x + u * np.cos(a) - v * np.sin(a)
    y = frame.center_y + u * np.sin(a) + v * np.cos(a)
    return x, y


def line_uv(frame, line: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame coordinates ``(u, v)`` of every pixel of ``line``, shape ``(pixels,)`` each."""
    u = -frame.width / 2 + (np.arange(frame.pixels) + 0.5) * frame.width / frame.pixels
    v = np.full(frame.pixels, -frame.height / 2 + (line + 0.5) * frame.height / frame.lines)
    return u, v


def pixel_xy(frame, line: int) -> tuple[np.ndarray, np.ndarray]:
    """Requested ``(x, y)`` in nm of every pixel of ``line``, shape ``(pixels,)`` each."""
    return frame_to_sample(frame, *line_uv(frame, line))


def corners(frame) -> np.ndarray:
    """The four corners (nm) after rotation, shape ``(4, 2)``.

    Counter-clockwise from the frame's own bottom-left corner (the start of line 0).
    """
    hw, hh = frame.width / 2, frame.height / 2
    u = np.array([-hw, hw, hw, -hw])
    v = np.array([-hh, -hh, hh, hh])
    x, y = frame_to_sample(frame, u, v)
    return np.stack([x, y], axis=1)


def half_extents(frame) -> tuple[float, float]:
    """Half width and half height (nm) of the axis-aligned box around the rotated frame."""
    a = np.deg2rad(frame.angle)
    half_w = 0.5 * abs(frame.width * np.cos(a)) + 0.5 * abs(frame.height * np.sin(a))
    half_h = 0.5 * abs(frame.width * np.sin(a)) + 0.5 * abs(frame.height * np.cos(a))
    return half_w, half_h


def bounds(frame) -> tuple[float, float, float, float]:
    """Axis-aligned box ``(x_min, y_min, x_max, y_max)`` (nm) around the rotated frame."""
    half_w, half_h = half_extents(frame)
    return (
        frame.center_x - half_w,
        frame.center_y - half_h,
        frame.center_x + half_w,
        frame.center_y + half_h,
    )
