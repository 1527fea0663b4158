"""Tip shape from an imprint (issue 21 item 4): the twin's marks and the rule that reads them.

Seeds below ``TUNING_SEEDS`` (the rule's levels were set on them); the
held-out figures are the benchmark's (benchmarks/bench_tip.py --only imprint).
"""

from __future__ import annotations

import numpy as np
import pytest

from autoscope.agents.tip.imprint import ImprintRule, classify_imprint, level_imprint
from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TwinSPM
from autoscope.devices.twin.imprint import MARK_HEIGHT
from autoscope.errors import ConfigurationError
from autoscope.studies.tip.imprints import TUNING_SEEDS, render_imprint


@pytest.mark.parametrize(
    "kind,seed,expected",
    [
        ("sharp", 0, "good"),
        ("adsorbate", 37, "good"),
        ("multi", 24, "multi"),
        ("blunt", 12, "blunt"),
        ("unstable", 48, "unknown"),
    ],
)
def test_each_tip_state_draws_its_imprint(kind, seed, expected):
    assert seed < TUNING_SEEDS
    trace, _, px, _ = render_imprint(kind, seed)
    v = classify_imprint(trace, px)
    assert v.verdict == expected, v.why
    if expected == "good":
        assert v.lobes == 1 and v.width < 0.85 and v.elongation < 1.3
    if expected == "multi":
        assert v.lobes >= 2
    if expected == "blunt":
        assert v.width > 0.85


def test_a_sharp_tip_shows_the_mark_high_and_a_blunt_one_low():
    sharp, _, px, _ = render_imprint("sharp", 1)
    blunt, _, _, _ = render_imprint("blunt", 13)
    # the mark keeps its volume: a sharp apex shows most of its height, a blunt one a low hump
    assert level_imprint(sharp)[0].max() > 0.7 * MARK_HEIGHT
    assert level_imprint(blunt)[0].max() < 0.3 * MARK_HEIGHT
    assert classify_imprint(sharp, px).contrast > 3 * classify_imprint(blunt, px).contrast


def test_without_a_mark_the_verdict_is_unknown():
    """The twin leaves no mark unless asked (runs made before imprints are unchanged)."""
    twin = TwinSPM("au111", seed=3, tip="sharp", tip_change_rate=0.0)
    assert twin.leave_imprints is False
    twin.dip(0.5)
    assert twin.imprints == []
    twin.set_tip("sharp")
    frame = ScanFrame(center_x=0.0, width=5.0, height=5.0, pixels=64, lines=64, line_time=0.2)
    channels, _ = twin.scan_frame(frame)
    v = classify_imprint(channels["topography"][0], 5.0 / 64)
    assert v.verdict == "unknown" and "no mark" in v.why


def test_a_mark_cut_by_the_frame_edge_or_a_coarse_pixel_is_unknown():
    trace, _, px, _ = render_imprint("sharp", 2)
    top = np.unravel_index(np.argmax(trace), trace.shape)
    cut = trace[top[0] :, :]  # the frame starts at the mark's centre
    assert classify_imprint(cut, px).verdict == "unknown"
    v = classify_imprint(trace, 0.5)
    assert v.verdict == "unknown" and v.ood > 1 and "pixel size" in v.why


@pytest.mark.parametrize(
    "image,px,match",
    [
        (np.zeros((8, 8)), 0.05, "at least 16 x 16"),
        (np.full((20, 20), np.nan), 0.05, "NaN"),
        (np.zeros((20, 20)), -0.05, "pixel size must be a positive number of nm, got -0.05"),
    ],
)
def test_bad_input_is_refused(image, px, match):
    with pytest.raises(ConfigurationError, match=match):
        classify_imprint(image, px)


def test_the_rule_levels_are_what_the_verdict_uses():
    trace, _, px, _ = render_imprint("sharp", 0)
    assert classify_imprint(trace, px, ImprintRule(blunt_width=0.3)).verdict == "blunt"


def test_the_benchmark_scores_count_unknown_as_wrong_and_keep_the_bad_classes():
    from autoscope.studies.tip.imprints import _scores

    per = 4
    confusion = {
        "sharp": {"good": 3, "multi": 1},
        "adsorbate": {"good": 4},
        "multi": {"multi": 2, "unknown": 2},
        "blunt": {"blunt": 1, "good": 1, "unknown": 2},
        "unstable": {"unstable": 4},
    }
    s = _scores(confusion, per)
    assert s["accuracy"] == pytest.approx(10 / 16)
    assert s["accuracy_when_decided"] == pytest.approx(10 / 12)
    assert s["unknown_share"] == pytest.approx(4 / 16)
    assert s["good_called_bad"] == pytest.approx(1 / 8)
    assert s["bad_called_good"] == pytest.approx(1 / 8)
    assert s["recall"] == {"sharp": 0.75, "adsorbate": 1.0, "blunt": 0.25, "multi": 0.5}
