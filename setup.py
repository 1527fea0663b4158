"""Package layout of autoscope (see docs/decisions/0001-layout.md).

The import package ``autoscope`` is assembled from five folders at the root:

    src/autoscope  -> autoscope            (CLI, catalog, readers, errors)
    studies/       -> autoscope.studies    (demo, benchmarks, ground truth, training)
    plans/         -> autoscope.plans
    agents/        -> autoscope.agents
    devices/       -> autoscope.devices    (spm/, twin/, neutral parts)

Every folder below these that holds an ``__init__.py`` becomes a subpackage,
found here at build time, so adding one never needs an edit of a package list.
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
MAPPING = {
    "autoscope": "src/autoscope",
    "autoscope.studies": "studies",
    "autoscope.devices": "devices",
    "autoscope.plans": "plans",
    "autoscope.agents": "agents",
}


def _packages() -> list[str]:
    found = []
    for package, folder in MAPPING.items():
        base = ROOT / folder
        for init in sorted(base.rglob("__init__.py")):
            rel = init.parent.relative_to(base)
            if any(part.startswith((".", "__")) for part in rel.parts):
                continue
            found.append(".".join((package, *rel.parts)) if rel.parts else package)
    return found


PROFILE = ROOT / "profile_collection"


def _profile_files() -> list[tuple[str, list[str]]]:
    """The startup folder travels with a non-editable install, under <prefix>/share."""
    startup = sorted(str(p.relative_to(ROOT)) for p in (PROFILE / "startup").glob("*.py"))
    return [
        ("share/autoscope/profile_collection/startup", startup),
        ("share/autoscope/profile_collection", ["profile_collection/user_group_permissions.yaml"]),
    ]


setup(
    packages=_packages(),
    data_files=_profile_files(),
    package_dir=MAPPING,
    # the shipped tip classifier: weights and their provenance record (agents/tip/data/)
    package_data={"autoscope.agents.tip": ["data/*.pt", "data/*.json"]},
    include_package_data=True,
)
