"""Fixtures of the STEM tests: a twin-backed STEM, a RunEngine writing to an in-process Tiled.

The catalog is autoscope's own (SQLite catalog, zarr/SQLite storage, CatalogOfBlueskyRuns
root) served in-process on 127.0.0.1; its data folder is kept so that stream files can be
written where the catalog reads them (:func:`autoscope.catalog.external.stream_dir`).
"""

from __future__ import annotations

import pytest
from bluesky import RunEngine

from autoscope.devices import STEMLimits, make_stem


@pytest.fixture(scope="session")
def catalog_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("stem-catalog")


@pytest.fixture(scope="session")
def catalog(catalog_folder):
    from autoscope.catalog.testing import inprocess_catalog

    with inprocess_catalog(catalog_folder) as client:
        yield client


@pytest.fixture(scope="session")
def RE(catalog):
    """A RunEngine writing every document to ``catalog`` through TiledWriter."""
    from bluesky_tiled_plugins import TiledWriter

    engine = RunEngine({}, call_returns_result=False)
    # max_array_size=0: every array to zarr (SQLite table storage cannot hold lists)
    engine.subscribe(TiledWriter(catalog, max_array_size=0))
    return engine


class DocCollector:
    def __init__(self):
        self.docs: list[tuple[str, dict]] = []

    def __call__(self, name, doc):
        self.docs.append((name, doc))

    def of(self, name: str) -> list[dict]:
        return [d for n, d in self.docs if n == name]


@pytest.fixture
def docs(RE):
    collector = DocCollector()
    token = RE.subscribe(collector)
    yield collector
    RE.unsubscribe(token)


#: Limits inside the twin's ranges, with a dose budget tests can step beyond.
LIMITS = STEMLimits(beam_current_pa=200.0, dose_per_area=1e7, dose_total=1e12)


@pytest.fixture
def stem():
    """A STEM on the nanoparticle twin (seed 0) with the test limits."""
    return make_stem("twin", sample="nanoparticles", seed=0, limits=LIMITS)
