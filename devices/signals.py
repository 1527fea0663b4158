"""Signal classes of the SPM device.

Three kinds, all plain ophyd :class:`~ophyd.signal.Signal` subclasses that
describe themselves with ``units`` and ``dtype_numpy``:

- :class:`BackendSignal`: the value lives in the instrument (bias, setpoint,
  feedback); ``get`` asks the backend, ``put``/``set`` check the device's
  safety limits and then call the backend.
- :class:`SettingSignal`: a setting the device holds until it is used (scan
  frame, spectroscopy settings, tip-action parameters); ``put`` validates it.
- :class:`ReadoutSignal`: a value a measurement produced (line index,
  reported positions, instrument time); read-only to users, updated by its
  device after each trigger.

Puts and sets are synchronous: the backend call returns when the instrument
has done it (the twin counts instrument time instead of sleeping), and
``set`` returns a finished status. An error (a safety limit, an instrument
fault) is raised from ``set`` itself, before any status exists, so the
RunEngine hands the original exception to the plan.
"""

from __future__ import annotations

from collections.abc import Callable

from ophyd.signal import Signal
from ophyd.status import Status
from ophyd.utils.errors import ReadOnlyError

from autoscope.errors import ConfigurationError

__all__ = ["BackendSignal", "SettingSignal", "ReadoutSignal", "owner_spm", "finished_status"]

_JSON_DTYPE = {"f": "number", "i": "integer", "u": "integer", "b": "boolean", "U": "string"}


def owner_spm(obj):
    """The nearest ancestor of ``obj`` that holds a ``backend`` (the SPM device).

    Raises
    ------
    ConfigurationError
        If ``obj`` is not a component of an SPM device (a signal built or used
        on its own); the message names it.
    """
    node = obj.parent
    while node is not None:
        if getattr(node, "_is_spm_root", False):
            return node
        node = node.parent
    raise ConfigurationError(f"{obj.name!r} is not part of an SPM device")


def finished_status(obj) -> Status:
    """A status that is already finished successfully (for synchronous actions)."""
    st = Status(obj=obj)
    st.set_finished()
    return st


class _SPMSignalBase(Signal):
    """Common describe(): source, dtype, shape, dtype_numpy, units."""

    def __init__(self, *, units: str | Callable | None = None, dtype_numpy: str = "<f8", **kwargs):
        self._units = units
        self._dtype_numpy = dtype_numpy
        super().__init__(**kwargs)

    @property
    def units(self) -> str | None:
        """Units of the value; a callable ``units`` is resolved against the backend."""
        if callable(self._units):
            return self._units(owner_spm(self).backend)
        return self._units

    def describe(self):
        kind = _JSON_DTYPE[self._dtype_numpy.lstrip("<>|=")[0]]
        key = {"source": f"SPM:{self.dotted_name}", "dtype": kind, "shape": []}
        if kind != "string":
            key["dtype_numpy"] = self._dtype_numpy
        if self.units:
            key["units"] = self.units
        return {self.name: key}

    def set(self, value, *, timeout=None, settle_time=None, **kwargs):
        """Put ``value`` synchronously and return a finished status."""
        self.put(value)
        return finished_status(self)


class BackendSignal(_SPMSignalBase):
    """A value that lives in the backend, guarded by a safety-limit check.

    Parameters
    ----------
    getter, setter : str
        Names of the backend methods (``"get_bias"``, ``"set_bias"``).
    check : str, optional
        Name of a :class:`~autoscope.devices.spm.limits.SafetyLimits` method that
        validates a new value (``"check_bias"``); called with the value and,
        for the setpoint, its units.
    cast : callable, optional
        Converts the backend's value for readout (``float``, ``bool``).
    """

    def __init__(
        self,
        *,
        getter: str,
        setter: str | None = None,
        check: str | None = None,
        cast: Callable = float,
        **kwargs,
    ):
        self._getter, self._setter, self._check, self._cast = getter, setter, check, cast
        super().__init__(value=None, **kwargs)

    def get(self, **kwargs):
        value = self._cast(getattr(owner_spm(self).backend, self._getter)())
        self._readback = value
        return value

    def check_value(self, value):
        self._checked(value)

    def _checked(self, value):
        if self._setter is None:
            raise ReadOnlyError(f"{self.name} is read-only")
        if self._check is not None:
            spm = owner_spm(self)
            check = getattr(spm.limits, self._check)
            if self._check == "check_setpoint":
                return check(value, units=self.units)
            return check(value)
        if self._cast is bool and not isinstance(value, (bool, int)):
            raise TypeError(f"{self.name} must be a bool, got {value!r}")
        return self._cast(value)

    def put(self, value, *, timestamp=None, force=False, metadata=None, **kwargs):
        """Check ``value`` (always, also with ``force``), send it to the backend, store it."""
        value = self._checked(value)
        getattr(owner_spm(self).backend, self._setter)(value)
        super().put(value, timestamp=timestamp, force=True, metadata=metadata)


class SettingSignal(_SPMSignalBase):
    """A setting held by the device, validated on every put.

    Parameters
    ----------
    validator : callable
        ``validator(value) -> value``; raises (naming the value) when invalid.
    check : str, optional
        Name of a :class:`~autoscope.devices.spm.limits.SafetyLimits` method
        applied after ``validator`` on every put (``"check_coordinate"``).
    check_name : str, optional
        Name of the value in the check's error message (its ``what`` argument).
    """

    def __init__(
        self,
        *,
        validator: Callable,
        check: str | None = None,
        check_name: str | None = None,
        value=0.0,
        **kwargs,
    ):
        self._validator = validator
        self._check = check
        self._check_name = check_name
        super().__init__(value=validator(value), **kwargs)

    def _checked(self, value):
        value = self._validator(value)
        if self._check is not None:
            check = getattr(owner_spm(self).limits, self._check)
            value = check(value, what=self._check_name) if self._check_name else check(value)
        return value

    def check_value(self, value):
        self._checked(value)

    def put(self, value, *, timestamp=None, force=False, metadata=None, **kwargs):
        """Validate ``value`` (always, also with ``force``) and store it."""
        value = self._checked(value)
        super().put(value, timestamp=timestamp, force=True, metadata=metadata)


class ReadoutSignal(_SPMSignalBase):
    """A measured value; users cannot put it, the owning device updates it."""

    def __init__(self, *, value=float("nan"), **kwargs):
        super().__init__(value=value, **kwargs)

    def put(self, value, *, internal: bool = False, **kwargs):
        if not internal:
            raise ReadOnlyError(f"{self.name} is a measured value and cannot be set")
        super().put(value, force=True, **kwargs)

    def set(self, value, **kwargs):
        raise ReadOnlyError(f"{self.name} is a measured value and cannot be set")

    def update(self, value, timestamp: float | None = None) -> None:
        """Store a new measured value (for the owning device)."""
        self.put(value, internal=True, timestamp=timestamp)
