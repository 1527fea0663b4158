"""One lazy-export mechanism (autoscope._lazy) for packages whose names live in heavy modules."""

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

LAZY_PACKAGES = [
    "autoscope.devices",
    "autoscope.devices.twin",
    "autoscope.plans",
    "autoscope.catalog",
]
HEAVY = ("ophyd", "bluesky", "torch", "scipy", "tiled", "gpytorch", "botorch")


def _attaching_packages() -> list[str]:
    """Every package whose __init__ calls autoscope._lazy.attach (all mapped folders)."""
    found = set()
    for top in ("autoscope", "autoscope.devices", "autoscope.plans", "autoscope.agents"):
        base = Path(importlib.util.find_spec(top).submodule_search_locations[0])
        for path in base.rglob("__init__.py"):
            if "attach(" in path.read_text():
                found.add(".".join((top, *path.parent.relative_to(base).parts)))
    return sorted(found)


def test_importing_the_packages_stays_light():
    code = (
        "import sys\n"
        f"for name in {LAZY_PACKAGES!r}:\n"
        "    __import__(name)\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("package", sorted(set(LAZY_PACKAGES) | set(_attaching_packages())))
def test_every_exported_name_resolves_to_its_defining_module(package):
    pkg = importlib.import_module(package)
    assert pkg.__all__ and set(pkg.__all__) <= set(dir(pkg))
    for name in pkg.__all__:
        value = getattr(pkg, name)
        assert value is not None
        assert name not in vars(pkg), f"{package}.{name} was cached in the package"
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        pkg.nope  # noqa: B018


def test_a_patch_of_the_defining_module_is_seen_through_the_package(monkeypatch):
    import autoscope.catalog
    import autoscope.catalog.paths

    sentinel = object()
    monkeypatch.setattr(autoscope.catalog.paths, "data_dir", sentinel)
    assert autoscope.catalog.data_dir is sentinel


def test_no_package_writes_its_own_loader():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    folders = ["src/autoscope", "devices", "plans", "agents", "studies"]
    inits = [i for f in folders for i in (root / f).rglob("__init__.py")]
    assert len(inits) > 5
    for init in inits:
        assert "def __getattr__" not in init.read_text(), f"{init}: use autoscope._lazy.attach"
