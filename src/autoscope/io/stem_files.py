"""STEM files through rosettasciio: images and spectrum images in autoscope's layout.

rosettasciio (the HyperSpy organisation's readers) reads Velox ``.emd``, Bruker
``.bcf``, DigitalMicrograph ``.dm3``/``.dm4`` and JEOL ``.ASW``/``.pts`` files.
It is GPL-3.0-or-later, so it is never a required dependency of autoscope and
never vendored (ADR 0014): it is the optional extra ``rsciio``
(``pip install 'autoscope[rsciio]'``), imported only here and only when a STEM
file is read; without it :func:`read_stem` raises a one-line
:class:`~autoscope.errors.ConfigurationError` naming the extra.

:func:`read_stem` gives a :class:`StemRecording`:

- ``images``: every 2-D signal without navigation axes (HAADF, BF, SE, BSE,
  element maps a vendor computed), float32 ``(H, W)``;
- ``spectrum_images``: every signal with two navigation axes and one signal
  axis (EDS, EELS), float32 ``(H, W, K)`` with its energy axis ``(K,)``
  (``keV`` for EDS, ``eV`` for EELS, as the file states);
- the pixel size in nm (from nm, µm, Å or pm axes), the file's instrument, beam
  energy, time and the element lines it names.

Rows are turned to autoscope's order: line 0 at the bottom of the frame (a
file's row 0 is the top). Signals of other shapes (summed spectra, image
stacks, 4-D data) are skipped and named in ``skipped``.

:func:`line_window` and :data:`XRAY_LINES` map an element line (``"Cu_Ka"``)
to the energy window whose counts are that element's intensity at a pixel.

Data layer: no instrument, plan or agent code.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError, DataFormatError

__all__ = [
    "RSCIIO_EXTRA",
    "STEM_FORMATS",
    "XRAY_LINES",
    "SpectrumImage",
    "StemRecording",
    "line_window",
    "read_stem",
    "rsciio_available",
]

log = logging.getLogger(__name__)

#: how a user installs the optional reader
RSCIIO_EXTRA = "pip install 'autoscope[rsciio]'"

#: suffix -> (format name, rosettasciio module, what it is)
STEM_FORMATS = {
    ".emd": ("velox-emd", "rsciio.emd", "Velox/Berkeley EMD"),
    ".bcf": ("bruker-bcf", "rsciio.bruker", "Bruker Esprit"),
    ".dm3": ("digitalmicrograph", "rsciio.digitalmicrograph", "Gatan DigitalMicrograph"),
    ".dm4": ("digitalmicrograph", "rsciio.digitalmicrograph", "Gatan DigitalMicrograph"),
    ".asw": ("jeol-asw", "rsciio.jeol", "JEOL Analysis Station"),
    ".pts": ("jeol-pts", "rsciio.jeol", "JEOL Analysis Station"),
}

#: X-ray line energies (keV; Bearden 1967 / NIST SRD 128), the lines an EDS map uses
XRAY_LINES = {
    "B_Ka": 0.183,
    "C_Ka": 0.277,
    "N_Ka": 0.392,
    "O_Ka": 0.525,
    "F_Ka": 0.677,
    "Na_Ka": 1.041,
    "Mg_Ka": 1.254,
    "Al_Ka": 1.487,
    "Si_Ka": 1.740,
    "P_Ka": 2.013,
    "S_Ka": 2.307,
    "Cl_Ka": 2.622,
    "K_Ka": 3.314,
    "Ca_Ka": 3.692,
    "Ti_Ka": 4.511,
    "Ti_La": 0.452,
    "V_Ka": 4.952,
    "Cr_Ka": 5.415,
    "Mn_Ka": 5.899,
    "Fe_Ka": 6.404,
    "Fe_La": 0.705,
    "Co_Ka": 6.930,
    "Ni_Ka": 7.478,
    "Ni_La": 0.851,
    "Cu_Ka": 8.048,
    "Cu_La": 0.930,
    "Zn_Ka": 8.639,
    "Ga_Ka": 9.252,
    "Ge_Ka": 9.886,
    "As_Ka": 10.544,
    "Sr_La": 1.806,
    "Zr_La": 2.042,
    "Mo_La": 2.293,
    "Pd_La": 2.838,
    "Ag_La": 2.984,
    "Sn_La": 3.444,
    "Ba_La": 4.466,
    "La_La": 4.651,
    "Ce_La": 4.840,
    "Nd_La": 5.230,
    "Sm_La": 5.636,
    "Gd_La": 6.057,
    "Hf_Ma": 1.645,
    "Ta_Ma": 1.710,
    "W_Ma": 1.775,
    "Pt_Ma": 2.048,
    "Au_Ma": 2.123,
    "Au_La": 9.713,
    "Pb_Ma": 2.346,
    "Th_Ma": 2.996,
}

_LENGTH_TO_NM = {"nm": 1.0, "µm": 1e3, "um": 1e3, "μm": 1e3, "Å": 0.1, "A": 0.1, "pm": 1e-3}


def rsciio_available() -> bool:
    """Whether rosettasciio can be imported (the ``rsciio`` extra is installed)."""
    return importlib.util.find_spec("rsciio") is not None


def _reader(suffix: str, path: Path):
    fmt, module, what = STEM_FORMATS[suffix]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigurationError(
            f"{path}: {what} {suffix} files are read through rosettasciio (GPL-3, an optional "
            f"extra): {RSCIIO_EXTRA}"
        ) from None


@dataclass
class SpectrumImage:
    """One spectrum image: ``data`` float32 ``(H, W, K)`` (row 0 at the bottom),
    ``axis`` ``(K,)`` in ``axis_units``, ``signal_type`` (``EDS_TEM``, ``EELS`` ...)."""

    name: str
    data: np.ndarray
    axis: np.ndarray
    axis_name: str
    axis_units: str
    signal_type: str
    energy_resolution_eV: float | None = None


@dataclass
class StemRecording:
    """What :func:`read_stem` found in one file (see the module docstring)."""

    path: Path
    format: str
    images: dict[str, np.ndarray] = field(default_factory=dict)
    spectrum_images: list[SpectrumImage] = field(default_factory=list)
    pixel_size: float | None = None
    pixel_units: str = "nm"
    instrument: str = ""
    beam_energy_kV: float | None = None
    recorded: str | None = None
    xray_lines: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    binned: int = 1

    @property
    def shape(self) -> tuple[int, int] | None:
        """``(H, W)`` of the first spectrum image, else of the first image."""
        if self.spectrum_images:
            return self.spectrum_images[0].data.shape[:2]
        if self.images:
            return next(iter(self.images.values())).shape
        return None


def _name(text: str, fallback: str) -> str:
    out = re.sub(r"[^0-9A-Za-z_]+", "_", str(text or "").strip()).strip("_")
    return out or fallback


def _nested(md: dict, *keys, default=None):
    for k in keys:
        if not isinstance(md, dict) or k not in md:
            return default
        md = md[k]
    return md


def _bin2(a: np.ndarray, n: int, how: str) -> np.ndarray:
    """Sum (``how="sum"``) or mean of ``n x n`` blocks over the first two axes; the
    remainder rows and columns are cropped."""
    if n == 1:
        return a
    h, w = (a.shape[0] // n) * n, (a.shape[1] // n) * n
    if h == 0 or w == 0:
        raise ConfigurationError(f"binning {n} x {n} leaves nothing of a {a.shape[:2]} raster")
    b = a[:h, :w].reshape(h // n, n, w // n, n, *a.shape[2:])
    return b.sum(axis=(1, 3)) if how == "sum" else b.mean(axis=(1, 3))


def read_stem(path: str | os.PathLike, bin: int = 1) -> StemRecording:
    """Read a STEM file through rosettasciio (the ``rsciio`` extra).

    Parameters
    ----------
    path : path of a ``.emd``, ``.bcf``, ``.dm3``, ``.dm4``, ``.ASW`` or ``.pts`` file
    bin : int
        Sum ``bin x bin`` pixels of every spectrum image (and average them in
        every image) to raise the counts per spectrum; the pixel size grows by
        ``bin``. JEOL ``.pts`` data are binned as they are read (rosettasciio's
        ``downsample``), since the full cube of the shipped file holds 1 GB.

    Raises
    ------
    ConfigurationError
        If the file does not exist, its suffix is not a STEM format, ``bin`` is
        not a positive integer, or rosettasciio is not installed (the message
        names the extra).
    DataFormatError
        If rosettasciio cannot read the file or it holds no image and no
        spectrum image; the message names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(f"file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix not in STEM_FORMATS:
        raise ConfigurationError(
            f"{p}: {suffix!r} is not a STEM format; known: {', '.join(STEM_FORMATS)}"
        )
    if not isinstance(bin, int) or isinstance(bin, bool) or bin < 1:
        raise ConfigurationError(f"bin must be a positive integer, got {bin!r}")
    reader = _reader(suffix, p)
    kwargs: dict = {}
    if suffix == ".emd":
        kwargs["sum_frames"] = True
    if suffix in (".asw", ".pts") and bin > 1:
        kwargs["downsample"] = bin
    try:
        objects = reader.file_reader(str(p), **kwargs)
    except Exception as exc:  # noqa: BLE001 - a reader's faults are its own (struct.error ...)
        raise DataFormatError(
            f"{p}: rosettasciio cannot read it as {STEM_FORMATS[suffix][2]} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    out = StemRecording(path=p, format=STEM_FORMATS[suffix][0], binned=bin)
    # JEOL cubes come binned from the reader (downsample); their images do not
    si_bin = 1 if "downsample" in kwargs else bin
    sizes: dict[str, float | None] = {}
    for k, obj in enumerate(objects):
        _add_signal(out, obj, k, bin, si_bin, sizes)
    if not out.images and not out.spectrum_images:
        raise DataFormatError(
            f"{p}: no 2-D image and no spectrum image in it (signals: {out.skipped})"
        )
    out.pixel_size = sizes.get("si", sizes.get("image"))
    return out


_ENERGY_UNITS = {"eV": 1.0, "keV": 1.0}


def _add_signal(
    out: StemRecording, obj: dict, k: int, n_image: int, n_si: int, sizes: dict
) -> None:
    data = obj["data"]
    axes = list(obj["axes"])
    md = obj.get("metadata", {})
    title = _nested(md, "General", "title", default="") or f"signal_{k}"
    if not out.instrument:
        tem = _nested(md, "Acquisition_instrument", "TEM") or {}
        sem = _nested(md, "Acquisition_instrument", "SEM") or {}
        inst = tem or sem
        out.instrument = str(
            inst.get("microscope") or ("TEM" if tem else "SEM" if sem else "")
        ).strip()
        energy = inst.get("beam_energy")
        if energy is not None and math.isfinite(float(energy)):
            out.beam_energy_kV = float(energy)
    if out.recorded is None:
        date = _nested(md, "General", "date")
        if date:
            out.recorded = f"{date} {_nested(md, 'General', 'time', default='')}".strip()
    for line in _nested(md, "Sample", "xray_lines", default=[]) or []:
        if line not in out.xray_lines:
            out.xray_lines.append(str(line))
    shape = tuple(np.shape(data))
    energy = [i for i, a in enumerate(axes) if str(a.get("units") or "") in _ENERGY_UNITS]
    if len(axes) == 2 and len(shape) == 2 and not energy:
        image = np.asarray(data, dtype=np.float32)[::-1]  # row 0 at the bottom
        name = _name(title, f"image_{k}").lower()
        while name in out.images:
            name += "_"
        out.images[name] = _bin2(image, n_image, "mean").astype(np.float32)
        if "image" not in sizes:
            sizes["image"] = _pixel_size(axes, n_image)
        return
    if len(axes) == 3 and len(shape) == 3 and len(energy) == 1:
        # the energy axis is the signal axis, whatever the file's navigate flags say (a
        # DigitalMicrograph SI may come with them the other way round)
        nav = [i for i in range(3) if i != energy[0]]
        cube = np.transpose(np.asarray(data), (*nav, energy[0]))[::-1]
        e = axes[energy[0]]
        size = int(e.get("size", cube.shape[2]))
        if "axis" in e:
            axis = np.asarray(e["axis"], dtype=np.float64)
        else:
            axis = float(e.get("offset", 0.0)) + float(e.get("scale", 1.0)) * np.arange(size)
        signal_type = str(_nested(md, "Signal", "signal_type", default="") or "")
        resolution = None
        for family in ("TEM", "SEM"):
            r = _nested(
                md, "Acquisition_instrument", family, "Detector", "EDS", "energy_resolution_MnKa"
            )
            if r is not None:
                resolution = float(r)
        out.spectrum_images.append(
            SpectrumImage(
                name=_name(title, f"spectrum_image_{k}"),
                data=_bin2(cube.astype(np.float32), n_si, "sum"),
                axis=axis,
                axis_name=str(e.get("name") or "energy"),
                axis_units=str(e.get("units") or ""),
                signal_type=signal_type,
                energy_resolution_eV=resolution,
            )
        )
        if "si" not in sizes:
            sizes["si"] = _pixel_size([axes[i] for i in nav], n_si)
        return
    out.skipped.append(f"{title} {shape}")


def _pixel_size(axes: list[dict], n: int) -> float | None:
    """Pixel size in nm of two spatial axes after ``n x n`` binning; None when the axes
    are not lengths or the pixels are not square (within 1 %)."""
    scales = []
    for a in axes:
        factor = _LENGTH_TO_NM.get(str(a.get("units") or ""))
        scale = a.get("scale")
        if factor is None or scale is None or not abs(float(scale)) > 0:
            return None
        scales.append(abs(float(scale)) * factor * n)
    if abs(scales[0] - scales[-1]) <= 0.01 * scales[0]:
        return scales[0]
    return None


def line_window(
    line: str | float, resolution_eV: float | None = None, width: float = 1.0
) -> tuple[str, float, float, float]:
    """The energy window (keV) of an X-ray line: ``(name, energy, lo, hi)``.

    Parameters
    ----------
    line : str or float
        A line of :data:`XRAY_LINES` (``"Cu_Ka"``) or an energy in keV.
    resolution_eV : float, optional
        The detector's FWHM at Mn Kα (default 130 eV); the FWHM at the line is
        ``sqrt(FWHM_Mn² + 2.5 eV · (E − 5899 eV))`` (the Fano-limited form).
    width : float
        Half-width of the window in FWHMs (default 1: the window holds about
        98 % of a Gaussian line's counts).

    Raises
    ------
    ConfigurationError
        For a line name that is not in the table (the message lists them) or
        an energy that is not a positive number.
    """
    if isinstance(line, str):
        try:
            energy = float(line)
            name = f"{energy:g} keV"
        except ValueError:
            if line not in XRAY_LINES:
                raise ConfigurationError(
                    f"unknown X-ray line {line!r}; give an energy in keV or one of "
                    f"{', '.join(XRAY_LINES)}"
                ) from None
            name, energy = line, XRAY_LINES[line]
    else:
        energy, name = float(line), f"{float(line):g} keV"
    if not (math.isfinite(energy) and energy > 0):
        raise ConfigurationError(f"X-ray line energy must be a positive number, got {line!r}")
    fwhm_mn = float(resolution_eV or 130.0)
    fwhm = math.sqrt(max(fwhm_mn**2 + 2.5 * (energy * 1e3 - 5899.0), 40.0**2)) / 1e3
    return name, energy, energy - width * fwhm, energy + width * fwhm
