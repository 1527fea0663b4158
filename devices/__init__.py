"""ophyd devices of autoscope, one per instrument kind; each takes a backend.

Importing this package is light: ``SPM``, ``SafetyLimits``, ``make_spm``, ``STEM``,
``STEMLimits`` and ``make_stem`` are loaded on first access, so
``import autoscope.devices.twin`` (pure numpy) does not import ophyd.
"""

from __future__ import annotations

from autoscope._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "SPM": "autoscope.devices.spm.device",
        "SafetyLimits": "autoscope.devices.spm.limits",
        "make_spm": "autoscope.devices.factories",
        "STEM": "autoscope.devices.stem.device",
        "STEMLimits": "autoscope.devices.stem.limits",
        "make_stem": "autoscope.devices.factories",
    },
)
