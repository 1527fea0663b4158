"""Bluesky plans of autoscope (imaging, spectroscopy, tip conditioning, campaigns).

Plans load on first access, so importing this package stays light.
"""

from __future__ import annotations

import importlib

__all__ = [
    "raster_image",
    "point_spectrum",
    "spectra_at",
    "grid_spectroscopy",
    "condition_tip",
    "autonomous_campaign",
    "tip_watched_image",
]

_LAZY = {
    "raster_image": "autoscope.plans.imaging",
    "point_spectrum": "autoscope.plans.spectroscopy",
    "spectra_at": "autoscope.plans.spectroscopy",
    "grid_spectroscopy": "autoscope.plans.spectroscopy",
    "condition_tip": "autoscope.plans.tip",
    "autonomous_campaign": "autoscope.plans.campaign",
    "tip_watched_image": "autoscope.plans.tip_watch",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
