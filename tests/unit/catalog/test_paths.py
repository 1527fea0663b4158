"""The data folder, its API key and server.json."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from autoscope.catalog import paths
from autoscope.catalog.server import running_server
from autoscope.errors import CatalogError


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.ENV_DATA_DIR, raising=False)
    default = paths.data_dir()
    assert default.name == "catalog" and default.parent.name == "autoscope"
    monkeypatch.setenv(paths.ENV_DATA_DIR, str(tmp_path / "from-env"))
    assert paths.data_dir() == tmp_path / "from-env"
    assert paths.data_dir(tmp_path / "flag") == tmp_path / "flag"


def test_api_key_is_owner_only_and_kept(tmp_path):
    key = paths.create_api_key(tmp_path)
    assert len(key) == 64 and int(key, 16) >= 0
    mode = stat.S_IMODE(os.stat(tmp_path / paths.API_KEY_FILE).st_mode)
    assert mode == 0o600
    assert paths.create_api_key(tmp_path) == key
    assert paths.read_api_key(tmp_path) == key
    assert [p.name for p in tmp_path.iterdir()] == [paths.API_KEY_FILE]  # no temp file left


def test_folder_under_a_regular_file_is_refused_and_nothing_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    target = blocker / "sub" / "catalog"
    with pytest.raises(CatalogError, match="cannot be written") as info:
        paths.ensure_writable(target)
    assert str(target) in str(info.value) and "--data-dir" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_new_folder_is_created_and_reported(tmp_path):
    target = tmp_path / "a" / "b"
    created = paths.ensure_writable(target)
    assert created == [tmp_path / "a", target]
    assert list(target.iterdir()) == []  # the probe file is gone
    paths.remove_created(created)
    assert not (tmp_path / "a").exists()


def test_server_file_round_trip_and_pid_guard(tmp_path):
    paths.write_server_file(tmp_path, "http://127.0.0.1:1234", 4321, 1234)
    assert paths.read_server_file(tmp_path) == {
        "uri": "http://127.0.0.1:1234",
        "pid": 4321,
        "port": 1234,
    }
    paths.remove_server_file(tmp_path, pid=1)  # someone else's: kept
    assert paths.read_server_file(tmp_path) is not None
    paths.remove_server_file(tmp_path, pid=4321)
    assert paths.read_server_file(tmp_path) is None


def test_stale_server_file_is_removed(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    paths.write_server_file(tmp_path, "http://127.0.0.1:9", dead.pid, 9)
    assert running_server(tmp_path) is None
    assert not (tmp_path / paths.SERVER_FILE).exists()
