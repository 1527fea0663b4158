"""Scores shared by the benchmark harness, the demos and the studies.

:func:`top_set` is the set every campaign score counts against: the true top 1 % of a
ground-truth map (``autoscope benchmark``, ``autoscope demo``, ``autoscope demo --stem``,
the replays and reports). It lives apart from :mod:`autoscope.studies.benchmark`, which
re-exports it, so a study the harness runs can use it too.
"""

from __future__ import annotations

import math

import numpy as np

from autoscope.errors import ConfigurationError

__all__ = ["top_set"]


def top_set(values: np.ndarray, fraction: float = 0.01) -> np.ndarray:
    """Mask of the top ``fraction`` of the finite ``values`` (at least one; ties included)."""
    v = np.asarray(values, dtype=float).ravel()
    ok = np.isfinite(v)
    if not ok.any():
        raise ConfigurationError("no finite scalar in the ground truth: every spectrum was flagged")
    k = max(1, math.ceil(fraction * ok.sum()))
    threshold = np.sort(v[ok])[::-1][k - 1]
    return ok & (v >= threshold)
