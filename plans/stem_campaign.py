"""A dose-aware STEM campaign: HAADF patches choose where EELS spectra go, the dose counted.

The field's self-driving STEM loop (a deep-kernel agent reading HAADF patches and choosing
where to take EELS spectra, e.g. at the corners and gaps of plasmonic particles), with the
one cost STEM adds: every electron damages the sample. The plan

1. records a HAADF overview (:func:`~autoscope.plans.stem.stem_image`), every pixel a
   candidate with its patch (the agent's input, as in the SPM campaign);
2. sets the spectrum budget from a dose budget: ``dose_fraction`` of the dose a full
   spectrum image of the overview's grid would send (every spectrum has one exposure at one
   current, so the budget is ``floor(dose_fraction x pixels²)`` spectra); the whole
   campaign's electrons (overview and spectra) are checked against the device's total
   budget before the beam moves;
3. asks the agent (:func:`autoscope.agents.agent.make_agent`) for a batch, measures it with
   :func:`~autoscope.plans.stem.eels_at` (one run per step, tagged with the campaign id and
   step), scalarizes the spectra (``SpectraExperiment`` on the EELS keys) and feeds them back;
4. keeps the campaign's dose map on the candidate grid and applies the damage rule: a
   spectrum sends its electrons into a disc of ``damage_radius_nm`` (the probe and its
   tails, and the beam-driven hops and knock-ons around it), and every candidate whose dose
   passes ``damage_dose`` is withdrawn (the agent may not choose it: a location measured
   once is no longer the location the overview showed); the overview's own dose counts;
5. writes the agent's report per step (``agent_report`` runs, stream ``"agent"``, as the SPM
   campaign does) and at the end a ``dose_map`` run: the campaign's dose map (e/Å²), the
   withdrawn and measured candidates, and the device ledger's dose at every candidate.

The agent sees the dose as the device counts it (the ledger, never the twin's truth), and
through the withdrawals; the dose per spectrum is the cost of each measurement.
"""

# No "from __future__ import annotations": the queue server reads the annotations.

import math
import uuid
from typing import Optional

import bluesky.preprocessors as bpp
import numpy as np
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator

from autoscope.agents.acquisition import check_acquisition
from autoscope.agents.agent import agent_class, make_agent, resolve_seed_design
from autoscope.agents.candidates import CandidateSet
from autoscope.agents.experiment import SpectraExperiment
from autoscope.agents.reporting import report_metadata, report_values
from autoscope.devices.stem.dose import Increment, electrons
from autoscope.devices.stem.limits import check_int, check_real
from autoscope.errors import ConfigurationError
from autoscope.plans import stubs
from autoscope.plans.campaign_parts import (
    DocumentCollector,
    data_signal,
    report_signals,
    write_report,
)
from autoscope.plans.stem import (
    check_stem,
    checked_current,
    checked_eels,
    checked_scan,
    eels_at,
    stem_image,
)

__all__ = ["EELSExperiment", "dose_aware_campaign", "overview_image"]


class EELSExperiment(SpectraExperiment):
    """Unpacks :func:`~autoscope.plans.stem.eels_at` runs (counts against energy loss)."""

    def keys(self, start: dict | None = None) -> dict[str, str]:
        p = f"{self.device}_eels_"
        return {
            "axis": f"{p}energy",
            "channel": f"{p}counts",
            "x_reported": f"{p}x_reported",
            "y_reported": f"{p}y_reported",
            "x_requested": f"{p}x_requested",
            "y_requested": f"{p}y_requested",
        }


def image_from_documents(docs, detector: str = "haadf") -> np.ndarray:
    """The ``detector`` image of a :func:`stem_image` run's documents, rows = lines."""
    start = next(d for n, d in docs if n == "start")
    key = start["image_keys"][detector]
    h, w = start["image_shape"]
    image = np.full((h, w), np.nan)
    for n, d in docs:
        if n == "event" and key in d["data"]:
            image[int(d["data"][start["line_key"]])] = d["data"][key]
    return image


def overview_image(
    stem, center_x, center_y, fov_nm, pixels, pixel_time_us, md=None
) -> MsgGenerator[tuple]:
    """Plan stub: a HAADF overview; returns ``(image (pixels, pixels), run uid)``."""
    collector = DocumentCollector()
    uid = yield from bpp.subs_wrapper(
        stem_image(
            stem, center_x, center_y, fov_nm, pixels, pixel_time_us, detectors=["haadf"], md=md
        ),
        collector,
    )
    image = image_from_documents(collector.docs)
    if not np.isfinite(image).all():
        raise ConfigurationError("the overview image is incomplete (lines missing)")
    return image, uid


def _dose_run(campaign_dose, withdrawn, measured, ledger_dose, md) -> MsgGenerator[str]:
    values = {
        "campaign_dose": campaign_dose.astype(np.float64),
        "withdrawn": withdrawn.astype(np.uint8),
        "measured": measured.astype(np.uint8),
        "ledger_dose": ledger_dose.astype(np.float64),
    }
    signals = [data_signal(f"dose_{k}", v) for k, v in values.items()]

    def inner() -> MsgGenerator[None]:
        yield from stubs.trigger_and_read(signals, name="dose")

    return (yield from bpp.run_wrapper(inner(), md=md))


def dose_aware_campaign(
    stem: Readable,
    agent: str = "dkl",
    scalarizer: str = "band_integral:1.2:3.0",
    dose_fraction: float = 0.05,
    batch_size: int = 4,
    n_seed: Optional[int] = None,
    acquisition: str = "topq",
    quantile: float = 0.99,
    seed_design: Optional[str] = None,
    patch_size: Optional[int] = None,
    center_x: float = 0.0,
    center_y: float = 0.0,
    fov_nm: float = 64.0,
    pixels: int = 64,
    pixel_time_us: float = 2.0,
    exposure: float = 0.01,
    channels: int = 256,
    dispersion: float = 0.02,
    energy_offset: float = -1.0,
    beam_current: Optional[float] = None,
    damage_radius_nm: float = 1.0,
    damage_dose: Optional[float] = None,
    report_every: int = 1,
    seed: int = 0,
    md: Optional[dict] = None,
) -> MsgGenerator[str]:
    """Find where an EELS property is strongest with a small share of a spectrum image's dose.

    Parameters
    ----------
    stem : Readable
        The STEM device.
    agent : str
        ``"dkl"`` (deep kernel learning on HAADF patches), ``"gp"``, ``"random"`` or
        ``"raster"`` (a sparse raster: the baseline at the same dose).
    scalarizer : str
        What a spectrum is worth: ``"band_integral:LO:HI"`` (loss in a window, eV: e.g. the
        particle plasmons between 1.2 and 3 eV), ``"peak_prominence"``, ...
    dose_fraction : float
        Share of a full spectrum image's dose the spectra may use (0.05: 5 %).
    batch_size : int
        Spectra per agent step (one ``eels_at`` run each).
    n_seed : int, optional
        Seed spectra before the model is used (default about 5 % of the budget).
    acquisition : str
        ``"topq"``, ``"ei"``, ``"ucb"`` or ``"maxvar"``.
    quantile : float
        Level of ``"topq"`` (0.99: the strongest 1 %).
    seed_design : str, optional
        ``"spatial"`` or ``"image"`` (default by agent).
    patch_size : int, optional
        Odd patch size for the DKL agent.
    center_x, center_y : float
        Centre of the overview, nm.
    fov_nm : float
        Field of view of the overview, nm.
    pixels : int
        The overview is ``pixels x pixels``; every pixel is a candidate.
    pixel_time_us : float
        Overview dwell, µs.
    exposure : float
        Exposure per spectrum, s.
    channels : int
        Spectrometer channels.
    dispersion : float
        eV per channel.
    energy_offset : float
        Energy loss of channel 0, eV.
    beam_current : float, optional
        Beam current (pA) for the whole campaign (``None``: keep it).
    damage_radius_nm : float
        Radius of the disc a spectrum's electrons are counted over for the damage rule, nm.
    damage_dose : float, optional
        Dose (e/Å²) above which a candidate is withdrawn; default: half of one spectrum's
        disc dose, so a spectrum withdraws every candidate within ``damage_radius_nm``.
    report_every : int
        Write the agent's report every this many steps (and at the end).
    seed : int
        Seeds the agent.
    md : dict, optional
        Extra metadata merged into every run of the campaign.

    Returns
    -------
    str
        The campaign id (every run of the campaign carries it as ``campaign``).

    Raises
    ------
    SafetyLimitError
        when the overview or the campaign's electrons exceed the device's dose limits,
        before the beam moves (each spectra run checks its own dose again).
    ConfigurationError
        for arguments of the wrong type or range.
    """
    stem = check_stem(stem)
    agent_class(agent)
    seed_design = resolve_seed_design(agent, seed_design)
    check_acquisition(acquisition, quantile)
    pixels = check_int("pixels", pixels, low=4)
    fraction = check_real("dose_fraction", dose_fraction, low=0.0, high=1.0, low_inclusive=False)
    budget = int(math.floor(fraction * pixels * pixels))
    batch_size = check_int("batch_size", batch_size, low=1)
    report_every = check_int("report_every", report_every, low=1)
    if budget < max(batch_size, 2):
        raise ConfigurationError(
            f"dose_fraction {fraction:g} of {pixels}x{pixels} spectra gives {budget} spectra; "
            f"at least {max(batch_size, 2)} are needed"
        )
    scan = checked_scan(stem, center_x, center_y, fov_nm, pixels, pixel_time_us, 0.0)
    settings = checked_eels(stem, exposure, channels, dispersion, energy_offset)
    current = checked_current(stem, beam_current)
    radius = check_real("damage_radius_nm", damage_radius_nm, low=0.0, low_inclusive=False)
    per_spectrum = electrons(
        stem.BeamCurrent.get() if current is None else current, settings.exposure
    )
    disc = per_spectrum / (math.pi * (radius * 10.0) ** 2)  # e/Å² a spectrum leaves in its disc
    threshold = (
        0.5 * disc
        if damage_dose is None
        else check_real("damage_dose", damage_dose, low=0.0, low_inclusive=False, units="e/Å²")
    )
    overview = stem.raster_exposure(scan, current_pa=current)
    spectra = Increment(0, 0, np.zeros((1, 1)), per_spectrum * budget)
    stem.check_exposures([overview, spectra], f"the campaign's overview and {budget} spectra")
    experiment = EELSExperiment(scalarizer, channel="counts", device=stem.name)
    campaign_id = str(uuid.uuid4())
    run_md = {
        **(md or {}),
        "campaign": campaign_id,
        "dose_budget": {
            "fraction_of_spectrum_image": fraction,
            "spectra": budget,
            "electrons_per_spectrum": per_spectrum,
            "damage_radius_nm": radius,
            "damage_dose": threshold,
        },
    }

    def inner() -> MsgGenerator[None]:
        if current is not None:
            yield from stubs.mv(stem.BeamCurrent, current)
        image, _ = yield from overview_image(
            stem,
            center_x,
            center_y,
            fov_nm,
            pixels,
            pixel_time_us,
            md={**run_md, "campaign_role": "overview"},
        )
        candidates = CandidateSet.from_image(
            image,
            patch_size=patch_size,
            pixel_size=scan.pixel_size_nm,
            origin=(center_x - fov_nm / 2, center_y - fov_nm / 2),
        )
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
        xy = candidates.positions
        dose = np.full(len(candidates), overview.dose.max())  # the overview's uniform dose
        withdrawn = np.zeros(len(candidates), bool)
        signals = report_signals(candidates.shape, batch_size, candidates.units)
        pending: list = []
        step = 0
        while decision.n_measured < budget:
            n = min(batch_size, budget - decision.n_measured)
            free = int((~decision.measured).sum())
            if free < n:
                break  # every candidate left is measured or withdrawn
            idx = decision.suggest_indices(n)
            collector = DocumentCollector()
            yield from bpp.subs_wrapper(
                eels_at(
                    stem,
                    xy[idx].tolist(),
                    settings.exposure,
                    settings.channels,
                    settings.dispersion,
                    settings.energy_offset,
                    md={**run_md, "campaign_step": step},
                ),
                collector,
            )
            try:
                values = experiment.unpack_documents(collector.docs).values
            except Exception as exc:  # noqa: BLE001 - unusable spectra are recorded
                values = np.full(len(idx), np.nan)
                run_md.setdefault("failures", []).append(f"{type(exc).__name__}: {exc}")
            decision.ingest_indices(idx, values)
            pending += list(zip(idx.tolist(), np.asarray(values, float).tolist()))
            # the damage rule: each spectrum's electrons into its disc; withdraw what passed
            for i in idx:
                near = np.hypot(*(xy - xy[i]).T) <= radius
                dose[near] += disc
            newly = (dose >= threshold) & ~decision.measured
            withdrawn |= newly
            decision.measured[newly] = True
            last = decision.n_measured >= budget
            if step % report_every == 0 or last:
                values_report = report_values(decision.report(), batch_size, pending)
                pending = []
                yield from write_report(
                    signals,
                    values_report,
                    {
                        **report_metadata(decision, experiment),
                        **run_md,
                        "campaign_step": step,
                        "withdrawn": int(withdrawn.sum()),
                    },
                )
            step += 1
        measured = np.zeros(len(candidates), bool)
        measured[np.asarray(decision.obs_index, int)] = True
        ledger = stem.ledger.dose_at(xy[:, 0], xy[:, 1])
        shape = candidates.shape
        yield from _dose_run(
            dose.reshape(shape),
            withdrawn.reshape(shape),
            measured.reshape(shape),
            ledger.reshape(shape),
            {
                **run_md,
                "plan_name": "dose_map",
                "campaign_role": "dose_map",
                "units": {"dose": "e/Å^2", "position": "nm"},
                "candidate_shape": list(shape),
                "pixel_size": scan.pixel_size_nm,
                "origin": [center_x - fov_nm / 2, center_y - fov_nm / 2],
                "measured_indices": [int(i) for i in decision.obs_index],
                "measured_values": [float(v) for v in decision.obs_value],
            },
        )

    yield from inner()
    return campaign_id
