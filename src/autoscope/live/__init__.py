"""Live views at the instrument: images and spectra drawn while they are measured.

Every view is a Bluesky callback that only queues documents; it draws in the
GUI's own loop (:meth:`~autoscope.live.view.LiveView.show`) or, headless, on
demand (:meth:`~autoscope.live.view.LiveView.render_png`). It reads documents
and never imports a plan.

- :class:`~autoscope.live.image.LiveImage`      a raster, line by line, trace and retrace
- :class:`~autoscope.live.spectra.LiveSpectra`  the last spectra; a grid's map filling in
- :class:`~autoscope.live.campaign.LiveCampaign` a campaign: points in order, the agent's maps,
  discovery curve, budget and instrument time left
- :func:`~autoscope.live.session.live_enabled`, :func:`~autoscope.live.session.live_views`
  what the profile calls (``AUTOSCOPE_LIVE=0`` turns the views off)
"""

from autoscope._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "LiveCampaign": "autoscope.live.campaign",
        "LiveImage": "autoscope.live.image",
        "LiveSpectra": "autoscope.live.spectra",
        "live_enabled": "autoscope.live.session",
        "live_views": "autoscope.live.session",
    },
)
