"""The layering of DESIGN.md, checked on the import statements of the source.

- The twin (devices/twin) imports neither ophyd nor bluesky.
- Plans talk to the instrument only through devices: they never import a twin.
- Agents see only what a real instrument would give them: no agent module
  imports the twin, except those that generate ground truth or training data
  from it (benchmark harness, demo, tip-classifier training), as benchmarks may.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Modules allowed to import autoscope.devices.twin, and why.
TWIN_USERS = {
    "agents/groundtruth.py": "benchmark ground truth from a twin",
    "agents/benchmark.py": "benchmark harness (--twin)",
    "agents/demo.py": "the demo judges the campaign against the twin's truth",
    "agents/tip/dataset.py": "labelled training images rendered by the twin",
    "agents/tip/twin_env.py": "policy training on the twin's tip dynamics",
    "agents/tip/commands.py": "`autoscope tip train` regenerates weights from the twin",
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _modules(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def test_twin_imports_neither_ophyd_nor_bluesky():
    bad = {str(p.relative_to(ROOT)): sorted(n for n in _imports(p)
                                            if n.split(".")[0] in {"ophyd", "bluesky", "ophyd_async"})
           for p in _modules("devices/twin")}
    assert not {k: v for k, v in bad.items() if v}


def _twin_importers(folder: str) -> set[str]:
    return {str(p.relative_to(ROOT)) for p in _modules(folder)
            if any(n == "autoscope.devices.twin" or n.startswith("autoscope.devices.twin.")
                   for n in _imports(p))}


def test_plans_never_import_a_twin():
    assert _twin_importers("plans") == set()


def test_only_ground_truth_and_training_modules_of_agents_import_the_twin():
    assert _twin_importers("agents") <= set(TWIN_USERS)


def test_the_check_sees_a_twin_import(tmp_path):
    """Negative control: the import scan finds both import forms."""
    probe = tmp_path / "probe.py"
    probe.write_text("from autoscope.devices.twin import TwinSPM\nimport autoscope.devices.twin.tip\n")
    assert {"autoscope.devices.twin", "autoscope.devices.twin.tip"} <= _imports(probe)
