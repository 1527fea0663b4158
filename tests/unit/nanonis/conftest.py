"""Fixtures of the Nanonis tests: a fake controller on 127.0.0.1 with a twin behind it.

``target`` runs the protocol suite against the fake and, when
``AUTOSCOPE_NANONIS_HOST`` (and optionally ``AUTOSCOPE_NANONIS_PORT``) is set,
against that real controller too, with the lab's channel names and timeout from
its ``spm.toml`` (``autoscope.profile.spm_backend_options``). ``catalog``, ``RE``
and ``make`` run plans through the Nanonis backend: a real RunEngine writing to an
in-process Tiled catalog, and SPM devices on the fake. ``tiny_weights`` (tests/conftest.py)
is a tip classifier trained once per test session on the twin.
"""

from __future__ import annotations

import os

import pytest
from bluesky import RunEngine
from bluesky_tiled_plugins import TiledWriter

from autoscope.catalog.testing import inprocess_catalog
from autoscope.devices import SafetyLimits, make_spm
from autoscope.devices.nanonis.backend import NanonisSPM
from autoscope.devices.nanonis.fake import FakeNanonis
from autoscope.devices.twin import TwinSPM
from autoscope.profile import spm_backend_options

QUIET = {"drift": 0.0, "creep": 0.0, "hysteresis": 0.0, "tip_change_rate": 0.0}
LIMITS = SafetyLimits(bias=5.0, scan_range=400.0, pulse_voltage=8.0, pulse_width=0.5)


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
        # the lab's spm.toml (channel names, timeout) and environment, as the profile reads them
        options = spm_backend_options({**os.environ, "AUTOSCOPE_SPM_BACKEND": "nanonis"})
        options.pop("backend")
        options.pop("limits", None)  # the device's; the suite talks to the backend
        backend = NanonisSPM(**options)
        yield backend, None
        backend.close()
    else:
        server = request.getfixturevalue("fake")
        backend = NanonisSPM(server.host, server.port, timeout=5.0, poll_interval=0.0)
        yield backend, server
        backend.close()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """One in-process Tiled catalog per test module (each test writes its own runs)."""
    with inprocess_catalog(tmp_path_factory.mktemp("catalog")) as client:
        yield client


@pytest.fixture
def RE(catalog):
    """A RunEngine whose documents go to ``catalog``."""
    engine = RunEngine({}, call_returns_result=False)
    engine.subscribe(TiledWriter(catalog, max_array_size=0))
    return engine


@pytest.fixture
def make(fake):
    """``make(timeout=5.0)``: an SPM device on ``fake`` with LIMITS; closed after the test."""
    made = []

    def _make(timeout=5.0):
        spm = make_spm(
            "nanonis",
            host=fake.host,
            port=fake.port,
            timeout=timeout,
            poll_interval=0.0,
            connect_delay=0.0,
            limits=LIMITS,
        )
        made.append(spm)
        return spm

    yield _make
    for spm in made:
        spm.backend.close()
