"""ophyd devices of autoscope, one per instrument kind; each takes a backend.

Importing this package is light: ``SPM``, ``SafetyLimits`` and ``make_spm``
are loaded on first access, so ``import autoscope.devices.twin`` (pure numpy)
does not import ophyd.
"""

from __future__ import annotations

import importlib

__all__ = ["SPM", "SafetyLimits", "make_spm"]

_LAZY = {
    "SPM": "autoscope.devices.spm.device",
    "SafetyLimits": "autoscope.devices.spm.limits",
    "make_spm": "autoscope.devices.factories",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
