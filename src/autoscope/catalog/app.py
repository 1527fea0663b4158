"""The Tiled application that serves the embedded catalog of a data folder.

One function builds the catalog tree (SQLite catalog, zarr array storage,
DuckDB table storage lent to one thread at a time, an in-memory streaming
cache so that clients can subscribe to live runs) whose root carries the
``CatalogOfBlueskyRuns`` spec, and one wraps it in Tiled's ASGI app with a
single-user API key. The same tree is used by the background server,
``autoscope catalog serve`` and the in-process catalog of
:mod:`autoscope.catalog.testing`.
"""

from __future__ import annotations

from pathlib import Path

from autoscope.catalog import paths
from autoscope.catalog.tables import serialize

#: Specs of the catalog root; bluesky-tiled-plugins picks its
#: ``CatalogOfBlueskyRuns`` client class (and databroker 2 its APIs) from it.
ROOT_SPECS = [{"name": "CatalogOfBlueskyRuns", "version": "3.0"}]


def build_tree(folder: Path, tables_uri: str | None = None):
    """Return Tiled's catalog adapter for ``folder``, creating the catalog if needed.

    Parameters
    ----------
    folder : Path
        A writable data folder.
    tables_uri : str, optional
        Where the tables (event rows) are stored; default the folder's DuckDB file
        (``benchmarks/bench_catalog_floor.py`` measures a SQLite variant).

    Returns
    -------
    tiled.catalog.adapter.CatalogContainerAdapter
        The writable root node.
    """
    from tiled.catalog import from_uri
    from tiled.config import StreamingCacheConfig

    (folder / paths.ARRAY_DIR).mkdir(exist_ok=True)
    db = folder / paths.CATALOG_DB
    if not db.exists() or db.stat().st_size == 0:
        _create_catalog_db(db)
    tables_uri = tables_uri or f"duckdb:///{folder / paths.TABLES_DB}"
    serialize(tables_uri)  # Tiled shares one DuckDB connection among threads unguarded
    return from_uri(
        f"sqlite:///{db}",
        specs=ROOT_SPECS,
        writable_storage=[str(folder / paths.ARRAY_DIR), tables_uri],
        cache_config=StreamingCacheConfig(uri="memory").model_dump(),
    )


def _create_catalog_db(db: Path) -> None:
    """Create an empty, initialized catalog database at ``db``.

    Tiled initializes a catalog by running ``tiled catalog init`` in a
    subprocess (the alembic stamp must run synchronously), which costs a
    Python start and tiled's imports, seconds on a loaded 2-core machine, for
    every new data folder. The empty database it makes holds no path and no
    key, only the schema, its alembic stamp and the root node, so it is made
    once per tiled version in the user cache (``catalog-template/``) and
    copied; the copy is owner-only, as the rest of the folder.

    Raises
    ------
    CatalogError
        Tiled could not initialize the template (its last line of stderr).
    """
    import os
    import shutil
    import subprocess
    import sys

    import platformdirs
    import tiled

    from autoscope.errors import CatalogError

    cache = Path(platformdirs.user_cache_dir("autoscope")) / "catalog-template"
    template = cache / f"tiled-{tiled.__version__}.sqlite"
    if not template.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f".{template.name}.{os.getpid()}"
        partial.unlink(missing_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "tiled", "catalog", "init", f"sqlite:///{partial}"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise CatalogError(f"tiled could not initialize a catalog database: {last}")
        os.replace(partial, template)  # atomic: parallel processes each see a whole file
    partial = db.with_name(f".{db.name}.{os.getpid()}")
    shutil.copyfile(template, partial)
    partial.chmod(0o600)
    os.replace(partial, db)


def serialization_registry():
    """Tiled's serializers plus bluesky-tiled-plugins' JSON-seq export of a BlueskyRun.

    The latter is what ``run.documents()`` (databroker 2's document replay)
    asks the server for.
    """
    import copy

    from bluesky_tiled_plugins.exporters import json_seq_exporter
    from tiled.media_type_registration import default_serialization_registry

    registry = copy.deepcopy(default_serialization_registry)
    registry.register("BlueskyRun", "application/json-seq", json_seq_exporter)
    return registry


def build_app(folder: Path, api_key: str):
    """Return the ASGI app serving ``folder``'s catalog, guarded by ``api_key``."""
    from tiled.config import Authentication
    from tiled.server.app import build_app as tiled_build_app

    from autoscope.catalog.ingest import make_router

    app = tiled_build_app(
        build_tree(folder),
        authentication=Authentication(single_user_api_key=api_key),
        serialization_registry=serialization_registry(),
        # POST /api/v1/autoscope/documents: a batch of a run's documents in one request
        include_routers=[make_router()],
    )
    _settle_settings_override(app)
    return app


class _SettledOverrides(dict):
    """``app.dependency_overrides`` that FastAPI sees as empty, still readable by key.

    FastAPI re-analyses every dependency of a route on every request (the
    signatures of its whole dependency tree) whenever ``dependency_overrides``
    is non-empty. See :func:`_settle_settings_override`.
    """

    def __bool__(self) -> bool:
        return False


def _settle_settings_override(app) -> None:
    """Spare FastAPI the per-request analysis that tiled's one override costs.

    Tiled overrides only ``get_settings``, with a cached function that writes
    the app's settings into the process-wide cached ``Settings`` object and
    returns that same object. Once it has run, ``get_settings()`` returns
    exactly what the override would, so the override changes nothing, but its
    mere presence makes FastAPI rebuild the dependency tree of every request
    (about 100 ms a request on a loaded 2-core machine, most of a catalog
    write's cost). The mapping is kept (tiled reads
    ``app.dependency_overrides[get_settings]`` itself) but made falsy, which
    is what FastAPI tests. Anything else in the overrides leaves them as they are.
    """
    from tiled.server.settings import get_settings

    overrides = app.dependency_overrides
    if set(overrides) != {get_settings}:
        return
    if overrides[get_settings]() is not get_settings():
        return
    app.dependency_overrides = _SettledOverrides(overrides)
