"""Connect to the catalog: the embedded one, or a Tiled server named by address.

Order of precedence for where to connect: the ``uri`` argument, the
environment variable ``AUTOSCOPE_CATALOG_URI``, else the embedded server of
the data folder (started if needed). The API key likewise: argument,
``AUTOSCOPE_API_KEY``, else the data folder's key (when the address is
that folder's server, or a folder is named).
"""

from __future__ import annotations

import os

from autoscope.catalog import paths
from autoscope.catalog.server import ensure_server, healthy
from autoscope.errors import CatalogError

ENV_URI = "AUTOSCOPE_CATALOG_URI"
ENV_API_KEY = "AUTOSCOPE_API_KEY"


def connect(uri: str | None = None, api_key: str | None = None, data_dir=None):
    """Return a Tiled client of the catalog's root.

    Parameters
    ----------
    uri : str, optional
        Address of a Tiled server, e.g. ``http://127.0.0.1:8000``.
    api_key : str, optional
        Its API key.
    data_dir : str or path-like, optional
        Data folder of the embedded catalog, used when no address is given.

    Returns
    -------
    bluesky_tiled_plugins.CatalogOfBlueskyRuns
        (or a plain Tiled container if the server's root lacks that spec).
        ``client[uid]`` is a BlueskyRun.

    Raises
    ------
    CatalogError
        The server does not answer, or rejects the key.
    """
    uri = uri or os.environ.get(ENV_URI) or None
    api_key = api_key or os.environ.get(ENV_API_KEY) or None
    if uri is None:
        info = ensure_server(data_dir)
        uri = info.uri
        api_key = api_key or info.api_key
    elif api_key is None:
        # The embedded server named by its address: its key is in its folder.
        folder = paths.data_dir(data_dir)
        rec = paths.read_server_file(folder)
        if data_dir is not None or (rec is not None and rec["uri"] == uri.rstrip("/")):
            api_key = paths.read_api_key(folder)
    return open_client(uri.rstrip("/"), api_key)


def open_client(uri: str, api_key: str | None):
    """Open a Tiled client at ``uri``, turning connection failures into one clear line."""
    import httpx
    from tiled.client import from_uri

    if not healthy(uri):
        raise CatalogError(
            f"no Tiled server answers at {uri}; start one with `autoscope catalog serve` "
            f"or check {ENV_URI}"
        )
    try:
        client = from_uri(uri, api_key=api_key, remember_me=False)
    except httpx.HTTPStatusError as exc:
        detail = _detail(exc)
        if exc.response is not None and exc.response.status_code in (401, 403):
            raise CatalogError(
                f"API key rejected by {uri}: {_short(detail)}; use the key in the catalog "
                f"folder's api_key file or set {ENV_API_KEY}"
            ) from None
        raise CatalogError(f"the Tiled server at {uri} answered {_short(str(exc))}") from None
    except httpx.HTTPError as exc:
        raise CatalogError(
            f"no Tiled server answers at {uri} ({exc}); start one with `autoscope catalog serve`"
        ) from None
    except RuntimeError as exc:  # tiled: "This server requires API key authentication"
        if "API key" not in str(exc):
            raise
        if api_key:  # tiled's client did not accept the key as a credential
            raise CatalogError(
                f"API key rejected by {uri}: not a valid key; use the key in the catalog "
                f"folder's api_key file or set {ENV_API_KEY}"
            ) from None
        raise CatalogError(
            f"the Tiled server at {uri} needs an API key; pass one or set {ENV_API_KEY}"
        ) from None
    if _in_re_worker():
        # an RE Worker running IPython counts as interactive to Tiled, which would draw
        # Rich progress bars of multi-chunk reads into the RE Manager's log
        client.context.show_progress = False
    return client


def _in_re_worker() -> bool:
    """True inside a bluesky-queueserver RE Worker (the queue server is an optional extra)."""
    try:
        from bluesky_queueserver import is_re_worker_active
    except ImportError:
        return False
    return bool(is_re_worker_active())


def _detail(exc) -> str:
    response = getattr(exc, "response", None)
    if response is None:
        return str(exc)
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text.strip() or str(exc)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
