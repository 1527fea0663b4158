"""``autoscope catalog ...`` through the real command-line entry point.

Bad input gives one line naming the problem and what to do, a non-zero exit,
and leaves nothing behind.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from autoscope import cli
from autoscope.catalog import paths


def run_cli(capsys, *argv):
    rc = cli.main(["catalog", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_path_prints_flag_then_env(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv(paths.ENV_DATA_DIR, str(tmp_path / "env"))
    assert run_cli(capsys, "path") == (0, f"{tmp_path / 'env'}\n", "")
    assert (
        run_cli(capsys, "path", "--data-dir", str(tmp_path / "flag"))[1] == f"{tmp_path / 'flag'}\n"
    )
    assert not (tmp_path / "env").exists()  # printing the path creates nothing


def test_serve_in_unwritable_folder(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "sub"
    rc, _out, err = run_cli(capsys, "serve", "--data-dir", str(target))
    assert rc == 1
    assert err.count("\n") == 1
    assert f"catalog folder {target} cannot be written" in err and "--data-dir" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_serve_on_a_port_in_use(capsys, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        rc, _out, err = run_cli(
            capsys, "serve", "--data-dir", str(tmp_path / "new"), "--port", str(port)
        )
    assert rc == 1
    assert err.count("\n") == 1
    assert f"port {port} on 127.0.0.1 is in use" in err and "--port" in err
    assert not (tmp_path / "new").exists()  # nothing half-written


def test_ls_when_no_server_answers(capsys, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before use: nothing listens
    uri = f"http://127.0.0.1:{port}"
    rc, _out, err = run_cli(capsys, "ls", "--uri", uri, "--api-key", "x")
    assert rc == 1
    assert err.count("\n") == 1
    assert f"no Tiled server answers at {uri}" in err and "autoscope catalog serve" in err


def test_ls_with_a_wrong_api_key(capsys, module_catalog):
    parts = urlsplit(module_catalog.uri)
    uri = f"{parts.scheme}://{parts.netloc}"
    rc, _out, err = run_cli(capsys, "ls", "--uri", uri, "--api-key", "wrong")
    assert rc == 1
    assert err.count("\n") == 1
    assert f"API key rejected by {uri}: Invalid API key" in err and "api_key" in err


def test_stop_when_nothing_runs(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "stop", "--data-dir", str(tmp_path))
    assert (rc, err) == (0, "")
    assert out == f"no catalog server runs for {tmp_path}\n"


@pytest.mark.parametrize("action", ["serve", "ls", "path", "stop"])
def test_help_names_each_action(capsys, action):
    with pytest.raises(SystemExit) as info:
        cli.main(["catalog", action, "--help"])
    assert info.value.code == 0
    assert "--data-dir" in capsys.readouterr().out
