"""What the benchmark scripts share: the machine record of a JSON result, and writing it.

The scripts are run as ``python benchmarks/<name>.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import platform
import sys


def machine(**versions: str) -> dict:
    """The machine a figure was taken on: Python, the given package ``versions``, the
    platform, the CPU count and the 1-minute load average when the run started."""
    return {
        "python": sys.version.split()[0],
        **versions,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load": os.getloadavg()[0],
    }


def write_json(path: str | None, out: dict) -> None:
    """Write ``out`` to ``path`` (nothing without a path)."""
    if path:
        with open(path, "w") as f:
            json.dump(out, f, indent=2)
