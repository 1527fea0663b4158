"""The import-linter contracts of pyproject.toml hold, and each one bites.

``make test`` runs them on the tree (tools/lint_imports.py). Here each contract
is checked once more on a copy of the package tree with one deliberate
violation added, and must then be reported broken: a contract that cannot fail
would hold nothing.
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location(
        "lint_imports", ROOT / "tools" / "lint_imports.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# contract id -> {module file in the package tree: its source}
VIOLATIONS = {
    "layers": {"agents/_violation.py": "import autoscope.plans.imaging\n"},
    "devices": {"devices/twin/_violation.py": "import autoscope.devices.spm.limits\n"},
    "twins-pure": {"devices/twin/_violation.py": "import ophyd\n"},
    "no-twin-internals": {"plans/_violation.py": "from autoscope.devices.twin import twin\n"},
    "data-below": {"io/_violation.py": "import autoscope.agents.candidates\n"},
    "acyclic": {
        "agents/_cycle_a.py": "import autoscope.agents._cycle_b\n",
        "agents/_cycle_b.py": "import autoscope.agents._cycle_a\n",
    },
}


@pytest.fixture(scope="module")
def tool():
    return _tool()


def test_every_contract_has_a_violation_here(tool):
    text = (ROOT / "pyproject.toml").read_text()
    ids = {line.split('"')[1] for line in text.splitlines() if line.startswith("id = ")}
    assert ids == set(VIOLATIONS)


def test_the_tree_keeps_every_contract(tool, tmp_path):
    out = tool.lint(tool.link_tree(tmp_path / "tree"), [], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(VIOLATIONS)} kept, 0 broken" in out.stdout


@pytest.mark.parametrize("contract", sorted(VIOLATIONS))
def test_a_deliberate_violation_breaks_the_contract(tool, tmp_path, contract):
    tree = tool.link_tree(tmp_path / "tree")
    for rel, source in VIOLATIONS[contract].items():
        (tree / "autoscope" / rel).write_text(source)
    out = tool.lint(tree, ["--contract", contract], capture_output=True, text=True)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "0 kept, 1 broken" in out.stdout, out.stdout
    assert "_violation" in out.stdout or "_cycle" in out.stdout
