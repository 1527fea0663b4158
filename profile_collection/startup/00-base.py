"""The RunEngine, with metadata that persists between sessions on this machine.

``RE.md`` (operator, sample, proposal, ...) is kept in a folder beside the
catalog's data (``autoscope.profile.metadata_dir``); every run's start
document carries it. The queue server needs this global to be named ``RE``.
"""

from bluesky import RunEngine
from bluesky.utils import PersistentDict

from autoscope.profile import metadata_dir

RE = RunEngine()
RE.md = PersistentDict(str(metadata_dir()))
