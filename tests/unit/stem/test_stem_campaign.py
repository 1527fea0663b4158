"""The dose-aware STEM campaign on the nanoparticle twin (small grids, quick agents)."""

from __future__ import annotations

import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.devices import STEMLimits, make_stem
from autoscope.devices.stem.dose import electrons
from autoscope.errors import ConfigurationError, SafetyLimitError
from autoscope.plans.stem_campaign import dose_aware_campaign


def _run(plan):
    docs: list = []
    RunEngine({}, call_returns_result=False)(plan, lambda n, d: docs.append((n, d)))
    return docs


def _starts(docs, name):
    return [d for n, d in docs if n == "start" and d.get("plan_name") == name]


def test_campaign_spends_its_dose_budget_and_records_the_dose():
    stem = make_stem("twin", sample="nanoparticles", seed=1)
    docs = _run(
        dose_aware_campaign(
            stem,
            agent="random",
            fov_nm=60.0,
            pixels=16,
            dose_fraction=0.1,
            batch_size=5,
            channels=128,
            damage_radius_nm=0.5,
        )
    )
    (overview,) = _starts(docs, "stem_image")
    spectra = _starts(docs, "eels_at")
    campaign = overview["campaign"]
    assert overview["dose_budget"]["spectra"] == 25
    assert len(spectra) == 5 and all(s["campaign"] == campaign for s in spectra)
    assert [s["campaign_step"] for s in spectra] == [0, 1, 2, 3, 4]
    assert len(_starts(docs, "agent_report")) == 5
    (dose_run,) = _starts(docs, "dose_map")
    assert len(dose_run["measured_indices"]) == 25
    assert np.isfinite(dose_run["measured_values"]).all()
    # the device counted the overview and 25 spectra
    pixel_e = electrons(30.0, 2e-6)
    expected = pixel_e * 16 * 16 + 25 * electrons(30.0, 0.01)
    assert stem.ledger.total_electrons == pytest.approx(expected)
    event = next(d for n, d in docs if n == "event" and "dose_measured" in d["data"])["data"]
    assert np.asarray(event["dose_measured"]).sum() == 25
    ledger = np.asarray(event["dose_ledger_dose"])
    measured = np.asarray(event["dose_measured"]).astype(bool)
    assert ledger[measured].min() > 100 * ledger[~measured].max()
    assert stem.blanker.get() is True
    # reports and the dose map are event data: their descriptors do not repeat the maps
    for desc in (d for n, d in docs if n == "descriptor" and d["name"] in ("agent", "dose")):
        assert all(not c["data"] for c in desc["configuration"].values()), desc["name"]


def test_damage_rule_withdraws_the_neighbours_of_each_spectrum():
    stem = make_stem("twin", sample="nanoparticles", seed=1)
    # 4 nm pixels, a 5 nm damage disc: each spectrum withdraws its 4 nearest neighbours
    docs = _run(
        dose_aware_campaign(
            stem,
            agent="random",
            fov_nm=64.0,
            pixels=16,
            dose_fraction=0.05,
            batch_size=3,
            channels=64,
            damage_radius_nm=5.0,
        )
    )
    event = next(d for n, d in docs if n == "event" and "dose_withdrawn" in d["data"])["data"]
    withdrawn = np.asarray(event["dose_withdrawn"]).astype(bool)
    measured = np.asarray(event["dose_measured"]).astype(bool)
    assert withdrawn.sum() >= measured.sum()  # at least one neighbour each, shared at most 4
    assert not (withdrawn & measured).any()
    rows, cols = np.nonzero(measured)
    for r, c in zip(rows, cols, strict=True):
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            if 0 <= r + dr < 16 and 0 <= c + dc < 16:
                assert withdrawn[r + dr, c + dc] or measured[r + dr, c + dc]


def test_campaign_beyond_the_total_budget_is_refused_before_the_beam_moves():
    stem = make_stem("twin", sample="nanoparticles", seed=1, limits=STEMLimits(dose_total=5e6))
    with pytest.raises(SafetyLimitError, match="the campaign's overview and 12 spectra"):
        _run(dose_aware_campaign(stem, agent="random", pixels=16, dose_fraction=0.05))
    assert stem.backend.time() == 0.0 and stem.ledger.total_electrons == 0.0


def test_too_small_a_dose_fraction_is_refused():
    stem = make_stem("twin", sample="nanoparticles", seed=1)
    with pytest.raises(ConfigurationError, match="gives 1 spectra"):
        _run(dose_aware_campaign(stem, agent="random", pixels=8, dose_fraction=0.02))
