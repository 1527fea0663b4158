"""The watched imaging plan on a twin, with a real RunEngine and a real (in-process) Tiled."""

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky_tiled_plugins import TiledWriter

from autoscope.agents.tip import weights as tip_weights
from autoscope.catalog.testing import inprocess_catalog
from autoscope.devices import SafetyLimits, make_spm
from autoscope.errors import ConfigurationError
from autoscope.plans.tip_watch import TipRecoveryFailed, tip_watched_image

FRAME = dict(width=9.6, height=6.4, pixels=96, lines=48, line_time=0.5)
# The tiny classifier (trained in seconds) is unsure of most windows: its mean p_bad sits
# near 0.5 even on a good tip, so tests of the other rules turn the slow rule off and let
# a check image pass on its most likely class alone.
FAST_ONLY = dict(slow_windows=0, check_level=1.0)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """One in-process Tiled catalog for this module (each test writes its own runs)."""
    with inprocess_catalog(tmp_path_factory.mktemp("catalog")) as client:
        yield client


@pytest.fixture
def RE(catalog):
    engine = RunEngine({}, call_returns_result=False)
    engine.subscribe(TiledWriter(catalog, max_array_size=0))
    return engine


def _spm(tip, seed=7):
    return make_spm(
        "twin",
        sample="si100_h",
        seed=seed,
        tip=tip,
        tip_change_rate=0.0,
        limits=SafetyLimits(scan_range=400.0),
    )


def test_watched_plan_recovers_a_blunt_tip_and_records_why(RE, catalog, monkeypatch, tmp_path):
    # the shipped classifier and the plan's default rules, as on a fresh install (no weights
    # named, nothing trained); the tiny classifier flagged clean lines of this frame after
    # each recovery often enough to spend every recovery
    monkeypatch.delenv(tip_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(tip_weights, "user_weights_path", lambda: tmp_path / "none.weights.pt")
    spm = _spm("blunt")
    twin = spm.backend
    uids = RE(tip_watched_image(spm, **FRAME, policy="rule", seed=1))
    runs = [catalog[u] for u in uids]
    names = [r.metadata["start"]["plan_name"] for r in runs]
    assert names[0] == "tip_watched_image" and names[-1] == "tip_watched_image"
    assert "tip_recovery" in names

    first = runs[0].metadata
    assert first["stop"]["exit_status"] == "abort"
    assert "tip looks" in first["stop"]["reason"] and "conditioning" in first["stop"]["reason"]

    recoveries = [r for r in runs if r.metadata["start"]["plan_name"] == "tip_recovery"]
    for rec in recoveries:
        assert rec.metadata["start"]["reason"].startswith("tip looked")
        steps = rec["tip_actions"].read()
        acted = [
            str(r)
            for r, a in zip(steps["tip_action_reason"], steps["tip_action_action"])
            if a != "check only"
        ]
        assert acted and all("escalation" in r for r in acted)
        # each conditioning spot keeps clear of the frame (the region of interest)
        for x, y in zip(steps["tip_action_spot_x"], steps["tip_action_spot_y"]):
            assert max(abs(x) - FRAME["width"] / 2, abs(y) - FRAME["height"] / 2) >= 10.0
    assert recoveries[-1].metadata["stop"]["exit_status"] == "success"

    last = runs[-1].metadata
    assert last["stop"]["exit_status"] == "success"
    assert last["stop"]["reason"] == "frame complete"
    assert last["start"]["reason"].startswith("resume after tip recovery")
    assert last["start"]["resumes"] in uids
    frame_uids = {r.metadata["start"]["frame_uid"] for r in runs}
    assert len(frame_uids) == 1

    # every line of the frame is in the catalog, the tip is good again (ground truth)
    seen = set()
    for r in runs:
        if r.metadata["start"]["plan_name"] == "tip_watched_image":
            seen |= set(r["primary"]["spm_line_index"].read().tolist())
            assert r["tip_state"]["tip_p_bad"].read().shape[0] > 0
    assert seen == set(range(FRAME["lines"]))
    assert twin.truth.tip_state.kind in ("sharp", "adsorbate")
    causes = [e.cause for e in twin.truth.tip_history]
    assert set(causes) <= {"bias_pulse", "dip"} and causes


def test_watched_plan_leaves_a_good_tip_alone(RE, catalog, tiny_weights):
    spm = _spm("sharp", seed=40_004)
    uids = RE(
        tip_watched_image(spm, center_x=60.0, **FRAME, **FAST_ONLY, weights=str(tiny_weights))
    )
    assert len(uids) == 1
    run = catalog[uids[0]]
    assert run.metadata["stop"]["reason"] == "frame complete"
    assert run["primary"]["spm_line_index"].read().tolist() == list(range(FRAME["lines"]))
    p_bad = np.asarray(run["tip_state"]["tip_p_bad"].read())
    assert len(p_bad) == FRAME["lines"] - 15
    assert not spm.backend.truth.tip_history


def test_watched_plan_stops_and_says_so_when_the_tip_cannot_be_fixed(RE, catalog, tiny_weights):
    spm = _spm("blunt", seed=11)
    seen = []
    RE.subscribe(lambda name, doc: seen.append(doc["uid"]) if name == "start" else None)
    # two gentle pulses are the limit; on this seeded twin they leave the tip bad
    with pytest.raises(TipRecoveryFailed, match="still bad after 2 conditioning actions"):
        RE(
            tip_watched_image(
                spm,
                **FRAME,
                **FAST_ONLY,
                weights=str(tiny_weights),
                max_actions=2,
                policy="rule",
                seed=2,
            )
        )
    assert spm.backend.truth.tip_state.kind not in ("sharp", "adsorbate")
    # nothing is lost: the stopped segment and the failed recovery are in the catalog, with why
    segment, recovery = (catalog[u] for u in seen)
    assert segment.metadata["stop"]["exit_status"] == "abort"
    assert len(segment["primary"]["spm_line_index"].read()) >= 16
    assert recovery.metadata["stop"]["exit_status"] == "fail"
    assert "after 2 actions; imaging stopped" in recovery.metadata["stop"]["reason"]
    assert len(recovery["tip_actions"]["tip_action_step"].read()) == 2


def test_bad_arguments_are_refused_before_anything_moves(tiny_weights):
    spm = _spm("sharp")
    t0 = spm.backend.time()
    with pytest.raises(ConfigurationError, match="policy 'greedy'"):
        list(tip_watched_image(spm, **FRAME, weights=str(tiny_weights), policy="greedy"))
    with pytest.raises(ConfigurationError, match="slow_level 1.5 must be <= 1.0"):
        list(tip_watched_image(spm, **FRAME, weights=str(tiny_weights), slow_level=1.5))
    with pytest.raises(ConfigurationError, match="slow_windows -2 must be >= 0"):
        list(tip_watched_image(spm, **FRAME, weights=str(tiny_weights), slow_windows=-2))
    with pytest.raises(ConfigurationError, match="check_level 0.0 must be > 0.0"):
        list(tip_watched_image(spm, **FRAME, weights=str(tiny_weights), check_level=0.0))
    with pytest.raises(ConfigurationError, match="threshold must lie in"):
        list(tip_watched_image(spm, **FRAME, weights=str(tiny_weights), threshold=1.0))
    with pytest.raises(ConfigurationError, match="no tip-classifier weights"):
        list(tip_watched_image(spm, **FRAME, weights="/nonexistent/w.weights.pt"))
    assert spm.backend.time() == t0


def test_queue_server_describes_and_validates_the_watched_plan():
    from bluesky_queueserver.manager.profile_ops import (
        existing_plans_and_devices_from_nspace,
        validate_plan,
    )

    ns = {"tip_watched_image": tip_watched_image, "spm": _spm("sharp")}
    plans_desc, devices_desc, _, _ = existing_plans_and_devices_from_nspace(nspace=ns)
    desc = plans_desc["tip_watched_image"]
    params = {p["name"]: p for p in desc["parameters"]}
    assert params["spm"]["annotation"]["type"] == "__READABLE__"
    assert all(p.get("description") for p in params.values())
    ok, msg = validate_plan(
        {
            "name": "tip_watched_image",
            "args": ["spm"],
            "kwargs": {"policy": "thompson", "threshold": 0.9, "weights": "/data/w.weights.pt"},
        },
        allowed_plans=plans_desc,
        allowed_devices=devices_desc,
    )
    assert ok, msg
    ok, msg = validate_plan(
        {"name": "tip_watched_image", "args": ["spm"], "kwargs": {"patience": 2.5}},
        allowed_plans=plans_desc,
        allowed_devices=devices_desc,
    )
    assert not ok and "patience" in msg


def test_a_bad_window_at_the_end_of_the_frame_is_acted_on_once(RE, catalog, tiny_weights):
    # patience longer than the frame: no alarm can be confirmed inside it, so only the
    # end-of-frame rule can stop it; the threshold makes every window count as bad
    spm = _spm("blunt")
    uids = RE(
        tip_watched_image(
            spm,
            **FRAME,
            weights=str(tiny_weights),
            policy="rule",
            seed=1,
            threshold=0.001,
            patience=1000,
            **FAST_ONLY,
        )
    )
    runs = [catalog[u] for u in uids]
    segments = [r for r in runs if r.metadata["start"]["plan_name"] == "tip_watched_image"]
    names = [r.metadata["start"]["plan_name"] for r in runs]
    assert names.count("tip_recovery") == 1  # once per frame, not again after the rescan
    first = segments[0].metadata
    assert first["stop"]["exit_status"] == "abort"
    assert f"stopped at line {FRAME['lines'] - 1}" in first["stop"]["reason"]
    assert len(segments[0]["primary"]["spm_line_index"].read()) == FRAME["lines"]
    # the rescan starts n_lines - 1 lines before the first window of the bad run
    p_bad = np.asarray(segments[0]["tip_state"]["tip_p_bad"].read())
    lines = np.asarray(segments[0]["tip_state"]["tip_line"].read())

    def trailing_run_start(level):
        k = len(p_bad)
        while k > 0 and p_bad[k - 1] > level:
            k -= 1
        return int(lines[k]) if k < len(p_bad) else None

    streak_start = trailing_run_start(0.001)
    onset = trailing_run_start(0.5)
    start = streak_start if onset is None else min(onset, streak_start)
    n_lines = first["start"]["tip_classifier"]["n_lines"]
    last = segments[-1].metadata
    assert last["start"]["start_line"] == max(0, start - n_lines + 1)
    assert last["stop"]["reason"] == "frame complete"


def test_rescan_starts_at_the_first_window_that_leaned_bad():
    from types import SimpleNamespace

    from autoscope.agents.tip.rolling import BadTipDetector, LineVerdict
    from autoscope.agents.tip.watch import LineWatcher

    def verdict(line, p_bad):
        proba = dict.fromkeys(
            ("good_atomic", "good_rows", "blunt", "multi_apex", "unstable", "tip_change"), 0.0
        )
        proba["good_atomic"], proba["blunt"] = 1 - p_bad, p_bad
        return LineVerdict(line, proba, "blunt" if p_bad > 0.5 else "good_atomic", p_bad, 1.0)

    def alarm(v, det, onset):
        # the watched plan's own watcher, with the evidence set by hand
        w = LineWatcher(SimpleNamespace(n_lines=16, input_range=None), pixel_size=0.1)
        w.verdict, w.detector, w.onset = v, det, onset
        return w._cnn_alarm()

    # windows leaned bad (p_bad > 0.5) from line 30, cleared the alarm threshold from line 34
    det = BadTipDetector(threshold=0.8, patience=3, slow_windows=0)
    for line in range(34, 37):
        det.update(verdict(line, 0.9))
    assert alarm(verdict(36, 0.9), det, 30).rescan == 15
    assert alarm(verdict(36, 0.9), det, None).rescan == 19
    assert alarm(verdict(36, 0.9), det, None).rule == "cnn:fast"
    # a slow alarm rescans from the first of the windows it averaged
    det = BadTipDetector(threshold=0.8, patience=3, slow_windows=6, slow_level=0.5)
    for line, p in zip(range(40, 46), [0.6, 0.7, 0.6, 0.75, 0.6, 0.7]):
        fired = det.update(verdict(line, p))
    assert fired and det.rule == "slow"
    a = alarm(verdict(45, 0.7), det, 40)
    assert (a.state, a.rescan, a.rule) == ("blunt", 25, "cnn:slow")
    assert "mean p_bad 0.66 over the last 6" in a.why
    det = BadTipDetector(threshold=0.8, patience=3, slow_windows=0)
    for line in range(10, 13):
        det.update(verdict(line, 0.9))
    assert alarm(verdict(12, 0.9), det, 8).rescan == 0


def test_lasting_mild_doubt_stops_the_frame_with_its_reason(RE, catalog, tiny_weights):
    # threshold 0.999: the fast rule cannot fire; slow level 0.001: any 6 windows do
    spm = _spm("blunt")
    seen = []
    RE.subscribe(lambda name, doc: seen.append(doc["uid"]) if name == "start" else None)
    with pytest.raises(TipRecoveryFailed, match="mean p_bad .* over the last 6 windows"):
        RE(
            tip_watched_image(
                spm,
                **FRAME,
                weights=str(tiny_weights),
                policy="rule",
                seed=1,
                threshold=0.999,
                slow_windows=6,
                slow_level=0.001,
                max_actions=1,
            )
        )
    first = catalog[seen[0]].metadata
    n_lines = first["start"]["tip_classifier"]["n_lines"]
    assert first["start"]["plan_args"]["slow_windows"] == 6
    assert first["stop"]["exit_status"] == "abort"
    reason = first["stop"]["reason"]
    assert f"stopped at line {n_lines - 1 + 5}" in reason
    assert "over the last 6 windows, above 0.001" in reason and "rescanning from line 0" in reason


def test_a_check_image_in_doubt_does_not_pass_the_tip():
    from autoscope.agents.tip.rolling import LineVerdict
    from autoscope.plans.tip_watch import _check_state

    def summary(p_good, p_multi, p_blunt=0.0):
        proba = dict.fromkeys(
            ("good_atomic", "good_rows", "blunt", "multi_apex", "unstable", "tip_change"), 0.0
        )
        proba.update(good_atomic=p_good, multi_apex=p_multi, blunt=p_blunt)
        label = max(proba, key=proba.get)
        return LineVerdict(40, proba, label, p_multi + p_blunt, 1.0)

    assert _check_state(summary(0.8, 0.2), 0.4) == "good_atomic"
    # most likely good, but 45 % for a multiple tip: not good enough to resume with
    assert _check_state(summary(0.55, 0.45), 0.4) == "multi_apex"
    assert _check_state(summary(0.55, 0.30, 0.15), 0.5) == "good_atomic"
    assert _check_state(summary(0.3, 0.1, 0.6), 0.4) == "blunt"


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_lost_contact_during_a_check_image_reengages_the_feedback(RE, catalog, tiny_weights):
    # the frame's alarm comes within ~20 lines; the fault fires 25 lines on, inside the
    # first check image of the recovery, and leaves the feedback off
    spm = _spm("blunt")
    twin = spm.backend
    twin.inject_fault("lost_contact", after_lines=25)
    uids = RE(
        tip_watched_image(
            spm, **FRAME, **FAST_ONLY, weights=str(tiny_weights), policy="rule", seed=1
        )
    )
    assert len(twin.truth.faults) == 1 and twin.get_feedback()
    runs = [catalog[u] for u in uids]
    recovery = next(r for r in runs if r.metadata["start"]["plan_name"] == "tip_recovery")
    reasons = [str(r) for r in recovery["tip_actions"]["tip_action_reason"].read()]
    assert any("LostContact during the step" in r and "feedback re-engaged" in r for r in reasons)
    assert runs[-1].metadata["stop"]["reason"] == "frame complete"
