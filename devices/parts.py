"""ophyd parts the instrument families (``spm/``, ``stem/``) build their devices from.

What is the same in an SPM and a STEM device, whatever the instrument:

- :func:`setting` / :func:`readout`: the components of a setting (validated on put, kind
  ``config``) and of a value a measurement produced (kind ``normal``); a family passes
  its own signal class (the STEM's name the STEM in their descriptors).
- :func:`array_key`: the descriptor of an array data key (shape, dtype, ``dims``, units).
- :class:`StateConfig`: a readout's configuration includes the state of the device it
  was measured under (the siblings named in ``_state_attrs``).
- :class:`InstrumentClock`: the backend's clock, read-only.
- :class:`PositionPairCheck`: a probe position ``(x, y)`` nm, checked against the
  device's limits (``limits.check_position``) before anything moves.
"""

from __future__ import annotations

from collections import OrderedDict

from ophyd import Component as Cpt

from autoscope.devices.signals import ReadoutSignal, SettingSignal, _SPMSignalBase, owner_spm
from autoscope.errors import ConfigurationError

__all__ = [
    "InstrumentClock",
    "PositionPairCheck",
    "StateConfig",
    "array_key",
    "readout",
    "setting",
]


def setting(
    validator,
    value,
    units="",
    dtype_numpy="<f8",
    kind="config",
    *,
    signal: type = SettingSignal,
    **kw,
):
    """A component holding a setting: ``signal(validator=..., value=..., ...)``."""
    return Cpt(
        signal,
        validator=validator,
        value=value,
        units=units,
        dtype_numpy=dtype_numpy,
        kind=kind,
        **kw,
    )


def readout(units: str = "", dtype_numpy: str = "<f8", *, signal: type = ReadoutSignal, **kw):
    """A component holding a value a measurement produced (kind ``normal``)."""
    return Cpt(signal, units=units, dtype_numpy=dtype_numpy, kind="normal", **kw)


def array_key(source: str, shape, units: str, dtype_numpy: str, dims) -> dict:
    """The descriptor of an array data key; ``units`` is left out when empty."""
    key = {
        "source": source,
        "dtype": "array",
        "shape": [int(s) for s in shape],
        "dtype_numpy": dtype_numpy,
        "dims": list(dims),
    }
    if units:
        key["units"] = units
    return key


class StateConfig:
    """Adds the device's state (the siblings named in ``_state_attrs``) to a readout's
    configuration, so it lands in the event descriptor."""

    _state_attrs: tuple = ()

    def _state_objects(self):
        device = owner_spm(self)
        return [getattr(device, a) for a in self._state_attrs]

    def read_configuration(self):
        out = OrderedDict(super().read_configuration())
        for obj in self._state_objects():
            out.update(obj.read_configuration())
        return out

    def describe_configuration(self):
        out = OrderedDict(super().describe_configuration())
        for obj in self._state_objects():
            out.update(obj.describe_configuration())
        return out


class InstrumentClock(_SPMSignalBase):
    """Read-only: the backend's clock in instrument seconds."""

    def __init__(self, **kwargs):
        super().__init__(value=float("nan"), units="s", **kwargs)

    def get(self, **kwargs):
        value = float(owner_spm(self).backend.time())
        self._readback = value
        return value

    def put(self, value, **kwargs):
        raise ConfigurationError(f"{self.name} is the instrument clock and cannot be set")


class PositionPairCheck:
    """``check_value`` of a probe position: a pair ``(x, y)`` nm inside the device's limits."""

    def check_value(self, value, **kwargs):
        """Raise (naming the value) unless ``value`` is an (x, y) inside the scan range."""
        self._checked(value)

    def _checked(self, value) -> tuple[float, float]:
        try:
            x, y = value
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"probe position must be a pair (x, y) in nm, got {value!r}"
            ) from None
        return owner_spm(self).limits.check_position(x, y, what="probe position")
