"""Start, find and stop the catalog server of a data folder.

The server is Tiled, bound to 127.0.0.1 only, on a free port (or the one
asked for), accepting the API key kept in the folder. While it runs,
``server.json`` in the folder says where it is; it is removed when the server
stops. :func:`ensure_server` starts one in the background (a detached
``python -m autoscope.catalog.server`` process) unless one already answers;
:func:`serve` runs one in the foreground.

Everything that can be checked before starting (folder writable, port free,
no other server on the folder) is checked before anything is written, and a
failed start removes what it created, so a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import errno
import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from autoscope.catalog import paths
from autoscope.catalog.app import build_app
from autoscope.catalog.paths import ServerInfo
from autoscope.errors import CatalogError

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
LOCK_FILE = ".server.lock"  # serialises starting and stopping (held briefly)
SERVE_LOCK = ".serve.lock"  # held by the one process serving the folder, while it serves

# Popen objects of servers this process started, so that stop_server can reap them.
_children: dict[int, subprocess.Popen] = {}


def bind_socket(port: int | None) -> socket.socket:
    """Bind a listening TCP socket on 127.0.0.1 (``port`` None or 0: a free one).

    Raises
    ------
    CatalogError
        If the port is in use or cannot be bound.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Accepted connections inherit TCP_NODELAY on Linux; uvicorn sets it only on
    # sockets it binds itself. Without it a response written in two pieces
    # (headers, body) waits for the client's delayed ACK: ~40 ms on every request
    # after the first of a kept-alive connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((HOST, int(port or 0)))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CatalogError(
                f"port {port} on {HOST} is in use; choose another with --port, or leave "
                "--port out to take a free one"
            ) from None
        raise CatalogError(f"cannot listen on {HOST}:{port} ({exc.strerror})") from None
    sock.listen(128)
    return sock


def healthy(uri: str, timeout: float = 2.0) -> bool:
    """Return True if a Tiled server answers its health check at ``uri``."""
    import httpx

    try:
        r = httpx.get(f"{uri}/healthz", timeout=timeout, trust_env=False)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def _pid_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    return paths.process_exists(pid) and not _zombie(pid)


def _zombie(pid: int) -> bool:
    """True if ``pid`` has exited and waits for its parent to reap it (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def running_server(folder: Path) -> ServerInfo | None:
    """Return the live server recorded in ``folder``'s server.json, or None.

    A stale server.json (process gone or not answering) is removed.
    """
    info = paths.read_server_file(folder)
    if info is None:
        return None
    if _pid_alive(info["pid"]) and healthy(info["uri"]):
        key = paths.read_api_key(folder)
        return ServerInfo(uri=info["uri"], api_key=key or "", pid=info["pid"], data_dir=folder)
    logger.info("removing stale %s (pid %s)", folder / paths.SERVER_FILE, info["pid"])
    paths.remove_server_file(folder, pid=info["pid"])
    return None


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """Serialise starting and stopping servers of one folder across processes."""
    with open(folder / LOCK_FILE, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def serving_lock(folder: Path):
    """Hold the folder's serving lock while the block runs; one server per folder.

    Taken before anything else of the folder is touched (catalog, key, port),
    with ``flock`` on ``.serve.lock``, which then holds the holder's pid.

    Raises
    ------
    CatalogError
        Another process serves the folder (or is starting to): one line that
        names it and how to stop it.
    """
    fd = os.open(folder / SERVE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _read_pid(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise CatalogError(f"cannot lock {folder / SERVE_LOCK} ({exc.strerror})") from None
        rec = paths.read_server_file(folder)
        if rec is not None and rec.get("pid") == holder:
            state = f"already runs at {rec['uri']} (pid {holder})"
        else:
            state = f"is starting (pid {holder})"
        raise CatalogError(
            f"a catalog server for {folder} {state}; use it, or stop it with "
            "`autoscope catalog stop`"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def serving_pid(folder: Path) -> int | None:
    """Pid of the process holding ``folder``'s serving lock, or None if nobody does."""
    try:
        fd = os.open(folder / SERVE_LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_pid(fd)
        return None
    finally:
        os.close(fd)


def owner_only(folder: Path) -> None:
    """Make the data folder readable by its owner only (0700; files in it 0600).

    A folder already 0700 is left as it is; one that is not (made by an older
    version, 0755 with 0644 files) is tightened throughout.
    """
    try:
        if stat.S_IMODE(folder.stat().st_mode) == 0o700:
            return
        folder.chmod(0o700)
        for root, dirs, files in os.walk(folder):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o700)
            for f in files:
                path = os.path.join(root, f)
                if not os.path.islink(path):
                    os.chmod(path, 0o600)
    except OSError as exc:
        raise CatalogError(
            f"cannot make catalog folder {folder} owner-only ({exc.strerror}); fix its "
            "permissions or choose another with --data-dir"
        ) from None


def _log_config(log_file: Path | None) -> dict:
    from tiled.server.logging_config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for handler in ("access", "default"):
        config["formatters"][handler]["use_colors"] = False
        if log_file is not None:
            h = config["handlers"][handler]
            h["class"] = "logging.FileHandler"
            del h["stream"]
            h["filename"] = str(log_file)
    # One access line per request is too much for a scan that writes every line.
    config["loggers"]["uvicorn.access"]["level"] = "WARNING"
    return config


def _prepare(data_dir, port, stack) -> tuple[Path, list[Path], socket.socket]:
    """Checks shared by both ways of starting: folder, no other server, port.

    Takes the folder's serving lock (into ``stack``) before anything else.
    """
    folder = paths.data_dir(data_dir)
    created = paths.ensure_writable(folder)
    # Nothing is removed if another process holds the folder: it may have made it.
    stack.enter_context(serving_lock(folder))
    owner_only(folder)
    other = running_server(folder)
    if other is not None:
        raise CatalogError(
            f"a catalog server for {folder} already runs at {other.uri} (pid {other.pid}); "
            "use it, or stop it with `autoscope catalog stop`"
        )
    try:
        sock = bind_socket(port)
    except CatalogError:
        if created:  # a folder made for this attempt, held by us: leave no trace
            (folder / SERVE_LOCK).unlink(missing_ok=True)
            paths.remove_created(created)
        raise
    return folder, created, sock


def serve(
    data_dir=None,
    port: int | None = None,
    *,
    log_file: Path | None = None,
    on_ready: Callable[[ServerInfo], None] | None = None,
) -> int:
    """Run the catalog server of ``data_dir`` in the foreground until stopped.

    Ctrl-C or SIGTERM stops it; server.json is removed on the way out.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The data folder (see :func:`autoscope.catalog.data_dir`).
    port : int, optional
        Port on 127.0.0.1; a free one when left out.
    log_file : Path, optional
        Write the server's log there instead of to the terminal.
    on_ready : callable, optional
        Called with the :class:`ServerInfo` once the server answers.

    Returns
    -------
    int
        0 after a clean stop.
    """
    with contextlib.ExitStack() as stack:
        return _serve(data_dir, port, log_file, on_ready, stack)


def _serve(data_dir, port, log_file, on_ready, stack) -> int:
    import uvicorn

    folder, created, sock = _prepare(data_dir, port, stack)
    # Every file the server creates (catalog, tables, arrays) is the owner's only,
    # as the API key is: the data must not be readable without the key.
    old_umask = os.umask(0o077)
    stack.callback(os.umask, old_umask)
    key_existed = paths.read_api_key(folder) is not None
    try:
        api_key = paths.create_api_key(folder)
        app = build_app(folder, api_key)
    except BaseException:
        sock.close()
        if created:
            shutil.rmtree(created[0], ignore_errors=True)
        elif not key_existed:
            (folder / paths.API_KEY_FILE).unlink(missing_ok=True)
        raise
    bound_port = sock.getsockname()[1]
    uri = f"http://{HOST}:{bound_port}"

    class _Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit:
                paths.write_server_file(folder, uri, os.getpid(), bound_port)
                logger.info("catalog of %s served at %s", folder, uri)
                if on_ready is not None:
                    on_ready(ServerInfo(uri=uri, api_key=api_key, pid=os.getpid(), data_dir=folder))

        async def shutdown(self, sockets=None):
            paths.remove_server_file(folder, pid=os.getpid())
            await super().shutdown(sockets=sockets)

    config = uvicorn.Config(app, loop="asyncio", log_config=_log_config(log_file))
    server = _Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        paths.remove_server_file(folder, pid=os.getpid())
        sock.close()
    return 0


def ensure_server(data_dir=None, port: int | None = None, timeout: float = 60.0) -> ServerInfo:
    """Return the server of ``data_dir``, starting one in the background if none answers.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The data folder (see :func:`autoscope.catalog.data_dir`).
    port : int, optional
        Port for a new server on 127.0.0.1; a free one when left out. Ignored
        when a server is already running.
    timeout : float
        Seconds to wait for a new server to answer.

    Returns
    -------
    ServerInfo

    Raises
    ------
    CatalogError
        Folder not writable, port in use, or the server did not come up (the
        last line of its log is quoted).
    """
    folder = paths.data_dir(data_dir)
    created = paths.ensure_writable(folder)
    try:
        with _folder_lock(folder):
            return _start_locked(folder, port, timeout, keep_log=not created)
    except BaseException:
        if created:  # a folder made just now for this attempt: leave no trace
            shutil.rmtree(created[0], ignore_errors=True)
        raise


def _start_locked(folder: Path, port: int | None, timeout: float, keep_log: bool) -> ServerInfo:
    info = running_server(folder)
    if info is not None:
        return info
    if port:
        bind_socket(port).close()  # a clear error now rather than in the log
    key_existed = paths.read_api_key(folder) is not None
    api_key = paths.create_api_key(folder)
    log_file = folder / paths.LOG_FILE
    cmd = [sys.executable, "-m", "autoscope.catalog.server", "--data-dir", str(folder)]
    if port:
        cmd += ["--port", str(port)]
    cmd += ["--log-file", str(log_file)]
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _children[proc.pid] = proc
    deadline = time.monotonic() + timeout
    while True:
        rec = paths.read_server_file(folder)
        if rec is not None and rec["pid"] == proc.pid and healthy(rec["uri"]):
            return ServerInfo(uri=rec["uri"], api_key=api_key, pid=proc.pid, data_dir=folder)
        failed = proc.poll() is not None
        if failed or time.monotonic() > deadline:
            if not failed:
                _terminate(proc.pid, 5.0)
            paths.remove_server_file(folder, pid=proc.pid)
            if not key_existed:
                (folder / paths.API_KEY_FILE).unlink(missing_ok=True)
            why = _last_line(log_file) if failed else f"no answer within {timeout:g} s"
            where = f"; see {log_file}" if keep_log else ""
            raise CatalogError(f"the catalog server for {folder} did not start ({why}){where}")
        time.sleep(0.1)  # polling interval while the server starts


def _last_line(log_file: Path) -> str:
    """The last exception line of a log (``SomeError: message``), else its last line."""
    try:
        lines = [ln.strip() for ln in log_file.read_text(errors="replace").splitlines()]
    except OSError:
        return "no log"
    lines = [ln for ln in lines if ln]
    errors = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b[^:]*: \S", ln)]
    line = (errors or lines or ["no log"])[-1]
    return line if len(line) <= 200 else line[:197] + "..."


def _terminate(pid: int, timeout: float) -> bool:
    """SIGTERM ``pid`` and wait up to ``timeout`` s for it to exit; True if it did."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    child = _children.pop(pid, None)
    if child is not None:
        try:
            child.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            _children[pid] = child
            return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def stop_server(data_dir=None, timeout: float = 15.0) -> bool:
    """Stop the server of ``data_dir`` if one runs.

    Returns
    -------
    bool
        True if a server was stopped, False if none was running.

    Raises
    ------
    CatalogError
        If the server did not exit within ``timeout`` seconds.
    """
    folder = paths.data_dir(data_dir)
    info = paths.read_server_file(folder)
    pid = info["pid"] if info is not None else None
    holder = serving_pid(folder)
    if holder is not None and holder != pid:
        pid = holder  # the process that holds the folder (starting, or server.json lost)
    if pid is None:
        return False
    if not _pid_alive(pid):
        paths.remove_server_file(folder, pid=pid)
        return False
    if not _terminate(pid, timeout):
        raise CatalogError(
            f"the catalog server of {folder} (pid {pid}) did not stop within {timeout:g} s; "
            f"stop it with `kill {pid}`"
        )
    paths.remove_server_file(folder, pid=pid)
    return True


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autoscope.catalog.server")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--log-file", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.log_file is not None:
        logging.basicConfig(filename=args.log_file, level=logging.INFO)
    try:
        return serve(args.data_dir, args.port, log_file=args.log_file)
    except CatalogError as exc:
        print(f"autoscope catalog server: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_main())
