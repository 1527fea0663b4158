"""The wheel built from the tree holds every subpackage of the source folders.

setup.py maps studies/, plans/, agents/, devices/ and src/autoscope to import names and
discovers subpackages on disk; a subpackage missing from the wheel would only
show on a user's machine, so this test builds a real wheel and looks inside.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "src/autoscope": "autoscope",
    "studies": "autoscope/studies",
    "devices": "autoscope/devices",
    "plans": "autoscope/plans",
    "agents": "autoscope/agents",
}


def _expected_modules() -> set[str]:
    expected = set()
    for folder, target in SOURCES.items():
        base = ROOT / folder
        for path in base.rglob("*.py"):
            rel = path.relative_to(base)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            # only files inside packages (every folder up to base has __init__.py)
            if all(
                (base / Path(*rel.parts[:i]) / "__init__.py").exists()
                for i in range(len(rel.parts))
            ):
                expected.add(f"{target}/{rel.as_posix()}")
    return expected


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for name in ["pyproject.toml", "setup.py", "README.md", "profile_collection", *SOURCES]:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy(src, tree / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(out),
            str(tree),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (whl,) = out.glob("autoscope-*.whl")
    return whl


def test_every_module_is_in_the_wheel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _expected_modules()
    assert {"autoscope/devices/backend.py", "autoscope/studies/demo.py"} <= expected
    missing = sorted(expected - names)
    assert not missing, f"modules missing from the wheel: {missing}"


def test_wheel_carries_the_console_script(wheel):
    zf = zipfile.ZipFile(wheel)
    (ep,) = [n for n in zf.namelist() if n.endswith("entry_points.txt")]
    assert "autoscope = autoscope.cli:main" in zf.read(ep).decode()


def test_wheel_carries_the_profile_collection(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    startup = sorted(p.name for p in (ROOT / "profile_collection/startup").glob("*.py"))
    shipped = sorted(
        n.rsplit("/", 1)[-1]
        for n in names
        if "/data/share/autoscope/profile_collection/startup/" in n
    )
    assert startup and shipped == startup
    assert any(
        n.endswith("share/autoscope/profile_collection/user_group_permissions.yaml") for n in names
    )


def test_wheel_carries_the_shipped_tip_classifier(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = ROOT / "agents" / "tip" / "data"
    shipped = {f"autoscope/agents/tip/data/{p.name}" for p in data.glob("*") if p.is_file()}
    assert "autoscope/agents/tip/data/tip-classifier.weights.pt" in shipped
    assert "autoscope/agents/tip/data/tip-classifier.provenance.json" in shipped
    assert shipped <= names


def test_no_tests_or_scratch_in_the_wheel(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith(("tests/", "scratch/", "benchmarks/"))]


def test_editable_install_maps_the_folders():
    import autoscope.agents
    import autoscope.devices
    import autoscope.plans
    import autoscope.studies

    assert Path(autoscope.devices.__file__).parent == ROOT / "devices"
    assert Path(autoscope.plans.__file__).parent == ROOT / "plans"
    assert Path(autoscope.agents.__file__).parent == ROOT / "agents"
    assert Path(autoscope.studies.__file__).parent == ROOT / "studies"
