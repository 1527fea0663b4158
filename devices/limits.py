"""The range check the instrument families' argument checks share.

Each family keeps its own ``check_real`` / ``check_int`` (what they accept as a number and
how they print it differ: the SPM prints ``0.5``, the STEM ``0.5`` as ``%g``) and its own
safety limits; the bounds test and its messages are the same for both and live here.
"""

from __future__ import annotations

from collections.abc import Callable

from autoscope.errors import ConfigurationError

__all__ = ["check_range"]


def check_range(
    name: str,
    v,
    *,
    low=None,
    high=None,
    units: str = "",
    low_inclusive: bool = True,
    fmt: Callable[[object], str] = str,
):
    """Return ``v`` after checking it lies in ``[low, high]`` (``(low, high]`` unless
    ``low_inclusive``); a bound left ``None`` is open.

    Raises
    ------
    ConfigurationError
        ``"<name> <v> <units> must be >= <low> <units>"`` (or ``>``, ``<=``), the numbers
        written by ``fmt``.
    """
    u = f" {units}" if units else ""
    if low is not None and (v < low or (v == low and not low_inclusive)):
        rel = ">=" if low_inclusive else ">"
        raise ConfigurationError(f"{name} {fmt(v)}{u} must be {rel} {fmt(low)}{u}")
    if high is not None and v > high:
        raise ConfigurationError(f"{name} {fmt(v)}{u} must be <= {fmt(high)}{u}")
    return v
