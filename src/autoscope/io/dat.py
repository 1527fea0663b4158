"""Nanonis spectroscopy ``.dat`` files (bias, Z and generic sweeps): reader and writer.

The format is text:

- Header lines ``key<TAB>value<TAB>`` (``Experiment``, ``X (m)``, ``Y (m)``,
  ``Bias Spectroscopy>Sweep Start (V)``, ``Lock-in>Amplitude``, ...), possibly
  empty lines.
- A line ``[DATA]``.
- A tab-separated row of column names, each ``Name (unit)`` with optional
  suffixes: ``Current [bwd] (A)`` (backward sweep), ``Current (A) [filt]``
  (filtered copy), ``Current [AVG] (A)``, ``Current [00002] (A)`` (single
  sweeps of an averaged set).
- Rows of numbers, one per sweep point. The first column is the swept axis
  (``Bias calc (V)`` for bias spectroscopy, ``Z rel (m)`` for Z spectroscopy).

:func:`read_dat` returns every column in autoscope's units (m -> nm, A -> pA).
A channel's name is the column name without its unit; suffixes stay part of
the name (``"Current [bwd]"``, ``"Current [filt]"``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError, DatFormatError
from autoscope.io.units import project_unit

_COLUMN = re.compile(r"^(?P<name>.*?)\s*\((?P<unit>[^()]*)\)(?P<suffix>(?:\s*\[[^\]]*\])*)\s*$")
_DATA_TAG = "[DATA]"


@dataclass
class NanonisSpectrum:
    """One Nanonis spectroscopy file in autoscope's units.

    Attributes
    ----------
    source : str
        File it came from (a path, or ``archive!member``).
    experiment : str
        The header's ``Experiment`` (``"bias spectroscopy"``, ``"Z spectroscopy"``, ...).
    axis_name, axis_units : str
        Name and unit of the swept quantity (first column), e.g. ``"Bias calc"``, ``"V"``.
    axis : numpy.ndarray
        float64 ``(K,)``.
    channels : dict
        ``{name: (values float64 (K,), units)}`` for every other column.
    position : (float, float) or None
        Tip position ``(x, y)`` in nm from the header's ``X (m)``/``Y (m)``.
    header : dict
        Every header entry, ``{key: raw text}``.
    """

    source: str
    experiment: str
    axis_name: str
    axis_units: str
    axis: np.ndarray
    channels: dict[str, tuple[np.ndarray, str]]
    position: tuple[float, float] | None = None
    header: dict[str, str] = field(default_factory=dict)

    def channel(self, name: str) -> np.ndarray:
        """Values of channel ``name``; a clear error lists the channels if it is absent."""
        if name not in self.channels:
            raise ConfigurationError(
                f"{self.source}: no channel {name!r}; it has {sorted(self.channels)}"
            )
        return self.channels[name][0]

    def header_float(self, key: str, default: float | None = None) -> float | None:
        """A numeric header entry (``"Lock-in>Amplitude"``), or ``default`` if absent."""
        text = self.header.get(key)
        if text is None or not text.strip():
            return default
        try:
            return float(text.strip().replace(",", "."))
        except ValueError:
            return default


def split_column(title: str) -> tuple[str, str]:
    """Split a column title into channel name and unit.

    ``"Current (A)"`` -> ``("Current", "A")``; ``"Current (A) [filt]"`` ->
    ``("Current [filt]", "A")``; ``"Current [bwd] (A)"`` -> ``("Current [bwd]", "A")``;
    a title without a unit gives ``(title, "")``.
    """
    match = _COLUMN.match(title.strip())
    if not match:
        return title.strip(), ""
    name = match.group("name").strip()
    suffix = " ".join(s.strip() for s in re.findall(r"\[[^\]]*\]", match.group("suffix")))
    return (f"{name} {suffix}" if suffix else name), match.group("unit").strip()


def parse_dat(text: str, source: str = "<text>") -> NanonisSpectrum:
    """Parse the text of a Nanonis ``.dat`` spectroscopy file.

    Parameters
    ----------
    text : str
        Whole file content.
    source : str
        Name used in error messages.

    Returns
    -------
    NanonisSpectrum

    Raises
    ------
    DatFormatError
        If there is no ``[DATA]`` line, no column row, a row with the wrong
        number of values, or a value that is not a number (the message names
        the file and the line number).
    """
    lines = text.splitlines()
    try:
        data_at = next(i for i, line in enumerate(lines) if line.strip() == _DATA_TAG)
    except StopIteration:
        raise DatFormatError(f"{source}: no [DATA] line; not a Nanonis .dat file") from None
    header: dict[str, str] = {}
    for i, line in enumerate(lines[:data_at]):
        if not line.strip():
            continue
        parts = line.rstrip("\r\n").split("\t")
        key = parts[0].strip()
        if not key:
            raise DatFormatError(f"{source}: line {i + 1}: header line without a key: {line!r}")
        header[key] = "\t".join(p for p in parts[1:]).strip("\t ")
    if data_at + 1 >= len(lines) or not lines[data_at + 1].strip():
        raise DatFormatError(f"{source}: no column names after [DATA]")
    titles = [t for t in lines[data_at + 1].rstrip("\r\n").split("\t") if t.strip()]
    rows: list[list[float]] = []
    for i in range(data_at + 2, len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        parts = [p for p in line.split("\t") if p.strip()]
        if len(parts) != len(titles):
            raise DatFormatError(
                f"{source}: line {i + 1} has {len(parts)} values, "
                f"the column row names {len(titles)}"
            )
        try:
            rows.append([float(p.replace(",", ".")) for p in parts])
        except ValueError as exc:
            raise DatFormatError(f"{source}: line {i + 1}: not a number ({exc})") from None
    if not rows:
        raise DatFormatError(f"{source}: [DATA] section holds no rows")
    table = np.asarray(rows, dtype=np.float64)
    axis_name, axis_unit = split_column(titles[0])
    axis_new_unit, axis_factor = project_unit(axis_unit)
    channels: dict[str, tuple[np.ndarray, str]] = {}
    for k, title in enumerate(titles[1:], start=1):
        name, unit = split_column(title)
        new_unit, factor = project_unit(unit)
        if name in channels:
            raise DatFormatError(f"{source}: column {title!r} appears twice")
        channels[name] = (table[:, k] * factor, new_unit)
    position = None
    try:
        if "X (m)" in header and "Y (m)" in header:
            position = (float(header["X (m)"]) * 1e9, float(header["Y (m)"]) * 1e9)
    except ValueError:
        position = None
    return NanonisSpectrum(
        source=source,
        experiment=header.get("Experiment", ""),
        axis_name=axis_name,
        axis_units=axis_new_unit,
        axis=table[:, 0] * axis_factor,
        channels=channels,
        position=position,
        header=header,
    )


def read_dat(path: str | os.PathLike) -> NanonisSpectrum:
    """Read a Nanonis spectroscopy ``.dat`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    NanonisSpectrum
        Axis and every channel in autoscope's units.

    Raises
    ------
    DatFormatError
        If the file is malformed; the message names the file and the problem.
    FileNotFoundError
        If there is no such file.
    """
    p = Path(path)
    return parse_dat(p.read_bytes().decode("latin-1"), str(p))


_SI = {"nm": ("m", 1e-9), "pA": ("A", 1e-12)}


def write_dat(
    path: str | os.PathLike,
    axis: np.ndarray,
    channels: Mapping[str, tuple[np.ndarray, str]],
    *,
    axis_name: str = "Bias calc",
    axis_units: str = "V",
    experiment: str = "bias spectroscopy",
    position: tuple[float, float] | None = None,
    header: Mapping[str, str] | None = None,
) -> Path:
    """Write a spectrum as a Nanonis ``.dat`` file (SI units, tab-separated).

    The inverse of :func:`read_dat`. Values given in nm or pA are written in m
    or A. Used to export twin spectra for other software and to test the reader.

    Parameters
    ----------
    path : str or os.PathLike
        File to write.
    axis : numpy.ndarray
        ``(K,)`` values of the swept quantity.
    channels : mapping
        ``{name: (values (K,), units)}``.
    axis_name, axis_units, experiment : str
        First column's name and unit; the header's ``Experiment``.
    position : (float, float), optional
        Tip position in nm, written as ``X (m)`` and ``Y (m)``.
    header : mapping, optional
        More header entries.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ConfigurationError
        If a channel's length differs from the axis.
    """
    axis = np.asarray(axis, dtype=np.float64)
    if axis.ndim != 1 or axis.size == 0:
        raise ConfigurationError(f"write_dat: axis must be 1-D and non-empty, got {axis.shape}")
    entries: dict[str, str] = {"Experiment": experiment}
    if position is not None:
        entries["X (m)"] = f"{position[0] * 1e-9:.6E}"
        entries["Y (m)"] = f"{position[1] * 1e-9:.6E}"
    entries.update({k: str(v) for k, v in (header or {}).items()})
    a_unit, a_factor = _SI.get(axis_units, (axis_units, 1.0))
    titles = [f"{axis_name} ({a_unit})"]
    columns = [axis * a_factor]
    for name, (values, unit) in channels.items():
        v = np.asarray(values, dtype=np.float64)
        if v.shape != axis.shape:
            raise ConfigurationError(
                f"write_dat: channel {name!r} has shape {v.shape}, the axis {axis.shape}"
            )
        si_unit, factor = _SI.get(unit, (unit, 1.0))
        titles.append(f"{name} ({si_unit})")
        columns.append(v * factor)
    table = np.column_stack(columns)
    out = [f"{k}\t{v}\t" for k, v in entries.items()]
    out += ["", _DATA_TAG, "\t".join(titles)]
    out += ["\t".join(f"{x:.8E}" for x in row) for row in table]
    p = Path(path)
    p.write_text("\n".join(out) + "\n", encoding="latin-1")
    return p
