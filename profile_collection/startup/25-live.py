"""Live views of what the RunEngine measures: ``live_image``, ``live_spectra``, ``live_campaign``.

Uses ``RE`` from 00-base.py. At an interactive IPython prompt with a display
(an interactive matplotlib backend) and ``AUTOSCOPE_LIVE`` not ``"0"``, a
window draws each raster line by line, another the spectra as they arrive,
a third a campaign step by step (autoscope.live); each only queues documents
in the RunEngine's thread and draws on its window's timer. ``RE.unsubscribe`` them, or start with
``AUTOSCOPE_LIVE=0``, to turn them off. The queue server loads this file
without them.
"""

from autoscope.live import live_enabled, live_views
from autoscope.profile import in_interactive_ipython

if in_interactive_ipython() and live_enabled():
    live_image, live_spectra, live_campaign = live_views()
    RE.subscribe(live_image)
    RE.subscribe(live_spectra)
    RE.subscribe(live_campaign)
