"""Fixtures of the Nanonis tests: a fake controller on 127.0.0.1 with a twin behind it.

``target`` runs the protocol suite against the fake and, when
``AUTOSCOPE_NANONIS_HOST`` (and optionally ``AUTOSCOPE_NANONIS_PORT``) is set,
against that real controller too.
"""

from __future__ import annotations

import os

import pytest

from autoscope.devices.nanonis.backend import NanonisSPM
from autoscope.devices.nanonis.fake import FakeNanonis
from autoscope.devices.twin import TwinSPM

QUIET = {"drift": 0.0, "creep": 0.0, "hysteresis": 0.0, "tip_change_rate": 0.0}


@pytest.fixture
def fake():
    """A started fake controller driving an H:Si(100) twin (seed 0, no drift or tip changes)."""
    with FakeNanonis(TwinSPM("si100_h", seed=0, **QUIET)) as server:
        yield server


@pytest.fixture
def nanonis(fake):
    """A NanonisSPM connected to ``fake`` (no polling delay, short timeout, no reconnect wait)."""
    backend = NanonisSPM(fake.host, fake.port, timeout=5.0, poll_interval=0.0, connect_delay=0.0)
    yield backend
    backend.close()


@pytest.fixture(params=["fake", "real"])
def target(request):
    """(backend, fake or None): the protocol suite's subject."""
    if request.param == "real":
        host = os.environ.get("AUTOSCOPE_NANONIS_HOST")
        if not host:
            pytest.skip("set AUTOSCOPE_NANONIS_HOST (and _PORT) to run against a controller")
        port = int(os.environ.get("AUTOSCOPE_NANONIS_PORT", "6501"))
        backend = NanonisSPM(host, port, timeout=10.0)
        yield backend, None
        backend.close()
    else:
        server = request.getfixturevalue("fake")
        backend = NanonisSPM(server.host, server.port, timeout=5.0, poll_interval=0.0)
        yield backend, server
        backend.close()
