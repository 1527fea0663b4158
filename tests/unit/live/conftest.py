"""Fixtures of the live-view tests: twins, a real RunEngine, an in-process Tiled catalog.

Views draw on their own ``matplotlib.figure.Figure`` with the Agg canvas, so no test
touches pyplot or the process's matplotlib backend.
"""

from __future__ import annotations

import pytest
from bluesky import RunEngine

from autoscope.devices import make_spm

#: A small campaign on the PFM twin (8 x 8 candidates, short spectra).
SMALL_CAMPAIGN = dict(
    width=400.0, height=400.0, pixels=8, line_time=0.05, n_points=32, progress=False
)


@pytest.fixture(scope="session")
def catalog(tmp_path_factory):
    """A writable in-process Tiled catalog shared by these tests."""
    from autoscope.catalog.testing import inprocess_catalog

    with inprocess_catalog(tmp_path_factory.mktemp("catalog")) as client:
        yield client


@pytest.fixture
def RE(catalog):
    """A RunEngine writing every document to ``catalog`` (all arrays as zarr)."""
    from bluesky_tiled_plugins import TiledWriter

    engine = RunEngine({}, call_returns_result=True)
    engine.subscribe(TiledWriter(catalog, max_array_size=0))
    return engine


@pytest.fixture
def spm():
    """An STM twin on H:Si(100), seed 0."""
    return make_spm("twin", sample="si100_h", seed=0, name="spm")


@pytest.fixture
def pfm():
    """A PFM twin on the ferroelectric film, seed 0 (for campaigns)."""
    return make_spm("twin", sample="pfm_film", seed=0, name="pfm")


class AtEvent:
    """A callback that calls ``action(n)`` when the ``n``-th event of a run (1-based) arrives.

    Subscribed after a view, it sees each event after the view queued it, so what the
    action renders holds exactly the first ``n`` events: no timing involved.
    """

    def __init__(self, moments, action, stream=None):
        self.moments = set(moments)
        self.action = action
        self.count = 0
        self._descriptors = set()
        self._stream = stream

    def __call__(self, name, doc):
        if name == "start":
            self.count = 0
        elif name == "descriptor" and (self._stream is None or doc["name"] == self._stream):
            self._descriptors.add(doc["uid"])
        elif name == "event" and doc["descriptor"] in self._descriptors:
            self.count += 1
            if self.count in self.moments:
                self.action(self.count)
