"""Faults of the catalog during runs, with real processes: nothing measured is lost.

- The catalog server is killed (SIGKILL) mid-run and started again on another
  port: the RunEngine goes on, the run is ``pending`` in the spool meanwhile,
  the writer follows the server to its new address, and every event is in the
  catalog once, with the plan's own exit status.
- The process running a scan is killed (SIGKILL) mid-run: the next writer on
  the folder writes the spooled lines and closes the run with a reason.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.catalog import connect, ensure_server, make_writer, paths, spool, stop_server
from autoscope.catalog.listing import latest_runs

pytestmark = pytest.mark.integration


class Lines:
    """Readable: a 64 px float32 scan line of two keys per read (seeded)."""

    name = "spm"
    parent = None

    def __init__(self, seed=11):
        self.rng = np.random.default_rng(seed)
        self.lines = []

    def describe(self):
        dk = {"source": "sim", "dtype": "array", "dtype_numpy": "<f4", "shape": [64]}
        return {"spm_z_trace": dict(dk, units="nm"), "spm_z_retrace": dict(dk, units="nm")}

    def read(self):
        line = self.rng.normal(size=(2, 64)).astype(np.float32)
        self.lines.append(line)
        return {
            "spm_z_trace": {"value": line[0], "timestamp": 0.0},
            "spm_z_retrace": {"value": line[1], "timestamp": 0.0},
        }


def _other_free_port(not_this: int) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != not_this:
            return port


@pytest.fixture
def fast_failing_client(monkeypatch):
    """Tiled's client retries a refused connection for ~20 s; once is enough here."""
    import tiled.client.utils

    monkeypatch.setattr(tiled.client.utils, "TILED_RETRY_ATTEMPTS", 1)


def test_catalog_server_killed_mid_run_and_restarted_elsewhere(tmp_path, fast_failing_client):
    folder = tmp_path / "catalog"
    first = ensure_server(folder)
    try:
        writer = make_writer(connect(data_dir=folder), data_dir=folder, retry_interval=0.2)
        RE = RunEngine({})
        seen = []
        RE.subscribe(writer)
        RE.subscribe(lambda name, doc: seen.append((name, doc)))
        source = Lines()

        @bpp.run_decorator(md={"plan_name": "raster_lines"})
        def plan():
            for i in range(24):
                if i == 8:
                    writer.flush(timeout=120)  # 8 lines in the catalog, then it crashes
                    os.kill(first.pid, signal.SIGKILL)
                yield from bps.trigger_and_read([source])

        (uid,) = RE(plan())  # goes on without the catalog, raises nothing
        assert seen[-1][0] == "stop" and seen[-1][1]["exit_status"] == "success"
        assert (folder / paths.SPOOL_DIR / f"{uid}{spool.SUFFIX}").exists()  # pending
        assert uid in spool.pending_starts(folder / paths.SPOOL_DIR)

        port = _other_free_port(int(first.uri.rsplit(":", 1)[1]))
        second = ensure_server(folder, port=port)  # back, at another address
        assert second.uri != first.uri
        writer.flush(timeout=300)  # the writer followed server.json and replayed the run
        writer.close()

        client = connect(data_dir=folder)
        run = client[uid]
        assert run.metadata["stop"]["exit_status"] == "success"
        assert list(run["primary"]["seq_num"].read()) == list(range(1, 25))
        np.testing.assert_array_equal(
            run["primary"]["spm_z_retrace"].read(), np.stack([x[1] for x in source.lines])
        )
        (summary,) = [r for r in latest_runs(client, 5, folder / paths.SPOOL_DIR) if r.uid == uid]
        assert summary.exit_status == "success"
        assert summary.events == {"primary": 24}
        assert spool.files(folder / paths.SPOOL_DIR) == []
    finally:
        stop_server(folder)


SCAN_THEN_DIE = textwrap.dedent(
    """
    import os, signal, sys
    import bluesky.plan_stubs as bps, bluesky.preprocessors as bpp
    from bluesky import RunEngine
    from autoscope.catalog import connect, make_writer
    sys.path.insert(0, {here!r})
    from test_catalog_faults import Lines

    folder = {folder!r}
    writer = make_writer(connect(data_dir=folder), data_dir=folder, stop_timeout=0)
    RE = RunEngine({{}})
    RE.subscribe(writer)
    RE.subscribe(lambda name, doc: print(doc["uid"], flush=True) if name == "start" else None)
    source = Lines()

    @bpp.run_decorator(md={{"plan_name": "raster_lines"}})
    def plan():
        for i in range(10):
            yield from bps.trigger_and_read([source])
            if i == 5:
                os.kill(os.getpid(), signal.SIGKILL)  # killed mid-scan, lines 1-6 measured

    RE(plan())
    """
)


def test_scan_process_killed_mid_run_its_lines_reach_the_catalog(tmp_path):
    folder = tmp_path / "catalog"
    ensure_server(folder)
    try:
        code = SCAN_THEN_DIE.format(here=os.path.dirname(__file__), folder=str(folder))
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == -signal.SIGKILL, done.stderr
        uid = done.stdout.split()[0]
        kept = folder / paths.SPOOL_DIR / f"{uid}{spool.SUFFIX}"
        assert kept.exists()
        assert [n for n, _ in spool.read(kept)].count("event") == 6
        writer = make_writer(connect(data_dir=folder), data_dir=folder)
        writer.flush(timeout=300)  # the next writer on the folder takes the orphan
        writer.close()
        run = connect(data_dir=folder)[uid]
        stop = run.metadata["stop"]
        assert stop["exit_status"] == spool.RECOVERED_STATUS
        assert "recovered from the local spool" in stop["reason"]
        assert stop["num_events"] == {"primary": 6}
        assert list(run["primary"]["seq_num"].read()) == list(range(1, 7))
        assert not kept.exists()
    finally:
        stop_server(folder)
