"""Ground truth for agent benchmarks: a recorded-dataset file or a twin, scalarized.

A benchmark needs an overview image and, for every pixel, the value a
measurement there would give. :func:`load_recorded` reads the recorded-dataset
HDF5 file of DESIGN.md (read-only; a malformed file gets an error that names
what is missing), :func:`twin_dataset` asks the twin for one, and
:func:`scalar_map` applies a scalarizer to every spectrum.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from autoscope.agents.scalarizers import get_scalarizer

from autoscope.errors import ConfigurationError, RecordedDatasetFormatError

__all__ = ["GroundTruth", "load_recorded", "scalar_map", "twin_dataset"]


@dataclass
class GroundTruth:
    """What a benchmark replays.

    Attributes
    ----------
    image : ``(H, W)`` overview image
    spectra : ``(H, W, K)``
    spectral_axis : ``(K,)``
    pixel_size : float (``pixel_units`` per pixel)
    pixel_units, spectral_units : str
    source : str, the file or ``"twin:pfm:64:seed0"``
    """

    image: np.ndarray
    spectra: np.ndarray
    spectral_axis: np.ndarray
    pixel_size: float = 1.0
    pixel_units: str = "px"
    spectral_units: str = ""
    source: str = ""


def load_recorded(path: str | os.PathLike) -> GroundTruth:
    """Read a recorded-dataset file (read-only).

    Raises
    ------
    ConfigurationError
        The file is missing.
    RecordedDatasetFormatError
        The file is not HDF5, lacks ``image``, ``spectra`` or ``spectral_axis``,
        or their shapes disagree (a :class:`~autoscope.errors.DataFormatError`);
        the message names the file and what is wrong.
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(f"dataset file {str(p)!r} does not exist")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise RecordedDatasetFormatError(
            f"dataset file {str(p)!r} is not an HDF5 file ({exc})"
        ) from None
    with f:
        missing = [k for k in ("image", "spectra", "spectral_axis") if k not in f]
        if missing:
            raise RecordedDatasetFormatError(
                f"dataset file {str(p)!r} lacks {', '.join(repr(m) for m in missing)}; "
                "a recorded dataset needs 'image' (H, W), 'spectra' (H, W, K) and "
                "'spectral_axis' (K,)"
            )
        for key in ("image", "spectra", "spectral_axis"):
            if not isinstance(f[key], h5py.Dataset):
                raise RecordedDatasetFormatError(
                    f"dataset file {str(p)!r}: {key!r} is not a dataset"
                )
        image = np.asarray(f["image"][()], dtype=float)
        spectra = np.asarray(f["spectra"][()], dtype=float)
        axis = np.asarray(f["spectral_axis"][()], dtype=float)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    if image.ndim != 2:
        raise RecordedDatasetFormatError(
            f"dataset file {str(p)!r}: 'image' must be (H, W), got {image.shape}"
        )
    if spectra.ndim != 3 or spectra.shape[:2] != image.shape:
        raise RecordedDatasetFormatError(
            f"dataset file {str(p)!r}: 'spectra' must be (H, W, K) with (H, W) = {image.shape}, "
            f"got {spectra.shape}"
        )
    if axis.shape != (spectra.shape[2],):
        raise RecordedDatasetFormatError(
            f"dataset file {str(p)!r}: 'spectral_axis' must have shape ({spectra.shape[2]},), "
            f"got {axis.shape}"
        )
    pixel_size = float(attrs.get("pixel_size", 1.0))
    return GroundTruth(
        image=image,
        spectra=spectra,
        spectral_axis=axis,
        pixel_size=pixel_size if pixel_size > 0 else 1.0,
        pixel_units=str(attrs.get("pixel_units", "px")),
        spectral_units=str(attrs.get("spectral_units", "")),
        source=str(p),
    )


def twin_dataset(kind: str, size: int, seed: int = 0) -> GroundTruth:
    """Ground truth simulated by the SPM twin (``kind`` ``"pfm"`` or ``"stm"``).

    Only the measured image and spectra are used, never the twin's hidden maps.
    """
    from autoscope.devices.twin.datasets import make_dataset

    data = make_dataset(kind=kind, size=size, seed=seed)
    return GroundTruth(
        image=np.asarray(data["image"], dtype=float),
        spectra=np.asarray(data["spectra"], dtype=float),
        spectral_axis=np.asarray(data["spectral_axis"], dtype=float),
        pixel_size=float(data.get("pixel_size", 1.0)),
        pixel_units=str(data.get("pixel_units", "nm")),
        spectral_units=str(data.get("spectral_units", "")),
        source=f"twin:{kind}:{size}:seed{seed}",
    )


def scalar_map(truth: GroundTruth, scalarizer) -> np.ndarray:
    """The scalarizer applied to every spectrum, ``(H, W)``, NaN where a spectrum is flagged."""
    return get_scalarizer(scalarizer).apply(truth.spectra, truth.spectral_axis)
