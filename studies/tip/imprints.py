"""Twin imprints for every tip state, and the imprint rule's benchmark on held-out seeds.

:func:`render_imprint` does on the twin what a lab does after conditioning:
a gentle dip on clean Au(111) leaves a mark (``TwinSPM.leave_imprints``),
then a small frame around the dip images the mark with the tip. Here the tip
is set to a drawn state of the asked kind after the dip, so that every kind
is rendered as often as asked (in a real run the dip's outcome decides it).

:func:`bench_imprints` scores :func:`autoscope.agents.tip.imprint.classify_imprint`
on seeds from :data:`HELD_OUT_SEED` on: the rule's levels were set on seeds
below :data:`TUNING_SEEDS` only.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from autoscope.agents.tip.imprint import VERDICTS, ImprintRule, classify_imprint
from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TIP_KINDS, TwinSPM, make_tip

#: the imprint each tip kind should show (an adsorbate changes contrast, not shape)
EXPECTED = {"sharp": "good", "adsorbate": "good", "blunt": "blunt", "multi": "multi"}
TUNING_SEEDS = 1000
"""The rule's levels were set on seeds below this."""
HELD_OUT_SEED = 50_000
"""The benchmark's seeds start here (never used while setting the rule)."""


def render_imprint(
    kind: str, seed: int, size: float = 5.0, pixels: int = 80, line_time: float = 0.2
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Dip, then image the mark with a tip of ``kind``: ``(trace, retrace, pixel_size, kind)``.

    The dip is at a random place of a fresh Au(111) twin (seeded by
    ``seed``); the frame (``size`` nm, ``pixels`` square) is centred on where
    the tip was asked to go down (drift and creep move the mark off centre,
    as on an instrument).
    """
    twin = TwinSPM("au111", seed=seed, tip="sharp", tip_change_rate=0.0)
    twin.leave_imprints = True
    rng = np.random.default_rng((seed, 7))
    x, y = _flat_spot(twin, rng, size)
    twin.move_to(x, y)
    twin.dip(0.5)
    twin.set_tip(make_tip(kind, "stm", rng))
    frame = ScanFrame(
        center_x=x,
        center_y=y,
        width=size,
        height=size,
        pixels=pixels,
        lines=pixels,
        line_time=line_time,
    )
    channels, _ = twin.scan_frame(frame)
    trace, retrace = channels["topography"]
    return trace.astype(np.float64), retrace.astype(np.float64), size / pixels, kind


def _flat_spot(twin, rng: np.random.Generator, size: float) -> tuple[float, float]:
    """A place on one terrace, as a lab picks a clean spot to poke (no step within ``size``)."""
    g = np.linspace(-size, size, 21)
    gx, gy = np.meshgrid(g, g)
    for _ in range(50):
        x, y = (float(v) for v in rng.uniform(-40.0, 40.0, 2))
        h = twin.sample.height(x + gx, y + gy, blur=0.08)
        if np.ptp(h) < 0.1:  # a Au(111) step is 0.24 nm high
            return x, y
    return x, y


def _scores(confusion: dict, per_kind: int) -> dict:
    """Accuracy figures of one confusion table ``{tip kind: {verdict: count}}``."""
    right = sum(confusion[k].get(v, 0) for k, v in EXPECTED.items())
    judged = len(EXPECTED) * per_kind
    decided = sum(per_kind - confusion[k].get("unknown", 0) for k in EXPECTED)
    three = ("sharp", "blunt", "multi")
    return {
        "accuracy": right / judged,
        "accuracy_when_decided": right / decided if decided else None,
        "unknown_share": 1 - decided / judged,
        "recall": {k: confusion[k].get(EXPECTED[k], 0) / per_kind for k in EXPECTED},
        "good_called_bad": sum(
            n
            for k in ("sharp", "adsorbate")
            for v, n in confusion[k].items()
            if v not in ("good", "unknown")
        )
        / (2 * per_kind),
        "bad_called_good": sum(confusion[k].get("good", 0) for k in ("blunt", "multi"))
        / (2 * per_kind),
        "three_class_accuracy": sum(confusion[k].get(EXPECTED[k], 0) for k in three)
        / (3 * per_kind),
    }


#: the classifier's image verdict in the imprint's words (its other bad classes kept)
CNN_WORDS = {"multi_apex": "multi"}


def bench_imprints(
    per_kind: int = 40,
    first_seed: int = HELD_OUT_SEED,
    rule: ImprintRule | None = None,
    clf=None,
) -> dict:
    """The rule on ``per_kind`` held-out imprints of every tip kind: confusion and accuracy.

    Accuracy is over the kinds with an expected verdict (:data:`EXPECTED`);
    ``unknown`` counts as wrong there. Unstable tips have no expected verdict
    (their streaks should make the rule say unknown): their row says what it did.

    With ``clf`` (a :class:`~autoscope.agents.tip.weights.TipClassifier`), the
    same images are also judged as the watched plan judges a check image (the
    classifier's summarized windows, :func:`~autoscope.agents.tip.watch.frame_verdict`):
    the baseline the imprint check must beat.
    """
    from autoscope.agents.tip.rolling import summarize
    from autoscope.agents.tip.watch import frame_verdict, image_verdicts

    t0 = time.perf_counter()
    confusion = {k: dict.fromkeys(VERDICTS, 0) for k in TIP_KINDS}
    cnn: dict[str, dict[str, int]] = {k: {} for k in TIP_KINDS}
    seed = first_seed
    seconds = []
    for kind in TIP_KINDS:
        for _ in range(per_kind):
            trace, retrace, px, _ = render_imprint(kind, seed)
            seed += 1
            t = time.perf_counter()
            confusion[kind][classify_imprint(trace, px, rule).verdict] += 1
            seconds.append(time.perf_counter() - t)
            if clf is not None:
                verdicts = [v for v in image_verdicts(clf, trace, retrace, px) if v is not None]
                word = frame_verdict(summarize(verdicts))
                word = CNN_WORDS.get(word, word)
                cnn[kind][word] = cnn[kind].get(word, 0) + 1
    out = {
        "seeds": [first_seed, seed - 1],
        "per_kind": per_kind,
        "rule": dataclasses.asdict(rule or ImprintRule()),
        "confusion": confusion,
        **_scores(confusion, per_kind),
        "classify_ms_median": 1000 * float(np.median(seconds)),
    }
    if clf is not None:
        out["cnn_check_image"] = {"confusion": cnn, **_scores(cnn, per_kind)}
    out["seconds"] = time.perf_counter() - t0
    return out


__all__ = ["EXPECTED", "HELD_OUT_SEED", "TUNING_SEEDS", "bench_imprints", "render_imprint"]
