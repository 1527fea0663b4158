"""Where the embedded catalog lives, and the small files it keeps there.

The data folder holds::

    catalog.db     SQLite catalog (Tiled's node and metadata database)
    data/          array storage (zarr) written by Tiled
    tables.db      SQLite storage for appendable tables (event rows)
    api_key        the server's API key, owner-only permissions (0600)
    server.json    {"uri", "pid", "port"} of the server running on this folder
    server.log     log of a server started in the background
    spool/         documents of runs not yet (completely) in the catalog, replayed once
    failed/        documents of runs the catalog refused

The folder is chosen by, in order: an explicit argument (the ``--data-dir``
flag), the environment variable ``AUTOSCOPE_DATA_DIR``, and
``platformdirs.user_data_dir("autoscope")/catalog``.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autoscope.errors import CatalogError

ENV_DATA_DIR = "AUTOSCOPE_DATA_DIR"
API_KEY_FILE = "api_key"
SERVER_FILE = "server.json"
LOG_FILE = "server.log"
CATALOG_DB = "catalog.db"
TABLES_DB = "tables.duckdb"
ARRAY_DIR = "data"
FAILED_DIR = "failed"
SPOOL_DIR = "spool"


@dataclass(frozen=True)
class ServerInfo:
    """A running catalog server.

    Attributes
    ----------
    uri : str
        Base address, e.g. ``http://127.0.0.1:40123``.
    api_key : str
        The key that the server accepts.
    pid : int
        Process id of the server.
    data_dir : Path
        The data folder it serves.
    """

    uri: str
    api_key: str
    pid: int
    data_dir: Path


def process_exists(pid: int) -> bool:
    """True if a process ``pid`` exists on this host (one of another user's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def add_data_dir_argument(parser, purpose: str = "") -> None:
    """The ``--data-dir`` option every command that reaches the catalog shares.

    ``purpose`` is appended to the help (what the command keeps there).
    """
    extra = f"; {purpose}" if purpose else ""
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"catalog folder (default: ${ENV_DATA_DIR} or the user data dir){extra}",
    )


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """Return the catalog's data folder (not created).

    Parameters
    ----------
    path : str or path-like, optional
        Explicit folder; wins over ``AUTOSCOPE_DATA_DIR`` and the default.

    Returns
    -------
    Path
        Absolute path of the folder.
    """
    if path is None:
        path = os.environ.get(ENV_DATA_DIR) or None
    if path is None:
        import platformdirs

        path = Path(platformdirs.user_data_dir("autoscope")) / "catalog"
    return Path(path).expanduser().absolute()


def ensure_writable(folder: Path) -> list[Path]:
    """Create ``folder`` if needed and prove it can be written by writing to it.

    Permission bits are not trusted (root ignores them); a probe file is
    written and removed instead.

    Parameters
    ----------
    folder : Path
        The data folder.

    Returns
    -------
    list of Path
        Folders this call created (outermost first), so that a failed start
        can remove them again.

    Raises
    ------
    CatalogError
        If the folder cannot be created or written.
    """
    created = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        remove_created(created)
        reason = exc.strerror or type(exc).__name__
        raise CatalogError(
            f"catalog folder {folder} cannot be written ({reason}); choose another with "
            f"--data-dir or {ENV_DATA_DIR}, or fix its permissions"
        ) from None
    return created


def remove_created(created: list[Path]) -> None:
    """Remove folders listed by :func:`ensure_writable` if they are empty."""
    for p in reversed(created):
        try:
            p.rmdir()
        except OSError:
            break


def read_api_key(folder: Path) -> str | None:
    """Return the stored API key of ``folder``, or None if there is none."""
    try:
        return (folder / API_KEY_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def create_api_key(folder: Path) -> str:
    """Return the folder's API key, generating it (mode 0600) if missing.

    The key is written to a temporary file first and renamed into place, so a
    crash never leaves a half-written key.
    """
    key = read_api_key(folder)
    if key:
        return key
    key = secrets.token_hex(32)
    fd, tmp = tempfile.mkstemp(prefix=".api_key-", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, key.encode())
    finally:
        os.close(fd)
    os.replace(tmp, folder / API_KEY_FILE)
    return key


def write_server_file(folder: Path, uri: str, pid: int, port: int) -> None:
    """Record the running server of ``folder`` (atomic replace)."""
    fd, tmp = tempfile.mkstemp(prefix=".server-", dir=folder)
    with os.fdopen(fd, "w") as f:
        json.dump({"uri": uri, "pid": pid, "port": port}, f)
    os.replace(tmp, folder / SERVER_FILE)


def read_server_file(folder: Path) -> dict | None:
    """Return the recorded server of ``folder`` or None (missing or unreadable)."""
    try:
        info = json.loads((folder / SERVER_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(info, dict) or not {"uri", "pid", "port"} <= info.keys():
        return None
    return info


def remove_server_file(folder: Path, pid: int | None = None) -> None:
    """Remove server.json, only if it belongs to ``pid`` when one is given."""
    info = read_server_file(folder)
    if info is None and not (folder / SERVER_FILE).exists():
        return
    if pid is not None and info is not None and info.get("pid") != pid:
        return
    try:
        (folder / SERVER_FILE).unlink()
    except FileNotFoundError:
        pass
