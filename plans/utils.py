"""Shared pieces of the SPM plans: argument checks, run metadata, the run wrapper.

Nothing here talks to an instrument except through the device's signals.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, Optional

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator, RunEngineControlException

from autoscope.devices.backend import ScanFrame, SpectroscopySettings
from autoscope.devices.spm.device import SPM
from autoscope.devices.spm.limits import check_int, check_real
from autoscope.errors import ConfigurationError
from autoscope.plans import stubs

__all__ = [
    "check_spm",
    "check_md",
    "run_metadata",
    "run_with_reason",
    "spectroscopy_settings",
    "spectroscopy_metadata",
    "check_positions",
    "configure_spectroscopy",
    "measure_spectrum",
    "renamed_keywords",
]


def check_spm(spm: Any) -> SPM:
    """Raise ConfigurationError unless ``spm`` is an :class:`SPM` device."""
    if not isinstance(spm, SPM):
        raise ConfigurationError(f"spm must be an autoscope SPM device, got {spm!r}")
    return spm


def check_md(md: Any) -> dict:
    """Return a copy of the caller's metadata (``None`` -> empty dict)."""
    if md is None:
        return {}
    if not isinstance(md, dict):
        raise ConfigurationError(f"md must be a dict or None, got {md!r}")
    return dict(md)


def run_metadata(
    spm: SPM, plan_name: str, plan_args: dict, extra: dict, md: Optional[dict]
) -> dict:
    """Start-document metadata: plan name and args, units, limits, ``extra``; caller's md last."""
    out = {
        "plan_name": plan_name,
        "plan_args": {"spm": spm.name, **plan_args},
        "detectors": [spm.name],
        "instrument_mode": spm.mode,
        "units": spm.units(),
        "safety_limits": spm.limits.as_dict(),
    }
    out.update(extra)
    out.update(check_md(md))
    return out


def run_with_reason(plan: MsgGenerator[Any], md: dict) -> MsgGenerator[str]:
    """Like ``bpp.run_wrapper``, but a failed run's reason names the exception class.

    The stop document of a run that an exception ended reads
    ``exit_status="fail"``, ``reason="InstrumentTimeout: <message>"``; the
    exception propagates. Events already emitted stay in the run.
    """
    uid = yield from bps.open_run(md)

    def except_plan(e: Exception) -> MsgGenerator[None]:
        if isinstance(e, RunEngineControlException):
            yield from bps.close_run(exit_status=e.exit_status)
        else:
            yield from bps.close_run(exit_status="fail", reason=f"{type(e).__name__}: {e}")

    yield from bpp.contingency_wrapper(plan, except_plan=except_plan, else_plan=bps.close_run)
    return uid


def checked_frame(
    spm: SPM,
    center_x,
    center_y,
    width,
    height,
    angle,
    pixels,
    lines,
    line_time=None,
    *,
    names=("pixels", "lines"),
    min_pixels: int = 1,
    scan: bool = True,
) -> ScanFrame:
    """Check frame arguments (types, ranges, the device's scan range) and bundle them.

    ``scan=False`` for a grid of points (no scan buffer): the controller's pixel
    step and the frame's image memory do not apply.

    ``names`` are the plan's own parameter names for pixels and lines (a grid
    calls them ``nx``, ``ny``), so an error names what the caller typed;
    ``line_time=None`` keeps the :class:`ScanFrame` default (grids have none).
    """
    fields = dict(
        center_x=check_real("center_x", center_x, units="nm"),
        center_y=check_real("center_y", center_y, units="nm"),
        width=check_real("width", width, low=0.0, low_inclusive=False, units="nm"),
        height=check_real("height", height, low=0.0, low_inclusive=False, units="nm"),
        angle=check_real("angle", angle, low=-360.0, high=360.0, units="deg"),
        pixels=check_int(names[0], pixels, low=min_pixels),
        lines=check_int(names[1], lines, low=1),
    )
    if line_time is not None:
        fields["line_time"] = check_real(
            "line_time", line_time, low=0.0, low_inclusive=False, units="s"
        )
    frame = ScanFrame(**fields)
    spm.limits.check_frame(frame, channels=len(spm.backend.image_channels), scan=scan)
    return frame


def spectroscopy_settings(
    spm: SPM, start, stop, n_points, settle, integration, lockin_amplitude, lockin_frequency, sweeps
) -> SpectroscopySettings:
    """Check spectroscopy arguments (types, ranges, safety limits) and bundle them."""
    settings = SpectroscopySettings(
        start=check_real("start", start, units="V"),
        stop=check_real("stop", stop, units="V"),
        points=check_int("n_points", n_points, low=2),
        settle=check_real("settle", settle, low=0.0, units="s"),
        integration=check_real("integration", integration, low=0.0, low_inclusive=False, units="s"),
        lockin_amplitude=check_real("lockin_amplitude", lockin_amplitude, low=0.0, units="V"),
        lockin_frequency=check_real(
            "lockin_frequency", lockin_frequency, low=0.0, low_inclusive=False, units="Hz"
        ),
        sweeps=check_int("sweeps", sweeps, low=1),
    )
    return spm.limits.check_spectroscopy(settings)


def spectroscopy_metadata(spm: SPM, settings: SpectroscopySettings) -> dict:
    """Start-document entries that describe the spectra of a run."""
    return {
        "spectroscopy": dataclasses.asdict(settings),
        "spectral_axis": {
            "key": spm.spectrum.axis_key,
            "name": "bias",
            "units": "V",
            "start": settings.start,
            "stop": settings.stop,
            "points": settings.points,
        },
        "spectrum_keys": spm.spectrum.channel_keys(),
        "index_key": spm.spectrum.index.name,
    }


def configure_spectroscopy(spm: SPM, settings: SpectroscopySettings) -> MsgGenerator[None]:
    """Plan stub: put ``settings`` into ``spm.spectrum``."""
    s = spm.spectrum
    yield from stubs.mv(
        s.sweep_start,
        settings.start,
        s.sweep_stop,
        settings.stop,
        s.points,
        settings.points,
        s.settle,
        settings.settle,
        s.integration,
        settings.integration,
        s.lockin_amplitude,
        settings.lockin_amplitude,
        s.lockin_frequency,
        settings.lockin_frequency,
        s.sweeps,
        settings.sweeps,
    )


def measure_spectrum(
    spm: SPM, x: float, y: float, index: int, stream: str = "primary"
) -> MsgGenerator[dict[str, Any]]:
    """Plan stub: one spectrum at (x, y) nm as one event in ``stream``; returns the reading."""
    s = spm.spectrum
    yield from stubs.checkpoint()  # pause/resume between spectra
    yield from stubs.mv(s.x_requested, x, s.y_requested, y, s.index, index)
    return (yield from stubs.trigger_and_read([s], name=stream))


def check_positions(device: Any, positions: Any) -> list[tuple[float, float]]:
    """Check a non-empty list of ``[x, y]`` pairs (nm) against types and the range of
    ``device`` (an SPM's scan range, a STEM's field: its ``limits.check_position``)."""
    if isinstance(positions, (str, bytes)) or not hasattr(positions, "__iter__"):
        raise ConfigurationError(f"positions must be a list of [x, y] pairs, got {positions!r}")
    out = []
    for i, p in enumerate(positions):
        if isinstance(p, (str, bytes)) or not hasattr(p, "__len__") or len(p) != 2:
            raise ConfigurationError(f"positions[{i}] must be an [x, y] pair in nm, got {p!r}")
        out.append(device.limits.check_position(p[0], p[1], what=f"positions[{i}]"))
    if not out:
        raise ConfigurationError("positions is empty; give at least one [x, y] pair")
    return out


def renamed_keywords(**renames: str) -> Callable:
    """Decorator of a plan: old keyword names (``old="new"``) keep working for one release.

    A call that uses an old keyword runs as if the new one had been given and
    warns once (``DeprecationWarning`` naming the old and the new keyword);
    giving an old keyword and its new one (by keyword or by position) raises
    :class:`ConfigurationError`. Like the plans' other argument checks this
    happens when the plan starts, before its first message. The plan keeps its
    signature, annotations and docstring (the queue server describes the new
    names only), and stays a generator function.
    """

    def decorate(plan: Callable[..., MsgGenerator[Any]]) -> Callable[..., MsgGenerator[Any]]:
        names = list(inspect.signature(plan).parameters)
        for old, new in renames.items():
            if new not in names or old in names:
                raise TypeError(f"{plan.__name__}: cannot rename {old!r} to {new!r}")

        @functools.wraps(plan)
        def wrapper(*args: Any, **kwargs: Any) -> MsgGenerator[Any]:
            used = [old for old in renames if old in kwargs]
            if used:
                given = set(names[: len(args)]) | set(kwargs)
                both = [old for old in used if renames[old] in given]
                if both:
                    raise ConfigurationError(
                        f"{plan.__name__}: give {renames[both[0]]!r} only; {both[0]!r} is its "
                        f"deprecated old name"
                    )
                for old in used:
                    kwargs[renames[old]] = kwargs.pop(old)
                pairs = "; ".join(
                    f"keyword {old!r} is deprecated, use {renames[old]!r}" for old in used
                )
                warnings.warn(
                    f"{plan.__name__}: {pairs} (the old name goes in the next release)",
                    DeprecationWarning,
                    stacklevel=2,
                )
            return (yield from plan(*args, **kwargs))

        return wrapper

    return decorate
