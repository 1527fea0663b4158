"""An agent step's report as event data: fixed data keys, so a campaign can be audited and replayed.

Both the campaign plan (through the RunEngine) and the Tiled adapter (through
documents it composes) write reports with the data keys below, one event per
step in a stream named ``"agent"`` of a run whose start document has
``plan_name == "agent_report"`` and the campaign's id.

Data keys (``q`` = batch size, ``H x W`` = candidate grid):

=================  =========  ===============================================
key                shape      meaning
=================  =========  ===============================================
agent_step         ()         step number
agent_source       ()         ``seed``, ``model``, ``random``, ``raster``, ``fallback``
agent_chosen       (q,)       candidate indices chosen (-1 pads a short batch)
agent_chosen_x/y   (q,)       their positions, nm (NaN pads)
agent_n_measured   ()         measurements so far
agent_seconds      ()         wall time of the decision, s
agent_best         ()         best value measured so far
agent_error        ()         the failure that forced a fallback ("" if none)
agent_model        ()         JSON: model summary (hyperparameters, loss ...)
agent_observed     ()         JSON: ``[[index, value], ...]`` new since the last report
agent_mean         (H, W)     predicted mean (NaN without a model)
agent_std          (H, W)     predicted standard deviation
agent_acquisition  (H, W)     acquisition map of the step
agent_measured     (H, W)     1 where measured
=================  =========  ===============================================
"""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["REPORT_STREAM", "data_keys", "report_metadata", "report_values"]

REPORT_STREAM = "agent"


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite_or_none(v: float):
    return float(v) if math.isfinite(v) else None


def data_keys(shape: tuple[int, int], q: int, units: str = "nm", source: str = "agent") -> dict:
    """Event-model data keys of a report stream for an ``H x W`` grid and batch size ``q``."""

    def scalar(dtype, dtype_numpy, unit=None):
        d = {"dtype": dtype, "shape": [], "source": source}
        if dtype_numpy:
            d["dtype_numpy"] = dtype_numpy
        if unit:
            d["units"] = unit
        return d

    def array(shp, dtype_numpy, unit=None):
        d = {"dtype": "array", "shape": list(shp), "source": source, "dtype_numpy": dtype_numpy}
        if unit:
            d["units"] = unit
        return d

    h, w = shape
    return {
        "agent_step": scalar("integer", "<i8"),
        "agent_source": scalar("string", None),
        "agent_chosen": array((q,), "<i8"),
        "agent_chosen_x": array((q,), "<f8", units),
        "agent_chosen_y": array((q,), "<f8", units),
        "agent_n_measured": scalar("integer", "<i8"),
        "agent_seconds": scalar("number", "<f8", "s"),
        "agent_best": scalar("number", "<f8"),
        "agent_error": scalar("string", None),
        "agent_model": scalar("string", None),
        "agent_observed": scalar("string", None),
        "agent_mean": array((h, w), "<f8"),
        "agent_std": array((h, w), "<f8"),
        "agent_acquisition": array((h, w), "<f8"),
        "agent_measured": array((h, w), "|u1"),
    }


def report_values(report: dict, q: int, observed: list[tuple[int, float]]) -> dict:
    """Event data for :func:`data_keys` from an agent's ``report()`` (see ``Agent.report``).

    Parameters
    ----------
    report : dict from ``agent.report()``
    q : batch size the data keys were made for (longer choices are cut, shorter padded)
    observed : ``[(index, value), ...]`` measured since the previous report
    """
    chosen = np.full(q, -1, dtype=np.int64)
    cx = np.full(q, np.nan)
    cy = np.full(q, np.nan)
    c = np.asarray(report["chosen"], dtype=np.int64)[:q]
    pos = np.asarray(report["chosen_positions"], dtype=float).reshape(-1, 2)[:q]
    chosen[: len(c)] = c
    cx[: len(pos)] = pos[:, 0]
    cy[: len(pos)] = pos[:, 1]
    return {
        "agent_step": int(report["step"]),
        "agent_source": str(report["source"] or ""),
        "agent_chosen": chosen,
        "agent_chosen_x": cx,
        "agent_chosen_y": cy,
        "agent_n_measured": int(report["n_measured"]),
        "agent_seconds": float(report["seconds"]),
        "agent_best": float(report["best_value"]),
        "agent_error": str(report["error"] or ""),
        "agent_model": json.dumps(report["model"], default=_json_default),
        "agent_observed": json.dumps([[int(i), _finite_or_none(v)] for i, v in observed]),
        "agent_mean": np.asarray(report["mean"], dtype=float),
        "agent_std": np.asarray(report["std"], dtype=float),
        "agent_acquisition": np.asarray(report["acquisition_map"], dtype=float),
        "agent_measured": np.asarray(report["measured"], dtype=np.uint8),
    }


def report_metadata(agent, experiment=None) -> dict:
    """Start-document metadata of an ``agent_report`` run (what a reader needs to rebuild maps).

    ``agent`` is any :class:`~autoscope.agents.protocol.Agent`; what it does not
    have of the built-in agents' settings (``kind``, ``acquisition`` ...) is
    written as None (``kind``: its class name).
    """
    c = agent.candidates
    md = {
        "plan_name": "agent_report",
        "agent": getattr(agent, "kind", type(agent).__name__),
        "acquisition": getattr(agent, "acquisition", None),
        # the top-quantile level of the "topq" acquisition (a replay needs it to choose alike)
        "quantile": getattr(agent, "quantile", None),
        "seed_design": getattr(agent, "seed_design", None),
        "n_seed": getattr(agent, "n_seed", None),
        "batch_size": agent.batch_size,
        "budget": getattr(agent, "budget", None),
        "seed": getattr(agent, "seed", None),
        "candidates_shape": list(c.shape),
        "candidate_units": c.units,
        "candidate_origin": c.positions[0].tolist(),
        "patch_size": c.patch_size,
    }
    if experiment is not None:
        md["scalarizer"] = experiment._scalarizer.name
        md["channel"] = experiment.channel
    return md
