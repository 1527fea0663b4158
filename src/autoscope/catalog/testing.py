"""An in-process catalog for tests of any part of autoscope.

Same app as the embedded server (SQLite catalog, zarr and SQLite storage,
root with the ``CatalogOfBlueskyRuns`` spec, API key), served by uvicorn on
a thread of the test process, on a free 127.0.0.1 port: real HTTP, no
subprocess to manage, gone when the context exits. Use the context manager
directly, or the pytest fixtures::

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
import threading
from pathlib import Path

from autoscope.catalog import paths
from autoscope.catalog.app import build_app
from autoscope.catalog.client import open_client
from autoscope.catalog.server import bind_socket, owner_only, serving_lock
from autoscope.catalog.writer import CatalogWriter
from autoscope.errors import CatalogError


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

    Raises
    ------
    CatalogError
        Another server (in-process or not) serves ``folder``.
    """
    folder = Path(folder)
    paths.ensure_writable(folder)
    with serving_lock(folder):  # one server per folder, as for the embedded server
        owner_only(folder)
        with _serve(folder) as client:
            yield client


@contextlib.contextmanager
def _serve(folder: Path):
    import uvicorn

    api_key = _process_api_key()
    sock = bind_socket(0)
    uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _make_server(
        uvicorn.Config(build_app(folder, api_key), loop="asyncio", log_level="warning")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="inprocess-catalog", daemon=True
    )
    thread.start()
    try:
        if not server.ready.wait(60) or not server.started:
            raise CatalogError(f"in-process catalog at {uri} did not start")
        client = open_client(uri, api_key)
        yield client
        client.context.close()
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def _process_api_key() -> str:
    """The one API key of every in-process catalog of this process.

    Tiled's ``build_app`` writes ``single_user_api_key`` into its process-wide,
    cached settings object, so the last app built sets the key of every app
    already serving in the process: a catalog opened earlier would then refuse
    its own client's key (401). One key per process keeps them all valid.
    """
    global _API_KEY
    if _API_KEY is None:
        _API_KEY = secrets.token_hex(16)
    return _API_KEY


_API_KEY: str | None = None


def _make_server(config):
    """A uvicorn.Server that sets ``ready`` once its startup has finished (or failed)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            try:
                await super().startup(sockets=sockets)
            finally:
                self.ready.set()

    server = Server(config)
    server.ready = threading.Event()
    return server


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

        writer = CatalogWriter(catalog_client, spool_dir=tmp_path / "catalog" / "spool")
        yield writer
        writer.close()
