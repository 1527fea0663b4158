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


# what a unit reads from /etc/autoscope -> its example in deploy/
EXAMPLES = {
    "agent-%i.env": "env/agent.env.example",
    "agent-%i.toml": "agent/campaign.toml.example",
    "queueserver.env": "env/queueserver.env.example",
    "tiled.env": "env/tiled.env.example",
    "redis-%i.env": "env/redis.env.example",
}


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_every_file_the_unit_reads_from_etc_has_an_example(unit):
    text = unit.read_text().replace("\\\n", " ")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    names = re.findall(r"/etc/autoscope/([^\s]+)", text)
    assert names or "EnvironmentFile" not in text, unit.name
    for name in names:
        assert name in EXAMPLES, f"{unit.name}: /etc/autoscope/{name} has no example listed"
        assert (ROOT / "deploy" / EXAMPLES[name]).is_file(), EXAMPLES[name]


def test_the_agent_unit_runs_the_runner_on_the_example_campaign(monkeypatch):
    from autoscope.agents.service.config import load_config

    (unit,) = [u for u in UNITS if u.name == "autoscope-agent@.service"]
    argv = _exec_start(unit)
    assert argv[1:3] == ["-m", "autoscope.agents.service"]
    config = load_config(ROOT / "deploy" / "agent" / "campaign.toml.example")
    assert config.budget == 40 and config.agent["kind"] == "gp"
    env = (ROOT / "deploy" / "env" / "agent.env.example").read_text()
    for name in ("AUTOSCOPE_CATALOG_URI", "AUTOSCOPE_API_KEY", "QSERVER_ZMQ_CONTROL_ADDRESS",
                 "QSERVER_ZMQ_INFO_ADDRESS"):  # fmt: skip
        assert f"\n{name}=" in env, name
