"""Every systemd unit in deploy/ starts something that exists in this install."""

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
VENV_BIN = "/opt/autoscope/venv/bin/"
CHECKOUT = "/opt/autoscope/"


def _exec_start(unit: Path) -> list[str]:
    text = unit.read_text().replace("\\\n", " ")
    (line,) = re.findall(r"^ExecStart=(.*)$", text, flags=re.MULTILINE)
    return shlex.split(line)


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_the_unit_starts_a_program_and_files_that_exist(unit):
    argv = _exec_start(unit)
    program = argv[0]
    if program.startswith(VENV_BIN):  # a console script of this venv
        assert (Path(sys.executable).parent / program[len(VENV_BIN) :]).exists(), program
    else:
        assert program.startswith("/usr/bin/"), f"{unit.name}: unexpected program {program}"
    if "-m" in argv:
        module = argv[argv.index("-m") + 1]
        assert "$" not in module and "<" not in module, f"{unit.name}: module {module}"
        assert importlib.util.find_spec(module) is not None, f"{unit.name}: no module {module}"
    for arg in argv[1:]:
        if arg.startswith(CHECKOUT + "deploy/"):  # a config file of this checkout
            assert (ROOT / arg[len(CHECKOUT) :]).is_file(), f"{unit.name}: {arg} is missing"


def test_there_are_units():
    assert UNITS
