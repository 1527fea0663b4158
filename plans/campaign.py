"""The autonomous campaign: overview -> candidates -> seed points -> suggest / measure / ingest.

:func:`autonomous_campaign` is the plan a user or the queue server runs (plain
arguments only; the agent is chosen by name). It is built from two stubs that
scripts and the demo can use with their own objects:

- :func:`overview_candidates`: record the overview image (``raster_image``)
  and turn it into the candidate set (every pixel, with its patch);
- :func:`campaign_loop`: until the budget is spent or the stop rule fires,
  ask the agent for points, measure them with ``spectra_at`` (one run per
  step, tagged with the campaign id and step), ingest the scalarized spectra
  and write the agent's report as an ``agent_report`` run (stream ``"agent"``,
  data keys of :mod:`autoscope.agents.reporting`; its start document also has
  ``campaign_budget``, ``instrument_seconds`` spent in the loop and the estimated
  ``instrument_seconds_left``, for :class:`autoscope.live.LiveCampaign`).

A point the instrument cannot measure there (:class:`~autoscope.errors.NotRecorded`:
a recorded grid's point never measured, or outside the recording) is withdrawn:
the agent never asks for it again, the campaign goes on, and every report's start
document counts the withdrawn candidates (``withdrawn``) and lists them
(``withdrawn_indices``). Overview pixels that are NaN (a recorded grid's points
never measured) are withdrawn before the first step; the candidates' patches see
the median of the finite overview there.

An exception inside the agent never stops the microscope: the step falls back
to an exploration choice and the failure is recorded (in the report's
``agent_error`` and the summary). Pausing works at every checkpoint of the
measuring plans (between spectra, between scan lines); on resume the loop
goes on where it was. A progress bar (tqdm, on a terminal; a log line every
5 % elsewhere, :mod:`autoscope.plans.progress`) shows the budget used and the
instrument time spent and left.
"""

# No "from __future__ import annotations": the queue server reads the annotations as
# objects to describe and validate plan parameters.

import logging
import uuid

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator

from autoscope.agents.acquisition import check_acquisition
from autoscope.agents.agent import agent_class, make_agent, resolve_seed_design
from autoscope.agents.candidates import CandidateSet
from autoscope.agents.decide import decide, decision_report
from autoscope.agents.experiment import SpectraExperiment
from autoscope.agents.history import campaign_records, ingest_records, next_step
from autoscope.agents.protocol import Agent, check_agent
from autoscope.agents.reporting import report_metadata, report_values
from autoscope.catalog import connect
from autoscope.errors import ConfigurationError, NotRecorded
from autoscope.io.pfm import piezoresponse
from autoscope.plans.campaign_parts import DocumentCollector, report_signals, write_report
from autoscope.plans.imaging import raster_image
from autoscope.plans.progress import progress_bar
from autoscope.plans.spectroscopy import spectra_at

__all__ = [
    "autonomous_campaign",
    "campaign_loop",
    "overview_candidates",
    "overview_filled",
    "withdraw",
]

log = logging.getLogger(__name__)


def _image_from_documents(docs, channel: str) -> np.ndarray:
    """Assemble the trace image of ``channel`` from a raster_image run's documents.

    ``channel`` may also be ``"piezoresponse"`` of a PFM image that has only
    amplitude and phase: ``amplitude * cos(phase - phase_reference)``
    (:func:`autoscope.io.pfm.piezoresponse`) with the ``phase_reference`` the
    run's start document records.
    """
    start = next(d for n, d in docs if n == "start")
    keys = start["image_keys"]
    h, w = start["image_shape"]
    line_key = start["line_key"]

    def assemble(ch):
        if ch not in keys:
            raise ConfigurationError(
                f"overview channel {ch!r} is not an image channel; known: {sorted(keys)}"
            )
        img = np.full((h, w), np.nan)
        trace = keys[ch][0]
        for n, d in docs:
            if n == "event" and trace in d["data"]:
                img[int(d["data"][line_key])] = np.asarray(d["data"][trace], dtype=float)
        return img

    if channel == "piezoresponse" and "piezoresponse" not in keys:
        reference = start.get("phase_reference")
        if reference is None:
            raise ConfigurationError(
                "the overview run records no phase_reference, so piezoresponse cannot be "
                "formed from amplitude and phase; the device's backend states none"
            )
        return piezoresponse(assemble("amplitude"), assemble("phase"), reference)
    return assemble(channel)


def overview_formation(channel: str) -> str:
    """How the agent's overview image is formed from the overview run (for the reports)."""
    if channel == "piezoresponse":
        return (
            "float64 trace image of 'piezoresponse', or where the run has none, "
            "amplitude * cos(phase - phase_reference) of the trace images "
            "(autoscope.io.pfm.piezoresponse, phase_reference from the run's start document)"
        )
    return f"float64 trace image of {channel!r}, one row per line index"


def overview_filled(image: np.ndarray) -> np.ndarray:
    """The overview with its NaN pixels set to the median of the finite ones.

    Raises
    ------
    ConfigurationError
        If no pixel is finite.
    """
    image = np.asarray(image, dtype=float)
    finite = np.isfinite(image)
    if finite.all():
        return image
    if not finite.any():
        raise ConfigurationError("the overview image holds no finite pixel")
    return np.where(finite, image, float(np.median(image[finite])))


def withdraw(agent, indices) -> int:
    """Withdraw candidates from an agent that keeps a ``measured`` mask (the agents of
    :mod:`autoscope.agents`): it never chooses them, they count nothing against the
    budget. Returns how many were newly withdrawn.

    Raises
    ------
    ConfigurationError
        If the agent keeps no ``measured`` mask (it could not be kept from asking again).
    """
    mask = getattr(agent, "measured", None)
    if mask is None:
        raise ConfigurationError(
            f"agent {type(agent).__name__} keeps no 'measured' mask; candidates cannot be "
            "withdrawn from it"
        )
    idx = np.atleast_1d(np.asarray(indices, dtype=int))
    new = int((~mask[idx]).sum())
    mask[idx] = True
    return new


def overview_candidates(
    spm,
    center_x: float,
    center_y: float,
    width: float,
    height: float,
    pixels: int,
    line_time: float,
    channel: str,
    patch_size: int | None = None,
    md: dict | None = None,
) -> MsgGenerator[tuple]:
    """Plan stub: record the overview image and return ``(candidates, image, run uid)``.

    NaN pixels of the overview (a recorded grid's points never measured) stay NaN in
    the returned image; the candidates' patches see :func:`overview_filled` there,
    and :func:`autonomous_campaign` withdraws those candidates.

    On a PFM the overview run's start document records the device's
    ``phase_reference`` (deg), the one a ``"piezoresponse"`` overview is formed with.
    """

    reference = getattr(spm, "phase_reference", None)
    if reference is not None:
        md = {**(md or {}), "phase_reference": reference}
    collector = DocumentCollector()
    uid = yield from bpp.subs_wrapper(
        raster_image(spm, center_x, center_y, width, height, pixels, pixels, line_time, md=md),
        collector,
    )
    image = _image_from_documents(collector.docs, channel)
    candidates = CandidateSet.from_image(
        overview_filled(image),
        patch_size=patch_size,
        pixel_size=width / pixels,
        origin=(center_x - width / 2, center_y - height / 2),
    )
    return candidates, image, uid


def _events_of(docs) -> int:
    """How many events of stream ``"primary"`` a run's documents hold."""
    primary = {d["uid"] for n, d in docs if n == "descriptor" and d.get("name") == "primary"}
    count = 0
    for name, doc in docs:
        if name == "event" and doc["descriptor"] in primary:
            count += 1
        elif name == "event_page" and doc["descriptor"] in primary:
            count += len(doc["seq_num"])
    return count


def campaign_loop(
    spm,
    agent: Agent,
    experiment,
    budget: int,
    spectroscopy: dict | None = None,
    stop_uncertainty: float | None = None,
    report_every: int = 1,
    campaign_id: str | None = None,
    progress: bool = True,
    md: dict | None = None,
    catalog=None,
    withdrawn=None,
) -> MsgGenerator[dict]:
    """Plan stub: the suggest / measure / ingest loop; returns a summary dict.

    Parameters
    ----------
    spm : the SPM device
    agent : any object that satisfies :class:`autoscope.agents.protocol.Agent`
        (an :class:`~autoscope.agents.agent.ActiveLearningAgent`, an
        :class:`~autoscope.agents.optimizer.OptimizerAgent` ...); anything else
        is refused with a :class:`ConfigurationError` before anything moves
    experiment : :class:`autoscope.agents.experiment.SpectraExperiment`
    budget : int, total spectra (seed points included; counts what the agent
        has measured already)
    spectroscopy : dict, keyword arguments of ``spectra_at`` (start, stop, n_points ...)
    stop_uncertainty : float, optional
        Stop early when the largest predicted standard deviation over the
        unmeasured candidates falls below this (units of the scalar).
    report_every : int, write the agent's report every this many steps (and at the end)
    campaign_id : str, ties the runs of the campaign together
    progress : bool, show a progress bar
    md : dict, merged into every run's metadata
    catalog : tiled client of the catalog the runs go to, optional
        With ``campaign_id``, the campaign is resumed from it: steps are
        numbered on from the last one recorded, and an agent that has measured
        nothing yet is first given the campaign's earlier spectra
        (:mod:`autoscope.agents.history`), so no point is measured twice.
    withdrawn : array of candidate indices, optional
        Candidates withdrawn before the first step (see :func:`withdraw`).

    A spectrum the instrument cannot measure (:class:`~autoscope.errors.NotRecorded`)
    withdraws its candidate; the spectra measured before it in the step are used.
    The loop ends when no free candidate is left (``stopped_by`` ``"candidates"``).

    An agent whose ``suggest_indices`` raises measures its ``fallback_indices``
    instead; that step's report says ``"fallback"``, with the error and the
    points chosen instead (:func:`autoscope.agents.decide.decision_report`).

    Returns
    -------
    dict with ``campaign``, ``measured``, ``steps``, ``failures`` (list of
    ``{"step", "error"}``), ``stopped_by`` (``"budget"``, ``"uncertainty"`` or
    ``"candidates"``), ``withdrawn`` (candidate indices), ``spectra_uids``,
    ``report_uids``, ``instrument_seconds``.
    """
    check_agent(agent)
    if report_every < 1:
        raise ConfigurationError(f"report_every must be >= 1, got {report_every}")
    if budget < 1:
        raise ConfigurationError(f"budget must be >= 1, got {budget}")
    spectroscopy = dict(spectroscopy or {})
    step = 0
    pending_obs: list[tuple[int, float]] = []
    if campaign_id is not None and catalog is not None:
        records = campaign_records(catalog, campaign_id)
        step = next_step(records)
        if agent.n_measured == 0:
            pending_obs = ingest_records(catalog, records, agent, experiment)
        log.info("resuming campaign %s at step %d (%d measured)", campaign_id, step,
                 agent.n_measured)  # fmt: skip
    campaign_id = campaign_id or str(uuid.uuid4())
    md = dict(md or {})
    signals = report_signals(agent.candidates.shape, agent.batch_size, agent.candidates.units)
    failures: list[dict] = []
    gone: list[int] = []
    if withdrawn is not None and len(withdrawn):
        withdraw(agent, withdrawn)
        gone += [int(i) for i in np.atleast_1d(withdrawn)]
    spectra_uids: list[str] = []
    report_uids: list[str] = []
    stopped_by = "budget"
    t0 = yield from bps.rd(spm.instrument_time)
    t0 = float(t0)
    # a bar on a terminal; in the queue server's log a line every 5 % instead of \r redraws
    bar = progress_bar(
        total=budget,
        initial=agent.n_measured,
        unit="spectrum",
        enabled=progress,
        desc="campaign",
        logger=log,
    )
    try:
        while agent.n_measured < budget:
            n = min(agent.batch_size, budget - agent.n_measured)
            mask = getattr(agent, "measured", None)
            if mask is not None:
                free = int((~np.asarray(mask)).sum())
                if free == 0:
                    stopped_by = "candidates"  # every candidate is measured or withdrawn
                    break
                n = min(n, free)
            decision = decide(agent, n, step)
            idx = decision.indices
            if decision.error is not None:
                failures.append({"step": step, "error": decision.error})
            points = agent.candidates.positions[idx]
            collector = DocumentCollector()
            try:
                uid = yield from bpp.subs_wrapper(
                    spectra_at(
                        spm,
                        points.tolist(),
                        md={**md, "campaign": campaign_id, "campaign_step": step},
                        **spectroscopy,
                    ),
                    collector,
                )
            except NotRecorded as exc:
                # the spectra measured before it stand; its candidate is withdrawn, the
                # rest of the step's points stay free
                done = _events_of(collector.docs)
                withdraw(agent, idx[done])
                gone.append(int(idx[done]))
                log.info("candidate %d withdrawn at step %d: %s", idx[done], step, exc)
                failures.append({"step": step, "error": f"NotRecorded: {exc}"})
                idx = idx[:done]
                uid = None
            if collector.docs:
                spectra_uids.append(uid if isinstance(uid, str) else collector.docs[0][1]["uid"])
            try:
                values = (
                    experiment.unpack_documents(collector.docs).values if len(idx) else np.zeros(0)
                )
                if len(values) != len(idx):
                    raise ConfigurationError(f"expected {len(idx)} spectra, got {len(values)}")
            except Exception as exc:  # noqa: BLE001 - unusable spectra are recorded, not fatal
                error = f"{type(exc).__name__}: {exc}"
                log.warning("could not use the spectra of step %d (%s)", step, error)
                failures.append({"step": step, "error": error})
                values = np.full(len(idx), np.nan)
            # the agent decides among candidate pixels: the spectrum counts for the pixel
            # asked for (the reported position is in the spectra run)
            agent.ingest_indices(idx, values)
            pending_obs += list(zip(idx.tolist(), np.asarray(values, float).tolist()))
            bar.update(len(idx))
            t_now = float((yield from bps.rd(spm.instrument_time)))
            used = t_now - t0
            per = used / max(agent.n_measured, 1)
            left = per * (budget - agent.n_measured)
            bar.set_postfix_str(f"instrument {used / 60:.1f} min, ~{left / 60:.1f} min left")
            last = agent.n_measured >= budget
            mask = getattr(agent, "measured", None)
            if not last and mask is not None and np.asarray(mask).all():
                stopped_by = "candidates"  # every candidate is measured or withdrawn
                last = True
            uncertain = agent.max_uncertainty()
            if (
                stop_uncertainty is not None
                and np.isfinite(uncertain)
                and uncertain < stop_uncertainty
            ):
                stopped_by = "uncertainty"
                last = True
            if step % report_every == 0 or last:
                values_report = report_values(
                    decision_report(agent, decision), agent.batch_size, pending_obs
                )
                pending_obs = []
                ruid = yield from write_report(
                    signals,
                    values_report,
                    {
                        **report_metadata(agent, experiment),
                        **md,
                        "campaign": campaign_id,
                        "campaign_step": step,
                        # for a live view: the budget, instrument time spent and left (s)
                        "campaign_budget": budget,
                        "instrument_seconds": used,
                        "instrument_seconds_left": left,
                        # candidates withdrawn so far (NotRecorded, NaN overview pixels)
                        "withdrawn": len(gone),
                        "withdrawn_indices": list(gone),
                    },
                )
                report_uids.append(ruid)
            step += 1
            if last:
                break
    finally:
        bar.close()
    t_end = float((yield from bps.rd(spm.instrument_time)))
    return {
        "campaign": campaign_id,
        "measured": agent.n_measured,
        "steps": step,
        "failures": failures,
        "stopped_by": stopped_by,
        "withdrawn": list(gone),
        "spectra_uids": spectra_uids,
        "report_uids": report_uids,
        "instrument_seconds": t_end - t0,
    }


def autonomous_campaign(
    spm: Readable,
    agent: str = "bma",
    scalarizer: str = "loop_area",
    channel: str = "piezoresponse",
    budget: int = 100,
    batch_size: int = 1,
    n_seed: int | None = None,
    acquisition: str = "topq",
    quantile: float = 0.99,
    seed_design: str | None = None,
    patch_size: int | None = None,
    center_x: float = 0.0,
    center_y: float = 0.0,
    width: float = 2000.0,
    height: float = 2000.0,
    pixels: int = 64,
    line_time: float = 0.5,
    overview_channel: str = "piezoresponse",
    start: float = -2.5,
    stop: float = 2.5,
    n_points: int = 96,
    settle: float = 0.002,
    integration: float = 0.01,
    stop_uncertainty: float | None = None,
    report_every: int = 1,
    seed: int = 0,
    progress: bool = True,
    md: dict | None = None,
    campaign_id: str | None = None,
) -> MsgGenerator[str]:
    """Find where a spectral property is largest, with far fewer spectra than a grid.

    Records an overview image, makes every pixel a candidate, measures seed
    points, then lets the agent choose where to measure a spectrum next until
    ``budget`` spectra are measured or the stop rule fires.

    Parameters
    ----------
    spm : Readable
        The SPM device (``autoscope.devices.SPM``).
    agent : str
        ``"bma"`` (default: DKL and the coordinate GP weighed by the evidence of
        their predictions), ``"dkl"`` (deep kernel learning on image patches),
        ``"gp"`` (GP on coordinates), ``"random"`` or ``"raster"``.
    scalarizer : str
        ``"loop_area"``, ``"band_integral:LO:HI"``, ``"peak_prominence"``, ``"peak_position"``.
    channel : str
        Spectrum channel the scalarizer reads (``"piezoresponse"`` for PFM, ``"dIdV"`` for STM).
    budget : int
        Spectra to measure, seed points included.
    batch_size : int
        Points chosen per agent step (measured in one ``spectra_at`` run).
    n_seed : int, optional
        Seed points before the model is used (default about 5 % of the budget).
    acquisition : str
        ``"topq"`` (measure where the property is likely in the top
        ``1 - quantile`` share of the map), ``"ei"`` (chase the single best
        value), ``"ucb"`` or ``"maxvar"``.
    quantile : float
        Level of ``"topq"``, between 0 and 1 (0.99: the strongest 1 %).
    seed_design : str, optional
        ``"spatial"`` (seed points spread over the image) or ``"image"`` (half
        of them at the rarest kinds of structure the overview shows, e.g.
        defects); default ``"image"`` for DKL, ``"spatial"`` for the GP.
    patch_size : int, optional
        Odd patch size in pixels for the DKL agent (default from the image size).
    center_x, center_y, width, height : float
        Overview frame in nm.
    pixels : int
        Overview image is ``pixels x pixels``; every pixel is a candidate.
    line_time : float
        Seconds per overview line.
    overview_channel : str
        Image channel the agent sees (``"piezoresponse"`` = amplitude * cos(phase -
        phase_reference) for PFM, with the device's reference, recorded in the run;
        ``"topography"`` for STM).
    start, stop : float
        Spectroscopy sweep (V).
    n_points : int
        Points per spectrum.
    settle, integration : float
        Seconds per spectrum point.
    stop_uncertainty : float, optional
        Stop when the largest predicted standard deviation over unmeasured
        candidates falls below this.
    report_every : int
        Write the agent's report every this many steps.
    seed : int
        Seeds the agent.
    progress : bool
        Show a progress bar.
    md : dict, optional
        Extra metadata merged into every run of the campaign.
    campaign_id : str, optional
        Resume this campaign instead of starting a new one: its runs in the
        catalog the profile writes to (``AUTOSCOPE_CATALOG_URI``) give the step
        to go on from and the spectra the agent starts with (``budget`` counts
        them). The overview is recorded again over the same frame, so the
        candidates are the same pixels.

    Returns
    -------
    str
        The campaign id (every run of the campaign carries it as ``campaign``).
    """

    agent_class(agent)  # an unknown name is refused here, before anything moves
    seed_design = resolve_seed_design(agent, seed_design)
    check_acquisition(acquisition, quantile)
    if not isinstance(budget, int) or budget < 1:
        raise ConfigurationError(f"budget must be a positive integer, got {budget!r}")
    if not isinstance(pixels, int) or pixels < 4:
        raise ConfigurationError(f"pixels must be an integer >= 4, got {pixels!r}")
    if budget > pixels * pixels:
        raise ConfigurationError(f"budget {budget} exceeds the {pixels * pixels} candidates")
    experiment = SpectraExperiment(scalarizer, channel=channel, device=spm.name)
    # resuming reads the catalog first: an unreachable one is refused before anything moves
    catalog = connect() if campaign_id is not None else None
    campaign_id = campaign_id or str(uuid.uuid4())
    run_md = {**(md or {}), "campaign": campaign_id}
    candidates, image, overview_uid = yield from overview_candidates(
        spm,
        center_x,
        center_y,
        width,
        height,
        pixels,
        line_time,
        overview_channel,
        patch_size,
        md={**run_md, "campaign_role": "overview"},
    )
    # what a replay needs to rebuild the agent's view from the catalog (issue 17)
    run_md["overview_uid"] = overview_uid
    run_md["overview_channel"] = overview_channel
    run_md["overview_formed"] = overview_formation(overview_channel)
    decision = make_agent(
        agent,
        candidates,
        acquisition=acquisition,
        quantile=quantile,
        batch_size=batch_size,
        n_seed=n_seed,
        budget=budget,
        seed=seed,
        seed_design=seed_design,
    )
    spectroscopy = {
        "start": start,
        "stop": stop,
        "n_points": n_points,
        "settle": settle,
        "integration": integration,
    }
    yield from campaign_loop(
        spm,
        decision,
        experiment,
        budget,
        spectroscopy,
        stop_uncertainty,
        report_every,
        campaign_id,
        progress,
        run_md,
        catalog,
        # a recorded grid's points never measured: NaN overview pixels, not candidates
        withdrawn=np.flatnonzero(~np.isfinite(np.asarray(image, dtype=float)).ravel()),
    )
    return campaign_id
