"""The embedded Tiled catalog: where runs go and come back from.

With no configuration, autoscope serves a catalog kept in a local folder
(SQLite + array files) with Tiled on 127.0.0.1, on a free port, with an API
key kept in that folder. Public API (imported lazily; importing this package
is cheap)::

    data_dir(path=None) -> Path
    ensure_server(data_dir=None, port=None, timeout=60.0) -> ServerInfo
    serve(data_dir=None, port=None) -> int            # foreground
    stop_server(data_dir=None) -> bool
    connect(uri=None, api_key=None, data_dir=None)   -> Tiled client (CatalogOfBlueskyRuns)
    make_writer(client=None, *, data_dir=None, ...)  -> CatalogWriter (RunEngine callback)
    ServerInfo(uri, api_key, pid, data_dir)

See docs/decisions/0002-catalog.md for the design.
"""

from __future__ import annotations

from autoscope._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "data_dir": "autoscope.catalog.paths",
        "ServerInfo": "autoscope.catalog.paths",
        "ensure_server": "autoscope.catalog.server",
        "serve": "autoscope.catalog.server",
        "stop_server": "autoscope.catalog.server",
        "connect": "autoscope.catalog.client",
        "make_writer": "autoscope.catalog.writer",
        "CatalogWriter": "autoscope.catalog.writer",
    },
)
