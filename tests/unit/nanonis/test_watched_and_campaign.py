"""The tip-watched image and the autonomous campaign through the Nanonis backend:
device -> TCP -> fake controller -> twin, a real RunEngine and an in-process Tiled catalog."""

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky_tiled_plugins import TiledWriter
from tiled.queries import Key

from autoscope.errors import ConfigurationError
from autoscope.plans.campaign import autonomous_campaign
from autoscope.plans.imaging import raster_image
from autoscope.plans.tip_watch import tip_watched_image

# The frame of tests/unit/tip/test_tip_watch_plan.py: 96 pixels is a multiple of 16, so the
# controller keeps it. The check image is check_size / pixel size = 48 pixels, also kept.
FRAME = dict(width=9.6, height=6.4, pixels=96, lines=48, line_time=0.5)
CHECK_SIZE = 4.8
# the tiny classifier is unsure of most windows (see the twin's tests): fast rule only
FAST_ONLY = dict(slow_windows=0, check_level=1.0)


def _lines(run) -> list[int]:
    if not run.metadata["stop"]["num_events"].get("primary"):
        return []
    return run["primary"]["spm_line_index"].read().tolist()


def test_watched_image_recovers_a_blunt_tip_through_tcp(RE, catalog, fake, make, tiny_weights):
    spm = make()
    fake.twin.set_tip("blunt")
    uids = RE(
        tip_watched_image(
            spm,
            **FRAME,
            **FAST_ONLY,
            check_size=CHECK_SIZE,
            weights=str(tiny_weights),
            seed=1,
        )
    )
    runs = [catalog[u] for u in uids]
    names = [r.metadata["start"]["plan_name"] for r in runs]
    assert names[0] == names[-1] == "tip_watched_image" and "tip_recovery" in names
    first, last = runs[0].metadata, runs[-1].metadata
    assert first["stop"]["exit_status"] == "abort" and "tip looks" in first["stop"]["reason"]
    assert last["stop"]["exit_status"] == "success" and last["stop"]["reason"] == "frame complete"

    # every conditioning action went over the wire and reached the twin behind the fake
    recoveries = [r for r in runs if r.metadata["start"]["plan_name"] == "tip_recovery"]
    assert recoveries[-1].metadata["stop"]["exit_status"] == "success"
    kinds = []
    for rec in recoveries:
        kinds += [str(k) for k in rec["tip_actions"]["tip_action_action_kind"].read()]
        check = rec["check"]["spm_line_topography_trace"].read()
        assert check.shape[1] == 48 and np.isfinite(check).all()
    sent = fake.requests.get("Bias.Pulse", 0) + fake.requests.get("TipShaper.Start", 0)
    assert sent == sum(k != "none" for k in kinds) > 0
    # the twin logs tip changes only: the blunt tip set by the test, then what conditioning did
    causes = [e.cause for e in fake.twin.truth.tip_history]
    assert causes[0] == "set" and set(causes[1:]) <= {"bias_pulse", "dip"}
    assert 1 <= len(causes) - 1 <= sent
    assert fake.twin.truth.tip_state.kind in ("sharp", "adsorbate")

    # every line of the frame is in the catalog
    seen = set()
    for r in runs:
        if r.metadata["start"]["plan_name"] == "tip_watched_image":
            seen |= set(_lines(r))
    assert seen == set(range(FRAME["lines"]))


def test_the_check_image_takes_pixels_the_controller_keeps(RE, catalog, fake, make, tiny_weights):
    """check_size 5 nm at 0.1 nm per pixel would be 50 pixels; the plan asks for 48."""
    spm = make()
    assert spm.limits.pixel_step == 16
    fake.twin.set_tip("blunt")
    uids = RE(
        tip_watched_image(
            spm, **FRAME, **FAST_ONLY, check_size=5.0, weights=str(tiny_weights), seed=1
        )
    )
    recoveries = [
        catalog[u] for u in uids if catalog[u].metadata["start"]["plan_name"] == "tip_recovery"
    ]
    assert recoveries and all(r.metadata["stop"]["exit_status"] == "success" for r in recoveries)
    for rec in recoveries:
        assert rec["check"]["spm_line_topography_trace"].read().shape[1] == 48
    assert catalog[uids[-1]].metadata["stop"]["reason"] == "frame complete"


def test_a_frame_the_controller_would_coerce_is_refused_before_anything_is_sent(RE, fake, make):
    spm = make()
    spm.bias.get()
    sent = dict(fake.requests)
    with pytest.raises(ConfigurationError, match="frame pixels 50: .* multiples of 16"):
        RE(raster_image(spm, width=5.0, height=5.0, pixels=50, lines=4, line_time=0.05))
    assert fake.requests == sent


def test_autonomous_campaign_through_tcp(catalog, fake, make):
    spm = make()
    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(TiledWriter(catalog, max_array_size=0))
    result = RE(
        autonomous_campaign(
            spm,
            agent="gp",
            scalarizer="band_integral:-1:1",
            channel="dIdV",
            overview_channel="topography",
            budget=6,
            batch_size=2,
            n_seed=2,
            width=16.0,
            height=16.0,
            pixels=16,  # the controller keeps multiples of 16 pixels
            line_time=0.05,
            n_points=32,
            start=-2.0,
            stop=2.0,
            progress=False,
        )
    )
    assert result.exit_status == "success"
    runs = list(catalog.search(Key("campaign") == result.plan_result).values())
    names = [r.metadata["start"]["plan_name"] for r in runs]
    assert names.count("raster_image") == 1
    assert names.count("spectra_at") == 3 and names.count("agent_report") == 3
    overview = next(r for r in runs if r.metadata["start"]["plan_name"] == "raster_image")
    assert overview["primary"]["spm_line_topography_trace"].read().shape == (16, 16)

    requested, reported = [], []
    for r in runs:
        if r.metadata["start"]["plan_name"] == "spectra_at":
            stream = r["primary"]
            requested += [tuple(p) for p in r.metadata["start"]["positions_requested"]]
            reported += list(
                zip(
                    stream["spm_spectrum_x_reported"].read(),
                    stream["spm_spectrum_y_reported"].read(),
                )
            )
            assert np.isfinite(stream["spm_spectrum_dIdV"].read()).all()
    assert len(set(requested)) == 6  # the budget, no point twice
    # the controller moved the tip to every point the agent chose, inside the overview
    np.testing.assert_allclose(reported, requested, atol=1e-6)
    assert np.abs(requested).max() <= 8.0
    assert fake.requests["BiasSpectr.Start"] == 6
    last = max(
        (r for r in runs if r.metadata["start"]["plan_name"] == "agent_report"),
        key=lambda r: r.metadata["start"]["campaign_step"],
    )
    assert last["agent"]["agent_measured"].read()[0].sum() == 6
