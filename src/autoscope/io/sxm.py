"""Nanonis ``.sxm`` scan images: a reader and a writer of our own.

The format (Nanonis "SCANIT" files, version 2):

- A text header in Latin-1. Each entry is a line ``:KEY:`` followed by one or
  more value lines, e.g. ``:SCAN_PIXELS:`` / ``256 256`` (pixels per line,
  lines), ``:SCAN_RANGE:`` (width and height in m), ``:SCAN_OFFSET:`` (frame
  centre in m), ``:SCAN_ANGLE:`` (deg), ``:SCAN_DIR:`` (``up`` or ``down``),
  ``:BIAS:`` (V), ``:SCAN_TIME:`` (s per forward and backward line) and
  ``:DATA_INFO:``, a tab-separated table of the stored channels (``Channel
  Name Unit Direction Calibration Offset``; direction ``both`` stores a forward
  and a backward image). Module settings follow as ``:Module>Setting:`` keys.
- The line ``:SCANIT_END:``, some line feeds, then the two bytes ``\\x1a\\x04``.
- The data: for every channel in ``DATA_INFO`` order, the forward image and
  then (if stored) the backward image, each ``lines x pixels`` float32 values,
  big-endian for ``SCANIT_TYPE`` ``FLOAT MSBFIRST``. Lines are stored in the
  order they were acquired; a backward line is stored in the order it was
  acquired (right to left). Lines not scanned (an aborted frame) hold NaN.

Orientation returned by :func:`read_sxm` (the same as
:class:`autoscope.devices.backend.LineData`): row 0 is the lowest y of the frame
(for a ``down`` scan the rows are flipped), column 0 the lowest x, and backward
images are flipped back so both directions are ordered by increasing x. Values
are converted to autoscope's units (m -> nm, A -> pA; see
:mod:`autoscope.io.units`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError, SxmFormatError
from autoscope.io.units import project_unit

log = logging.getLogger(__name__)

_END_TAG = b":SCANIT_END:"
_DATA_MARK = b"\x1a\x04"
_KEY_LINE = re.compile(r"^:(.+):$")


@dataclass
class SxmImage:
    """A Nanonis scan, every channel and direction, in autoscope's units.

    Attributes
    ----------
    source : str
        File the image came from (a path, or ``archive!member``).
    channels : dict
        ``{name: {"forward": (lines, pixels) float32, "backward": ...}}``; a
        channel stored in one direction only has that key only.
    units : dict
        ``{name: unit}`` after conversion (``"nm"`` for Z, ``"pA"`` for current).
    pixels, lines : int
        Pixels per line (image width W) and number of lines (height H).
    scan_size : (float, float)
        Frame width and height in nm.
    center : (float, float)
        Frame centre in nm.
    angle : float
        Frame rotation in degrees.
    scan_direction : str
        ``"up"`` or ``"down"`` (the order the lines were acquired).
    bias : float or None
        Sample bias in V while imaging.
    setpoint : float or None
        Feedback setpoint in ``setpoint_units`` (pA for a current setpoint).
    setpoint_units : str or None
    line_time : (float, float)
        Seconds per forward and per backward line.
    header : dict
        Every header entry, ``{key: raw text}`` (keys without the colons).
    """

    source: str
    channels: dict[str, dict[str, np.ndarray]]
    units: dict[str, str]
    pixels: int
    lines: int
    scan_size: tuple[float, float]
    center: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0
    scan_direction: str = "up"
    bias: float | None = None
    setpoint: float | None = None
    setpoint_units: str | None = None
    line_time: tuple[float, float] = (float("nan"), float("nan"))
    header: dict[str, str] = field(default_factory=dict)

    @property
    def pixel_size(self) -> tuple[float, float]:
        """Pixel spacing ``(dx, dy)`` in nm."""
        return self.scan_size[0] / self.pixels, self.scan_size[1] / self.lines

    def image(self, channel: str = "Z", direction: str = "forward") -> np.ndarray:
        """One channel in one direction, shape ``(lines, pixels)``.

        Raises
        ------
        ConfigurationError
            If the file has no such channel or direction; the message lists
            what it has.
        """
        if channel not in self.channels:
            raise ConfigurationError(
                f"{self.source}: no channel {channel!r}; it has {sorted(self.channels)}"
            )
        dirs = self.channels[channel]
        if direction not in dirs:
            raise ConfigurationError(
                f"{self.source}: channel {channel!r} has no {direction!r} image; "
                f"it has {sorted(dirs)}"
            )
        return dirs[direction]


def _parse_header(text: str, source: str) -> dict[str, str]:
    header: dict[str, str] = {}
    key: str | None = None
    values: list[str] = []
    for line in text.splitlines():
        match = _KEY_LINE.match(line.strip()) if line.startswith(":") else None
        if match:
            if key is not None:
                header[key] = "\n".join(values).strip("\n")
            key, values = match.group(1), []
        elif key is not None:
            values.append(line.rstrip("\r"))
        elif line.strip():
            raise SxmFormatError(f"{source}: header text before the first :KEY: line: {line!r}")
    if key is not None:
        header[key] = "\n".join(values).strip("\n")
    return header


def _number(text: str) -> float:
    """Parse a Nanonis number (accepts ``Inf`` and a decimal comma)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return float(text.replace(",", "."))


def _numbers(header: Mapping[str, str], key: str, count: int, source: str) -> list[float]:
    if key not in header:
        raise SxmFormatError(f"{source}: header has no :{key}: entry")
    parts = header[key].split()
    try:
        values = [_number(p) for p in parts]
    except ValueError as exc:
        raise SxmFormatError(f"{source}: :{key}: is not numeric: {header[key]!r}") from exc
    if len(values) < count:
        raise SxmFormatError(f"{source}: :{key}: needs {count} numbers, got {header[key]!r}")
    return values[:count]


def _data_info(header: Mapping[str, str], source: str) -> list[dict[str, str]]:
    if "DATA_INFO" not in header:
        raise SxmFormatError(f"{source}: header has no :DATA_INFO: table of channels")
    rows = [r.strip().split("\t") for r in header["DATA_INFO"].splitlines() if r.strip()]
    if not rows:
        raise SxmFormatError(f"{source}: :DATA_INFO: table is empty")
    names = [c.strip() for c in rows[0]]
    needed = {"Name", "Unit", "Direction"}
    if not needed <= set(names):
        raise SxmFormatError(f"{source}: :DATA_INFO: columns {names} lack {sorted(needed)}")
    table = []
    for row in rows[1:]:
        if len(row) != len(names):
            raise SxmFormatError(f"{source}: :DATA_INFO: row {row!r} has {len(row)} columns")
        table.append({n: v.strip() for n, v in zip(names, row, strict=True)})
    if not table:
        raise SxmFormatError(f"{source}: :DATA_INFO: lists no channels")
    return table


def _dtype(header: Mapping[str, str], source: str) -> np.dtype:
    kind = header.get("SCANIT_TYPE", "FLOAT MSBFIRST").split()
    if len(kind) != 2 or kind[0] != "FLOAT" or kind[1] not in ("MSBFIRST", "LSBFIRST"):
        raise SxmFormatError(f"{source}: unsupported :SCANIT_TYPE: {header.get('SCANIT_TYPE')!r}")
    return np.dtype(">f4" if kind[1] == "MSBFIRST" else "<f4")


def _setpoint(header: Mapping[str, str]) -> tuple[float | None, str | None]:
    if "Z-Controller>Setpoint" in header:
        try:
            value = _number(header["Z-Controller>Setpoint"])
        except ValueError:
            return None, None
        unit = header.get("Z-Controller>Setpoint unit", "").strip()
    elif "Z-CONTROLLER" in header:
        rows = [r.split("\t") for r in header["Z-CONTROLLER"].splitlines() if r.strip()]
        if len(rows) < 2:
            return None, None
        cols = {n.strip(): v.strip() for n, v in zip(rows[0], rows[1], strict=False)}
        parts = cols.get("Setpoint", "").split()
        if not parts:
            return None, None
        try:
            value = _number(parts[0])
        except ValueError:
            return None, None
        unit = parts[1] if len(parts) > 1 else ""
    else:
        return None, None
    new_unit, factor = project_unit(unit)
    return value * factor, new_unit


def parse_sxm(data: bytes, source: str = "<bytes>") -> SxmImage:
    """Parse the bytes of a Nanonis ``.sxm`` file.

    Parameters
    ----------
    data : bytes
        Whole file content.
    source : str
        Name used in error messages and stored in :attr:`SxmImage.source`.

    Returns
    -------
    SxmImage

    Raises
    ------
    SxmFormatError
        If the header lacks an entry the image needs, the data marker is
        missing, or the data block is shorter than the header promises.
    """
    end = data.find(_END_TAG)
    if end < 0:
        raise SxmFormatError(f"{source}: no :SCANIT_END: line; not a Nanonis .sxm file")
    mark = data.find(_DATA_MARK, end)
    if mark < 0:
        raise SxmFormatError(f"{source}: no \\x1a\\x04 data marker after :SCANIT_END:")
    if not data.lstrip().startswith(b":"):
        raise SxmFormatError(f"{source}: does not start with a :KEY: header line")
    header = _parse_header(data[:end].decode("latin-1"), source)

    pixels_f, lines_f = _numbers(header, "SCAN_PIXELS", 2, source)
    pixels, lines = int(pixels_f), int(lines_f)
    if pixels <= 0 or lines <= 0 or pixels != pixels_f or lines != lines_f:
        raise SxmFormatError(f"{source}: bad :SCAN_PIXELS: {header['SCAN_PIXELS']!r}")
    width_m, height_m = _numbers(header, "SCAN_RANGE", 2, source)
    if not (width_m > 0 and height_m > 0):
        raise SxmFormatError(f"{source}: bad :SCAN_RANGE: {header['SCAN_RANGE']!r}")
    center = (
        tuple(v * 1e9 for v in _numbers(header, "SCAN_OFFSET", 2, source))
        if ("SCAN_OFFSET" in header)
        else (0.0, 0.0)
    )
    angle = _numbers(header, "SCAN_ANGLE", 1, source)[0] if "SCAN_ANGLE" in header else 0.0
    direction = header.get("SCAN_DIR", "up").strip().lower()
    if direction not in ("up", "down"):
        raise SxmFormatError(f"{source}: :SCAN_DIR: must be up or down, got {direction!r}")
    bias = _numbers(header, "BIAS", 1, source)[0] if "BIAS" in header else None
    line_time = (
        tuple(_numbers(header, "SCAN_TIME", 2, source))
        if "SCAN_TIME" in header
        else (float("nan"), float("nan"))
    )
    dtype = _dtype(header, source)
    info = _data_info(header, source)

    planes = []
    for row in info:
        d = row["Direction"].lower()
        if d == "both":
            planes.extend([(row, "forward"), (row, "backward")])
        elif d in ("forward", "backward"):
            planes.append((row, d))
        else:
            raise SxmFormatError(f"{source}: channel {row['Name']!r} has direction {d!r}")
    per_plane = pixels * lines
    start = mark + len(_DATA_MARK)
    needed = len(planes) * per_plane * dtype.itemsize
    available = len(data) - start
    if available < needed:
        raise SxmFormatError(
            f"{source}: data block holds {available} bytes but {len(info)} channel(s) "
            f"({len(planes)} images of {lines}x{pixels} float32) need {needed}"
        )
    if available > needed:
        log.debug("%s: %d bytes after the image data ignored", source, available - needed)
    raw = np.frombuffer(data, dtype=dtype, count=len(planes) * per_plane, offset=start)
    raw = raw.reshape(len(planes), lines, pixels)

    channels: dict[str, dict[str, np.ndarray]] = {}
    units: dict[str, str] = {}
    for k, (row, d) in enumerate(planes):
        img = raw[k].astype(np.float32)
        if d == "backward":
            img = img[:, ::-1]
        if direction == "down":
            img = img[::-1, :]
        unit, factor = project_unit(row["Unit"])
        if factor != 1.0:
            img = img * np.float32(factor)
        channels.setdefault(row["Name"], {})[d] = np.ascontiguousarray(img, dtype=np.float32)
        units[row["Name"]] = unit

    setpoint, setpoint_units = _setpoint(header)
    return SxmImage(
        source=source,
        channels=channels,
        units=units,
        pixels=pixels,
        lines=lines,
        scan_size=(width_m * 1e9, height_m * 1e9),
        center=(float(center[0]), float(center[1])),
        angle=float(angle),
        scan_direction=direction,
        bias=bias,
        setpoint=setpoint,
        setpoint_units=setpoint_units,
        line_time=(float(line_time[0]), float(line_time[1])),
        header=header,
    )


def read_sxm(path: str | os.PathLike) -> SxmImage:
    """Read a Nanonis ``.sxm`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    SxmImage
        Every channel, forward and backward, shape ``(lines, pixels)`` float32,
        in autoscope's units and orientation (see the module docstring).

    Raises
    ------
    SxmFormatError
        If the file is malformed; the message names the file and the problem.
    FileNotFoundError
        If there is no such file.
    """
    p = Path(path)
    return parse_sxm(p.read_bytes(), str(p))


_SI = {"nm": ("m", 1e-9), "pA": ("A", 1e-12)}


def write_sxm(
    path: str | os.PathLike,
    channels: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
    units: Mapping[str, str],
    scan_size: tuple[float, float],
    *,
    center: tuple[float, float] = (0.0, 0.0),
    angle: float = 0.0,
    scan_direction: str = "up",
    bias: float = 0.0,
    setpoint: float | None = None,
    setpoint_units: str = "pA",
    line_time: tuple[float, float] = (1.0, 1.0),
    extra_header: Mapping[str, str] | None = None,
) -> Path:
    """Write images as a Nanonis ``.sxm`` file (big-endian float32, SI units).

    The inverse of :func:`read_sxm`: arrays are given in autoscope's
    orientation (row 0 = lowest y, both directions ordered by increasing x) and
    units (nm, pA); they are stored as Nanonis stores them. Used to export twin
    frames for other SPM software and to test the reader.

    Parameters
    ----------
    path : str or os.PathLike
        File to write.
    channels : mapping
        ``{name: (forward, backward)}``, each ``(lines, pixels)``; ``backward``
        may be ``None`` (the channel is then stored forward only).
    units : mapping
        ``{name: unit}`` of the arrays (``"nm"`` and ``"pA"`` are converted to
        m and A; other units are written as given).
    scan_size : (float, float)
        Frame width and height in nm.
    center, angle, scan_direction, bias, setpoint, setpoint_units, line_time
        Frame centre (nm), rotation (deg), ``"up"``/``"down"``, bias (V),
        feedback setpoint (in ``setpoint_units``), s per forward/backward line.
    extra_header : mapping, optional
        More ``{key: value}`` header entries (``Module>Setting`` keys).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ConfigurationError
        If there are no channels, shapes differ, a unit is missing, or
        ``scan_direction`` is not up/down.
    """
    if not channels:
        raise ConfigurationError("write_sxm needs at least one channel")
    if scan_direction not in ("up", "down"):
        raise ConfigurationError(f"scan_direction must be 'up' or 'down', got {scan_direction!r}")
    shape = None
    for name, (fwd, bwd) in channels.items():
        if name not in units:
            raise ConfigurationError(f"write_sxm: no unit given for channel {name!r}")
        for arr in (fwd, bwd):
            if arr is None:
                continue
            a = np.asarray(arr)
            if a.ndim != 2:
                raise ConfigurationError(f"channel {name!r}: image must be 2-D, got {a.shape}")
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                raise ConfigurationError(f"channel {name!r}: shape {a.shape} differs from {shape}")
    lines, pixels = shape
    w_m, h_m = scan_size[0] * 1e-9, scan_size[1] * 1e-9
    sp_unit, sp_factor = _SI.get(setpoint_units, (setpoint_units, 1.0))
    entries: list[tuple[str, str]] = [
        ("NANONIS_VERSION", "2"),
        ("SCANIT_TYPE", "              FLOAT            MSBFIRST"),
        ("SCAN_PIXELS", f"{pixels:>10d}{lines:>10d}"),
        ("SCAN_TIME", f"{line_time[0]:21.3E}{line_time[1]:21.3E}"),
        ("SCAN_RANGE", f"{w_m:22.6E}{h_m:22.6E}"),
        ("SCAN_OFFSET", f"{center[0] * 1e-9:22.6E}{center[1] * 1e-9:22.6E}"),
        ("SCAN_ANGLE", f"{angle:20.3E}"),
        ("SCAN_DIR", scan_direction),
        ("BIAS", f"{bias:20.3E}"),
    ]
    if setpoint is not None:
        entries.append(("Z-Controller>Setpoint", f"{setpoint * sp_factor:.6E}"))
        entries.append(("Z-Controller>Setpoint unit", sp_unit))
    entries.extend((k, str(v)) for k, v in (extra_header or {}).items())
    info = ["\tChannel\tName\tUnit\tDirection\tCalibration\tOffset"]
    blocks: list[bytes] = []
    for k, (name, (fwd, bwd)) in enumerate(channels.items()):
        si_unit, factor = _SI.get(units[name], (units[name], 1.0))
        direction = "both" if bwd is not None else "forward"
        info.append(f"\t{k}\t{name}\t{si_unit}\t{direction}\t1.000E+0\t0.000E+0")
        for arr, backward in ((fwd, False), (bwd, True)):
            if arr is None:
                continue
            img = np.asarray(arr, dtype=np.float64) * factor
            if scan_direction == "down":
                img = img[::-1, :]
            if backward:
                img = img[:, ::-1]
            blocks.append(np.ascontiguousarray(img, dtype=">f4").tobytes())
    entries.append(("DATA_INFO", "\n".join(info) + "\n"))
    text = "".join(f":{k}:\n{v}\n" for k, v in entries) + ":SCANIT_END:\n\n\n"
    out = Path(path)
    out.write_bytes(text.encode("latin-1") + _DATA_MARK + b"".join(blocks))
    return out
