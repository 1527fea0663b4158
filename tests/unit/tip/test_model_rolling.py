"""Ensemble voting, weights on disk, the rolling window and the alarm, without training data."""

import numpy as np
import pytest
import torch

from autoscope.agents.tip.classes import BAD, CLASSES
from autoscope.agents.tip.model import TipEnsemble, TipNet
from autoscope.agents.tip.rolling import BadTipDetector, LineVerdict, RollingTipClassifier
from autoscope.agents.tip.weights import TipClassifier
from autoscope.errors import ConfigurationError
from autoscope.studies.tip.train import roc_auc


def _classifier(n_lines=8, members=3):
    torch.manual_seed(0)
    ens = TipEnsemble([TipNet(width=4) for _ in range(members)]).eval()
    return TipClassifier(ens, n_lines=n_lines, metadata={"note": "untrained"})


def test_ensemble_soft_and_hard_vote_are_consistent():
    clf = _classifier()
    x = np.random.default_rng(0).normal(size=(5, 3, 8, 40)).astype(np.float32)
    out = clf.ensemble.predict(x)
    assert out.proba.shape == (5, len(CLASSES))
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out.votes.sum(axis=1), 1.0)
    bad = [CLASSES.index(c) for c in BAD]
    np.testing.assert_allclose(out.p_bad, out.proba[:, bad].sum(axis=1), atol=1e-6)
    # a width-agnostic network: same windows at another line length still classify
    assert clf.ensemble.predict(x[:, :, :, :24]).proba.shape == (5, len(CLASSES))
    with pytest.raises(ConfigurationError, match="shape"):
        clf.ensemble.predict(x[:, :2])


def test_weights_roundtrip(tmp_path):
    clf = _classifier()
    path = clf.save(tmp_path / "sub" / "w.weights.pt")
    again = TipClassifier.load(path)
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 32)).astype(np.float32)
    np.testing.assert_allclose(
        again.ensemble.predict(x).proba, clf.ensemble.predict(x).proba, atol=1e-6
    )
    assert again.n_lines == 8 and again.metadata == {"note": "untrained"}
    with pytest.raises(ConfigurationError, match="autoscope tip train"):
        TipClassifier.load(tmp_path / "missing.weights.pt")


def test_scale_plane_classifier_roundtrip(tmp_path):
    torch.manual_seed(1)
    ens = TipEnsemble([TipNet(width=4, in_channels=4) for _ in range(2)]).eval()
    clf = TipClassifier(ens, n_lines=8, tile_width=32, scale_channel=True)
    again = TipClassifier.load(clf.save(tmp_path / "s.weights.pt"))
    assert again.scale_channel and again.tile_width == 32
    rng = np.random.default_rng(4)
    t = rng.normal(0, 0.05, size=(8, 80))
    np.testing.assert_allclose(
        again.classify(t, t + 0.001).proba, clf.classify(t, t + 0.001).proba, atol=1e-6
    )
    roll = RollingTipClassifier(again)
    out = [roll.push(row, row) for row in t]
    assert out[-1] is not None and out[-2] is None


def test_detail_plane_and_extra_stage_classifier_roundtrip(tmp_path):
    torch.manual_seed(2)
    ens = TipEnsemble([TipNet(width=4, in_channels=5, extra=1) for _ in range(2)]).eval()
    clf = TipClassifier(ens, n_lines=8, tile_width=32, scale_channel=True, detail_channel=True)
    again = TipClassifier.load(clf.save(tmp_path / "d.weights.pt"))
    assert again.detail_channel and again.scale_channel
    assert [m.extra for m in again.ensemble.members] == [1, 1]
    t = np.random.default_rng(5).normal(0, 0.05, size=(8, 80))
    assert again.make_window(t, t).shape == (5, 8, 80)
    np.testing.assert_allclose(
        again.classify(t, t + 0.001).proba, clf.classify(t, t + 0.001).proba, atol=1e-6
    )


def test_rolling_gives_one_verdict_per_line_after_the_window_fills():
    clf = _classifier(n_lines=8)
    roll = RollingTipClassifier(clf)
    rng = np.random.default_rng(2)
    verdicts = [roll.push(rng.normal(size=48), rng.normal(size=48), index=i) for i in range(20)]
    assert all(v is None for v in verdicts[:7])
    assert [v.line for v in verdicts[7:]] == list(range(7, 20))
    v = verdicts[-1]
    assert set(v.proba) == set(CLASSES) and abs(sum(v.proba.values()) - 1) < 1e-5
    # a line of another width starts a new window
    assert roll.push(np.zeros(64), np.zeros(64)) is None


def _verdict(line, p_bad, worst="blunt"):
    proba = {c: 0.0 for c in CLASSES}
    proba["good_atomic"] = 1 - p_bad
    proba[worst] = p_bad
    return LineVerdict(line, proba, worst if p_bad > 0.5 else "good_atomic", p_bad, 1.0)


def test_detector_needs_patience_and_resets():
    det = BadTipDetector(threshold=0.8, patience=3)
    seq = [0.9, 0.95, 0.3, 0.9, 0.9, 0.85, 0.9]
    fired = [det.update(_verdict(i, p, "multi_apex")) for i, p in enumerate(seq)]
    assert fired == [False, False, False, False, False, True, True]
    assert det.state == "multi_apex"
    det.reset()
    assert det.state is None
    with pytest.raises(ConfigurationError, match="threshold"):
        BadTipDetector(threshold=1.5)


def test_slow_rule_catches_lasting_doubt_that_never_clears_the_threshold():
    # a multiple tip that shows now and then: p_bad 0.4-0.75, never above 0.8 twice in a row
    seq = [0.1, 0.2] + [0.75, 0.4, 0.6, 0.7, 0.45, 0.65] * 3
    det = BadTipDetector(threshold=0.8, patience=3, slow_windows=8, slow_level=0.5)
    fast = BadTipDetector(threshold=0.8, patience=3, slow_windows=0)
    assert not any(fast.update(_verdict(10 + i, p, "multi_apex")) for i, p in enumerate(seq))
    first = next(i for i, p in enumerate(seq) if det.update(_verdict(10 + i, p, "multi_apex")))
    # lines 10..17 average 0.48; lines 11..18 are the first 8 windows above 0.5 (0.56)
    assert first == 8 and np.mean(seq[1:9]) > 0.5 >= np.mean(seq[0:8])
    assert det.rule == "slow" and det.state == "multi_apex"
    assert det.evidence_start == 11 and "over the last 8 windows" in det.describe()


def test_evidence_start_is_the_first_window_of_the_streak_or_of_the_slow_stretch():
    det = BadTipDetector(threshold=0.8, patience=3, slow_windows=6, slow_level=0.5)
    for i, p in enumerate([0.1, 0.1, 0.1, 0.9, 0.95]):
        assert not det.update(_verdict(i, p, "unstable"))
    assert det.leaning and det.evidence_start == 3 and det.state == "unstable"
    assert det.update(_verdict(5, 0.9, "unstable"))
    assert det.rule == "fast" and det.evidence_start == 3
    assert "for 3 windows in a row" in det.describe()
    # half of the slow windows leaning bad on average is evidence too (the end of a frame)
    det = BadTipDetector(threshold=0.8, patience=3, slow_windows=6, slow_level=0.5)
    for i, p in enumerate([0.6, 0.7, 0.6]):
        det.update(_verdict(i, p, "blunt"))
    assert not det.streak and det.leaning and det.evidence_start == 0
    det.reset()
    assert not det.leaning and det.evidence_start is None and det.state is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"slow_windows": -1}, "slow_windows must be >= 0"),
        ({"slow_level": 1.0}, "slow_level must lie in"),
        ({"patience": 0}, "patience must be >= 1"),
    ],
)
def test_detector_refuses_bad_settings(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        BadTipDetector(**kwargs)


def test_roc_auc_matches_pair_counting():
    rng = np.random.default_rng(3)
    score = np.round(rng.random(60), 1)  # with ties
    pos = rng.random(60) < 0.4
    pairs = [(a > b) + 0.5 * (a == b) for a in score[pos] for b in score[~pos]]
    assert roc_auc(score, pos) == pytest.approx(np.mean(pairs))
