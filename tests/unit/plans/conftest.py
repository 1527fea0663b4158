"""Fixtures of the plan tests: a twin-backed SPM, a RunEngine writing to an in-process Tiled.

The catalog is autoscope's own tree (SQLite catalog, zarr/SQLite storage, root
with the ``CatalogOfBlueskyRuns`` spec) served in-process; the RunEngine
writes to it through ``bluesky_tiled_plugins.TiledWriter`` with
its default batching (events are written at the latest when the stop
document arrives, also for a failed run).
"""

from __future__ import annotations

import pytest
from bluesky import RunEngine

from autoscope.devices import SafetyLimits, make_spm

#: Limits tighter than the twin's hardware ranges, so tests can step beyond them.
LIMITS = SafetyLimits(
    bias=5.0, setpoint=5000.0, scan_range=400.0, dip_depth=2.0, pulse_voltage=8.0, pulse_width=0.5
)


@pytest.fixture(scope="session")
def catalog(tmp_path_factory):
    """A writable in-process Tiled catalog shared by the plan tests (each writes its own runs)."""
    from autoscope.catalog.testing import inprocess_catalog

    with inprocess_catalog(tmp_path_factory.mktemp("catalog")) as client:
        assert "CatalogOfBlueskyRuns" in [s.name for s in client.specs]
        yield client


@pytest.fixture(scope="session")
def RE(catalog):
    """A RunEngine that writes every document to ``catalog`` through TiledWriter."""
    from bluesky_tiled_plugins import TiledWriter

    engine = RunEngine({}, call_returns_result=False)
    # max_array_size=0: every array goes to zarr; TiledWriter's default keeps arrays of up
    # to 16 elements in the SQL table, which Tiled's SQLite storage cannot hold (list type).
    engine.subscribe(TiledWriter(catalog, max_array_size=0))
    return engine


class DocCollector:
    """Keeps every document the RunEngine emits while subscribed."""

    def __init__(self):
        self.docs: list[tuple[str, dict]] = []

    def __call__(self, name, doc):
        self.docs.append((name, doc))

    def of(self, name: str) -> list[dict]:
        return [d for n, d in self.docs if n == name]

    @property
    def start_uid(self) -> str:
        return self.of("start")[-1]["uid"]


@pytest.fixture
def docs(RE):
    """Documents of the runs of one test (subscribed for the test only)."""
    collector = DocCollector()
    token = RE.subscribe(collector)
    yield collector
    RE.unsubscribe(token)


@pytest.fixture
def spm():
    """An SPM device on a fresh STM twin (H:Si(100), seed 0) with the test limits."""
    return make_spm("twin", sample="si100_h", seed=0, name="spm", limits=LIMITS)


def _backend_state(spm) -> tuple:
    b = spm.backend
    return b.time(), tuple(b.get_position()), b.get_bias(), b.get_setpoint()


@pytest.fixture
def backend_state():
    """``backend_state(spm)``: instrument time, position, bias, setpoint (must not change
    when a plan is refused)."""
    return _backend_state
