"""The profile folder: its shape, how it is found, and that IPython loads it.

The IPython test runs the documented one-liner (``autoscope ipython``) in a
subprocess against a real catalog server on 127.0.0.1 and checks the names
users rely on, with their types.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoscope import profile
from autoscope.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[2]
STARTUP = REPO / "profile_collection" / "startup"
EXPECTED_FILES = [
    "00-base.py", "10-catalog.py", "20-devices.py", "25-live.py", "30-plans.py", "90-ipython.py",
]  # fmt: skip


def test_startup_dir_is_the_checkout_folder(monkeypatch):
    monkeypatch.delenv(profile.ENV_PROFILE_DIR, raising=False)
    assert profile.startup_dir() == STARTUP
    assert [p.name for p in profile.startup_files(STARTUP)] == EXPECTED_FILES


def test_startup_dir_from_environment(monkeypatch, tmp_path):
    (tmp_path / "00-x.py").write_text("x = 1\n")
    monkeypatch.setenv(profile.ENV_PROFILE_DIR, str(tmp_path))
    assert profile.startup_dir() == tmp_path


def test_startup_dir_from_environment_never_falls_back(monkeypatch, tmp_path):
    empty = tmp_path / "nothing-here"
    monkeypatch.setenv(profile.ENV_PROFILE_DIR, str(empty))
    with pytest.raises(ConfigurationError, match="nothing-here"):
        profile.startup_dir()


def test_installed_copy_is_found_without_a_checkout(monkeypatch, tmp_path):
    """A wheel install has no checkout: the copy under <prefix>/share/autoscope is used."""
    installed = tmp_path.joinpath("share", "autoscope", "profile_collection", "startup")
    installed.mkdir(parents=True)
    (installed / "00-base.py").write_text("")
    monkeypatch.delenv(profile.ENV_PROFILE_DIR, raising=False)
    monkeypatch.setattr(profile, "_CHECKOUT_STARTUP", tmp_path / "no-checkout")
    monkeypatch.setattr(profile, "_install_prefixes", lambda: [str(tmp_path)])
    assert profile.startup_dir() == installed


def test_no_startup_folder_anywhere_lists_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.delenv(profile.ENV_PROFILE_DIR, raising=False)
    monkeypatch.setattr(profile, "_CHECKOUT_STARTUP", tmp_path / "no-checkout")
    monkeypatch.setattr(profile, "_install_prefixes", lambda: [str(tmp_path / "prefix")])
    with pytest.raises(ConfigurationError) as err:
        profile.startup_dir()
    message = str(err.value)
    assert (
        "no-checkout" in message
        and "share/autoscope" in message
        and profile.ENV_PROFILE_DIR in message
    )


def test_startup_files_order_matches_the_queue_server(tmp_path):
    for name in ["90-z.py", "10-b.ipy", "00-a.py", "notes.txt", "05-c.py"]:
        (tmp_path / name).write_text("")
    assert [p.name for p in profile.startup_files(tmp_path)] == [
        "00-a.py", "05-c.py", "10-b.ipy", "90-z.py",
    ]  # fmt: skip


def test_permissions_file_is_valid_for_the_queue_server():
    from bluesky_queueserver.manager.profile_ops import load_user_group_permissions

    path = profile.permissions_file(STARTUP)
    assert path == REPO / "profile_collection" / "user_group_permissions.yaml"
    groups = load_user_group_permissions(str(path))["user_groups"]
    assert {"root", "primary"} <= set(groups)


def test_permissions_file_missing_is_a_clear_error(tmp_path):
    folder = tmp_path / "startup"
    folder.mkdir()
    with pytest.raises(ConfigurationError, match="user_group_permissions.yaml"):
        profile.permissions_file(folder)


# Statements a startup file may hold: imports, bindings, calls (RE.subscribe),
# a docstring, and `if <check>:` blocks of the same.
_ALLOWED = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.Expr, ast.If)


def _statements(tree):
    for node in tree.body:
        yield node
        if isinstance(node, ast.If):
            yield from _statements(ast.Module(body=node.body + node.orelse, type_ignores=[]))


@pytest.mark.parametrize("name", EXPECTED_FILES)
def test_startup_files_only_bind_names(name):
    tree = ast.parse((STARTUP / name).read_text(), filename=name)
    assert ast.get_docstring(tree), f"{name} needs a docstring saying what it binds"
    for node in _statements(tree):
        assert isinstance(node, _ALLOWED), (
            f"{name}:{node.lineno}: {type(node).__name__} in a startup file; "
            "logic belongs in the package"
        )


def test_in_interactive_ipython_is_false_in_the_queue_server():
    from bluesky_queueserver.manager import profile_tools

    profile_tools.set_re_worker_active()
    try:
        assert profile.in_queue_server()
        assert not profile.in_interactive_ipython()
    finally:
        profile_tools.clear_re_worker_active()
    assert not profile.in_queue_server()
    assert not profile.in_interactive_ipython()  # plain Python (pytest) is not IPython


def test_ipython_argv_loads_the_profile_extension_then_the_code():
    argv = profile.ipython_argv(["--", "--simple-prompt"], code="print(RE)")
    assert "--InteractiveShellApp.extensions=['autoscope.profile']" in argv
    assert "--InteractiveShellApp.reraise_ipython_extension_failures=True" in argv
    assert argv[-3:] == ["--simple-prompt", "-c", "print(RE)"]


def test_a_profile_that_cannot_load_ends_ipython_with_one_line(tmp_path):
    """No catalog server: `autoscope ipython` exits 1 naming the file and the problem."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env.pop(profile.ENV_PROFILE_DIR, None)
    env.update(
        AUTOSCOPE_CATALOG_URI=f"http://127.0.0.1:{port}",
        AUTOSCOPE_API_KEY="x",
        AUTOSCOPE_DATA_DIR=str(tmp_path / "data"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        MPLBACKEND="Agg",
    )
    cmd = [sys.executable, "-m", "autoscope.cli", "ipython", "-c", "print('SHOULD NOT RUN')"]
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 1, proc.stderr
    assert "SHOULD NOT RUN" not in proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("autoscope ipython: error: 10-catalog.py: no Tiled server answers at"), (
        last
    )
    assert str(port) in last


def _ipython_command(argv):
    """Parse ``autoscope ipython ARGV`` with the subcommand's own arguments, and run it."""
    import argparse

    parser = argparse.ArgumentParser(prog="autoscope ipython")
    profile.add_arguments(parser)
    return profile.main(parser.parse_args(argv))


def test_print_startup_dir_and_permissions(capsys, monkeypatch):
    monkeypatch.delenv(profile.ENV_PROFILE_DIR, raising=False)
    assert _ipython_command(["--print-startup-dir"]) == 0
    assert capsys.readouterr().out.strip() == str(STARTUP)
    assert _ipython_command(["--print-permissions"]) == 0
    assert capsys.readouterr().out.strip() == str(
        REPO / "profile_collection" / "user_group_permissions.yaml"
    )


def test_startup_dir_flag_that_does_not_exist_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="missing-folder"):
        _ipython_command(["--startup-dir", str(tmp_path / "missing-folder"), "-c", "pass"])


def test_data_dir_flag_is_the_profiles_catalog_folder(tmp_path):
    """``autoscope ipython --data-dir D`` as the other commands: the startup files see D."""
    startup = tmp_path / "startup"
    startup.mkdir()
    (startup / "00-where.py").write_text(
        "from autoscope.catalog.paths import data_dir\n"
        "from autoscope.profile import metadata_dir\n"
        "print('DATA', data_dir()); print('MD', metadata_dir())\n"
    )
    env = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython"), MPLBACKEND="Agg")
    env.pop("AUTOSCOPE_DATA_DIR", None)
    env.pop(profile.ENV_METADATA_DIR, None)
    cmd = [sys.executable, "-m", "autoscope.cli", "ipython", "--data-dir", str(tmp_path / "d"),
           "--startup-dir", str(startup), "-c", "pass"]  # fmt: skip
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, proc.stderr
    assert f"DATA {tmp_path / 'd'}" in proc.stdout
    assert f"MD {tmp_path / 'd' / profile.METADATA_FOLDER / 'session'}" in proc.stdout


def test_metadata_dir_follows_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(profile.ENV_METADATA_DIR, raising=False)
    monkeypatch.setenv("AUTOSCOPE_DATA_DIR", str(tmp_path / "data"))
    folder = profile.metadata_dir()
    assert folder == tmp_path / "data" / profile.METADATA_FOLDER / "session"
    assert folder.is_dir()


def test_queue_server_keeps_its_metadata_apart(monkeypatch, tmp_path):
    from bluesky_queueserver.manager import profile_tools

    monkeypatch.setenv(profile.ENV_METADATA_DIR, str(tmp_path))
    profile_tools.set_re_worker_active()
    try:
        assert profile.metadata_dir() == tmp_path / "queueserver"
    finally:
        profile_tools.clear_re_worker_active()
    assert profile.metadata_dir() == tmp_path / "session"


def test_metadata_dir_that_cannot_be_created_names_it(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(profile.ENV_METADATA_DIR, str(blocker / "md"))
    with pytest.raises(ConfigurationError, match="a-file"):
        profile.metadata_dir()


# --- the documented one-liner, for real -------------------------------------

_SESSION_CODE = r"""
import json, inspect
from bluesky import RunEngine
from bluesky.utils import PersistentDict, ProgressBarManager
from bluesky.callbacks.best_effort import BestEffortCallback
from autoscope.profile import PROFILE_NAMES
md_before = dict(RE.md)
RE.md["operator"] = "test-operator"
uid, = RE(raster_image(spm, pixels=32, lines=4, width=5.0, height=5.0))
run = catalog[uid]
print("RESULT " + json.dumps({
    "RE": isinstance(RE, RunEngine),
    "md_persistent": isinstance(RE.md, PersistentDict),
    "md_before": md_before.get("operator"),
    "db_is_catalog": db is catalog,
    "catalog_spec": [s.name for s in catalog.specs],
    "spm": type(spm).__module__ + "." + type(spm).__name__,
    "modes": [spm.mode, pfm.mode],
    "missing": [n for n in PROFILE_NAMES if n not in globals()],
    "plans": {n: inspect.isgeneratorfunction(globals()[n]) for n in
              ["raster_image", "point_spectrum", "spectra_at", "grid_spectroscopy",
               "condition_tip"]},
    "bec": any(isinstance(cb, BestEffortCallback) for cb in [globals().get("bec")]),
    "progress_bar": isinstance(RE.waiting_hook, ProgressBarManager),
    "run_plan": run.metadata["start"]["plan_name"],
    "run_operator": run.metadata["start"].get("operator"),
    "run_exit": run.metadata["stop"]["exit_status"],
    "run_lines": int(run["primary"].read().sizes["time"]),
}))
"""


@pytest.fixture(scope="module")
def served_catalog(tmp_path_factory):
    """(uri, api_key) of a real Tiled catalog (autoscope's tree) served over HTTP on 127.0.0.1.

    autoscope.catalog.testing serves it from a thread of this process, so a
    subprocess (or the profile's ``connect()``) reaches it like any server.
    """
    from autoscope.catalog.testing import inprocess_catalog

    with inprocess_catalog(tmp_path_factory.mktemp("catalog")) as client:
        uri = str(client.context.api_uri).removesuffix("/api/v1/")
        yield uri, client.context.api_key


def _run_session(env, code):
    cmd = [sys.executable, "-m", "autoscope.cli", "ipython", "-c", code, "--", "--simple-prompt"]
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"autoscope ipython failed:\n{proc.stdout}\n{proc.stderr}"
    )
    return json.loads(lines[-1][len("RESULT ") :]), proc


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_autoscope_ipython_loads_the_profile_and_runs_a_plan(served_catalog, tmp_path):
    uri, api_key = served_catalog
    env = dict(os.environ)
    env.pop(profile.ENV_PROFILE_DIR, None)
    env.update(
        AUTOSCOPE_CATALOG_URI=uri,
        AUTOSCOPE_API_KEY=api_key,
        AUTOSCOPE_DATA_DIR=str(tmp_path / "data"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        MPLBACKEND="Agg",
    )
    first, proc = _run_session(env, _SESSION_CODE)
    assert "autoscope profile loaded." in proc.stdout  # 90-ipython's summary
    assert first["RE"] and first["md_persistent"] and first["db_is_catalog"]
    assert "CatalogOfBlueskyRuns" in first["catalog_spec"]
    assert first["spm"] == "autoscope.devices.spm.device.SPM"
    assert first["modes"] == ["stm", "pfm"]
    assert first["missing"] == []
    assert all(first["plans"].values()), first["plans"]
    assert first["bec"] and first["progress_bar"], "IPython sessions get live feedback"
    assert first["md_before"] is None
    assert first["run_plan"] == "raster_image"
    assert first["run_operator"] == "test-operator"
    assert first["run_exit"] == "success"
    assert first["run_lines"] == 4
    # A second session on the same data folder finds the metadata kept.
    second, _ = _run_session(env, _SESSION_CODE)
    assert second["md_before"] == "test-operator"
