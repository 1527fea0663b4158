"""The embedded catalog server as users meet it: a real Tiled process on 127.0.0.1.

Writes runs through a real RunEngine and the background TiledWriter callback,
restarts the server and reads them back; runs ``autoscope catalog serve`` in
the foreground and stops it with Ctrl-C; checks the bad-input messages of a
real server (wrong API key, port in use). Every server started here is
stopped, and each test checks that its process is gone.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.catalog import connect, ensure_server, make_writer, paths, stop_server
from autoscope.catalog.server import healthy
from autoscope.errors import CatalogError

pytestmark = pytest.mark.integration


def wait_for(condition, *, timeout: float, what: str, proc=None) -> None:
    """Poll ``condition`` until true; fail after ``timeout`` s or if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true after {timeout} s")
        time.sleep(0.05)  # polling interval, not a timing assumption


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Frames:
    """Readable: a 32x32 float32 frame and a 128 px float32 line per read (seeded)."""

    name = "cam"
    parent = None

    def __init__(self, seed=7):
        self.rng = np.random.default_rng(seed)
        self.frames, self.lines = [], []

    def describe(self):
        return {
            "cam_image": {"source": "sim://cam/image", "dtype": "array", "dtype_numpy": "<f4",
                          "shape": [32, 32], "units": "pA"},
            "cam_line": {"source": "sim://cam/line", "dtype": "array", "dtype_numpy": "<f4",
                         "shape": [128], "units": "nm"},
        }  # fmt: skip

    def read(self):
        frame = self.rng.normal(size=(32, 32)).astype(np.float32)
        line = self.rng.normal(size=128).astype(np.float32)
        self.frames.append(frame.copy())
        self.lines.append(line.copy())
        now = time.time()
        return {"cam_image": {"value": frame, "timestamp": now},
                "cam_line": {"value": line, "timestamp": now}}  # fmt: skip


def frames_plan(det, n):
    @bpp.run_decorator(md={"plan_name": "frames", "sample": "HOPG"})
    def inner():
        for _ in range(n):
            yield from bps.trigger_and_read([det])

    return (yield from inner())


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "catalog"
    yield d
    info = paths.read_server_file(d)
    stop_server(d)
    if info is not None:
        wait_for(lambda: pid_gone(info["pid"]), timeout=15, what="server process gone")


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_runs_survive_a_restart_with_their_dtypes(folder):
    info = ensure_server(folder)
    assert info.uri.startswith("http://127.0.0.1:")
    assert stat.S_IMODE(os.stat(folder / paths.API_KEY_FILE).st_mode) == 0o600
    assert ensure_server(folder) == info  # the running one is reused
    client = connect(data_dir=folder)
    writer = make_writer(client, data_dir=folder)
    RE = RunEngine({})
    RE.subscribe(writer)
    det = Frames()
    (uid,) = RE(frames_plan(det, 4))
    writer.close()

    assert stop_server(folder)
    wait_for(lambda: pid_gone(info.pid), timeout=15, what="old server gone")
    assert not (folder / paths.SERVER_FILE).exists()

    again = ensure_server(folder)
    assert again.pid != info.pid and again.api_key == info.api_key
    run = connect(data_dir=folder)[uid]
    assert run.metadata["start"]["sample"] == "HOPG"
    assert run.metadata["stop"]["exit_status"] == "success"
    images = run["primary"]["cam_image"].read()
    assert images.dtype == np.float32 and images.shape == (4, 32, 32)
    np.testing.assert_array_equal(images, np.stack(det.frames))
    lines = run["primary"]["cam_line"].read()
    assert lines.dtype == np.float32
    np.testing.assert_array_equal(lines, np.stack(det.lines))
    assert run["primary"].metadata["data_keys"]["cam_image"]["units"] == "pA"
    # databroker 2's APIs on the same catalog: v2 run view and document replay.
    # `.v2` is checked in a child process: bluesky-tiled-plugins 2.0's
    # CatalogOfBlueskyRuns.v2 shallow-copies the structure-client registry and
    # sets BlueskyRunV2 on the shared mapping, so every later client in this
    # process would open runs in the v2 layout.
    probe = (
        "import sys; from autoscope.catalog import connect; "
        "run = connect(data_dir=sys.argv[1]).v2[sys.argv[2]]; "
        "print(type(run).__name__, run.metadata['start']['uid'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(folder), uid],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    kind, got_uid = out.split()
    assert kind.startswith("BlueskyRunV2") and got_uid == uid
    names = [name for name, _ in run.documents()]
    assert names[0] == "start" and names[-1] == "stop"
    assert "descriptor" in names


@pytest.mark.slow
def test_serve_in_the_foreground_until_ctrl_c(tmp_path):
    folder = tmp_path / "fg"
    cmd = [sys.executable, "-m", "autoscope.cli", "catalog", "serve", "--data-dir", str(folder)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        wait_for(lambda: paths.read_server_file(folder) is not None, timeout=60,
                 what="server.json written", proc=proc)  # fmt: skip
        rec = paths.read_server_file(folder)
        assert rec["pid"] == proc.pid and rec["uri"] == f"http://127.0.0.1:{rec['port']}"
        assert healthy(rec["uri"])
        with pytest.raises(CatalogError, match="already runs at"):
            _serve_twice(folder)
        proc.send_signal(signal.SIGINT)
        out, _err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert f"served at {rec['uri']}" in out
    assert proc.returncode in (0, 130)
    assert not (folder / paths.SERVER_FILE).exists()
    assert not healthy(rec["uri"])


def _serve_twice(folder: Path):
    from autoscope.catalog import serve

    serve(folder)


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_bad_input_of_a_real_server(folder, tmp_path):
    info = ensure_server(folder)
    # wrong API key, through the command line in its own process
    cmd = [sys.executable, "-m", "autoscope.cli", "catalog", "ls", "--uri", info.uri,
           "--api-key", "not-the-key"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert f"API key rejected by {info.uri}" in done.stderr
    # the right key from the environment works
    env = {**os.environ, "AUTOSCOPE_CATALOG_URI": info.uri, "AUTOSCOPE_API_KEY": info.api_key}
    done = subprocess.run(
        cmd[:5], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert (done.returncode, done.stdout) == (0, "no runs in the catalog yet\n"), done.stderr
    # a second folder asking for the port the first server holds
    other = tmp_path / "other"
    with pytest.raises(
        CatalogError, match=f"port {info.uri.rsplit(':', 1)[1]} on 127.0.0.1 is in use"
    ):
        ensure_server(other, port=int(info.uri.rsplit(":", 1)[1]))
    assert not other.exists()


def test_a_server_that_cannot_start_says_why(tmp_path):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / paths.CATALOG_DB).write_text("not a database")
    with pytest.raises(CatalogError, match="did not start .*file is not a database") as info:
        ensure_server(folder)
    assert str(folder / paths.LOG_FILE) in str(info.value)
    assert len(str(info.value).splitlines()) == 1
    assert not (folder / paths.SERVER_FILE).exists()
    assert not (folder / paths.API_KEY_FILE).exists()  # the key made for this attempt is gone


def test_clients_in_the_queue_servers_worker_draw_no_progress_bars(folder, monkeypatch):
    """An RE Worker running IPython counts as interactive to Tiled, which would draw Rich
    progress bars of multi-chunk reads into the RE Manager's log (issue 19 item 6)."""
    ensure_server(folder)
    monkeypatch.delenv("TILED_SHOW_PROGRESS", raising=False)
    monkeypatch.delenv("_QSERVER_RE_WORKER_ACTIVE", raising=False)
    assert connect(data_dir=folder).context.show_progress is True
    # what bluesky_queueserver's set_re_worker_active() sets in the worker process
    monkeypatch.setenv("_QSERVER_RE_WORKER_ACTIVE", "1")
    assert connect(data_dir=folder).context.show_progress is False
