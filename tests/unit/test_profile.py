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
EXPECTED_FILES = ["00-base.py", "10-catalog.py", "20-devices.py", "30-plans.py", "90-ipython.py"]


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
            f"{name}:{node.lineno}: {type(node).__name__} in a startup file; logic belongs in the package"
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


def test_ipython_argv_runs_the_files_in_order_then_the_code():
    files = profile.startup_files(STARTUP)
    argv = profile.ipython_argv(files, ["--", "--simple-prompt"], code="print(RE)")
    assert argv[0].startswith("--InteractiveShellApp.exec_files=[")
    listed = ast.literal_eval(argv[0].split("=", 1)[1])
    assert listed == [str(f) for f in files]
    assert argv[1:] == ["--simple-prompt", "-c", "print(RE)"]


def test_print_startup_dir_and_permissions(capsys, monkeypatch):
    from autoscope.cli import main

    monkeypatch.delenv(profile.ENV_PROFILE_DIR, raising=False)
    assert main(["ipython", "--print-startup-dir"]) == 0
    assert capsys.readouterr().out.strip() == str(STARTUP)
    assert main(["ipython", "--print-permissions"]) == 0
    assert capsys.readouterr().out.strip() == str(REPO / "profile_collection" / "user_group_permissions.yaml")


def test_metadata_dir_follows_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(profile.ENV_METADATA_DIR, raising=False)
    monkeypatch.setenv("AUTOSCOPE_DATA_DIR", str(tmp_path / "data"))
    folder = profile.metadata_dir()
    assert folder == tmp_path / "data" / profile.METADATA_FOLDER
    assert folder.is_dir()


def test_metadata_dir_that_cannot_be_created_names_it(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(profile.ENV_METADATA_DIR, str(blocker / "md"))
    with pytest.raises(ConfigurationError, match="a-file"):
        profile.metadata_dir()
