"""The catalog client, the writer that streams every run into it, live feedback.

Uses ``RE`` from 00-base.py. ``catalog`` is the Tiled server named by
``AUTOSCOPE_CATALOG_URI`` / ``AUTOSCOPE_API_KEY``, else the embedded one that
autoscope starts on 127.0.0.1. The live table and the progress bar are for a
person at an IPython prompt; the queue server loads this file without them.
"""

from autoscope.catalog import connect, make_writer
from autoscope.profile import best_effort_callback, in_interactive_ipython

catalog = connect()
db = catalog  # the name NSLS-II profiles use for the same thing
tiled_writer = make_writer(catalog)
RE.subscribe(tiled_writer)

if in_interactive_ipython():
    from bluesky.utils import ProgressBarManager

    bec = best_effort_callback()  # plots only on an interactive matplotlib backend
    RE.subscribe(bec)
    RE.waiting_hook = ProgressBarManager()
