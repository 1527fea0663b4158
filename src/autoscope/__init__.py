"""autoscope: self-driving scanning probe and electron microscopes on Bluesky.

Subpackages:

- ``autoscope.devices``  ophyd devices, their backends and the simulated twins
- ``autoscope.plans``    Bluesky plans (imaging, spectroscopy, tip, campaigns)
- ``autoscope.agents``   active-learning agents and tip-state models
- ``autoscope.catalog``  the embedded Tiled catalog and its writer

Importing ``autoscope`` itself is cheap: nothing heavy is imported here.
"""

__version__ = "0.1.0"

from autoscope.errors import AutoscopeError, AutoscopeWarning  # noqa: E402

__all__ = ["AutoscopeError", "AutoscopeWarning", "__version__"]
