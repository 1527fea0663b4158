"""A drift-corrected STEM image series: each frame is cross-correlated with the first, and
the shift found moves the next frame's scan centre with the sample.

:func:`measure_shift` is a cross-correlation with partial whitening (the cross-power
spectrum divided by the square root of its magnitude: sharper than a plain correlation,
less noise-bound than phase correlation at low counts), a Hann window against the frame
edges, and a parabola through the peak and its neighbours for the sub-pixel part. A
feature of ``image`` sits ``(dy, dx)`` pixels from where it is in ``reference``. Shifts are
found modulo the frame (±half a field of view) and, on a perfect lattice, modulo its
period: a sample with a non-periodic part (particles, defects, edges) gives one answer.

Correction: if frame ``k`` was taken with its centre at ``c_k`` and its features sit
``s_k`` (nm, in the sample frame) from where they were in the reference frame, the
features have moved by ``m_k = c_k - c_0 + s_k`` in scan coordinates. Frame ``k + 1`` is
centred where they will be if they keep moving as they did over the last frame:
``c_0 + m_k + (m_k - m_{k-1})`` (``c_0 + m_1`` after the second frame). Under a steady drift
what remains is the error of the measurement, not a frame's worth of drift.
"""

# No "from __future__ import annotations": the queue server reads the annotations.

import math
from typing import Optional

import numpy as np
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator

from autoscope.devices.stem.limits import check_int
from autoscope.errors import ConfigurationError
from autoscope.plans import stubs
from autoscope.plans.stem import (
    blanked_after,
    check_stem,
    checked_current,
    checked_detectors,
    checked_scan,
    scan_lines,
    scan_metadata,
    set_beam,
    set_scan,
    stem_metadata,
)
from autoscope.plans.utils import check_md, run_with_reason

__all__ = ["drift_corrected_series", "measure_shift"]

DRIFT_STREAM = "drift"


def measure_shift(reference: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """``(dy, dx)`` pixels by which ``image``'s features sit from ``reference``'s.

    Both are 2-D arrays of one shape (rows = y). Partially whitened cross-correlation with
    a Hann window and a sub-pixel parabola; the answer lies in ``[-n/2, n/2)`` along each
    axis.
    """
    a = np.asarray(reference, float)
    b = np.asarray(image, float)
    if a.shape != b.shape or a.ndim != 2:
        raise ConfigurationError(
            f"images must be 2-D and of one shape, got {a.shape} and {b.shape}"
        )
    w = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.fft2((a - a.mean()) * w)
    fb = np.fft.fft2((b - b.mean()) * w)
    cross = fb * np.conj(fa)
    r = np.fft.ifft2(cross / (np.sqrt(np.abs(cross)) + 1e-12)).real
    i, j = np.unravel_index(int(np.argmax(r)), r.shape)

    def refine(m1, m0, p1):
        d = m1 - 2 * m0 + p1
        return 0.0 if d == 0 else 0.5 * (m1 - p1) / d

    ny, nx = r.shape
    di = refine(r[(i - 1) % ny, j], r[i, j], r[(i + 1) % ny, j])
    dj = refine(r[i, (j - 1) % nx], r[i, j], r[i, (j + 1) % nx])
    dy = ((i + ny // 2) % ny) - ny // 2 + di
    dx = ((j + nx // 2) % nx) - nx // 2 + dj
    return float(dy), float(dx)


def _drift_signals():
    from ophyd import Signal

    names = (
        "frame",
        "shift_x",
        "shift_y",
        "center_x",
        "center_y",
        "next_center_x",
        "next_center_y",
    )
    return {n: Signal(name=f"drift_{n}", value=0 if n == "frame" else 0.0) for n in names}


def drift_corrected_series(
    stem: Readable,
    n_frames: int = 5,
    center_x: float = 0.0,
    center_y: float = 0.0,
    fov_nm: float = 20.0,
    pixels: int = 128,
    pixel_time_us: float = 4.0,
    rotation: float = 0.0,
    detector: str = "haadf",
    correct: bool = True,
    beam_current: Optional[float] = None,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Record ``n_frames`` images of one area, following the sample's drift.

    Every line of every frame is an event in stream ``"primary"`` (lines ``0 .. pixels - 1``
    of frame 0, then of frame 1, ...). After each frame, one event in stream ``"drift"``
    holds the frame index, the shift of its features from the first frame's (nm, sample
    frame), the centre it was scanned at and the centre the next frame is scanned at
    (where the features will be at the drift of the last frame, when ``correct``).

    Parameters
    ----------
    stem : Readable
        The STEM device.
    n_frames : int
        Frames in the series.
    center_x, center_y : float
        Centre of the first frame, nm.
    fov_nm : float
        Field of view, nm.
    pixels : int
        Pixels per line and lines.
    pixel_time_us : float
        Dwell per pixel, µs.
    rotation : float
        Scan rotation, degrees.
    detector : str
        The detector whose images are cross-correlated (also recorded).
    correct : bool
        Move the scan centre with the measured drift (``False``: only measure it).
    beam_current : float, optional
        Beam current (pA) to set first.
    md : dict, optional
        Extra metadata for the start document (merged last).

    Returns
    -------
    str
        The run uid.

    Raises
    ------
    SafetyLimitError
        when the raster, current or the dose of all frames is beyond the device's limits
        (before the beam moves), or a corrected centre would take a frame outside the
        field (before that frame; the run closes ``fail``).
    ConfigurationError
        for arguments of the wrong type or range.
    InstrumentFault
        from the microscope; the lines already measured are in the run (closed ``fail``).
    """
    stem = check_stem(stem)
    n_frames = check_int("n_frames", n_frames, low=1)
    scan = checked_scan(stem, center_x, center_y, fov_nm, pixels, pixel_time_us, rotation)
    dets = checked_detectors(stem, [detector])
    current = checked_current(stem, beam_current)
    if not isinstance(correct, bool):
        raise ConfigurationError(f"correct must be True or False, got {correct!r}")
    peak = stem.check_exposures(
        [stem.raster_exposure(scan, current_pa=current)] * n_frames,
        f"drift_corrected_series of {n_frames} frames",
    )
    check_md(md)
    key = f"{stem.line.name}_{detector}"
    plan_args = {
        "n_frames": n_frames,
        "center_x": center_x,
        "center_y": center_y,
        "fov_nm": fov_nm,
        "pixels": pixels,
        "pixel_time_us": pixel_time_us,
        "rotation": rotation,
        "detector": detector,
        "correct": correct,
        "beam_current": current,
    }
    extra = {
        **scan_metadata(scan),
        "n_frames": n_frames,
        "shape": [n_frames, scan.pixels],
        "num_points": n_frames * scan.pixels,
        "line_key": stem.line.index.name,
        "image_keys": {detector: key},
        "drift_stream": DRIFT_STREAM,
        "planned_peak_dose": peak,
    }
    metadata = stem_metadata(stem, "drift_corrected_series", plan_args, extra, md)
    signals = _drift_signals()
    a = math.radians(scan.rotation)

    def inner() -> MsgGenerator[None]:
        yield from set_beam(stem, current)
        reference = None
        center = scan.center_nm
        c0 = np.asarray(scan.center_nm, float)
        moved = []
        for k in range(n_frames):
            frame = checked_scan(
                stem, center[0], center[1], fov_nm, pixels, pixel_time_us, rotation
            )
            yield from set_scan(stem, frame, dets)
            readings = yield from scan_lines(stem, stem.line, frame.pixels)
            image = np.array([r[key]["value"] for r in readings], float)
            if reference is None:
                reference = image
                dy = dx = 0.0
            else:
                dy, dx = measure_shift(reference, image)
            p = frame.pixel_size_nm
            sx = (dx * math.cos(a) - dy * math.sin(a)) * p
            sy = (dx * math.sin(a) + dy * math.cos(a)) * p
            moved.append(np.asarray(center, float) - c0 + (sx, sy))
            step = moved[-1] - moved[-2] if len(moved) > 1 else 0.0
            nxt = tuple(float(v) for v in c0 + moved[-1] + step) if correct else center
            values = {
                "frame": k,
                "shift_x": sx,
                "shift_y": sy,
                "center_x": center[0],
                "center_y": center[1],
                "next_center_x": nxt[0],
                "next_center_y": nxt[1],
            }
            for n, v in values.items():
                signals[n].put(v)
            yield from stubs.trigger_and_read(list(signals.values()), name=DRIFT_STREAM)
            center = nxt

    return (yield from blanked_after(run_with_reason(inner(), metadata), stem))
