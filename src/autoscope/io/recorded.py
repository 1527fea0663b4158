"""The recorded-dataset HDF5 file of DESIGN.md, and conversion of Nanonis files to it.

Layout: datasets ``image`` (H, W), ``spectra`` (H, W, K), ``spectral_axis``
(K,), and attributes ``spectral_units``, ``pixel_size``, ``pixel_units``
(optional). An image-only dataset (from one ``.sxm`` file) has no ``spectra``
and no ``spectral_axis``; a replay that needs spectra must be given a file
that has them. Unmeasured pixels are NaN rows of ``spectra``. A benchmark's
scoring file may also hold ground-truth maps (H, W) in a ``truth`` group.

This module is the one home of the format: :class:`RecordedDataset` reads
(:meth:`~RecordedDataset.read`), writes (:meth:`~RecordedDataset.write`) and
checks (:meth:`~RecordedDataset.validate`) it; the twin's datasets and the
benchmark's ground truth go through it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError, RecordedDatasetFormatError
from autoscope.io.sxm import read_sxm

__all__ = ["RecordedDataset", "read_recorded_dataset", "sxm_to_recorded", "write_recorded_dataset"]

_NAMED_ATTRS = ("spectral_units", "pixel_size", "pixel_units")
_NEEDS = "a recorded dataset needs 'image' (H, W), 'spectra' (H, W, K) and 'spectral_axis' (K,)"


@dataclass
class RecordedDataset:
    """Contents of a recorded-dataset file; the one reader, writer and checker of the format.

    Attributes
    ----------
    image : numpy.ndarray
        ``(H, W)``.
    spectra : numpy.ndarray or None
        ``(H, W, K)``; an unmeasured pixel is a row of NaN.
    spectral_axis : numpy.ndarray or None
        ``(K,)``.
    spectral_units, pixel_units : str or None
    pixel_size : float or None
        Pixel spacing in ``pixel_units``.
    attrs : dict
        Every other attribute of the file (scalars or strings: source file,
        channel, bias, ``signal_name``, ...).
    truth : dict of numpy.ndarray or None
        Ground-truth maps ``(H, W)`` by name, kept in the file's ``truth``
        group. Only a benchmark's scoring file has them; a file an agent reads
        should not.

    Examples
    --------
    >>> ds = RecordedDataset(image, spectra, axis, spectral_units="V")  # doctest: +SKIP
    >>> ds.write("scan.h5")                                              # doctest: +SKIP
    >>> RecordedDataset.read("scan.h5", require_spectra=True)           # doctest: +SKIP
    """

    image: np.ndarray
    spectra: np.ndarray | None = None
    spectral_axis: np.ndarray | None = None
    spectral_units: str | None = None
    pixel_size: float | None = None
    pixel_units: str | None = None
    attrs: dict = field(default_factory=dict)
    truth: dict | None = None

    def problems(self, *, require_spectra: bool = False) -> list[str]:
        """What is wrong with these contents, one message per problem (empty when valid)."""
        img = np.asarray(self.image)
        out = []
        if img.ndim != 2:
            out.append(f"'image' must be (H, W), got shape {img.shape}")
        elif img.dtype.kind not in "biuf":
            out.append(f"'image' must be numeric, got dtype {img.dtype}")
        if (self.spectra is None) != (self.spectral_axis is None):
            out.append("give both spectra and spectral_axis, or neither")
        elif self.spectra is None and require_spectra:
            out.append(f"no 'spectra' and 'spectral_axis'; {_NEEDS}")
        elif self.spectra is not None:
            spec, axis = np.asarray(self.spectra), np.asarray(self.spectral_axis)
            if spec.ndim != 3 or spec.shape[:2] != img.shape:
                out.append(
                    f"'spectra' must be (H, W, K) with (H, W) = {img.shape}, got {spec.shape}"
                )
            elif spec.dtype.kind not in "biuf":
                out.append(f"'spectra' must be numeric, got dtype {spec.dtype}")
            elif axis.shape != (spec.shape[2],):
                out.append(f"'spectral_axis' must have shape ({spec.shape[2]},), got {axis.shape}")
            elif axis.dtype.kind not in "biuf" or not np.isfinite(axis).all():
                out.append(f"'spectral_axis' must be finite numbers, got {axis!r}")
        if self.pixel_size is not None:
            ok = isinstance(self.pixel_size, (int, float, np.number)) and not isinstance(
                self.pixel_size, bool
            )
            if not (ok and np.isfinite(self.pixel_size) and self.pixel_size > 0):
                out.append(f"pixel_size must be a finite number > 0, got {self.pixel_size!r}")
        for name in ("spectral_units", "pixel_units"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                out.append(f"{name} must be a string, got {value!r}")
        clash = sorted(set(self.attrs) & set(_NAMED_ATTRS))
        if clash:
            out.append(f"attrs {clash} repeat named fields; set them as fields")
        for name, value in (self.truth or {}).items():
            shape = np.shape(value)
            if shape != img.shape:
                out.append(f"truth map {name!r} must be (H, W) = {img.shape}, got {shape}")
        return out

    def validate(self, *, require_spectra: bool = False) -> RecordedDataset:
        """Check the contents against the format; return ``self``.

        Raises
        ------
        ConfigurationError
            Naming the first problem and the bad value (shape, dtype, number).
        """
        problems = self.problems(require_spectra=require_spectra)
        if problems:
            raise ConfigurationError(problems[0])
        return self

    def write(self, path: str | os.PathLike) -> Path:
        """Validate, then write the file (overwritten); return its path.

        ``spectral_units``, ``pixel_size`` and ``pixel_units`` are written when
        set; ``truth`` (if any) goes into a ``truth`` group.

        Raises
        ------
        ConfigurationError
            If the contents are not a valid recorded dataset (see :meth:`validate`).
        """
        import h5py

        self.validate()
        p = Path(path)
        with h5py.File(p, "w") as f:
            f.create_dataset("image", data=np.asarray(self.image))
            if self.spectra is not None:
                f.create_dataset("spectra", data=np.asarray(self.spectra))
                f.create_dataset("spectral_axis", data=np.asarray(self.spectral_axis))
            for key in _NAMED_ATTRS:
                value = getattr(self, key)
                if value is not None:
                    f.attrs[key] = float(value) if key == "pixel_size" else value
            for key, value in self.attrs.items():
                f.attrs[key] = value
            if self.truth is not None:
                g = f.create_group("truth")
                for key, value in self.truth.items():
                    g.create_dataset(key, data=np.asarray(value))
        return p

    @classmethod
    def read(cls, path: str | os.PathLike, *, require_spectra: bool = False) -> RecordedDataset:
        """Read and validate a recorded-dataset file (read-only).

        Arrays keep the file's dtype; attributes come back as Python scalars
        and ``str``. With ``require_spectra`` a file without ``spectra`` and
        ``spectral_axis`` (an image-only dataset) is refused.

        Raises
        ------
        ConfigurationError
            If the file does not exist.
        RecordedDatasetFormatError
            If it is not HDF5, lacks ``image`` (or, with ``require_spectra``,
            ``spectra``/``spectral_axis``), or its contents fail
            :meth:`validate`; the message names the file and the problem.
        """
        import h5py

        p = Path(path)
        where = f"dataset file {str(p)!r}"
        if not p.is_file():
            raise ConfigurationError(f"{where} does not exist")
        try:
            f = h5py.File(p, "r")
        except OSError as exc:
            raise RecordedDatasetFormatError(f"{where} is not an HDF5 file ({exc})") from None
        with f:
            needed = ("image", "spectra", "spectral_axis") if require_spectra else ("image",)
            missing = [k for k in needed if k not in f]
            if missing:
                why = ""
                if "image" in missing:
                    why = "; no 'image' dataset, so not a recorded dataset"
                raise RecordedDatasetFormatError(
                    f"{where} lacks {', '.join(repr(m) for m in missing)}{why}; {_NEEDS}"
                )
            for key in ("image", "spectra", "spectral_axis"):
                if key in f and not isinstance(f[key], h5py.Dataset):
                    raise RecordedDatasetFormatError(f"{where}: {key!r} is not a dataset")
            attrs = {k: _attr_value(v) for k, v in f.attrs.items()}
            truth = None
            if isinstance(f.get("truth"), h5py.Group):
                truth = {k: f["truth"][k][()] for k in f["truth"]}
            ds = cls(
                image=f["image"][()],
                spectra=f["spectra"][()] if "spectra" in f else None,
                spectral_axis=f["spectral_axis"][()] if "spectral_axis" in f else None,
                spectral_units=attrs.pop("spectral_units", None),
                pixel_size=attrs.pop("pixel_size", None),
                pixel_units=attrs.pop("pixel_units", None),
                attrs=attrs,
                truth=truth,
            )
        problems = ds.problems(require_spectra=require_spectra)
        if problems:
            raise RecordedDatasetFormatError(f"{where}: {problems[0]}")
        return ds


def _attr_value(value):
    """An HDF5 attribute as a Python value: bytes decoded, numpy scalars unwrapped."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


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
    """Write a recorded-dataset HDF5 file (:meth:`RecordedDataset.write` with arguments).

    Parameters
    ----------
    path : str or os.PathLike
        File to write (overwritten).
    image : numpy.ndarray
        ``(H, W)``.
    spectra, spectral_axis : numpy.ndarray, optional
        ``(H, W, K)`` and ``(K,)``; both or neither.
    spectral_units : str, optional
        Unit of the spectral axis (``"V"``); written only with spectra.
    pixel_size : float, optional
        Pixel spacing in ``pixel_units`` (written only when given).
    attrs : dict, optional
        More scalar or string attributes (source file, channel, bias, ...).

    Raises
    ------
    ConfigurationError
        If shapes do not agree or only one of ``spectra``/``spectral_axis`` is given.
    """
    return RecordedDataset(
        image=image,
        spectra=spectra,
        spectral_axis=spectral_axis,
        spectral_units=spectral_units if spectra is not None else None,
        pixel_size=pixel_size,
        pixel_units=pixel_units if pixel_size is not None else None,
        attrs=dict(attrs or {}),
    ).write(path)


def read_recorded_dataset(
    path: str | os.PathLike, *, require_spectra: bool = False
) -> RecordedDataset:
    """Read a recorded-dataset HDF5 file (:meth:`RecordedDataset.read`).

    Raises
    ------
    ConfigurationError
        If the file does not exist.
    RecordedDatasetFormatError
        If the file is not HDF5, has no ``image`` dataset, or fails validation
        (a :class:`~autoscope.errors.DataFormatError`).
    """
    return RecordedDataset.read(path, require_spectra=require_spectra)


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
