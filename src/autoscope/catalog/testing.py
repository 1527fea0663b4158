"""An in-process catalog for tests of any part of autoscope.

Same tree as the embedded server (SQLite catalog, zarr and SQLite storage,
root with the ``CatalogOfBlueskyRuns`` spec, API key), served in-process
through Tiled's ``Context.from_app``, so a test needs no port and no
subprocess. Use the context manager directly, or the pytest fixtures::

    # conftest.py (or a test module)
    pytest_plugins = ["autoscope.catalog.testing"]

    def test_something(catalog_client, catalog_writer):
        RE.subscribe(catalog_writer)
        ...
        run = catalog_client[uid]
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from autoscope.catalog import paths


@contextlib.contextmanager
def inprocess_catalog(folder):
    """Yield a writable client of an in-process catalog stored in ``folder``.

    Parameters
    ----------
    folder : str or path-like
        Data folder (created if missing); it may be reused to reopen a catalog.

    Yields
    ------
    bluesky_tiled_plugins.CatalogOfBlueskyRuns
        Root client; ``client[uid]`` is a BlueskyRun.
    """
    from tiled.client import Context, from_context

    from autoscope.catalog.app import build_app

    folder = Path(folder)
    paths.ensure_writable(folder)
    api_key = secrets.token_hex(16)
    context = Context.from_app(build_app(folder, api_key), api_key=api_key)
    try:
        yield from_context(context)
    finally:
        context.close()


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is a test dependency only
    pytest = None

if pytest is not None:

    @pytest.fixture
    def catalog_client(tmp_path):
        """A writable in-process catalog client (fresh per test)."""
        with inprocess_catalog(tmp_path / "catalog") as client:
            yield client

    @pytest.fixture
    def catalog_writer(catalog_client, tmp_path):
        """A :class:`~autoscope.catalog.writer.CatalogWriter` on ``catalog_client``."""
        from autoscope.catalog.writer import CatalogWriter

        writer = CatalogWriter(catalog_client, failed_dir=tmp_path / "catalog" / "failed")
        yield writer
        writer.close()
