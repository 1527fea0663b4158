"""Shape-prefixed float64 images (the demo topographs that SPIEPy ships).

Layout: two little-endian unsigned 32-bit integers (rows, columns), then
``rows * columns`` little-endian float64 heights in metres, row by row. The
files carry no scan size; callers must say the pixel size if they know it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError, RawImageFormatError


def parse_raw_image(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse a shape-prefixed float64 image; heights returned in nm.

    Parameters
    ----------
    data : bytes
        Whole file content.
    source : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        float64 ``(rows, columns)`` in nm (the file stores metres).

    Raises
    ------
    RawImageFormatError
        If the file is shorter than its header, the shape is empty, or the
        data size does not match the shape.
    """
    if len(data) < 8:
        raise RawImageFormatError(f"{source}: {len(data)} bytes, shorter than the 8-byte shape")
    rows, cols = struct.unpack("<II", data[:8])
    if rows == 0 or cols == 0:
        raise RawImageFormatError(f"{source}: empty shape {rows}x{cols}")
    needed = rows * cols * 8
    if len(data) - 8 != needed:
        raise RawImageFormatError(
            f"{source}: shape {rows}x{cols} needs {needed} data bytes, the file has {len(data) - 8}"
        )
    return np.frombuffer(data, dtype="<f8", offset=8).reshape(rows, cols) * 1e9


def read_raw_image(path: str | os.PathLike) -> np.ndarray:
    """Read a shape-prefixed float64 image file; heights in nm (see :func:`parse_raw_image`)."""
    p = Path(path)
    return parse_raw_image(p.read_bytes(), str(p))


def write_raw_image(path: str | os.PathLike, heights_nm: np.ndarray) -> Path:
    """Write heights (nm) as a shape-prefixed float64 image in metres."""
    a = np.asarray(heights_nm, dtype=np.float64)
    if a.ndim != 2 or 0 in a.shape:
        raise ConfigurationError(f"write_raw_image needs a non-empty 2-D array, got {a.shape}")
    p = Path(path)
    p.write_bytes(struct.pack("<II", *a.shape) + (a * 1e-9).astype("<f8").tobytes())
    return p
