"""``autoscope replay``: re-run a campaign from the catalog, with its own agent or another.

A campaign (:func:`autoscope.plans.campaign.autonomous_campaign`, or the demo)
leaves in the catalog its overview run (``campaign_role: "overview"``), one
``spectra_at`` run per step and ``agent_report`` runs whose start documents
hold the agent's settings and whose events hold every observation in the
order it was ingested. :func:`load_campaign` reads them back;
:func:`replay_campaign` re-runs the decisions:

- **With the original agent and settings** the agent is rebuilt on the
  candidates of the recorded overview and fed the recorded observations; at
  every step its choice is compared with the original one. A faithful replay
  reproduces them exactly (``diverged_at`` is None); where it does not, the
  first step that differs is reported, and the replay goes on only if a ground
  truth says what the new point would have measured.
- **With another agent** (``--agent gp``, ``random`` ...) the campaign is re-run
  counterfactually on a recorded ground truth: a recorded-dataset file of the
  same grid (``--dataset``, e.g. what ``autoscope export`` wrote from the grid
  the campaign ran on). Only the points measured in that grid are candidates.
  A campaign that ran on a twin is replayed on the twin's measured grid instead
  (``--twin KIND[:SEED]``; by default the twin its reports name, ``twin``, or the
  demo's ``demo_seed``): what the twin would have measured at every pixel, so the
  original and the counterfactual agents are scored on the same truth.

Candidates the campaign withdrew (NaN overview pixels of a recorded grid, points
its instrument had not recorded, ``withdrawn_indices`` of the reports) are
withdrawn in the replay at the same moments, so the original agent makes the
same choices.

With a ground truth, every run (the original included) gets its discovery
curve: the share of the top-1 % locations found after each measurement. The
replay is written to the catalog as ``agent_report`` runs (stream ``"agent"``,
the data keys of :mod:`autoscope.agents.reporting`) with ``replay_of`` naming
the original campaign, and :func:`plot_replay` draws the curves side by side
and the chosen points on the overview.

What the reports do not record is taken from the runs and said
(``assumed``): the top-quantile level (the plan's 0.99 when absent), the
overview channel (the overview run's ``overview_channel``, else the only image
channel, else ``piezoresponse`` when the run records a ``phase_reference``,
else ``topography``).
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoscope.agents.agent import AGENT_KINDS, make_agent
from autoscope.agents.candidates import CandidateSet
from autoscope.agents.experiment import SpectraExperiment
from autoscope.agents.reporting import REPORT_STREAM, data_keys, report_metadata, report_values
from autoscope.agents.tiled_adapter import read_reports
from autoscope.catalog.paths import add_data_dir_argument
from autoscope.errors import ConfigurationError
from autoscope.io.pfm import piezoresponse
from autoscope.io.xarray_view import to_xarray
from autoscope.live.drawing import add_scale_bar, grid_extent
from autoscope.plans.campaign import overview_filled
from autoscope.studies.benchmark import top_set
from autoscope.studies.groundtruth import load_recorded, scalar_map, twin_dataset

__all__ = [
    "Campaign",
    "add_arguments",
    "load_campaign",
    "main",
    "plot_replay",
    "replay_campaign",
]

log = logging.getLogger(__name__)


@dataclass
class Campaign:
    """A campaign as the catalog holds it.

    Attributes
    ----------
    uid : the campaign id
    settings : the first report's start document (agent, acquisition, seed ...)
    overview_uid : the overview run
    overview_channel : image channel the candidates were made from
    image : ``(H, W)`` float64 overview
    candidates : CandidateSet rebuilt from it
    observations : ``[(index, value), ...]`` in the order ingested
    assumed : what was not recorded and was taken as said
    """

    uid: str
    settings: dict
    overview_uid: str
    overview_channel: str
    image: np.ndarray
    candidates: CandidateSet
    observations: list[tuple[int, float]]
    report_uids: list[str]
    assumed: dict = field(default_factory=dict)
    frame: dict = field(default_factory=dict)
    withdrawn: list[int] = field(default_factory=list)

    @property
    def order(self) -> list[int]:
        """Candidate indices in the order they were measured."""
        return [i for i, _ in self.observations]


def _runs_of(client, campaign: str) -> dict:
    from tiled.queries import Key

    found = client.search(Key("start.campaign") == campaign)
    return {uid: found[uid] for uid in found}


def _overview_image(run, start: dict, channel: str | None, assumed: dict) -> tuple[np.ndarray, str]:
    ds = to_xarray(run)
    names = list(start["image_keys"])
    if channel is None:
        channel = start.get("overview_channel")
        if channel is None:
            if len(names) == 1:
                channel = names[0]
            elif start.get("phase_reference") is not None:
                channel = "piezoresponse"
            else:
                channel = "topography"
            assumed["overview_channel"] = channel
    if channel == "piezoresponse" and "piezoresponse" not in names:
        ref = start.get("phase_reference")
        if ref is None:
            raise ConfigurationError(
                f"overview run {start['uid']} records no phase_reference to form piezoresponse"
            )
        amp = np.asarray(ds["amplitude"].sel(direction="trace").values, dtype=float)
        phase = np.asarray(ds["phase"].sel(direction="trace").values, dtype=float)
        return piezoresponse(amp, phase, ref), channel
    if channel not in ds:
        raise ConfigurationError(
            f"overview run {start['uid']} has no image channel {channel!r}; it has {names}"
        )
    return np.asarray(ds[channel].sel(direction="trace").values, dtype=float), channel


def load_campaign(client, campaign: str, overview_channel: str | None = None) -> Campaign:
    """Read a campaign's overview, settings and observations from the catalog.

    Raises
    ------
    ConfigurationError
        If no run carries the campaign id, or it has no overview or no report.
    """
    runs = _runs_of(client, campaign)
    if not runs:
        raise ConfigurationError(f"no run of campaign {campaign!r} in the catalog")
    starts = {uid: dict(r.metadata["start"]) for uid, r in runs.items()}
    reports = sorted(
        (u for u, s in starts.items() if s.get("plan_name") == "agent_report"),
        key=lambda u: (starts[u].get("campaign_step", 0), starts[u].get("time", 0)),
    )
    if not reports:
        raise ConfigurationError(f"campaign {campaign!r} has no agent_report run")
    settings = starts[reports[0]]
    assumed: dict = {}
    overview_uid = settings.get("overview_uid")
    if overview_uid is None:
        overviews = [
            u
            for u, s in starts.items()
            if s.get("campaign_role") == "overview" or s.get("plan_name") == "raster_image"
        ]
        if not overviews:
            raise ConfigurationError(f"campaign {campaign!r} has no overview run")
        overview_uid = min(overviews, key=lambda u: starts[u].get("time", 0))
        assumed["overview_uid"] = overview_uid
    ostart = starts.get(overview_uid) or dict(client[overview_uid].metadata["start"])
    image, channel = _overview_image(
        client[overview_uid], ostart, overview_channel or settings.get("overview_channel"), assumed
    )
    frame = ostart["frame"]
    pixel = float(frame["width"]) / int(frame["pixels"])
    candidates = CandidateSet.from_image(
        overview_filled(image),  # NaN pixels: a recorded grid's points never measured
        patch_size=settings.get("patch_size"),
        pixel_size=pixel,
        origin=(
            float(frame["center_x"]) - float(frame["width"]) / 2,
            float(frame["center_y"]) - float(frame["height"]) / 2,
        ),
    )
    if list(candidates.shape) != list(settings["candidates_shape"]):
        raise ConfigurationError(
            f"candidates rebuilt from {overview_uid} are {candidates.shape}, the reports say "
            f"{settings['candidates_shape']}"
        )
    observations: list[tuple[int, float]] = []
    withdrawn: list[int] = np.flatnonzero(~np.isfinite(image).ravel()).tolist()
    for ruid in reports:
        observations += read_reports(client, ruid, keys=("agent_observed",))["observations"]
        withdrawn += [i for i in starts[ruid].get("withdrawn_indices", []) if i not in withdrawn]
    if settings.get("acquisition") == "topq" and settings.get("quantile") is None:
        assumed["quantile"] = 0.99
    return Campaign(
        uid=campaign,
        settings=settings,
        overview_uid=overview_uid,
        overview_channel=channel,
        image=image,
        candidates=candidates,
        observations=observations,
        report_uids=reports,
        assumed=assumed,
        frame=dict(frame),
        withdrawn=withdrawn,
    )


def _agent_options(c: Campaign, kind: str) -> dict:
    s = c.settings
    options = {
        "batch_size": int(s.get("batch_size") or 1),
        "budget": int(s.get("budget") or len(c.observations)),
        "seed": int(s.get("seed") or 0),
    }
    if kind == s.get("agent"):
        for key in ("acquisition", "n_seed", "seed_design"):
            if s.get(key) is not None:
                options[key] = s[key]
        quantile = s.get("quantile", c.assumed.get("quantile"))
        if quantile is not None and s.get("acquisition") == "topq":
            options["quantile"] = float(quantile)
    return options


class _ReportRun:
    """One ``agent_report`` run of a replay: a start, one event per step, a stop."""

    def __init__(self, writer, agent, experiment, md: dict):
        from event_model import compose_run

        self.writer = writer
        self.q = agent.batch_size
        self.bundle = compose_run(metadata={**report_metadata(agent, experiment), **md})
        self.uid = self.bundle.start_doc["uid"]
        self._emit("start", self.bundle.start_doc)
        keys = data_keys(agent.candidates.shape, self.q, units=agent.candidates.units)
        self.desc = self.bundle.compose_descriptor(data_keys=keys, name=REPORT_STREAM)
        self._emit("descriptor", self.desc.descriptor_doc)

    def _emit(self, name, doc):
        if self.writer is not None:
            self.writer(name, doc)

    def step(self, agent, observed):
        values = report_values(agent.report(), self.q, observed)
        now = time.time()
        self._emit(
            "event", self.desc.compose_event(data=values, timestamps=dict.fromkeys(values, now))
        )

    def close(self, reason=""):
        self._emit("stop", self.bundle.compose_stop(exit_status="success", reason=reason))


def _discovery(order, top) -> list[float]:
    found, seen, curve = 0, set(), []
    for i in order:
        if top[i] and i not in seen:
            found += 1
        seen.add(i)
        curve.append(found / int(top.sum()))
    return curve


def replay_campaign(
    client,
    campaign: str,
    agents=None,
    dataset=None,
    writer=None,
    overview_channel: str | None = None,
    twin: str | None = None,
) -> dict:
    """Replay a campaign with its own agent (default) or others; returns the comparison.

    Parameters
    ----------
    client : Tiled client of the catalog root
    campaign : campaign id
    agents : list of agent names (default: the original agent only)
    dataset : path of a recorded-dataset file of the same grid: the ground truth a
        counterfactual agent is scored on (needed for an agent other than the original)
    writer : callable ``(name, doc)``; where the replay's report runs go (None: not written)
    overview_channel : override the overview channel
    twin : ``"KIND"`` or ``"KIND:SEED"``: the ground truth is that twin's measured grid
        (:func:`autoscope.studies.groundtruth.twin_dataset`); default, when no
        ``dataset`` is given, the twin the campaign's reports name (``twin``) or
        the demo's (``demo_seed``: the PFM twin of that seed)

    Returns
    -------
    dict
        ``campaign``, ``original`` (agent, order, curve or None), ``replays``: one dict per
        agent with ``agent``, ``order``, ``reproduced`` (same choices as the original, for
        the original agent), ``diverged_at`` (first differing step or None), ``curve``
        (with a ground truth), ``report_uid``, ``replay_campaign``; ``assumed``,
        ``image``, ``candidates_shape``, ``truth_source`` (the dataset or twin, or None).

    Raises
    ------
    ConfigurationError
        For an unknown agent, another agent without a ground truth, both a dataset
        and a twin, or a truth whose grid differs from the campaign's candidates.
    """
    if dataset is not None and twin is not None:
        raise ConfigurationError("give one ground truth: --dataset or --twin, not both")
    c = load_campaign(client, campaign, overview_channel)
    original_kind = c.settings.get("agent")
    agents = list(agents or [original_kind])
    for kind in agents:
        if kind not in AGENT_KINDS:
            raise ConfigurationError(f"unknown agent {kind!r}; known: {', '.join(AGENT_KINDS)}")
    scalarizer = c.settings.get("scalarizer")
    truth_values = measured_mask = top = None
    if dataset is None and twin is None:
        twin = recorded_twin(c.settings)
    truth = None
    if dataset is not None:
        truth = load_recorded(dataset)
    elif twin is not None:
        truth = twin_truth(twin, c)
    if truth is not None:
        if truth.image.shape != tuple(c.candidates.shape):
            raise ConfigurationError(
                f"ground truth {truth.source} is {truth.image.shape}, the campaign's "
                f"candidates are {tuple(c.candidates.shape)}"
            )
        truth_values = scalar_map(truth, scalarizer).ravel()
        measured_mask = truth.measured_mask.ravel()
        top = top_set(np.where(measured_mask, truth_values, np.nan))
    elif any(k != original_kind for k in agents):
        raise ConfigurationError(
            "a counterfactual agent needs the ground truth of the grid: give --dataset FILE.h5 "
            "(autoscope export of the recorded grid) or --twin KIND:SEED (the twin it ran on)"
        )
    recorded = dict(c.observations)
    experiment = SpectraExperiment(scalarizer, channel=c.settings.get("channel") or "dIdV")
    out = {
        "campaign": campaign,
        "original": {
            "agent": original_kind,
            "order": c.order,
            "curve": None if top is None else _discovery(c.order, top),
        },
        "replays": [],
        "assumed": c.assumed,
        "image": c.image,
        "candidates_shape": list(c.candidates.shape),
        "positions": np.asarray(c.candidates.positions, dtype=float),
        "position_units": c.candidates.units,
        "overview_uid": c.overview_uid,
        "overview_channel": c.overview_channel,
        "truth_source": None if truth is None else truth.source,
        "withdrawn": list(c.withdrawn),
    }
    gone_before = set(c.withdrawn)
    for kind in agents:
        options = _agent_options(c, kind)
        agent = make_agent(kind, c.candidates, **options)
        if measured_mask is not None:
            agent.measured |= ~measured_mask  # never-measured points are not candidates
        finite = np.isfinite(c.image).ravel()
        agent.measured |= ~finite  # NaN overview pixels: withdrawn before the first step, too
        budget = options["budget"]
        replay_id = str(uuid.uuid4())
        md = {
            "campaign": replay_id,
            "replay_of": campaign,
            "replay_agent": kind,
            "overview_uid": c.overview_uid,
            "overview_channel": c.overview_channel,
        }
        report = _ReportRun(writer, agent, experiment, md) if writer is not None else None
        order: list[int] = []
        diverged_at = None
        stopped = ""
        step = 0
        while agent.n_measured < budget:
            n = min(agent.batch_size, budget - agent.n_measured, int((~agent.measured).sum()))
            if n == 0:
                stopped = "every candidate measured or withdrawn"
                break
            try:
                idx = np.asarray(agent.suggest_indices(n), dtype=int)
            except Exception as exc:  # noqa: BLE001 - as the campaign plan: explore instead
                log.warning("agent %s failed at step %d (%s); exploring", kind, step, exc)
                idx = np.asarray(agent.fallback_indices(n), dtype=int)
            # as the campaign: a point its instrument had not recorded is withdrawn, the
            # points before it in the step are measured, those after it stay free
            cut = next((j for j, i in enumerate(idx.tolist()) if i in gone_before), None)
            if cut is not None:
                agent.measured[idx[cut]] = True
                idx = idx[:cut]
            if kind == original_kind and diverged_at is None:
                if idx.tolist() != c.order[len(order) : len(order) + len(idx)]:
                    diverged_at = step
            if not len(idx):
                values = np.zeros(0)
            elif truth_values is not None:
                values = truth_values[idx]
            elif all(int(i) in recorded for i in idx):
                values = np.array([recorded[int(i)] for i in idx])
            else:
                stopped = f"diverged at step {step} and no ground truth says what it would measure"
                break
            agent.ingest_indices(idx, values)
            order += idx.tolist()
            if report is not None and len(idx):
                report.step(agent, list(zip(idx.tolist(), np.asarray(values, float).tolist())))
            step += 1
        if report is not None:
            report.close(stopped)
        out["replays"].append(
            {
                "agent": kind,
                "options": options,
                "order": order,
                "reproduced": kind == original_kind and order == c.order and not stopped,
                "diverged_at": diverged_at if kind == original_kind else None,
                "stopped": stopped,
                "curve": None if top is None else _discovery(order, top),
                "report_uid": None if report is None else report.uid,
                "replay_campaign": replay_id,
            }
        )
    if writer is not None and hasattr(writer, "flush"):
        writer.flush()
    return out


def recorded_twin(settings: dict) -> str | None:
    """The twin a campaign's reports name (``twin``: ``{"kind", "seed"}``), or the
    demo's PFM twin (``demo_seed``), as ``"KIND:SEED"``; None for another campaign."""
    t = settings.get("twin")
    if isinstance(t, dict) and t.get("kind"):
        return f"{t['kind']}:{int(t.get('seed', 0))}"
    if settings.get("purpose") == "autoscope demo" and settings.get("demo_seed") is not None:
        return f"pfm:{int(settings['demo_seed'])}"
    return None


def twin_truth(twin: str, c: Campaign):
    """The twin's measured grid on the campaign's candidates, checked against its frame."""
    kind, _, seed = str(twin).partition(":")
    try:
        seed_value = int(seed) if seed else int(c.settings.get("seed") or 0)
    except ValueError:
        raise ConfigurationError(f"twin {twin!r} must be KIND or KIND:SEED") from None
    if kind not in ("pfm", "stm"):
        raise ConfigurationError(f"twin kind must be 'pfm' or 'stm', got {kind!r}")
    h, w = c.candidates.shape
    truth = twin_dataset(kind, w, seed_value)
    width = float(c.frame.get("width", truth.pixel_size * w))
    if abs(truth.pixel_size * w - width) > 0.01 * width:
        raise ConfigurationError(
            f"the {kind} twin's grid is {truth.pixel_size * w:g} nm wide, the campaign's "
            f"overview {width:g} nm: not the grid the campaign ran on"
        )
    return truth


def plot_replay(result: dict, path) -> Path:
    """Discovery curves side by side and the chosen points on the overview; a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    h, w = result["candidates_shape"]
    runs = [("original " + str(result["original"]["agent"]), result["original"])] + [
        (f"replay {r['agent']}", r) for r in result["replays"]
    ]
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    ax_curve, ax_img = fig.subplots(1, 2)
    for label, r in runs:
        if r["curve"] is not None:
            ax_curve.plot(np.arange(1, len(r["curve"]) + 1), r["curve"], label=label)
    ax_curve.set_xlabel("measurements")
    ax_curve.set_ylabel("share of the top-1 % found")
    if any(r["curve"] is not None for _, r in runs):
        ax_curve.legend(fontsize=8)
    else:
        ax_curve.text(0.5, 0.5, "no ground truth given:\nno discovery curve", ha="center")
    # nm axes: candidate (row, col) sits at the centre of its overview pixel
    xy = np.asarray(result["positions"], dtype=float)
    units = result.get("position_units", "nm")
    extent = grid_extent(xy, (h, w))
    im = ax_img.imshow(result["image"], origin="lower", cmap="gray", extent=extent)
    fig.colorbar(im, ax=ax_img, shrink=0.8).set_label(
        f"{result.get('overview_channel', 'overview')} (as recorded)", fontsize=8
    )
    add_scale_bar(ax_img, extent[1] - extent[0], 0.012 * (extent[3] - extent[2]))
    for (label, r), marker in zip(runs, "o^sDvP*"):
        px, py = xy[np.asarray(r["order"], dtype=int)].T
        ax_img.scatter(px, py, s=14, marker=marker, label=label, alpha=0.8)
    ax_img.set_xlabel(f"x ({units})", fontsize=8)
    ax_img.set_ylabel(f"y ({units})", fontsize=8)
    ax_img.set_title(f"chosen points on the overview ({h} x {w})", fontsize=10, loc="left", pad=16)
    ax_img.legend(fontsize=8, loc="upper right")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``autoscope replay``."""
    parser.add_argument("campaign", metavar="CAMPAIGN_UID", help="the campaign id")
    parser.add_argument(
        "--agent",
        action="append",
        choices=AGENT_KINDS,
        default=None,
        help="agent to replay with (repeat for several; default: the original)",
    )
    parser.add_argument(
        "--dataset",
        metavar="FILE.h5",
        default=None,
        help="recorded-dataset file of the same grid: the ground truth of a counterfactual",
    )
    parser.add_argument(
        "--twin",
        metavar="KIND[:SEED]",
        default=None,
        help="the ground truth is this twin's measured grid (default: the twin the "
        "campaign's reports name, if any)",
    )
    parser.add_argument("--overview-channel", default=None)
    parser.add_argument("--out", default="autoscope-replay", help="folder for replay.png")
    parser.add_argument("--no-write", action="store_true", help="do not write the replay runs")
    add_data_dir_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope replay``: prints the comparison, draws ``replay.png``."""
    from autoscope.catalog import connect, data_dir, make_writer

    folder = data_dir(args.data_dir)
    client = connect(data_dir=folder)
    writer = None if args.no_write else make_writer(client, data_dir=folder)
    try:
        result = replay_campaign(
            client,
            args.campaign,
            args.agent,
            args.dataset,
            writer,
            args.overview_channel,
            args.twin,
        )
    finally:
        if writer is not None:
            writer.close()
    for key, value in result["assumed"].items():
        print(f"not recorded, assumed: {key} = {value}")
    orig = result["original"]
    if result["truth_source"]:
        print(f"ground truth: {result['truth_source']}")
    if result["withdrawn"]:
        print(f"{len(result['withdrawn'])} candidates withdrawn by the campaign (not recorded)")
    print(f"original {orig['agent']}: {len(orig['order'])} measurements")
    for r in result["replays"]:
        line = f"replay {r['agent']}: {len(r['order'])} measurements"
        if r["agent"] == orig["agent"]:
            line += (
                ", same choices as the original"
                if r["reproduced"]
                else f", first different choice at step {r['diverged_at']}"
            )
        if r["curve"] is not None:
            line += f", top-1 % found {r['curve'][-1]:.2f}"
        if r["stopped"]:
            line += f" ({r['stopped']})"
        if r["report_uid"]:
            line += f"; report run {r['report_uid']}"
        print(line)
    if orig["curve"] is not None:
        print(f"original top-1 % found {orig['curve'][-1]:.2f}")
    png = plot_replay(result, Path(args.out) / "replay.png")
    print(f"figure: {png}")
    return 0
