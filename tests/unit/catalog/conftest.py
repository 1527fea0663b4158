"""Shared pieces of the catalog tests: a line-scanning Readable and its plan.

``LineSource`` is a small but real bluesky ``Readable``: every read returns
the next scan line (float32 trace and retrace of two channels) computed from a
seeded generator, with descriptors that state dtype_numpy, shape and units.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from bluesky import RunEngine

CHANNELS = {"topo": "nm", "current": "pA"}


class LineSource:
    """Readable that yields one scan line (``width`` px, float32) per read."""

    def __init__(self, name: str = "spm", width: int = 64, seed: int = 0, reuse_buffer=False):
        self.name = name
        self.parent = None
        self.width = width
        self.rng = np.random.default_rng(seed)
        self.reuse_buffer = reuse_buffer
        self._buffers = {}
        self.lines: list[dict[str, np.ndarray]] = []  # what was handed out, copied

    def _keys(self):
        return [f"{self.name}_{ch}_{d}" for ch in CHANNELS for d in ("trace", "retrace")]

    def describe(self):
        out = {}
        for ch, units in CHANNELS.items():
            for d in ("trace", "retrace"):
                out[f"{self.name}_{ch}_{d}"] = {
                    "source": f"sim://{self.name}/{ch}/{d}",
                    "dtype": "array",
                    "dtype_numpy": "<f4",
                    "shape": [self.width],
                    "units": units,
                }
        return out

    def read(self):
        now = time.time()
        out = {}
        handed = {}
        for key in self._keys():
            line = self.rng.normal(size=self.width).astype(np.float32)
            if self.reuse_buffer:
                buf = self._buffers.setdefault(key, np.empty(self.width, np.float32))
                buf[:] = line
                line = buf
            handed[key] = line.copy()
            out[key] = {"value": line, "timestamp": now}
        self.lines.append(handed)
        return out


@pytest.fixture(scope="session")
def module_catalog(tmp_path_factory):
    """One in-process catalog shared by these tests (each test writes its own runs)."""
    from autoscope.catalog.testing import inprocess_catalog

    with inprocess_catalog(tmp_path_factory.mktemp("catalog")) as client:
        yield client


@pytest.fixture
def RE():
    """A fresh RunEngine without persistence."""
    return RunEngine({}, call_returns_result=False)


@pytest.fixture
def line_source():
    return LineSource()
