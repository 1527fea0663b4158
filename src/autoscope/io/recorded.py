"""The recorded-dataset HDF5 file of DESIGN.md, and conversion of Nanonis files to it.

Layout: datasets ``image`` (H, W), ``spectra`` (H, W, K), ``spectral_axis``
(K,), and attributes ``spectral_units``, ``pixel_size``, ``pixel_units``
(optional). An image-only dataset (from one ``.sxm`` file) has no ``spectra``
and no ``spectral_axis``; a replay that needs spectra must be given a file
that has them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError, RecordedDatasetFormatError


@dataclass
class RecordedDataset:
    """Contents of a recorded-dataset file.

    Attributes
    ----------
    image : numpy.ndarray
        ``(H, W)``.
    spectra : numpy.ndarray or None
        ``(H, W, K)``.
    spectral_axis : numpy.ndarray or None
        ``(K,)``.
    spectral_units, pixel_units : str or None
    pixel_size : float or None
    attrs : dict
        Every other attribute of the file.
    """

    image: np.ndarray
    spectra: np.ndarray | None = None
    spectral_axis: np.ndarray | None = None
    spectral_units: str | None = None
    pixel_size: float | None = None
    pixel_units: str | None = None
    attrs: dict = field(default_factory=dict)


def write_recorded_dataset(
    path: str | os.PathLike,
    image: np.ndarray,
    spectra: np.ndarray | None = None,
    spectral_axis: np.ndarray | None = None,
    *,
    spectral_units: str | None = None,
    pixel_size: float | None = None,
    pixel_units: str = "nm",
    attrs: dict | None = None,
) -> Path:
    """Write a recorded-dataset HDF5 file.

    Parameters
    ----------
    path : str or os.PathLike
        File to write (overwritten).
    image : numpy.ndarray
        ``(H, W)``.
    spectra, spectral_axis : numpy.ndarray, optional
        ``(H, W, K)`` and ``(K,)``; both or neither.
    spectral_units : str, optional
        Unit of the spectral axis (``"V"``).
    pixel_size : float, optional
        Pixel spacing in ``pixel_units``.
    attrs : dict, optional
        More scalar or string attributes (source file, channel, bias, ...).

    Raises
    ------
    ConfigurationError
        If shapes do not agree or only one of ``spectra``/``spectral_axis`` is given.
    """
    import h5py

    img = np.asarray(image)
    if img.ndim != 2:
        raise ConfigurationError(f"image must be (H, W), got {img.shape}")
    if (spectra is None) != (spectral_axis is None):
        raise ConfigurationError("give both spectra and spectral_axis, or neither")
    if spectra is not None:
        spec = np.asarray(spectra)
        axis = np.asarray(spectral_axis)
        if spec.ndim != 3 or spec.shape[:2] != img.shape or axis.shape != (spec.shape[2],):
            raise ConfigurationError(
                f"spectra {spec.shape} must be (H, W, K) = {img.shape} + (K,) "
                f"with spectral_axis (K,), got axis {axis.shape}"
            )
    if pixel_size is not None and not pixel_size > 0:
        raise ConfigurationError(f"pixel_size must be > 0, got {pixel_size}")
    p = Path(path)
    with h5py.File(p, "w") as f:
        f.create_dataset("image", data=img)
        if spectra is not None:
            f.create_dataset("spectra", data=spec)
            f.create_dataset("spectral_axis", data=axis)
            if spectral_units is not None:
                f.attrs["spectral_units"] = spectral_units
        if pixel_size is not None:
            f.attrs["pixel_size"] = float(pixel_size)
            f.attrs["pixel_units"] = pixel_units
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
    return p


def read_recorded_dataset(path: str | os.PathLike) -> RecordedDataset:
    """Read a recorded-dataset HDF5 file.

    Raises
    ------
    RecordedDatasetFormatError
        If the file has no ``image`` dataset (a :class:`~autoscope.errors.DataFormatError`).
    """
    import h5py

    with h5py.File(Path(path), "r") as f:
        if "image" not in f:
            raise RecordedDatasetFormatError(
                f"{path}: no 'image' dataset; not a recorded dataset"
            )
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        return RecordedDataset(
            image=f["image"][()],
            spectra=f["spectra"][()] if "spectra" in f else None,
            spectral_axis=f["spectral_axis"][()] if "spectral_axis" in f else None,
            spectral_units=attrs.pop("spectral_units", None),
            pixel_size=attrs.pop("pixel_size", None),
            pixel_units=attrs.pop("pixel_units", None),
            attrs=attrs,
        )


def sxm_to_recorded(
    sxm_path: str | os.PathLike,
    out_path: str | os.PathLike,
    channel: str = "Z",
    direction: str = "forward",
) -> Path:
    """Convert one channel of a Nanonis ``.sxm`` file to an image-only recorded dataset.

    The pixel size written is the x spacing (nm); source file, channel,
    direction, units, bias and setpoint go into attributes.

    Raises
    ------
    ConfigurationError
        If the channel or direction is absent, or pixels are not square
        (within 1 %), which the single ``pixel_size`` attribute cannot state.
    """
    from autoscope.io.sxm import read_sxm

    sxm = read_sxm(sxm_path)
    img = sxm.image(channel, direction)
    dx, dy = sxm.pixel_size
    if abs(dx - dy) > 0.01 * dx:
        raise ConfigurationError(
            f"{sxm_path}: pixels are {dx:.4g} x {dy:.4g} nm, not square; "
            "the recorded-dataset format has one pixel_size"
        )
    attrs = {
        "source": str(sxm_path),
        "channel": channel,
        "direction": direction,
        "image_units": sxm.units[channel],
        "scan_direction": sxm.scan_direction,
    }
    if sxm.bias is not None:
        attrs["bias_V"] = float(sxm.bias)
    if sxm.setpoint is not None:
        attrs["setpoint"] = float(sxm.setpoint)
        attrs["setpoint_units"] = sxm.setpoint_units or ""
    return write_recorded_dataset(out_path, img, pixel_size=dx, pixel_units="nm", attrs=attrs)
