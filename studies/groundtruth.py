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
from autoscope.devices.twin.datasets import as_recorded, make_dataset
from autoscope.io.recorded import RecordedDataset

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
    """Read a recorded-dataset file (read-only) through :mod:`autoscope.io.recorded`.

    Raises
    ------
    ConfigurationError
        The file is missing.
    RecordedDatasetFormatError
        The file is not HDF5, lacks ``image``, ``spectra`` or ``spectral_axis``,
        or their shapes disagree (a :class:`~autoscope.errors.DataFormatError`);
        the message names the file and what is wrong.
    """

    return _ground_truth(RecordedDataset.read(path, require_spectra=True), str(Path(path)))


def twin_dataset(kind: str, size: int, seed: int = 0) -> GroundTruth:
    """Ground truth simulated by the SPM twin (``kind`` ``"pfm"`` or ``"stm"``).

    Only the measured image and spectra are used, never the twin's hidden maps.
    """

    data = make_dataset(kind=kind, size=size, seed=seed)
    return _ground_truth(as_recorded(data).validate(), f"twin:{kind}:{size}:seed{seed}")


def _ground_truth(ds, source: str) -> GroundTruth:
    """A validated :class:`~autoscope.io.recorded.RecordedDataset` as float arrays."""
    return GroundTruth(
        image=np.asarray(ds.image, dtype=float),
        spectra=np.asarray(ds.spectra, dtype=float),
        spectral_axis=np.asarray(ds.spectral_axis, dtype=float),
        pixel_size=1.0 if ds.pixel_size is None else float(ds.pixel_size),
        pixel_units="px" if ds.pixel_units is None else str(ds.pixel_units),
        spectral_units="" if ds.spectral_units is None else str(ds.spectral_units),
        source=source,
    )


def scalar_map(truth: GroundTruth, scalarizer) -> np.ndarray:
    """The scalarizer applied to every spectrum, ``(H, W)``, NaN where a spectrum is flagged."""
    return get_scalarizer(scalarizer).apply(truth.spectra, truth.spectral_axis)
