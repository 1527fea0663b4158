"""Ground truth for agent benchmarks: a recorded-dataset file or a twin, scalarized.

A benchmark needs an overview image and, for every pixel, the value a
measurement there would give. :func:`load_recorded` reads the recorded-dataset
HDF5 file of DESIGN.md (read-only; a malformed file gets an error that names
what is missing), :func:`twin_dataset` asks the twin for one, and
:func:`scalar_map` applies a scalarizer to every measured spectrum.

Counting spectra (EDS, EELS: a recorded dataset whose ``spectra_kind``
attribute is ``"counts"``, as ``autoscope export`` writes a spectrum image) are
not checked for flat runs: a run of zero counts at a spectrum's minimum is a
measurement, not a clipped channel (:func:`scalar_map`).

A recorded grid may be incomplete (a grid stopped early): its unmeasured
pixels are rows of NaN in ``spectra``. :attr:`GroundTruth.measured` marks the
others; only they are candidates of a benchmark.
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
    measured : ``(H, W)`` bool, the pixels whose spectrum was recorded (not a
        row of NaN); ``None`` means every pixel. Where a pixel was never
        measured the overview may be NaN too (a grid's own channel mean or
        topography); :func:`load_recorded` fills those pixels with the median
        of the measured ones, so that patches can be cut around the measured.
    counts : bool, the spectra are counts (EDS, EELS): no flat-run check
    """

    image: np.ndarray
    spectra: np.ndarray
    spectral_axis: np.ndarray
    pixel_size: float = 1.0
    pixel_units: str = "px"
    spectral_units: str = ""
    source: str = ""
    measured: np.ndarray | None = None
    counts: bool = False

    @property
    def measured_mask(self) -> np.ndarray:
        """``(H, W)`` bool: the measured pixels (all of them when :attr:`measured` is None)."""
        if self.measured is None:
            return np.ones(np.shape(self.image), dtype=bool)
        return np.asarray(self.measured, dtype=bool)


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
    """A validated :class:`~autoscope.io.recorded.RecordedDataset` as float arrays.

    A pixel whose spectrum is all NaN was never measured; ``measured`` is then
    set, and non-finite overview pixels among the unmeasured ones take the
    median of the finite overview of the measured (a measured pixel with a
    non-finite overview is left as it is, for the candidate set to refuse).
    """
    image = np.asarray(ds.image, dtype=float)
    spectra = np.asarray(ds.spectra, dtype=float)
    measured = ~np.isnan(spectra).all(axis=-1)
    if measured.all():
        measured = None
    else:
        fill = ~measured & ~np.isfinite(image)
        known = np.isfinite(image) & measured
        if fill.any() and known.any():
            image = image.copy()
            image[fill] = float(np.median(image[known]))
    return GroundTruth(
        image=image,
        spectra=spectra,
        spectral_axis=np.asarray(ds.spectral_axis, dtype=float),
        pixel_size=1.0 if ds.pixel_size is None else float(ds.pixel_size),
        pixel_units="px" if ds.pixel_units is None else str(ds.pixel_units),
        spectral_units="" if ds.spectral_units is None else str(ds.spectral_units),
        source=source,
        measured=measured,
        counts=str(ds.attrs.get("spectra_kind", "")) == "counts",
    )


def scalar_map(truth: GroundTruth, scalarizer) -> np.ndarray:
    """The scalarizer applied to every measured spectrum, ``(H, W)``.

    NaN where a spectrum is flagged (the scalarizer warns) and where it was
    never measured (no warning: there is nothing to flag). Counting spectra
    (:attr:`GroundTruth.counts`) are flagged for NaN and inf only: a run of
    equal counts at their minimum (zeros) is what a counter measures.
    """
    s = get_scalarizer(scalarizer, flat_run=0 if truth.counts else 3)
    if truth.measured is None:
        return s.apply(truth.spectra, truth.spectral_axis)
    mask = truth.measured_mask
    out = np.full(mask.shape, np.nan)
    out[mask] = s.apply(truth.spectra[mask], truth.spectral_axis)
    return out
