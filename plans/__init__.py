"""Bluesky plans of autoscope (imaging, spectroscopy, tip conditioning, campaigns).

Plans load on first access, so importing this package stays light.
"""

from __future__ import annotations

from autoscope._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "raster_image": "autoscope.plans.imaging",
        "point_spectrum": "autoscope.plans.spectroscopy",
        "spectra_at": "autoscope.plans.spectroscopy",
        "grid_spectroscopy": "autoscope.plans.spectroscopy",
        "condition_tip": "autoscope.plans.tip",
        "autonomous_campaign": "autoscope.plans.campaign",
        "tip_watched_image": "autoscope.plans.tip_watch",
    },
)
