"""Conversion of the SI units that instrument files use to autoscope's units.

autoscope states lengths in nm and currents in pA (docs/decisions/0004-units.md);
Nanonis files store metres and amperes. Units other than ``m`` and ``A`` pass
through unchanged.
"""

from __future__ import annotations

import numpy as np

#: SI unit in a file -> (autoscope unit, factor to multiply the values with)
_CONVERSIONS: dict[str, tuple[str, float]] = {
    "m": ("nm", 1e9),
    "A": ("pA", 1e12),
    "m/s": ("nm/s", 1e9),
    "A/V": ("pA/V", 1e12),
}


def project_unit(unit: str) -> tuple[str, float]:
    """Return the autoscope unit for a file unit and the factor that converts to it.

    Parameters
    ----------
    unit : str
        Unit as written in the file, e.g. ``"m"``, ``"A"``, ``"V"``, ``"deg"``.

    Returns
    -------
    (str, float)
        The unit autoscope reports and the multiplicative factor (1.0 when the
        unit passes through unchanged).
    """
    return _CONVERSIONS.get(unit.strip(), (unit.strip(), 1.0))


def to_project_units(values: np.ndarray, unit: str) -> tuple[np.ndarray, str]:
    """Convert ``values`` given in ``unit`` to autoscope's unit for that quantity.

    Parameters
    ----------
    values : numpy.ndarray
        Values in the file's unit; the dtype is kept.
    unit : str
        The file's unit.

    Returns
    -------
    (numpy.ndarray, str)
        Converted values (a new array) and their unit.
    """
    new_unit, factor = project_unit(unit)
    arr = np.asarray(values)
    if factor == 1.0:
        return arr.copy(), new_unit
    return (arr * np.asarray(factor, dtype=arr.dtype)).astype(arr.dtype, copy=False), new_unit
