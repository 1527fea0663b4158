"""autoscope.devices.nanonis: the Nanonis TCP backend of the SPM device.

- :mod:`.protocol`: the wire format (header, big-endian arguments, error trailer);
- :mod:`.client`: :class:`NanonisClient`, a socket client with timeouts and reconnects;
- :mod:`.backend`: :class:`NanonisSPM`, the :class:`~autoscope.devices.backend.SPMBackend`;
- :mod:`.fake`: :class:`FakeNanonis`, a fake controller on 127.0.0.1 with a twin behind it
  (tests, benchmarks and demos only).

Names are loaded on first access, so importing the package imports no twin.
"""

from __future__ import annotations

from autoscope._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "NanonisSPM": ".backend",
        "NanonisClient": ".client",
        "DEFAULT_PORT": ".client",
        "FakeNanonis": ".fake",
        "COMMANDS": ".protocol",
    },
)
