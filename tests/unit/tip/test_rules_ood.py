"""Surface rules, the OOD score, and the watcher that joins them to the classifier (issue 21).

Synthetic frames: a rough surface with a lattice, a tilt and a step edge, in nm;
each test adds one tip fault from a known line on and checks the rule for it
fires there, and that no rule fires on the clean frame (the negative control).
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from autoscope.agents.tip.ood import FEATURES, InputRange, range_path, window_stats
from autoscope.agents.tip.rolling import BadTipDetector, LineVerdict, summarize
from autoscope.agents.tip.rules import (
    RULES,
    RuleConfig,
    SurfaceRules,
    detail,
    ghost_score,
    image_rule_scores,
)
from autoscope.agents.tip.watch import LineWatcher, watch_image
from autoscope.agents.tip.weights import SHIPPED_WEIGHTS, TipClassifier, file_digest
from autoscope.errors import ConfigurationError

N, P = 128, 128


def surface(seed=0, lines=N, pixels=P, noise=0.003, lattice=0.02):
    """A clean frame (nm): rough background, hexagonal-ish lattice, tilt, an oblique step edge."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:lines, 0:pixels] * 0.08
    z = gaussian_filter(rng.normal(0, 0.05, (lines, pixels)), 6)
    z += lattice * (np.cos(2 * np.pi * x / 0.29) + np.cos(2 * np.pi * (x / 2 + y * 0.866) / 0.29))
    z += 0.004 * x + 0.002 * y
    z += 0.2 * (x * np.sin(0.5) - y * np.cos(0.5) + 3 > 0)  # a step edge at ~30 degrees
    trace = z + rng.normal(0, noise, z.shape)
    retrace = z + rng.normal(0, noise, z.shape)
    return trace, retrace


def fired(trace, retrace, **cfg):
    _, alarms = image_rule_scores(trace, retrace, RuleConfig(**cfg), reset_on_alarm=True)
    return alarms


def test_no_rule_fires_on_clean_frames():
    for seed in range(3):
        assert fired(*surface(seed)) == []


def test_a_tip_change_between_lines_fires_line_jump_at_that_line():
    t, r = surface(1)
    t[60:] += 0.05
    r[60:] += 0.05
    alarms = fired(t, r)
    assert alarms and alarms[0][0] == 60 and "line_jump" in alarms[0][1]


def test_a_tip_change_mid_line_fires_line_step_the_line_after():
    t, r = surface(2)
    t[60, 64:] += 0.15  # the trace changes at pixel 64, the retrace (after it) all along
    r[60:] += 0.15
    t[61:] += 0.15
    scores, _ = image_rule_scores(t, r)
    k = RULES.index("line_step")
    assert scores[61, k] > 1
    assert scores[:60, k].max() < 1
    # the rule alone, as the benchmark counts it
    _, alone = image_rule_scores(t, r, reset_on_alarm=True, rules=("line_step",))
    assert alone[0][0] == 61


def test_trace_retrace_disagreement_fires():
    t, r = surface(3)
    rng = np.random.default_rng(9)
    r[70:] += gaussian_filter(rng.normal(0, 0.05, (N - 70, P)), (0, 2))
    alarms = fired(t, r)
    assert alarms and alarms[0][0] == 70 and "trace_retrace" in alarms[0][1]


def test_telegraph_noise_fires_noise_change():
    # on a surface without a resolved lattice: a lattice at the pixel scale sets the
    # second differences' spread, and telegraph jumps of a few tens of pm drown in it
    t, r = surface(4, lattice=0.0)
    rng = np.random.default_rng(5)
    for i in range(80, N):  # the tip jumps between two heights a few times a line
        t[i] += 0.08 * (np.cumsum(rng.random(P) < 0.05) % 2)
        r[i] += 0.08 * (np.cumsum(rng.random(P) < 0.05) % 2)
    _, alone = image_rule_scores(t, r, reset_on_alarm=True, rules=("noise_change",))
    assert alone and alone[0][0] == 80


def test_ghost_copies_raise_the_ghost_score():
    rng = np.random.default_rng(0)
    blobs = np.zeros((48, 160))
    blobs[rng.integers(4, 44, 25), rng.integers(4, 156, 25)] = 1.0
    blobs = gaussian_filter(blobs, 1.5) + rng.normal(0, 0.002, blobs.shape)
    ghost = blobs + 0.6 * np.roll(np.roll(blobs, 9, axis=1), 2, axis=0)
    g_plain, g_ghost = ghost_score(detail(blobs)), ghost_score(detail(ghost))
    assert g_ghost > g_plain + 0.2


def test_rules_refuse_bad_lines_and_settings():
    rules = SurfaceRules()
    with pytest.raises(ConfigurationError, match="equal length"):
        rules.push(np.zeros(16), np.zeros(17))
    with pytest.raises(ConfigurationError, match="NaN"):
        rules.push(np.full(16, np.nan), np.zeros(16))
    with pytest.raises(ConfigurationError, match="warmup"):
        RuleConfig(warmup=40, history=32)
    with pytest.raises(ConfigurationError, match="jump"):
        RuleConfig(jump=0.0)
    with pytest.raises(ConfigurationError, match="subset"):
        image_rule_scores(np.zeros((4, 16)), np.zeros((4, 16)), rules=("nope",))


def test_a_file_without_retrace_leaves_trace_retrace_silent():
    t, _ = surface(5)
    scores, _ = image_rule_scores(t, t)
    assert scores[:, RULES.index("trace_retrace")].max() == 0.0


# ---------------------------------------------------------------- OOD


def _rows(rng, n=400):
    return [
        {
            "pixel_size": float(np.log10(rng.uniform(0.04, 0.16))),
            "corrugation": float(rng.normal(-2, 0.3)),
            "psd_slope": float(rng.normal(-2.5, 0.5)),
            "noise": float(rng.normal(-1, 0.2)),
            "disagreement": float(abs(rng.normal(0, 0.05))),
        }
        for _ in range(n)
    ]


def test_input_range_scores_inside_low_and_outside_high(tmp_path):
    rng = InputRange.from_stats(_rows(np.random.default_rng(0)))
    inside = {"pixel_size": -1.0, "corrugation": -2, "psd_slope": -2.5, "noise": -1.0}
    inside["disagreement"] = 0.03
    score, _ = rng.score(inside)
    assert score < 0
    far = dict(inside, corrugation=0.5, psd_slope=-6.0)
    score, why = rng.score(far)
    assert score > 0 and why in ("corrugation", "psd_slope")
    score, why = rng.score(dict(inside, pixel_size=float("nan")))
    assert score == float("inf") and why == "pixel_size"
    assert rng.score(dict(inside, pixel_size=float("nan")), ignore=("pixel_size",))[0] < 0
    back = InputRange.load(rng.save(tmp_path / "r.input-range.json"))
    assert back.score(far)[0] == pytest.approx(rng.score(far)[0], abs=1e-3)  # stored to 1e-4
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigurationError, match="bad.json"):
        InputRange.load(tmp_path / "bad.json")
    assert range_path("/a/x.weights.pt").name == "x.input-range.json"


def test_window_stats_follow_the_heights():
    t, r = surface(0, lines=16)
    s = window_stats(t, r, 0.08)
    big = window_stats(100 * t, 100 * r, 0.08)
    assert set(s) == set(FEATURES) - {"disagreement"}
    assert big["corrugation"] == pytest.approx(s["corrugation"] + 2, abs=1e-6)
    assert big["psd_slope"] == pytest.approx(s["psd_slope"])
    assert np.isnan(window_stats(t, r, None)["pixel_size"])


def test_the_shipped_classifier_has_its_input_range():
    clf = TipClassifier.load(SHIPPED_WEIGHTS)
    assert clf.input_range is not None
    meta = clf.input_range.metadata
    assert meta["weights_sha256"] == file_digest(SHIPPED_WEIGHTS)
    assert "autoscope.studies.tip.inputrange" in meta["command"]
    blob = json.loads(range_path(SHIPPED_WEIGHTS).read_text())
    assert blob["joint"] == ["corrugation", "psd_slope", "noise", "disagreement"]
    # a twin-like window is known; the same window 300x rougher, or of unknown pixel size, is not
    t, r = surface(0, lines=clf.n_lines, pixels=96)
    out = clf.classify(t, r)
    ood, _ = clf.ood(t, r, 0.08, out.member_p_bad[:, 0])
    assert not clf.is_unknown(ood)
    out = clf.classify(300 * t, 300 * r)
    assert clf.is_unknown(clf.ood(300 * t, 300 * r, 0.08, out.member_p_bad[:, 0])[0])
    assert clf.is_unknown(clf.ood(t, r, None, out.member_p_bad[:, 0])[0])


# ---------------------------------------------------------------- detector and watcher


def _verdict(line, p_bad, unknown=False):
    proba = dict.fromkeys(
        ("good_atomic", "good_rows", "blunt", "multi_apex", "unstable", "tip_change"), 0.0
    )
    proba["good_atomic"], proba["blunt"] = 1 - p_bad, p_bad
    label = "blunt" if p_bad > 0.5 else "good_atomic"
    ood = 1.0 if unknown else -0.5
    return LineVerdict(line, proba, label, p_bad, 1.0, ood=ood, unknown=unknown)


def test_unknown_windows_never_raise_the_classifier_alarm():
    det = BadTipDetector(threshold=0.8, patience=3, slow_windows=4, slow_level=0.5)
    assert not any(det.update(_verdict(i, 0.99, unknown=True)) for i in range(50))
    # they also break a streak: two bad, one unknown, two bad is no alarm
    det.reset()
    seq = [0.9, 0.9, None, 0.9, 0.9]
    fired = [det.update(_verdict(i, 0.9, unknown=p is None)) for i, p in enumerate(seq)]
    assert not any(fired)
    # the negative control: five known bad windows raise it
    det.reset()
    assert any(det.update(_verdict(i, 0.9)) for i in range(5))


def test_a_check_image_mostly_unknown_is_summarized_unknown():
    vs = [_verdict(i, 0.9, unknown=i % 3 != 0) for i in range(9)]
    s = summarize(vs)
    assert s.unknown and s.verdict == "unknown"
    s = summarize([_verdict(i, 0.2, unknown=i == 0) for i in range(9)])
    assert not s.unknown and s.p_bad == pytest.approx(0.2)


def test_check_state_never_conditions_on_unknown_alone():
    from autoscope.plans.tip_watch import _check_state

    unknown = summarize([_verdict(i, 0.95, unknown=True) for i in range(4)])
    assert _check_state(unknown, 0.4) in ("good_atomic", "good_rows")
    assert _check_state(unknown, 0.4, ruled="unstable") == "unstable"
    known_bad = summarize([_verdict(i, 0.95) for i in range(4)])
    assert _check_state(known_bad, 0.4) == "blunt"


class _Flat:
    """A stand-in classifier: every window good, no input range (the rules decide)."""

    n_lines = 8
    input_range = None

    def make_window(self, t, r):
        return np.stack([t, r])

    def predict(self, window):
        proba = np.array([[0.9, 0.02, 0.02, 0.02, 0.02, 0.02]])
        return SimpleNamespace(
            proba=proba,
            votes=np.array([[1.0, 0, 0, 0, 0, 0]]),
            label=np.array([0]),
            p_bad=np.array([0.08]),
            member_p_bad=None,
        )


def test_the_watcher_stops_on_a_rule_and_names_it():
    t, r = surface(6)
    t[50:] += 0.05
    r[50:] += 0.05
    steps, alarms = watch_image(_Flat(), t, r, 0.08, batch=False)
    assert [a.line for a in alarms] == [50]
    a = alarms[0]
    assert (a.rule, a.state, a.rescan) == ("rule:line_jump", "tip_change", 49)
    assert "line_jump" in a.why
    # switched off, the rules stay silent and the (good) classifier raises nothing
    assert watch_image(_Flat(), t, r, 0.08, batch=False, surface_rules=False)[1] == []
    w = LineWatcher(_Flat(), 0.08)
    assert w.end_alarm() is None


def test_batched_verdicts_are_the_rolling_ones():
    clf = TipClassifier.load(SHIPPED_WEIGHTS)
    t, r = surface(7, lines=clf.n_lines + 6, pixels=96)
    batched, _ = watch_image(clf, t, r, 0.08, batch=True)
    rolled, _ = watch_image(clf, t, r, 0.08, batch=False)
    for a, b in zip(batched, rolled):
        assert (a.verdict is None) == (b.verdict is None)
        if a.verdict is not None:
            assert a.verdict.p_bad == pytest.approx(b.verdict.p_bad, abs=1e-5)
            assert a.verdict.ood == pytest.approx(b.verdict.ood, abs=1e-6)
            assert a.verdict.unknown == b.verdict.unknown
