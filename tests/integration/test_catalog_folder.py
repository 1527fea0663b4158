"""One catalog folder, one server; the folder is its owner's only.

Real processes: two ``autoscope catalog serve`` started at the same moment on
one folder (fresh, and already set up), ``autoscope catalog stop``, and the
modes of everything a server writes into a folder.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.catalog import connect, ensure_server, make_writer, paths, stop_server
from autoscope.catalog.server import healthy, serving_pid

pytestmark = pytest.mark.integration


def _serve(folder):
    cmd = [sys.executable, "-m", "autoscope.cli", "catalog", "serve", "--data-dir", str(folder)]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh folder", "folder set up"])
def test_two_servers_started_at_once_one_refuses_in_one_line(tmp_path, fresh):
    folder = tmp_path / "catalog"
    if not fresh:  # a folder with a catalog in it already
        ensure_server(folder)
        assert stop_server(folder)
    procs = [_serve(folder), _serve(folder)]
    try:
        # exactly one of them exits, with one line on stderr that says why
        deadline = time.monotonic() + 120
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling interval, not a timing assumption
        refused = [p for p in procs if p.poll() is not None]
        assert len(refused) == 1, "neither server refused"
        (loser,) = refused
        (winner,) = [p for p in procs if p is not loser]
        _, err = loser.communicate(timeout=30)
        assert loser.returncode == 1
        assert err.count("\n") == 1, err
        assert f"a catalog server for {folder}" in err
        assert "`autoscope catalog stop`" in err
        while paths.read_server_file(folder) is None and winner.poll() is None:
            time.sleep(0.05)  # polling interval
        rec = paths.read_server_file(folder)
        assert rec["pid"] == winner.pid and serving_pid(folder) == winner.pid
        # `catalog stop` stops the one server there is; then none is left
        done = subprocess.run(
            [sys.executable, "-m", "autoscope.cli", "catalog", "stop", "--data-dir", str(folder)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0 and "stopped the catalog server" in done.stdout
        winner.communicate(timeout=30)
        assert _gone(rec["pid"]) and not healthy(rec["uri"])
        assert serving_pid(folder) is None
        assert paths.read_server_file(folder) is None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


def test_catalog_database_and_arrays_are_the_owners_only(tmp_path):
    folder = tmp_path / "catalog"
    ensure_server(folder)
    try:
        client = connect(data_dir=folder)
        writer = make_writer(client, data_dir=folder)
        RE = RunEngine({})
        RE.subscribe(writer)

        class Line:
            name, parent = "spm", None

            def describe(self):
                return {"spm_z": {"source": "sim", "dtype": "array", "dtype_numpy": "<f4",
                                  "shape": [64], "units": "nm"}}  # fmt: skip

            def read(self):
                return {"spm_z": {"value": np.zeros(64, np.float32), "timestamp": 0.0}}

        line = Line()

        @bpp.run_decorator()
        def plan():
            for _ in range(3):
                yield from bps.trigger_and_read([line])

        RE(plan())
        writer.close()
    finally:
        assert stop_server(folder)
    modes = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            modes[os.path.relpath(path, folder)] = stat.S_IMODE(os.lstat(path).st_mode)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert paths.CATALOG_DB in modes and any(k.startswith(paths.ARRAY_DIR + "/") for k in modes)
    loose = {k: oct(m) for k, m in modes.items() if m & 0o077}
    assert loose == {}
