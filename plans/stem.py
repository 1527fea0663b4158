"""STEM plans: images line by line, spectrum images, point spectra, a parked beam.

Every plan checks its arguments and the whole dose it will send (against the device's
per-area and total dose limits, counting what the device has already sent) before the
beam moves, records one event per scan line or spectrum as it is measured, closes a run
that a fault ended with ``exit_status="fail"`` and the fault as its reason, and leaves the
beam blanked, also after a failure.

- :func:`stem_image`: one event per line, every enabled detector (HAADF, ADF, BF).
- :func:`spectrum_image`: an EELS spectrum at every pixel, one event per line; with a
  stream writer on the device the spectra go to HDF5 and the catalog registers them
  (StreamResource / StreamDatum) instead of carrying them in the events.
- :func:`eels_at`: point spectra at a list of positions, one event each.
- :func:`park_beam`: hold the beam at a position for a time (a dose on purpose).

The drift-corrected image series is :func:`autoscope.plans.stem_drift.drift_corrected_series`.
"""

# No "from __future__ import annotations": the queue server reads the annotations as
# objects to describe and validate plan parameters.

from typing import Any, Optional

import bluesky.preprocessors as bpp
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator

from autoscope.devices.stem.backend import EELSSettings, STEMScan
from autoscope.devices.stem.device import STEM
from autoscope.devices.stem.limits import check_int, check_real
from autoscope.errors import ConfigurationError
from autoscope.plans import stubs
from autoscope.plans.utils import check_md, check_positions, run_with_reason

__all__ = [
    "check_stem",
    "eels_at",
    "park_beam",
    "spectrum_image",
    "stem_image",
]

DETECTORS = ("haadf", "adf", "bf")


# -- shared pieces ----------------------------------------------------------------------------


def check_stem(stem: Any) -> STEM:
    """Raise ConfigurationError unless ``stem`` is an autoscope :class:`STEM` device."""
    if not isinstance(stem, STEM):
        raise ConfigurationError(f"stem must be an autoscope STEM device, got {stem!r}")
    return stem


def stem_metadata(stem: STEM, plan_name: str, plan_args: dict, extra: dict, md) -> dict:
    """Start-document metadata: plan name and args, units, limits, the dose so far,
    ``extra``; the caller's ``md`` last."""
    out = {
        "plan_name": plan_name,
        "plan_args": {"stem": stem.name, **plan_args},
        "detectors": [stem.name],
        "instrument_mode": "stem",
        "units": stem.units(),
        "safety_limits": stem.limits.as_dict(),
        "dose_before": {
            "total_electrons": stem.ledger.total_electrons,
            "max_e_per_A2": stem.ledger.max_dose(),
        },
    }
    out.update(extra)
    out.update(check_md(md))
    return out


def checked_scan(stem: STEM, center_x, center_y, fov_nm, pixels, pixel_time_us, rotation):
    """Check raster arguments (types, ranges, the device's limits) and bundle them."""
    scan = STEMScan(
        center_nm=(
            check_real("center_x", center_x, units="nm"),
            check_real("center_y", center_y, units="nm"),
        ),
        fov_nm=check_real("fov_nm", fov_nm, low=0.0, low_inclusive=False, units="nm"),
        pixels=check_int("pixels", pixels, low=2),
        pixel_time_us=check_real(
            "pixel_time_us", pixel_time_us, low=0.0, low_inclusive=False, units="µs"
        ),
        rotation=check_real("rotation", rotation, low=-360.0, high=360.0, units="deg"),
        flyback_us=stem.flyback_us.get(),
    )
    return stem.limits.check_scan(scan)


def checked_eels(stem: STEM, exposure, channels, dispersion, energy_offset) -> EELSSettings:
    """Check spectrometer arguments and bundle them."""
    settings = EELSSettings(
        channels=check_int("channels", channels, low=8),
        dispersion=check_real("dispersion", dispersion, low=0.0, low_inclusive=False, units="eV"),
        energy_offset=check_real("energy_offset", energy_offset, units="eV"),
        exposure=check_real("exposure", exposure, low=0.0, low_inclusive=False, units="s"),
    )
    return stem.limits.check_eels(settings)


def checked_current(stem: STEM, beam_current) -> Optional[float]:
    """``None`` (keep the present current) or a current inside the device's limit."""
    return None if beam_current is None else stem.limits.check_beam_current(beam_current)


def checked_detectors(stem: STEM, detectors) -> tuple:
    """The detectors to record (default: those enabled on the device)."""
    if detectors is None:
        dets = stem.enabled_detectors()
    else:
        if isinstance(detectors, str) or not hasattr(detectors, "__iter__"):
            raise ConfigurationError(f"detectors must be a list of names, got {detectors!r}")
        dets = tuple(detectors)
        for d in dets:
            if d not in DETECTORS or d not in stem.backend.detectors:
                raise ConfigurationError(
                    f"unknown detector {d!r}; this microscope has {sorted(stem.backend.detectors)}"
                )
    if not dets:
        raise ConfigurationError("no detector to record: give detectors=['haadf', ...]")
    return dets


def set_beam(stem: STEM, beam_current: Optional[float]) -> MsgGenerator[None]:
    """Plan stub: set the beam current, when one is given."""
    if beam_current is not None:
        yield from stubs.mv(stem.BeamCurrent, beam_current)


def set_scan(stem: STEM, scan: STEMScan, detectors=None) -> MsgGenerator[None]:
    """Plan stub: put the raster (and which detectors record) into the device."""
    if detectors is not None:
        for d in DETECTORS:
            yield from stubs.mv(getattr(stem, d).enabled, d in detectors)
    yield from stubs.mv(
        stem.center_nm.x,
        scan.center_nm[0],
        stem.center_nm.y,
        scan.center_nm[1],
        stem.fov_nm,
        scan.fov_nm,
        stem.pixels,
        scan.pixels,
        stem.pixel_time_us,
        scan.pixel_time_us,
        stem.rotation,
        scan.rotation,
    )


def set_spectrometer(stem: STEM, settings: EELSSettings) -> MsgGenerator[None]:
    """Plan stub: put the spectrometer settings into the device."""
    s = stem.spectrometer
    yield from stubs.mv(
        s.channels,
        settings.channels,
        s.dispersion,
        settings.dispersion,
        s.energy_offset,
        settings.energy_offset,
        s.exposure,
        settings.exposure,
    )


def blanked_after(plan: MsgGenerator[Any], stem: STEM) -> MsgGenerator[Any]:
    """Run ``plan``, then blank the beam, whatever happened (a failure, a stop, an abort)."""

    def blank() -> MsgGenerator[None]:
        yield from stubs.mv(stem.blanker, True)

    return (yield from bpp.finalize_wrapper(plan, blank()))


def scan_metadata(scan: STEMScan) -> dict:
    return {
        "scan": {
            "center_nm": list(scan.center_nm),
            "fov_nm": scan.fov_nm,
            "pixels": scan.pixels,
            "pixel_time_us": scan.pixel_time_us,
            "rotation": scan.rotation,
            "flyback_us": scan.flyback_us,
        },
        "pixel_size": [scan.pixel_size_nm, scan.pixel_size_nm],
        "pixel_units": "nm",
        "image_shape": [scan.pixels, scan.pixels],
        "scan_order": "line 0 at the bottom of the frame, upwards; pixels by increasing x",
    }


def scan_lines(stem: STEM, readout, n_lines: int, stream: str = "primary") -> MsgGenerator[list]:
    """Plan stub: trigger and read ``readout`` for lines ``0 .. n_lines - 1``; returns the
    readings. A pause takes effect between lines; resuming repeats the interrupted line.

    Each line is ``checkpoint``, ``mv(readout.index, i)`` and ``trigger_and_read([readout])``
    of :mod:`autoscope.plans.stubs` (bluesky's messages without its per-call stack capture,
    ~40 % of a spectrum image's RunEngine CPU, docs/benchmarks.md)."""
    readings = []
    for i in range(n_lines):
        yield from stubs.checkpoint()
        yield from stubs.mv(readout.index, i)
        reading = yield from stubs.trigger_and_read([readout], name=stream)
        readings.append(dict(reading))
    return readings


# -- plans ------------------------------------------------------------------------------------


def stem_image(
    stem: Readable,
    center_x: float = 0.0,
    center_y: float = 0.0,
    fov_nm: float = 5.0,
    pixels: int = 256,
    pixel_time_us: float = 4.0,
    rotation: float = 0.0,
    detectors: Optional[list[str]] = None,
    beam_current: Optional[float] = None,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Record a STEM image, one event per scan line as it is measured.

    Each event in stream ``"primary"`` holds every recorded detector's line (detected
    electrons, float32 ``[pixels]``, by increasing x), the line index, the requested and
    reported start and end (nm), the instrument times (s) and the dose the line sent
    (e/Å²). The start document records the raster, the pixel size, the image shape, the
    image keys and the dose the device had sent before.

    Parameters
    ----------
    stem : Readable
        The STEM device (``autoscope.devices.STEM``).
    center_x, center_y : float
        Centre of the field of view, nm.
    fov_nm : float
        Field of view (square), nm.
    pixels : int
        Pixels per line and lines.
    pixel_time_us : float
        Dwell per pixel, µs.
    rotation : float
        Scan rotation, degrees counter-clockwise.
    detectors : list of str, optional
        ``"haadf"``, ``"adf"``, ``"bf"`` (default: those enabled on the device).
    beam_current : float, optional
        Beam current (pA) to set first (``None``: keep it).
    md : dict, optional
        Extra metadata for the start document (merged last).

    Returns
    -------
    str
        The run uid.

    Raises
    ------
    SafetyLimitError
        when the raster (any corner), current or the dose it would send is beyond the
        device's limits; raised before the beam moves.
    ConfigurationError
        for arguments of the wrong type or range.
    InstrumentFault
        from the microscope during the image; the lines already measured are in the run,
        which closes with exit status ``fail``; the beam is blanked.
    """
    stem = check_stem(stem)
    scan = checked_scan(stem, center_x, center_y, fov_nm, pixels, pixel_time_us, rotation)
    dets = checked_detectors(stem, detectors)
    current = checked_current(stem, beam_current)
    peak = stem.check_exposures(
        [stem.raster_exposure(scan, current_pa=current)], f"stem_image of {fov_nm:g} nm"
    )
    check_md(md)
    keys = {d: f"{stem.line.name}_{d}" for d in dets}
    plan_args = {
        "center_x": center_x,
        "center_y": center_y,
        "fov_nm": fov_nm,
        "pixels": pixels,
        "pixel_time_us": pixel_time_us,
        "rotation": rotation,
        "detectors": list(dets),
        "beam_current": current,
    }
    extra = {
        **scan_metadata(scan),
        "shape": [scan.pixels],
        "num_points": scan.pixels,
        "line_key": stem.line.index.name,
        "image_keys": keys,
        "planned_peak_dose": peak,
        "hints": {"dimensions": [([stem.line.index.name], "primary")]},
    }
    metadata = stem_metadata(stem, "stem_image", plan_args, extra, md)

    def inner() -> MsgGenerator[None]:
        yield from set_beam(stem, current)
        yield from set_scan(stem, scan, dets)
        yield from scan_lines(stem, stem.line, scan.pixels)

    return (yield from blanked_after(run_with_reason(inner(), metadata), stem))


def spectrum_image(
    stem: Readable,
    center_x: float = 0.0,
    center_y: float = 0.0,
    fov_nm: float = 5.0,
    pixels: int = 32,
    exposure: float = 0.01,
    channels: int = 2048,
    dispersion: float = 0.25,
    energy_offset: float = -10.0,
    rotation: float = 0.0,
    beam_current: Optional[float] = None,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Record an EELS spectrum image: a spectrum at every pixel, one event per line.

    Each event in stream ``"primary"`` holds the line's spectra (counts, float32
    ``[pixels, channels]``, dims ``["x", "energy"]``), the line index, positions, times and
    dose; the energy axis (eV) is linear and in the start document (``spectral_axis``:
    start, stop, points) and the spectrometer configuration. When the device streams
    (``stem.stream_to(writer)``), the spectra are written to an HDF5 file, one chunk per
    line, and announced by StreamResource / StreamDatum documents: the catalog registers
    the file and the events do not carry the arrays.

    Parameters
    ----------
    stem : Readable
        The STEM device.
    center_x, center_y : float
        Centre of the field of view, nm.
    fov_nm : float
        Field of view (square), nm.
    pixels : int
        Pixels per line and lines.
    exposure : float
        Exposure per spectrum (the dwell per pixel), s.
    channels : int
        Spectrometer channels.
    dispersion : float
        eV per channel.
    energy_offset : float
        Energy loss of channel 0, eV.
    rotation : float
        Scan rotation, degrees.
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
        when the raster, the exposure, the current or the dose is beyond the device's
        limits; raised before the beam moves.
    ConfigurationError
        for arguments of the wrong type or range.
    InstrumentFault
        from the microscope; the lines already measured are in the run (closed ``fail``).
    """
    stem = check_stem(stem)
    settings = checked_eels(stem, exposure, channels, dispersion, energy_offset)
    scan = checked_scan(
        stem, center_x, center_y, fov_nm, pixels, stem.pixel_time_us.get(), rotation
    )
    current = checked_current(stem, beam_current)
    peak = stem.check_exposures(
        [stem.raster_exposure(scan, pixel_time_us=exposure * 1e6, current_pa=current)],
        f"spectrum_image of {pixels}x{pixels} spectra",
    )
    check_md(md)
    si = stem.si_line
    plan_args = {
        "center_x": center_x,
        "center_y": center_y,
        "fov_nm": fov_nm,
        "pixels": pixels,
        "exposure": exposure,
        "channels": channels,
        "dispersion": dispersion,
        "energy_offset": energy_offset,
        "rotation": rotation,
        "beam_current": current,
    }
    extra = {
        **scan_metadata(scan),
        "shape": [scan.pixels],
        "num_points": scan.pixels,
        "line_key": si.index.name,
        "spectra_key": si.spectra_key,
        "spectral_axis": {
            "name": "energy loss",
            "units": "eV",
            "start": settings.energy_offset,
            "stop": settings.energy_offset + settings.dispersion * (settings.channels - 1),
            "points": settings.channels,
        },
        "spectra_storage": "stream" if stem.stream_writer is not None else "event",
        "planned_peak_dose": peak,
        "hints": {"dimensions": [([si.index.name], "primary")]},
    }
    metadata = stem_metadata(stem, "spectrum_image", plan_args, extra, md)

    def inner() -> MsgGenerator[None]:
        yield from set_beam(stem, current)
        yield from set_spectrometer(stem, settings)
        yield from set_scan(stem, scan)
        yield from scan_lines(stem, si, scan.pixels)

    plan = run_with_reason(inner(), metadata)
    return (yield from blanked_after(bpp.stage_wrapper(plan, [si]), stem))


def eels_at(
    stem: Readable,
    positions: list,
    exposure: float = 0.01,
    channels: int = 2048,
    dispersion: float = 0.25,
    energy_offset: float = -10.0,
    beam_current: Optional[float] = None,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Measure an EELS spectrum at each of ``positions``, one event per spectrum.

    Each event in stream ``"primary"`` holds the energy axis (eV, float64), the counts
    (float32), the point index, the requested and reported position (nm), the instrument
    times and the dose of that spectrum's spot (e/Å²).

    Parameters
    ----------
    stem : Readable
        The STEM device.
    positions : list
        ``[[x, y], ...]`` in nm.
    exposure : float
        Exposure per spectrum, s.
    channels : int
        Spectrometer channels.
    dispersion : float
        eV per channel.
    energy_offset : float
        Energy loss of channel 0, eV.
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
        when a position, the exposure, the current or the dose of all the spectra together
        is beyond the device's limits; raised before the beam moves.
    ConfigurationError
        for arguments of the wrong type or range.
    InstrumentFault
        from the microscope; the spectra already measured are in the run (closed ``fail``).
    """
    stem = check_stem(stem)
    pts = check_positions(stem, positions)
    settings = checked_eels(stem, exposure, channels, dispersion, energy_offset)
    current = checked_current(stem, beam_current)
    peak = stem.check_exposures(
        [stem.point_exposure(x, y, exposure, current_pa=current) for x, y in pts],
        f"eels_at {len(pts)} positions",
    )
    check_md(md)
    e = stem.eels
    plan_args = {
        "positions": [list(p) for p in pts],
        "exposure": exposure,
        "channels": channels,
        "dispersion": dispersion,
        "energy_offset": energy_offset,
        "beam_current": current,
    }
    extra = {
        "positions": [list(p) for p in pts],
        "shape": [len(pts)],
        "num_points": len(pts),
        "index_key": e.index.name,
        "spectrum_keys": {"counts": e.counts_key},
        "spectral_axis": {
            "key": e.axis_key,
            "name": "energy loss",
            "units": "eV",
            "start": settings.energy_offset,
            "stop": settings.energy_offset + settings.dispersion * (settings.channels - 1),
            "points": settings.channels,
        },
        "planned_peak_dose": peak,
        "hints": {"dimensions": [([e.index.name], "primary")]},
    }
    metadata = stem_metadata(stem, "eels_at", plan_args, extra, md)

    def inner() -> MsgGenerator[None]:
        yield from set_beam(stem, current)
        yield from set_spectrometer(stem, settings)
        yield from measure_spectra(stem, pts)

    return (yield from blanked_after(run_with_reason(inner(), metadata), stem))


def measure_spectra(stem: STEM, positions, stream: str = "primary") -> MsgGenerator[list]:
    """Plan stub: one spectrum at each position (nm), one event each; returns the readings."""
    e = stem.eels
    readings = []
    for i, (x, y) in enumerate(positions):
        yield from stubs.checkpoint()
        yield from stubs.mv(e.x_requested, x, e.y_requested, y, e.index, i)
        readings.append((yield from stubs.trigger_and_read([e], name=stream)))
    return readings


def park_beam(
    stem: Readable,
    x: float,
    y: float,
    seconds: float,
    beam_current: Optional[float] = None,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Hold the beam at ``(x, y)`` for ``seconds``: a dose on purpose (beam-driven hops,
    drilling, a damage test). One event: the requested and reported position, the
    instrument times and the dose of the spot (e/Å²).

    Parameters
    ----------
    stem : Readable
        The STEM device.
    x, y : float
        Position, nm.
    seconds : float
        Time the beam is held there, s.
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
        when the position, the time, the current or the dose is beyond the device's
        limits; raised before the beam moves.
    ConfigurationError
        for arguments of the wrong type or range.
    InstrumentFault
        from the microscope; the run closes ``fail`` and the beam is blanked.
    """
    stem = check_stem(stem)
    x, y = stem.limits.check_position(x, y, what="park position")
    seconds = stem.limits.check_park(seconds)
    current = checked_current(stem, beam_current)
    peak = stem.check_exposures(
        [stem.point_exposure(x, y, seconds, current_pa=current)],
        f"park_beam at ({x:g}, {y:g}) nm for {seconds:g} s",
    )
    check_md(md)
    p = stem.park
    plan_args = {"x": x, "y": y, "seconds": seconds, "beam_current": current}
    metadata = stem_metadata(
        stem, "park_beam", plan_args, {"planned_peak_dose": peak, "num_points": 1}, md
    )

    def inner() -> MsgGenerator[None]:
        yield from set_beam(stem, current)
        yield from stubs.mv(p.x_requested, x, p.y_requested, y, p.seconds, seconds)
        yield from stubs.trigger_and_read([p])

    return (yield from blanked_after(run_with_reason(inner(), metadata), stem))
