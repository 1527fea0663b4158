"""The plans, imported by name: every one of them is offered by the queue server."""

from bluesky.plan_stubs import mv, mvr
from bluesky.plans import count

from autoscope.plans import (
    autonomous_campaign,
    condition_tip,
    grid_spectroscopy,
    point_spectrum,
    raster_image,
    spectra_at,
    tip_watched_image,
)
