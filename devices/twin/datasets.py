"""Ground-truth datasets from the twin: an image and a spectrum at every pixel.

These are what an agent benchmark replays: ``image`` (H, W), ``spectra``
(H, W, K) measured with the twin's noise at the centre of every pixel,
``spectral_axis`` (K,), units, and a ``truth`` dict of maps an agent must not
see (for scoring). Row ``i`` of every map is scan line ``i`` (the lowest y
first), column ``j`` the ``j``-th pixel in x.

The functional response depends on what the image shows (domain type, walls,
defects) and on a hidden smooth field that it does not show, so a
patch-based model can learn it, but not perfectly.
"""

from __future__ import annotations

import logging

import numpy as np

from autoscope.devices.backend import ScanFrame, SpectroscopySettings
from autoscope.errors import ConfigurationError
from autoscope.io.pfm import piezoresponse
from autoscope.io.recorded import RecordedDataset

log = logging.getLogger(__name__)

KINDS = ("pfm", "stm")
_STM_DENSE = {"db_density": 0.02, "pair_density": 0.006, "vacancy_density": 0.006}


def _sample_options(kind: str, options: dict | None) -> dict:
    """The dataset's sample options (``options`` over the defaults), unknown names refused."""
    import dataclasses

    from autoscope.devices.twin.samples.pfm_film import PFMFilm
    from autoscope.devices.twin.samples.si100 import SiH100

    cls, base = (PFMFilm, {}) if kind == "pfm" else (SiH100, dict(_STM_DENSE))
    known = {f.name for f in dataclasses.fields(cls)} - {"seed"}
    unknown = sorted(set(options or {}) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown {kind} sample option(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    return {**base, **(options or {})}


def _grid(frame: ScanFrame):
    xs, ys = zip(*(frame.nominal_xy(i) for i in range(frame.lines)))
    return np.array(xs), np.array(ys)


def make_dataset(
    kind: str = "pfm",
    size: int = 64,
    seed: int = 0,
    points: int | None = None,
    extent: float | None = None,
    noise: float = 1.0,
    sample_options: dict | None = None,
) -> dict:
    """Simulate an image and a spectrum at every pixel, with ground truth.

    Parameters
    ----------
    kind : str
        ``"pfm"`` (ferroelectric film; spectra are BE-SS piezoresponse loops
        over a triangular bias waveform) or ``"stm"`` (H:Si(100) with
        dangling bonds; spectra are lock-in dI/dV over a bias sweep).
    size : int
        Image is ``size x size`` pixels.
    seed : int
        Seeds sample, tip and noise.
    points : int, optional
        Points per spectrum (default 96 for PFM, 128 for STM).
    extent : float, optional
        Frame width, nm (default 2000 nm for PFM, 16 nm for STM).
    noise : float
        Noise scale of the twin (0: noise-free data).
    sample_options : dict, optional
        Options of the sample over the dataset's defaults, e.g.
        ``{"height_hidden": 0, "imprint_hidden": 0, "coercive_hidden": 0}``
        (PFM) or ``{"band_bending": 0}`` (STM) to switch the hidden fields off.

    Returns
    -------
    dict
        ``image`` float32 (H, W): PFM in-phase piezoresponse (amplitude *
        cos(phase - phase_reference), :func:`autoscope.io.pfm.piezoresponse`
        with the twin's ``phase_reference``) or STM topography (nm);
        ``spectra`` float32 (H, W, K); ``spectral_axis`` float64 (K,);
        ``spectral_units`` (``"V"``), ``spectral_name`` (``"bias"``),
        ``signal_name`` / ``signal_units`` of the spectra;
        ``pixel_size`` (nm), ``pixel_units`` (``"nm"``); ``x``, ``y`` (H, W)
        pixel centres (nm); ``channels``: every image channel (trace) by name;
        ``truth``: dict of (H, W) ground-truth maps (PFM: ``loop_area``,
        ``coercive_pos``, ``coercive_neg``, ``imprint``, ``loop_height``,
        ``wall_distance``, ``domain``, hidden fields; STM: ``didv_at_db``,
        ``peak_energy``, ``db_distance``, ``band_bending``, ...).
    """
    from autoscope.devices.twin.twin import TwinSPM

    if kind not in KINDS:
        raise ConfigurationError(f"dataset kind {kind!r} must be one of {KINDS}")
    size = int(size)
    if not 4 <= size <= 1024:
        raise ConfigurationError(f"dataset size {size!r} must be in 4..1024 pixels")
    options = _sample_options(kind, sample_options)
    if kind == "pfm":
        points = 96 if points is None else int(points)
        extent = 2000.0 if extent is None else float(extent)
        twin = TwinSPM(
            "pfm_film",
            seed=seed,
            drift=0.0,
            creep=0.0,
            hysteresis=0.0,
            tip_change_rate=0.0,
            noise=noise,
            sample_options=options,
        )
        settings = SpectroscopySettings(
            start=-2.5, stop=2.5, points=points, settle=0.002, integration=0.01
        )
    else:
        points = 128 if points is None else int(points)
        extent = 16.0 if extent is None else float(extent)
        twin = TwinSPM(
            "si100_h",
            seed=seed,
            drift=0.0,
            creep=0.0,
            hysteresis=0.0,
            tip_change_rate=0.0,
            noise=noise,
            sample_options=options,
        )
        settings = SpectroscopySettings(start=-1.5, stop=1.5, points=points)
    if not points >= 8:
        raise ConfigurationError(f"points {points!r} per spectrum must be >= 8")
    frame = ScanFrame(width=extent, height=extent, pixels=size, lines=size, line_time=0.5)
    channels, _ = twin.scan_frame(frame)
    trace = {k: v[0] for k, v in channels.items()}
    if kind == "pfm":
        image = piezoresponse(trace["amplitude"], trace["phase"], twin.phase_reference)
        signal = ("piezoresponse", "a.u.")
    else:
        image = trace["topography"]
        signal = ("dIdV", "nS")
    x, y = _grid(frame)
    axis, spec, _ = twin.spectra_at(x.ravel(), y.ravel(), settings)
    spectra = spec[signal[0]].reshape(size, size, len(axis))
    truth = {k: np.asarray(v, float) for k, v in twin.sample.truth_maps(x, y).items()}
    clean = twin._spectra._clean(twin.truth.tip_state, x.ravel(), y.ravel(), settings, axis)
    if kind == "pfm":
        from autoscope.devices.twin.pfm import loop_area

        truth["loop_area_model"] = truth.pop("loop_area")
        truth["loop_area"] = loop_area(axis, clean["loops"]).reshape(size, size)
    else:
        did = clean["dIdV"]
        e_db = twin.sample.db_energy
        truth["didv_at_db"] = did[:, np.argmin(np.abs(axis - e_db))].reshape(size, size)
        gap = (axis > twin.sample.valence_edge) & (axis < twin.sample.conduction_edge)
        truth["peak_energy"] = axis[gap][np.argmax(did[:, gap], axis=1)].reshape(size, size)
    log.info("made %s dataset %dx%dx%d (seed %d)", kind, size, size, len(axis), seed)
    return {
        "image": np.asarray(image, np.float32),
        "spectra": np.asarray(spectra, np.float32),
        "spectral_axis": np.asarray(axis, float),
        "spectral_units": "V",
        "spectral_name": "bias",
        "signal_name": signal[0],
        "signal_units": signal[1],
        "pixel_size": extent / size,
        "pixel_units": "nm",
        "x": x,
        "y": y,
        "channels": trace,
        "truth": truth,
    }


def as_recorded(data: dict, truth: bool = False):
    """The :class:`~autoscope.io.recorded.RecordedDataset` of a :func:`make_dataset` dict.

    ``signal_name`` and ``signal_units`` (when present) become attributes;
    with ``truth=True`` the ground-truth maps come along (for benchmark
    scoring only; a file an agent reads should not have them).
    """

    for key in ("image", "spectra", "spectral_axis"):
        if key not in data:
            raise ConfigurationError(f"dataset dict lacks {key!r}")
    return RecordedDataset(
        image=data["image"],
        spectra=data["spectra"],
        spectral_axis=data["spectral_axis"],
        spectral_units=data.get("spectral_units"),
        pixel_size=data.get("pixel_size"),
        pixel_units=data.get("pixel_units"),
        attrs={k: data[k] for k in ("signal_name", "signal_units") if k in data},
        truth=dict(data["truth"]) if truth and "truth" in data else None,
    )


def write_dataset(path, data: dict, truth: bool = False) -> None:
    """Write the recorded-dataset HDF5 file (DESIGN.md) from a :func:`make_dataset` dict.

    The file is written by :mod:`autoscope.io.recorded`: datasets ``image``
    (H, W), ``spectra`` (H, W, K), ``spectral_axis`` (K,); attributes
    ``spectral_units``, ``pixel_size``, ``pixel_units`` (and ``signal_name``,
    ``signal_units`` when present). With ``truth=True`` the ground-truth maps
    go into a ``truth`` group (for benchmark scoring only; a file an agent
    reads should not have it).
    """
    as_recorded(data, truth=truth).write(path)


def read_dataset(path) -> dict:
    """Read a recorded-dataset HDF5 file back into a dict (``truth`` only if the file has it).

    Read and checked by :mod:`autoscope.io.recorded`; the file must have spectra.
    """

    ds = RecordedDataset.read(path, require_spectra=True)
    out = {"image": ds.image, "spectra": ds.spectra, "spectral_axis": ds.spectral_axis}
    for key in ("spectral_units", "pixel_size", "pixel_units"):
        if getattr(ds, key) is not None:
            out[key] = getattr(ds, key)
    out.update(ds.attrs)
    if ds.truth is not None:
        out["truth"] = ds.truth
    return out
