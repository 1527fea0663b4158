"""The surface rules and the OOD score beside the CNN: twin held-out frames and real frames.

Section ``rules`` of ``benchmarks/bench_tip.py`` (``--only rules``):

twin       held-out twin frames (sample seeds 20000-20159, drawn as the accuracy
           section draws them): per window (16 lines, every 4th), the good-vs-bad
           ROC AUC of each rule's score (its largest score over the window's
           lines), of the rules together, of the CNN's p_bad and of the two
           joined (a rule that fired makes the window bad); per frame, the share
           of one-tip frames with an alarm (false alarms on good tips) and of
           frames whose tip changed with an alarm at or after the change, with
           the delay, for each rule alone, the rules together, the CNN alone
           (its detector, no OOD gate) and the watched plan's decision
           (:class:`~autoscope.agents.tip.watch.LineWatcher`: rules, CNN, OOD gate).
ood        per window: the OOD score's ROC AUC for twin held-out windows against
           the real frames' windows (with and without the pixel size, which the
           SPIEPy files do not state, and per statistic), and the share of
           windows called unknown.
real       every real topograph of :mod:`autoscope.io.realdata`, fed line by line:
           alarms per 256 lines for each rule alone, the rules together, the CNN
           without the OOD gate (as before issue 21), the CNN with it, and the
           plan's decision; beside the labels by eye in
           ``benchmarks/tip_real_labels.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from autoscope.agents.tip.ood import FEATURES
from autoscope.agents.tip.rules import RULES, RuleConfig, image_rule_scores
from autoscope.agents.tip.watch import watch_image
from autoscope.agents.tip.weights import TipClassifier
from autoscope.studies.tip import dataset
from autoscope.studies.tip.inputrange import image_window_stats

log = logging.getLogger(__name__)

REAL_TOPOGRAPHS = ("tise2_sxm", "spiepy_step_atoms", "spiepy_defects", "spiepy_step")
"""Real files that are topographs (the others in realdata are constant-height or spectra)."""

LABELS = Path(__file__).resolve().parents[2] / "benchmarks" / "tip_real_labels.json"


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    """ROC AUC of scores ``s`` for labels ``y`` (ties count half); None for one class only."""
    y = np.asarray(y, bool)
    s = np.asarray(s, np.float64)
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return None
    order = np.argsort(np.r_[neg, pos], kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.r_[neg, pos][order]
    # average ranks of ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1
        i = j + 1
    r_pos = ranks[len(neg) :].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _block_mean(z: np.ndarray, k: int) -> np.ndarray:
    h, w = (z.shape[0] // k) * k, (z.shape[1] // k) * k
    return z[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def real_frames(target_px: float = 0.08, keys=REAL_TOPOGRAPHS) -> list[dict]:
    """The real topographs: ``key, trace, retrace, pixel_size (None: unknown), note`` or ``error``.

    Nanonis files are block-averaged to about ``target_px`` nm pixels (the
    classifier's training range); SPIEPy files have no scan size and no
    retrace (the trace is used twice).
    """
    from autoscope.io import rawimage, realdata, sxm

    dirs = [realdata.default_archive_dir()]
    out = []
    for key in keys:
        real = realdata.known_file(key)
        try:
            data, source = realdata.locate(real, dirs)
        except Exception as exc:  # not installed nor downloaded: say so
            out.append({"key": key, "error": f"{type(exc).__name__}: {exc}"})
            continue
        if real.kind == "sxm":
            im = sxm.parse_sxm(data, source)
            trace, retrace = im.image("Z", "forward"), im.image("Z", "backward")
            px = im.pixel_size[0]
            k = max(1, int(round(target_px / px)))
            trace, retrace = _block_mean(trace, k), _block_mean(retrace, k)
            note = (
                f"{im.scan_size[0]:.1f} nm, {im.pixels} px, block-averaged x{k} to {px * k:.3f} nm"
            )
            px = px * k
        else:
            trace = rawimage.parse_raw_image(data, source)
            retrace, px = trace, None
            note = "scan size unknown (native pixels); no retrace in the file (trace used twice)"
        out.append(
            {
                "key": key,
                "description": real.description,
                "trace": np.asarray(trace, np.float64),
                "retrace": np.asarray(retrace, np.float64),
                "pixel_size": px,
                "note": note,
            }
        )
    return out


def _change_line(image) -> int | None:
    """First line at which the twin's tip kind changed (None: one tip all frame)."""
    kinds0 = image.kinds[0]
    for i, (a, b) in enumerate(zip(image.kinds, image.kinds_end)):
        if a != kinds0 or b != kinds0:
            return i
    return None


def _frame_outcome(alarm_lines: list[int], change: int | None) -> dict:
    if change is None:
        return {"alarm": bool(alarm_lines)}
    before = [a for a in alarm_lines if a < change]
    after = [a for a in alarm_lines if a >= change]
    return {
        "false_before": bool(before),
        "detected": bool(after),
        "delay": after[0] - change if after else None,
    }


def _summarize_frames(outcomes: list[tuple[str, bool, dict]]) -> dict:
    """Shares per tip kind of one-tip frames, and detection on frames whose tip changed."""
    out: dict = {"one_tip_alarm_share": {}, "changed": {}}
    kinds = sorted({k for k, changed, _ in outcomes if not changed})
    for kind in kinds:
        v = [o["alarm"] for k, changed, o in outcomes if k == kind and not changed]
        out["one_tip_alarm_share"][kind] = {"frames": len(v), "share": float(np.mean(v))}
    ch = [o for _, changed, o in outcomes if changed]
    delays = [o["delay"] for o in ch if o["delay"] is not None]
    out["changed"] = {
        "frames": len(ch),
        "detected_share": float(np.mean([o["detected"] for o in ch])) if ch else None,
        "alarm_before_change_share": float(np.mean([o["false_before"] for o in ch]))
        if ch
        else None,
        "median_delay_lines": float(np.median(delays)) if delays else None,
    }
    good = [
        o["alarm"]
        for k, changed, o in outcomes
        if not changed and k in dataset.KIND_CLASS and dataset.KIND_CLASS[k] == "good"
    ]
    out["false_alarm_share_good_frames"] = float(np.mean(good)) if good else None
    return out


def bench_twin(clf: TipClassifier, frames: int, seed: int, threshold: float, patience: int):
    """Rules, CNN and the plan's decision on held-out twin frames."""
    seeds = (20_000, 20_160)
    specs = dataset.random_specs(frames, range(*seeds), np.random.default_rng((seed, 11)))
    no_ood = dataclasses.replace(clf, input_range=None)
    cfg = RuleConfig()
    y, s_rules, s_cnn = [], [], []
    variants = {name: [] for name in (*RULES, "rules", "cnn", "plan")}
    twin_stats = []
    for k, spec in enumerate(specs):
        im = dataset.scan(spec)
        change = _change_line(im)
        kind = im.kinds[0]
        changed = change is not None
        # rules: streaming scores (no reset) for windows, and alarms (reset after each)
        scores, _ = image_rule_scores(im.trace, im.retrace, cfg)
        _, rule_alarms = image_rule_scores(im.trace, im.retrace, cfg, reset_on_alarm=True)
        for rule in RULES:
            _, alone = image_rule_scores(im.trace, im.retrace, cfg, True, rules=(rule,))
            variants[rule].append((kind, changed, _frame_outcome([a for a, _ in alone], change)))
        rule_lines = [a for a, _ in rule_alarms]
        variants["rules"].append((kind, changed, _frame_outcome(rule_lines, change)))
        _, cnn_alarms = watch_image(
            no_ood,
            im.trace,
            im.retrace,
            im.pixel_size,
            threshold=threshold,
            patience=patience,
            surface_rules=False,
        )
        cnn_lines = [a.line for a in cnn_alarms]
        variants["cnn"].append((kind, changed, _frame_outcome(cnn_lines, change)))
        _, plan_alarms = watch_image(
            clf, im.trace, im.retrace, im.pixel_size, threshold=threshold, patience=patience
        )
        variants["plan"].append(
            (kind, changed, _frame_outcome([a.line for a in plan_alarms], change))
        )
        # windows: labels, CNN p_bad, rule scores over each window's lines
        rows, last, out = image_window_stats(clf, im.trace, im.retrace, im.pixel_size)
        twin_stats += rows
        labels = dataset.window_labels(
            im, last, clf.n_lines, np.arange(im.trace.shape[0]), im.pixel_size
        )
        for j, end in enumerate(last):
            y.append(int(labels[j]) not in (0, 1))  # good_atomic, good_rows
            s_rules.append(scores[end - clf.n_lines + 1 : end + 1].max(axis=0))
            s_cnn.append(float(out.p_bad[j]))
        if k % 40 == 0:
            log.info("rules on twin: frame %d of %d", k + 1, frames)
    y = np.asarray(y)
    s_rules = np.asarray(s_rules)
    s_cnn = np.asarray(s_cnn)
    any_rule = s_rules.max(axis=1)
    joined = np.where(any_rule > 1, 1.0, s_cnn)
    auc = {rule: _auc(y, s_rules[:, j]) for j, rule in enumerate(RULES)}
    auc["rules"] = _auc(y, any_rule)
    auc["cnn"] = _auc(y, s_cnn)
    auc["cnn_joined_with_rules"] = _auc(y, joined)
    acc = {
        "rules": float(np.mean((any_rule > 1) == y)),
        "cnn": float(np.mean((s_cnn > 0.5) == y)),
        "cnn_joined_with_rules": float(np.mean((joined > 0.5) == y)),
    }
    recall_at_fire = {
        rule: {
            "bad_windows_fired": float(np.mean(s_rules[y, j] > 1)),
            "good_windows_fired": float(np.mean(s_rules[~y, j] > 1)),
        }
        for j, rule in enumerate(RULES)
    }
    return (
        {
            "frames": frames,
            "seeds": list(seeds),
            "windows": int(len(y)),
            "bad_windows": int(y.sum()),
            "window_auc": auc,
            "window_good_bad_accuracy": acc,
            "window_fire_rates": recall_at_fire,
            "frames_by_variant": {k: _summarize_frames(v) for k, v in variants.items()},
        },
        twin_stats,
    )


def bench_real_rules(clf: TipClassifier, frames: list[dict], threshold: float, patience: int):
    """Alarms per 256 lines on the real topographs, per rule and per decision."""
    labels = json.loads(LABELS.read_text()) if LABELS.is_file() else {}
    no_ood = dataclasses.replace(clf, input_range=None)
    out, real_stats = {}, {}
    for f in frames:
        key = f["key"]
        if "error" in f:
            out[key] = {"error": f["error"]}
            continue
        t, r, px = f["trace"], f["retrace"], f["pixel_size"]
        n = t.shape[0]
        per256 = 256.0 / n
        scores, _ = image_rule_scores(t, r)
        _, rule_alarms = image_rule_scores(t, r, reset_on_alarm=True)
        alarms = {}
        for rule in RULES:
            _, a = image_rule_scores(t, r, reset_on_alarm=True, rules=(rule,))
            alarms[rule] = [line for line, _ in a]
        alarms["rules"] = [line for line, _ in rule_alarms]
        kw = {"threshold": threshold, "patience": patience}
        _, a = watch_image(no_ood, t, r, px, surface_rules=False, **kw)
        alarms["cnn_without_ood"] = [x.line for x in a]
        steps, a = watch_image(clf, t, r, px, surface_rules=False, **kw)
        alarms["cnn_with_ood"] = [x.line for x in a]
        steps_plan, plan = watch_image(clf, t, r, px, **kw)
        alarms["plan"] = [x.line for x in plan]
        verdicts = [s.verdict for s in steps if s.verdict is not None]
        rows, _, _ = image_window_stats(clf, t, r, px)
        real_stats[key] = rows
        out[key] = {
            "description": f["description"],
            "note": f["note"],
            "lines": n,
            "label": labels.get(key),
            "alarms": alarms,
            "alarms_per_256_lines": {k: len(v) * per256 for k, v in alarms.items()},
            "plan_alarm_rules": [x.rule for x in plan],
            "unknown_share": float(np.mean([v.unknown for v in verdicts])) if verdicts else None,
            "mean_p_bad": float(np.mean([v.p_bad for v in verdicts])) if verdicts else None,
            "max_rule_score": dict(zip(RULES, map(float, scores.max(axis=0)))),
        }
    good = [v for v in out.values() if "label" in v and (v["label"] or {}).get("tip") == "good"]
    summary = {}
    if good:
        for k in good[0]["alarms"]:
            lines = sum(v["lines"] for v in good)
            summary[k] = sum(len(v["alarms"][k]) for v in good) * 256.0 / lines
    out["false_alarms_per_256_lines_on_good_frames"] = summary
    return out, real_stats


def bench_ood(clf: TipClassifier, twin_stats: list[dict], real_stats: dict) -> dict:
    """OOD AUC twin held-out vs real windows, and unknown shares."""
    rng = clf.input_range
    if rng is None:
        return {"error": f"no input range beside {clf.source}"}
    real_rows = [r for rows in real_stats.values() for r in rows]
    y = np.r_[np.zeros(len(twin_stats)), np.ones(len(real_rows))].astype(bool)
    out = {"twin_windows": len(twin_stats), "real_windows": len(real_rows), "margin": rng.margin}
    for name, ignore in (("all", ()), ("without_pixel_size", ("pixel_size",))):
        s = np.array([rng.score(r, ignore)[0] for r in twin_stats + real_rows])
        s = np.where(np.isfinite(s), s, 1e9)
        out[name] = {
            "auc": _auc(y, s),
            "twin_unknown_share": float(np.mean(s[~y] > rng.margin)),
            "real_unknown_share": float(np.mean(s[y] > rng.margin)),
            "real_unknown_share_by_file": {
                k: float(np.mean([rng.score(r, ignore)[0] > rng.margin for r in rows]))
                for k, rows in real_stats.items()
            },
        }
    per = {}
    for feat in FEATURES:
        ex = np.array([rng.excess(r)[feat] for r in twin_stats + real_rows])
        per[feat] = _auc(y, np.where(np.isfinite(ex), ex, 1e9))
    out["auc_by_statistic_excess"] = per
    return out


def bench_rules_section(
    clf: TipClassifier, frames: int, seed: int, threshold: float = 0.8, patience: int = 3
) -> dict:
    """The whole section: twin, real, OOD."""
    twin, twin_stats = bench_twin(clf, frames, seed, threshold, patience)
    real, real_stats = bench_real_rules(clf, real_frames(), threshold, patience)
    return {
        "rule_config": dataclasses.asdict(RuleConfig()),
        "twin": twin,
        "real": real,
        "ood": bench_ood(clf, twin_stats, real_stats),
    }
