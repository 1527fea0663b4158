"""Run import-linter's contracts (pyproject.toml) on the package as it is installed.

autoscope's import package is assembled from several folders at the root
(setup.py's ``MAPPING``: src/autoscope, studies/, plans/, agents/, devices/).
import-linter (grimp) reads a package from the one folder its top-level module
is found in, so it would see ``autoscope`` without its mapped subpackages. This
script lays the package out as a wheel would, as a tree of links to the source
files under build/lint-imports/, and runs ``lint-imports`` on that tree:

    .venv/bin/python tools/lint_imports.py            # what `make test` runs
    .venv/bin/python tools/lint_imports.py --verbose  # extra options go to lint-imports
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "lint-imports"


def package_mapping(setup_py: Path = ROOT / "setup.py") -> dict[str, str]:
    """setup.py's ``MAPPING`` (import package -> folder), read without running setup.py."""
    for node in ast.parse(setup_py.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "MAPPING" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise SystemExit(f"no MAPPING in {setup_py}")


def link_tree(tree: Path = TREE, root: Path = ROOT) -> Path:
    """Mirror every mapped ``.py`` file under ``tree`` as the installed package lays it out."""
    shutil.rmtree(tree, ignore_errors=True)
    for package, folder in package_mapping(root / "setup.py").items():
        base = root / folder
        for source in base.rglob("*.py"):
            rel = source.relative_to(base)
            if any(part.startswith((".", "__pycache__")) for part in rel.parts):
                continue
            dest = tree / Path(*package.split(".")) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(source, dest)
    return tree


def lint(tree: Path, options: list[str], **run) -> subprocess.CompletedProcess:
    """Run ``lint-imports`` (this venv's) with the root's pyproject.toml on ``tree``."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])
    )
    command = Path(sys.executable).with_name("lint-imports")
    args = [str(command), str(ROOT / "pyproject.toml"), "--no-cache", *options]
    return subprocess.run(args, env=env, cwd=tree, **run)


def main(argv: list[str] | None = None) -> int:
    return lint(link_tree(), list(argv or [])).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
