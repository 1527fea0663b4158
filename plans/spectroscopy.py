"""Spectroscopy plans: one event per spectrum, with its axis, units and positions.

Every spectrum event (stream ``"primary"``) holds the spectral axis
(``<spm>_spectrum_bias``, V), each spectrum channel (float32), the requested
and reported x, y (nm), the instrument time (s) and the spectrum's index in
the run; the start document lists the positions asked for in that order.
"""

# No "from __future__ import annotations": the queue server reads the annotations as
# objects to describe and validate plan parameters.

import dataclasses
from typing import Optional

import bluesky.preprocessors as bpp
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator

from autoscope.errors import ConfigurationError
from autoscope.plans.utils import (
    check_md,
    check_positions,
    check_spm,
    checked_frame,
    configure_spectroscopy,
    measure_spectrum,
    renamed_keywords,
    run_metadata,
    run_with_reason,
    spectroscopy_metadata,
    spectroscopy_settings,
)

__all__ = ["point_spectrum", "spectra_at", "grid_spectroscopy"]


def _sweep_args(settings) -> dict:
    """The sweep part of ``plan_args``: every field of ``settings``, the point
    count under the plans' parameter name for it (``n_points``)."""
    args = dataclasses.asdict(settings)
    args["n_points"] = args.pop("points")
    return args


def _spectra_run(spm, positions, settings, plan_name, plan_args, extra, md) -> MsgGenerator[str]:
    extra = {
        **spectroscopy_metadata(spm, settings),
        "positions_requested": [list(p) for p in positions],
        "num_points": len(positions),
        "hints": {"dimensions": [([spm.spectrum.index.name], "primary")]},
        **extra,
    }
    metadata = run_metadata(spm, plan_name, plan_args, extra, md)

    def inner() -> MsgGenerator[None]:
        yield from configure_spectroscopy(spm, settings)
        for i, (x, y) in enumerate(positions):
            yield from measure_spectrum(spm, x, y, i)

    return (yield from bpp.stage_wrapper(run_with_reason(inner(), metadata), [spm]))


@renamed_keywords(points="n_points")
def point_spectrum(
    spm: Readable,
    x: float,
    y: float,
    start: float = -2.0,
    stop: float = 2.0,
    n_points: int = 200,
    settle: float = 0.002,
    integration: float = 0.01,
    lockin_amplitude: float = 0.01,
    lockin_frequency: float = 973.0,
    sweeps: int = 1,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Measure one spectrum at (x, y).

    Parameters
    ----------
    spm : Readable
        The SPM device (``autoscope.devices.SPM``).
    x, y : float
        Position in nm.
    start, stop : float
        Bias sweep range in V (STM); for PFM the switching waveform's extremes.
    n_points : int
        Points per spectrum (the old keyword ``points`` still works, with a
        ``DeprecationWarning``, until the next release).
    settle, integration : float
        Seconds waited and integrated at every point.
    lockin_amplitude : float
        Lock-in modulation in V rms.
    lockin_frequency : float
        Lock-in frequency in Hz.
    sweeps : int
        Forward/backward sweep pairs averaged.
    md : dict, optional
        Extra metadata for the start document (merged last).

    Returns
    -------
    str
        The run uid.

    Raises
    ------
    SafetyLimitError
        when the position or the sweep (plus lock-in amplitude) is beyond the
        device's limits; raised before anything moves.
    ConfigurationError
        for arguments of the wrong type or range.
    """
    spm = check_spm(spm)
    pos = check_positions(spm, [[x, y]])
    settings = spectroscopy_settings(
        spm, start, stop, n_points, settle, integration, lockin_amplitude, lockin_frequency, sweeps
    )
    check_md(md)
    plan_args = {"x": pos[0][0], "y": pos[0][1], **_sweep_args(settings)}
    return (yield from _spectra_run(spm, pos, settings, "point_spectrum", plan_args, {}, md))


@renamed_keywords(points="positions")
def spectra_at(
    spm: Readable,
    positions: list[list[float]],
    start: float = -2.0,
    stop: float = 2.0,
    n_points: int = 200,
    settle: float = 0.002,
    integration: float = 0.01,
    lockin_amplitude: float = 0.01,
    lockin_frequency: float = 973.0,
    sweeps: int = 1,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Measure one spectrum at each of ``positions``, in the order given, in one run.

    Parameters
    ----------
    spm : Readable
        The SPM device (``autoscope.devices.SPM``).
    positions : list of [x, y]
        Positions in nm, e.g. ``[[0.0, 1.5], [3.2, -4.0]]`` (the old keyword
        ``points`` still works, with a ``DeprecationWarning``, until the next
        release).
    start, stop : float
        Bias sweep range in V.
    n_points : int
        Points per spectrum.
    settle, integration : float
        Seconds waited and integrated at every point.
    lockin_amplitude : float
        Lock-in modulation in V rms.
    lockin_frequency : float
        Lock-in frequency in Hz.
    sweeps : int
        Forward/backward sweep pairs averaged.
    md : dict, optional
        Extra metadata for the start document (merged last).

    Returns
    -------
    str
        The run uid.

    Raises
    ------
    SafetyLimitError
        when any position or the sweep is beyond the device's limits; raised
        before anything moves.
    ConfigurationError
        for arguments of the wrong type or range.
    InstrumentFault
        from the instrument; the spectra already measured are in the run,
        which closes with exit status ``fail``.
    """
    spm = check_spm(spm)
    pos = check_positions(spm, positions)
    settings = spectroscopy_settings(
        spm, start, stop, n_points, settle, integration, lockin_amplitude, lockin_frequency, sweeps
    )
    check_md(md)
    plan_args = {"positions": [list(p) for p in pos], **_sweep_args(settings)}
    return (yield from _spectra_run(spm, pos, settings, "spectra_at", plan_args, {}, md))


@renamed_keywords(points="n_points")
def grid_spectroscopy(
    spm: Readable,
    center_x: float = 0.0,
    center_y: float = 0.0,
    width: float = 10.0,
    height: float = 10.0,
    nx: int = 8,
    ny: int = 8,
    angle: float = 0.0,
    start: float = -2.0,
    stop: float = 2.0,
    n_points: int = 200,
    settle: float = 0.002,
    integration: float = 0.01,
    lockin_amplitude: float = 0.01,
    lockin_frequency: float = 973.0,
    sweeps: int = 1,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Measure a spectrum at every node of an ``nx`` x ``ny`` grid, in one run.

    Nodes sit at pixel centres of the frame (as in ``raster_image``): row
    ``iy`` from the bottom, ``ix`` by increasing x; spectrum index
    ``iy * nx + ix``. The start document records the grid and ``shape``
    ``[ny, nx]`` so the spectra can be reshaped into a cube.

    Parameters
    ----------
    spm : Readable
        The SPM device (``autoscope.devices.SPM``).
    center_x, center_y : float
        Grid centre in nm.
    width, height : float
        Grid extent in nm (node spacing is ``width / nx``, ``height / ny``).
    nx, ny : int
        Nodes along x and y.
    angle : float
        Grid rotation in degrees, counter-clockwise.
    start, stop : float
        Bias sweep range in V.
    n_points : int
        Points per spectrum (the old keyword ``points`` still works, with a
        ``DeprecationWarning``, until the next release).
    settle, integration : float
        Seconds waited and integrated at every point.
    lockin_amplitude : float
        Lock-in modulation in V rms.
    lockin_frequency : float
        Lock-in frequency in Hz.
    sweeps : int
        Forward/backward sweep pairs averaged.
    md : dict, optional
        Extra metadata for the start document (merged last).

    Returns
    -------
    str
        The run uid.

    Raises
    ------
    SafetyLimitError
        when the grid (any corner) or the sweep is beyond the device's limits;
        raised before anything moves.
    ConfigurationError
        for arguments of the wrong type or range.
    InstrumentFault
        from the instrument; the spectra already measured are in the run,
        which closes with exit status ``fail``.
    """
    spm = check_spm(spm)
    grid = checked_frame(
        spm, center_x, center_y, width, height, angle, nx, ny, names=("nx", "ny"), scan=False
    )
    settings = spectroscopy_settings(
        spm, start, stop, n_points, settle, integration, lockin_amplitude, lockin_frequency, sweeps
    )
    check_md(md)
    positions = []
    for iy in range(grid.lines):
        xs, ys = grid.nominal_xy(iy)
        positions.extend((float(x), float(y)) for x, y in zip(xs, ys))
    if not positions:
        raise ConfigurationError("grid has no nodes")
    geometry = {
        "center_x": grid.center_x,
        "center_y": grid.center_y,
        "width": grid.width,
        "height": grid.height,
        "nx": grid.pixels,
        "ny": grid.lines,
        "angle": grid.angle,
    }
    plan_args = {**geometry, **_sweep_args(settings)}
    extra = {
        "grid": geometry,
        "shape": [grid.lines, grid.pixels],
        "pixel_size": [grid.width / grid.pixels, grid.height / grid.lines],
        "pixel_units": "nm",
        "grid_order": "row-major: iy from the bottom, ix by increasing x; index = iy * nx + ix",
    }
    return (
        yield from _spectra_run(spm, positions, settings, "grid_spectroscopy", plan_args, extra, md)
    )
