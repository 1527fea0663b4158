"""Benchmarks of tip-state awareness on the SPM twin.

    python benchmarks/bench_tip.py --weights PATH [--only SECTION ...] [--quick]

Sections (all by default):

accuracy   held-out twin frames (samples' seeds used neither in training nor in
           the training report's test): accuracy per class, good-vs-bad
           accuracy, precision, recall and ROC AUC, overall and per sample.
delay      detection delay after a tip change (lines from the change to the
           alarm of the watched plan's decision: surface rules, classifier
           with its OOD gate, detector), with misses and false alarms; half
           the changes happen mid-line.
inference  time per window (ensemble, one line pushed) on 2 torch threads.
policy     rule-based ladder vs Thompson sampling trained on the twin's tip
           dynamics: mean actions and instrument time to recover.
real       the classifier on real STM topographs shipped in PyPI packages
           (autoscope.io.realdata), with a figure of each image beside its
           per-line p_bad; resampled to ~0.08 nm pixels where the size is known.
rules      the surface rules (each alone and together), the CNN and the plan's
           decision on held-out twin frames and on the real topographs, and the
           OOD score's AUC twin-vs-real (see autoscope.studies.tip.bench_rules).
imprint    the imprint rule (autoscope.agents.tip.imprint) on held-out twin
           imprints of every tip kind (seeds from 50000; the rule was set on
           seeds below 1000), beside the classifier's check-image verdict on the
           same images (see autoscope.studies.tip.imprints).
soak       unattended operation: watched frames on one twin for --soak-hours
           instrument hours with spontaneous tip changes and random faults,
           the learned policy, no human step; share of frames kept with a good
           tip, data completeness, memory.

Without --weights the classifier is trained first (``autoscope tip train``
defaults). Results are printed and written as JSON to --out (alias --json).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from autoscope.agents.tip.classes import CLASSES
from autoscope.agents.tip.policy import RuleBasedPolicy, run_episode
from autoscope.agents.tip.rolling import BadTipDetector, LineVerdict, RollingTipClassifier
from autoscope.agents.tip.watch import LineWatcher
from autoscope.agents.tip.weights import TipClassifier
from autoscope.studies.tip import dataset
from autoscope.studies.tip.train import evaluate_frames
from autoscope.studies.tip.twin_env import TwinTipEnv, train_thompson_on_twin

log = logging.getLogger("bench_tip")
SECTIONS = ("accuracy", "delay", "inference", "policy", "soak", "real", "rules", "imprint")
GOOD_KINDS = ("sharp", "adsorbate")


def bench_accuracy(
    clf: TipClassifier, frames: int, seed: int, threshold: float = 0.8, patience: int = 3
) -> dict:
    """Held-out frames on sample seeds 20000-20159 (training and its report use other seeds).

    A frame's windows are alike, so the figures vary from one set of frames to
    another by more than the window count suggests: 120 frames gave 0.968 for
    weights that scored 0.944-0.958 on four other sets of 80-480 frames. Hence
    480 frames by default.
    """
    seeds = (20_000, 20_160)
    specs = dataset.random_specs(frames, range(*seeds), np.random.default_rng((seed, 11)))
    images = [dataset.scan(s) for s in specs]
    out = {
        "frames": frames,
        "seeds": list(seeds),
        "all": evaluate_frames(
            clf,
            dataset.full_width_windows(
                images, clf.n_lines, 4, clf.scale_channel, clf.detail_channel
            ),
        ),
    }
    for sample in dataset.STM_SAMPLES:
        sel = [im for im in images if im.spec.sample == sample]
        if not sel:
            continue
        out[sample] = evaluate_frames(
            clf,
            dataset.full_width_windows(sel, clf.n_lines, 4, clf.scale_channel, clf.detail_channel),
        )
    out["frame_alarms"] = frame_alarms(clf, images, threshold, patience)
    return out


def frame_alarms(clf: TipClassifier, images: list, threshold: float, patience: int) -> dict:
    """Per tip kind: share of one-tip frames whose verdicts (every line) raise the alarm.

    Frames in which the tip changed are left out. Compares the detector's fast
    rule alone (``slow_windows=0``) with the fast and slow rules together (the
    default): on a bad tip an alarm is a detection, on a sharp or adsorbate
    tip (both image well) a false alarm.
    """
    from autoscope.agents.tip.rolling import LineVerdict

    rules = {"fast_only": {"slow_windows": 0}, "fast_and_slow": {}}
    hits: dict[str, dict[str, list[bool]]] = {r: {} for r in rules}
    for image, (x, _) in zip(
        images,
        dataset.full_width_windows(images, clf.n_lines, 1, clf.scale_channel, clf.detail_channel),
    ):
        kinds = set(image.kinds) | set(image.kinds_end)
        if len(kinds) > 1:
            continue
        kind = next(iter(kinds))
        out = clf.predict(x)
        verdicts = [LineVerdict.from_output(out, i, i) for i in range(len(x))]
        for rule, opts in rules.items():
            det = BadTipDetector(threshold, patience, **opts)
            fired = any(det.update(v) for v in verdicts)
            hits[rule].setdefault(kind, []).append(fired)
    return {
        rule: {
            k: {"frames": len(v), "alarm_share": float(np.mean(v))} for k, v in sorted(per.items())
        }
        for rule, per in hits.items()
    }


def _delay_trial(
    clf,
    seed: int,
    threshold: float,
    patience: int,
    pixels: int = 96,
    before: int = 40,
    after: int = 48,
) -> dict:
    from autoscope.devices.backend import ScanFrame
    from autoscope.devices.twin import TwinSPM

    rng = np.random.default_rng((seed, 5))
    twin = TwinSPM("si100_h", seed=seed, tip="sharp", tip_change_rate=0.0)
    px = float(rng.uniform(0.06, 0.14))
    lines = before + after
    frame = ScanFrame(
        center_x=float(rng.uniform(-200, 200)),
        center_y=float(rng.uniform(-200, 200)),
        width=px * pixels,
        height=px * lines,
        pixels=pixels,
        lines=lines,
        line_time=1.0,
        angle=float(rng.uniform(0, 360)),
    )
    # the watched plan's own decision: surface rules, classifier, OOD gate, detector
    watcher = LineWatcher(clf, px, threshold, patience)
    rule_alarm = None
    mid_line = bool(seed % 2)
    change_line, new_kind, alarm = None, None, None
    for i in range(lines):
        if i == before:
            if mid_line:  # a spontaneous change, almost surely inside this line
                twin.tip_change_rate = 10.0 / (2 * frame.line_time)
            else:
                twin.set_tip(("blunt", "multi", "unstable")[int(rng.integers(3))])
        n_events = len(twin.truth.tip_history)
        line = twin.scan_line(frame, i)
        if mid_line and i == before:
            twin.tip_change_rate = 0.0
        if (
            change_line is None
            and len(twin.truth.tip_history) > n_events
            or (i == before and not mid_line)
        ):
            change_line = i
            new_kind = twin.truth.tip_history[-1].after if twin.truth.tip_history else None
        step = watcher.push(*line.channels["topography"], index=i)
        if step.alarm is not None and alarm is None:
            alarm, rule_alarm = i, step.alarm.rule
            if change_line is None:
                break
    return {
        "seed": seed,
        "mid_line": mid_line,
        "change_line": change_line,
        "new_kind": new_kind,
        "alarm_line": alarm,
        "alarm_rule": rule_alarm,
    }


def bench_delay(clf: TipClassifier, trials: int, threshold: float, patience: int) -> dict:
    """Lines from a tip change to the alarm; changes to an adsorbate tip are invisible, left out."""
    rows = [_delay_trial(clf, 50_000 + k, threshold, patience) for k in range(trials)]
    false_alarms = [
        r
        for r in rows
        if r["alarm_line"] is not None
        and (r["change_line"] is None or r["alarm_line"] < r["change_line"])
    ]
    visible = [
        r
        for r in rows
        if r not in false_alarms
        and r["change_line"] is not None
        and r["new_kind"] not in GOOD_KINDS
    ]
    delays = [r["alarm_line"] - r["change_line"] for r in visible if r["alarm_line"] is not None]
    return {
        "trials": trials,
        "threshold": threshold,
        "patience": patience,
        "n_lines": clf.n_lines,
        "false_alarms_before_change": len(false_alarms),
        "visible_changes": len(visible),
        "detected": len(delays),
        "missed_within_48_lines": len(visible) - len(delays),
        "median_delay_lines": float(np.median(delays)) if delays else None,
        "p90_delay_lines": float(np.percentile(delays, 90)) if delays else None,
        "delay_by_kind": {
            k: [
                r["alarm_line"] - r["change_line"]
                for r in visible
                if r["new_kind"] == k and r["alarm_line"] is not None
            ]
            for k in ("blunt", "multi", "unstable")
        },
        "changes_to_good_kind_left_out": sum(r["new_kind"] in GOOD_KINDS for r in rows),
        "first_alarm_by_rule": {
            rule: sum(r["alarm_rule"] == rule for r in visible)
            for rule in sorted({r["alarm_rule"] for r in visible if r["alarm_rule"]})
        },
    }


def bench_inference(clf: TipClassifier, threads: int = 2, repeats: int = 200) -> dict:
    """Seconds per pushed line (one window classified), for several line widths."""
    torch.set_num_threads(threads)
    out = {
        "threads": threads,
        "members": len(clf.ensemble.members),
        "n_lines": clf.n_lines,
        "tile_width": clf.tile_width,
    }
    rng = np.random.default_rng(0)
    for pixels in (96, 256, 512):
        roll = RollingTipClassifier(clf, pixel_size=0.1)  # with its OOD score, as in use
        lines = rng.normal(0, 0.05, size=(repeats + clf.n_lines, pixels))
        times = []
        for i, z in enumerate(lines):
            t0 = time.perf_counter()
            roll.push(z, z + 0.001)
            if i >= clf.n_lines:
                times.append(time.perf_counter() - t0)
        out[f"{pixels}px_median_s"] = statistics.median(times)
        out[f"{pixels}px_p99_s"] = float(np.percentile(times, 99))
    return out


def bench_policy(
    train_episodes: int,
    test_episodes: int,
    classifier_episodes: int,
    clf: TipClassifier | None,
    policy_path: Path,
) -> dict:
    """Rule-based vs Thompson on held-out twin tips (truth verdicts, and classifier verdicts)."""
    learned = train_thompson_on_twin(train_episodes, seed=0, first_env_seed=0)
    learned.save(policy_path)
    out = {
        "train_episodes": train_episodes,
        "test_episodes": test_episodes,
        "learned_p_success": learned.success_table(),
    }

    def run(policy, seeds, **opts):
        eps = [run_episode(policy, TwinTipEnv(s, **opts)) for s in seeds]
        return {
            "mean_actions": float(np.mean([e.actions for e in eps])),
            "mean_time_s": float(np.mean([e.time for e in eps])),
            "recovered": float(np.mean([e.recovered for e in eps])),
        }

    seeds = range(200_000, 200_000 + test_episodes)
    out["truth_verdicts"] = {"rule": run(RuleBasedPolicy(), seeds), "thompson": run(learned, seeds)}
    if clf is not None and classifier_episodes:
        seeds = range(300_000, 300_000 + classifier_episodes)
        out["classifier_verdicts"] = {
            "episodes": classifier_episodes,
            "rule": run(RuleBasedPolicy(), seeds, classifier=clf),
            "thompson": run(learned, seeds, classifier=clf),
        }
    return out


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover


def _gc_type_counts() -> dict[str, int]:
    """Live objects tracked by the garbage collector, per type name (after a collection)."""
    gc.collect()
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] = counts.get(name, 0) + 1
    return counts


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(x, y)`` points (None for fewer than 3)."""
    if len(points) < 3:
        return None
    x, y = np.asarray(points, float).T
    return float(np.polyfit(x, y, 1)[0])


# glibc allocator settings of a long-running plan process (deploy/systemd/autoscope-re-manager
# .service sets them; see bench_soak): recorded with the soak's memory figures
MALLOC_ENV = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

# criterion of "memory flat" (see bench_soak); the first 48-h soak grew ~0.6 MB/h
SOAK_FLAT_SLOPE_MB_PER_H = 0.05
SOAK_FLAT_MAX_RISE_MB = 2.0


def _memory_report(rss, hours_done, types_half, types_end, traced, truth) -> dict:
    """Memory figures of a soak: RSS slope and maxima by half, object and traced growth.

    ``rss`` holds only the samples taken before tracemalloc started (its own
    bookkeeping costs RSS), so the second half ends where the trace began.
    """
    first = [m for h, m in rss if h < hours_done / 2]
    second = [(h, m) for h, m in rss if h >= hours_done / 2]
    slope = _slope(second)
    rise = max(m for _, m in second) - max(first) if first and second else None
    grown = {
        k: types_end.get(k, 0) - types_half.get(k, 0) for k in set(types_end) | set(types_half)
    }
    grown = dict(sorted(((k, v) for k, v in grown.items() if v), key=lambda kv: -abs(kv[1]))[:12])
    flat = (
        slope is not None
        and rise is not None
        and (slope <= SOAK_FLAT_SLOPE_MB_PER_H and rise <= SOAK_FLAT_MAX_RISE_MB)
    )
    return {
        "criterion": (
            f"flat: RSS least-squares slope over the second half <= "
            f"{SOAK_FLAT_SLOPE_MB_PER_H} MB per instrument hour and second-half max RSS "
            f"<= first-half max + {SOAK_FLAT_MAX_RISE_MB} MB"
        ),
        "flat": bool(flat),
        "rss_samples_used": len(rss),
        "rss_used_until_h": rss[-1][0] if rss else None,
        "rss_start_mb": rss[0][1] if rss else None,
        "rss_end_mb": rss[-1][1] if rss else None,
        "rss_slope_all_mb_per_h": _slope(rss),
        "rss_slope_second_half_mb_per_h": slope,
        "rss_first_half_max_mb": max(first) if first else None,
        "rss_second_half_max_mb": max(m for _, m in second) if second else None,
        "rss_second_minus_first_half_max_mb": rise,
        "gc_objects_half": sum(types_half.values()),
        "gc_objects_end": sum(types_end.values()),
        "gc_objects_growth_by_type_second_half": grown,
        **traced,
        "twin_truth_lines_held": len(truth.lines),
        "twin_truth_lines_total": truth.lines.total,
        "twin_truth_lines_max": truth.lines.maxlen,
        "twin_tip_events_held": len(truth.tip_history),
        "twin_tip_events_total": truth.tip_history.total,
        "twin_cell_cache_entries": _cell_cache_entries(truth.sample),
    }


def _cell_cache_entries(sample) -> int:
    """Cells held by the sample's scatter caches (each keeps at most its `max_cells`, LRU)."""
    from autoscope.devices.twin.fields import CellScatter

    return sum(len(v._cache) for v in vars(sample).values() if isinstance(v, CellScatter))


def bench_soak(
    weights: Path,
    policy_path: Path,
    hours: float,
    seed: int,
    line_time: float,
    fault_rate_per_h: float,
    trace_fraction: float = 0.1,
) -> dict:
    """Unattended watched imaging on one twin for ``hours`` instrument hours.

    Memory is sampled after every frame (RSS of the process). The soak counts
    as *memory flat* when the least-squares slope of RSS against instrument
    time over the second half is at most ``SOAK_FLAT_SLOPE_MB_PER_H`` (0.05 MB
    per instrument hour, 1.2 MB a day) **and** the second half's maximum RSS
    is at most ``SOAK_FLAT_MAX_RISE_MB`` (2 MB) above the first half's. The
    first half is a warm-up: caches fill and the twin's ground-truth ring
    buffer (``truth_lines_max`` line records, ~0.35 kB each) fills; the hour
    at which it filled is reported. To name what grows, the live objects per
    type are counted at half-time and at the end, and ``tracemalloc`` traces
    the last ``trace_fraction`` of the instrument hours (it slows Python about
    2.5x, so not the whole soak): the traced bytes still alive at the end,
    per instrument hour, and the largest sites. These count allocations made in
    the window and still alive, so records that replace older ones in a full
    ring buffer count too: an upper bound of growth, to name sites. The RSS
    figures use only the samples taken before tracemalloc started (its own
    bookkeeping costs a few MB); ``rss_mb`` has them all. The benchmark keeps per-frame
    running counters, not per-frame records, so it does not grow itself
    (except ``rss_mb``, one ``(h, MB)`` pair per frame).
    """
    from bluesky import RunEngine

    from autoscope.devices import SafetyLimits, make_spm
    from autoscope.devices.twin import FAULT_KINDS
    from autoscope.errors import InstrumentFault
    from autoscope.plans.tip_watch import TipRecoveryFailed, tip_watched_image

    rng = np.random.default_rng((seed, 99))
    spm = make_spm("twin", sample="si100_h", seed=seed, limits=SafetyLimits(scan_range=1000.0))
    twin = spm.backend
    RE = RunEngine({}, call_returns_result=False)
    events: dict[str, list] = {}  # run uid -> [(stream, line index, t_start)]
    streams: dict[str, str] = {}
    starts: dict[str, dict] = {}

    def collect(name, doc):
        if name == "start":
            starts[doc["uid"]] = doc
            events[doc["uid"]] = []
        elif name == "descriptor":
            streams[doc["uid"]] = (doc["run_start"], doc["name"])
        elif name == "event":
            run, stream = streams[doc["descriptor"]]
            if stream in ("primary", "check"):
                events[run].append(
                    (stream, doc["data"]["spm_line_index"], doc["data"]["spm_line_t_start"])
                )

    RE.subscribe(collect)
    pixels, lines, px = 96, 48, 0.1
    n = {"frames": 0, "complete": 0, "good": 0, "sharp": 0, "recoveries": 0, "lines_lost": 0}
    bad_by_kind = {"blunt": 0, "multi": 0, "unstable": 0}
    rss, failures, faults_injected = [], [], 0
    types_half, trace_start, full_at_h, n_untraced = None, None, None, None
    t_wall = time.perf_counter()
    while twin.time() < hours * 3600:
        if rng.random() < fault_rate_per_h * lines * 2 * line_time / 3600:
            twin.inject_fault(
                FAULT_KINDS[int(rng.integers(len(FAULT_KINDS)))],
                after_lines=int(rng.integers(0, lines)),
            )
            faults_injected += 1
        k = n["frames"]
        cx, cy = -300 + 25 * (k % 25), -300 + 25 * ((k // 25) % 25)
        n_truth = twin.truth.lines.total  # absolute line counter: the log is a ring buffer
        before = set(starts)
        outcome = "complete"
        try:
            RE(
                tip_watched_image(
                    spm,
                    center_x=cx,
                    center_y=cy,
                    width=px * pixels,
                    height=px * lines,
                    pixels=pixels,
                    lines=lines,
                    line_time=line_time,
                    weights=str(weights),
                    policy="thompson",
                    policy_file=str(policy_path),
                    seed=seed + k,
                )
            )
        except (TipRecoveryFailed, InstrumentFault) as exc:  # handled without a person
            outcome = f"{type(exc).__name__}: {exc}"
            failures.append({"frame": k, "error": outcome})
        runs = [u for u in starts if u not in before]
        seg = [u for u in runs if starts[u]["plan_name"] == "tip_watched_image"]
        assembled = {}
        for u in seg:
            for _, i, t in events[u]:
                assembled[int(i)] = float(t)
        truth = {round(lt.t_start, 6): lt for lt in twin.truth.lines.since(n_truth)}
        measured = {round(t, 6) for u in runs for _, _, t in events[u]}
        kinds = [
            (truth[round(t, 6)].kind_start, truth[round(t, 6)].kind_end) for t in assembled.values()
        ]
        complete = len(assembled) == lines
        good = complete and all(a in GOOD_KINDS and b in GOOD_KINDS for a, b in kinds)
        kinds_seen = {kind for pair in kinds for kind in pair}
        n["frames"] += 1
        n["complete"] += complete
        n["good"] += good
        n["sharp"] += complete and all(a == b == "sharp" for a, b in kinds)
        n["recoveries"] += sum(starts[u]["plan_name"] == "tip_recovery" for u in runs)
        n["lines_lost"] += len(set(truth) - measured)
        for kind in bad_by_kind:
            bad_by_kind[kind] += kind in kinds_seen
        for u in runs:  # processed: keep the collector's memory flat
            events.pop(u, None)
            starts.pop(u, None)
        for d in [d for d, (run, _) in streams.items() if run in runs]:
            del streams[d]
        del truth, measured, assembled, kinds
        now_h = twin.time() / 3600
        rss.append((now_h, _rss_mb()))
        if full_at_h is None and twin.truth.lines.dropped:
            full_at_h = now_h
        if types_half is None and now_h >= hours / 2:
            types_half = _gc_type_counts()
        if trace_start is None and trace_fraction > 0 and now_h >= hours * (1 - trace_fraction):
            n_untraced = len(rss)  # RSS samples after this one include tracemalloc's own memory
            gc.collect()
            tracemalloc.start(1)
            trace_start = (now_h, tracemalloc.take_snapshot())
        if k % 10 == 0:
            log.info(
                "soak %.1f h: %d frames, %.1f%% good, rss %.0f MB",
                now_h,
                n["frames"],
                100 * n["good"] / n["frames"],
                rss[-1][1],
            )
    wall = time.perf_counter() - t_wall
    hours_done = twin.time() / 3600
    traced = {"tracemalloc_window_h": None}
    if trace_start is not None:
        gc.collect()
        snap = tracemalloc.take_snapshot()
        tracemalloc.stop()
        window = hours_done - trace_start[0]
        diff = snap.compare_to(trace_start[1], "lineno")
        net = sum(s.size_diff for s in diff) / 1024
        traced = {
            "tracemalloc_window_h": [trace_start[0], hours_done],
            "tracemalloc_net_kb": net,
            "tracemalloc_net_kb_per_h": net / window if window > 0 else None,
            "tracemalloc_top_growth": [
                {"site": str(s.traceback[0]), "kb": s.size_diff / 1024, "blocks": s.count_diff}
                for s in diff[:8]
            ],
        }
        del snap, diff, trace_start
    types_end = _gc_type_counts()
    frames = max(n["frames"], 1)
    untraced = rss[:n_untraced] if n_untraced is not None else rss
    memory = _memory_report(untraced, hours_done, types_half or {}, types_end, traced, twin.truth)
    memory["twin_truth_ring_full_at_h"] = full_at_h
    return {
        "instrument_hours": hours_done,
        "wall_s": wall,
        "line_time_s": line_time,
        "frames": n["frames"],
        "frames_complete": n["complete"],
        "share_good_frames": n["good"] / frames,
        "share_sharp_frames": n["sharp"] / frames,
        "share_good_of_complete": n["good"] / n["complete"] if n["complete"] else float("nan"),
        "bad_frames_by_kind": bad_by_kind,
        "recoveries": n["recoveries"],
        "spontaneous_tip_changes": twin.truth.tip_event_counts["cause"].get("spontaneous", 0),
        "faults_injected": faults_injected,
        "faults_fired": len(twin.truth.faults),
        "frames_given_up": failures,
        "lines_measured_without_event": n["lines_lost"],
        "rss_mb": rss,
        "malloc_env": {k: os.environ.get(k) for k in MALLOC_ENV},
        "rss_first_half_max_mb": memory["rss_first_half_max_mb"],
        "rss_second_half_max_mb": memory["rss_second_half_max_mb"],
        "memory": memory,
    }


def _block_mean(z: np.ndarray, k: int) -> np.ndarray:
    h, w = (z.shape[0] // k) * k, (z.shape[1] // k) * k
    return z[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def _watched_alarms(res, last: np.ndarray, threshold: float, patience: int) -> dict:
    """What the watched plan's detector would do on an image fed line by line.

    ``res`` is the classifier's output for the window ending at every line
    (``last``). Each verdict goes through a :class:`BadTipDetector` with the
    plan's defaults; the detector is reset after an alarm (as after a recovery),
    so every alarm the image would raise is counted.
    """
    detector = BadTipDetector(threshold=threshold, patience=patience)
    alarms = []
    for row, line in enumerate(last):
        if detector.update(LineVerdict.from_output(res, row, int(line))):
            alarms.append({"line": int(line), "rule": detector.rule, "state": detector.state})
            detector.reset()
    slow = (
        np.convolve(res.p_bad, np.ones(detector.slow_windows) / detector.slow_windows, mode="valid")
        if len(res.p_bad) >= detector.slow_windows
        else np.array([])
    )
    return {
        "alarms": alarms,
        "max_p_bad": float(res.p_bad.max()),
        "max_slow_mean": float(slow.max()) if slow.size else None,
    }


def bench_real(
    clf: TipClassifier,
    figure: Path,
    target_px: float = 0.08,
    threshold: float = 0.8,
    patience: int = 3,
) -> dict:
    """Verdicts on real topographs; SPIEPy files have no retrace and no stated scan size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from autoscope.agents.tip.windows import fit_plane
    from autoscope.io import rawimage, realdata, sxm

    dirs = [realdata.default_archive_dir()]
    out, panels = {}, []
    for key in ("tise2_sxm", "spiepy_step_atoms", "spiepy_defects", "spiepy_step"):
        real = realdata.known_file(key)
        try:
            data, source = realdata.locate(real, dirs)
        except Exception as exc:  # not installed nor downloaded: say so
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
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
        else:
            trace = rawimage.parse_raw_image(data, source)
            retrace = trace
            note = "scan size unknown (native pixels); no retrace in the file (trace used twice)"
        # the window ending at every line, classified once: the watched detector takes
        # them all, the summary and the figure every second one
        x, last = clf.windows(trace, retrace, stride=1)
        res = clf.predict(x)
        half = slice(None, None, 2)
        top = [CLASSES[i] for i in res.label[half]]
        p_bad = res.p_bad[half]
        out[key] = {
            "description": real.description,
            "note": note,
            "windows": len(top),
            "mean_proba": dict(zip(CLASSES, map(float, res.proba[half].mean(axis=0)))),
            "share_of_windows": {c: top.count(c) / len(top) for c in CLASSES if c in top},
            "median_p_bad": float(np.median(p_bad)),
            "watched": _watched_alarms(res, last, threshold, patience),
        }
        panels.append((key, trace, last[half], p_bad, max(set(top), key=top.count)))
    if panels:
        fig, axes = plt.subplots(2, len(panels), figsize=(4 * len(panels), 7), squeeze=False)
        for j, (key, trace, last, p_bad, top) in enumerate(panels):
            axes[0, j].imshow(trace - fit_plane(trace), origin="lower", cmap="gray")
            axes[0, j].set_title(f"{key}\nmost windows: {top}", fontsize=9)
            axes[1, j].plot(last, p_bad)
            axes[1, j].set_ylim(0, 1)
            axes[1, j].set_xlabel("last line of window")
            axes[1, j].set_ylabel("p_bad")
        fig.tight_layout()
        figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(figure, dpi=80)
        plt.close(fig)
        out["figure"] = str(figure)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--soak-hours", type=float, default=48.0)
    parser.add_argument("--soak-line-time", type=float, default=2.0)
    parser.add_argument("--fault-rate", type=float, default=0.25, help="faults per instrument hour")
    parser.add_argument(
        "--policy-file",
        type=Path,
        default=None,
        help="learned policy JSON (written by the policy section, read by soak)",
    )
    parser.add_argument(
        "--accuracy-frames",
        type=int,
        default=480,
        help="held-out frames of the accuracy section (default 480)",
    )
    parser.add_argument(
        "--rules-frames",
        type=int,
        default=240,
        help="held-out twin frames of the rules section (default 240)",
    )
    parser.add_argument(
        "--imprints-per-kind",
        type=int,
        default=40,
        help="held-out twin imprints per tip kind of the imprint section (default 40)",
    )
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        "--json",
        dest="out",
        type=Path,
        default=Path("benchmarks/results/bench_tip.json"),
        help="JSON results (the real-image figure goes beside it)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_tip_"))
    weights = args.weights
    results: dict = {"command": " ".join(sys.argv)}
    if weights is None:
        from autoscope.studies.tip.pipeline import PipelineConfig, run_pipeline

        clf, report = run_pipeline(PipelineConfig())
        weights = clf.save(tmp / "tip.weights.pt")
        results["training"] = {"seconds": report["seconds"], "held_out": report["held_out"]}
    clf = TipClassifier.load(weights)
    results["weights"] = str(weights)
    results["classifier"] = {
        "n_lines": clf.n_lines,
        "tile_width": clf.tile_width,
        "scale_channel": clf.scale_channel,
        "detail_channel": clf.detail_channel,
        "members": len(clf.ensemble.members),
        "classes": list(CLASSES),
    }
    policy_path = args.policy_file or tmp / "policy.json"
    q = args.quick
    if "accuracy" in args.only:
        results["accuracy"] = bench_accuracy(
            clf, 30 if q else args.accuracy_frames, args.seed, args.threshold, args.patience
        )
        a = results["accuracy"]["all"]
        print(
            f"accuracy: {a['accuracy']:.3f}  good-vs-bad acc {a['good_bad_accuracy']:.3f}  "
            f"AUC {a['good_bad_auc']:.3f}  per class {a['per_class']}"
        )
        print(f"alarms per one-tip frame: {json.dumps(results['accuracy']['frame_alarms'])}")
    if "delay" in args.only:
        results["delay"] = bench_delay(clf, 20 if q else 100, args.threshold, args.patience)
        shown = {k: v for k, v in results["delay"].items() if k != "delay_by_kind"}
        print(f"delay: {json.dumps(shown)}")
    if "inference" in args.only:
        results["inference"] = bench_inference(clf, threads=2, repeats=50 if q else 300)
        results["inference_1_thread"] = bench_inference(clf, threads=1, repeats=50 if q else 300)
        torch.set_num_threads(1)
        print(f"inference: {results['inference']}")
        print(f"inference, 1 thread: {results['inference_1_thread']}")
    if "policy" in args.only:
        results["policy"] = bench_policy(
            40 if q else 300, 40 if q else 300, 10 if q else 40, clf, policy_path
        )
        shown = {k: v for k, v in results["policy"].items() if k != "learned_p_success"}
        print(f"policy: {json.dumps(shown)}")
    if "soak" in args.only:
        if not Path(policy_path).is_file():
            train_thompson_on_twin(40 if q else 300, seed=0, first_env_seed=0).save(policy_path)
        results["soak"] = bench_soak(
            weights,
            policy_path,
            2.0 if q else args.soak_hours,
            args.seed,
            args.soak_line_time,
            args.fault_rate,
        )
        s = results["soak"]
        print(
            f"soak: {s['instrument_hours']:.1f} h, {s['frames']} frames, "
            f"good {s['share_good_frames']:.3f}, "
            f"lines without event {s['lines_measured_without_event']}, "
            f"rss {s['rss_first_half_max_mb']} -> {s['rss_second_half_max_mb']} MB, "
            f"given up {len(s['frames_given_up'])}"
        )
    if "real" in args.only:
        results["real"] = bench_real(
            clf,
            args.out.with_name("tip_real_images.png"),
            threshold=args.threshold,
            patience=args.patience,
        )
        for key, r in results["real"].items():
            if isinstance(r, dict):
                print(
                    f"real {key}: {r.get('share_of_windows', r.get('error'))}; "
                    f"watched: {r.get('watched')}"
                )
    if "rules" in args.only:
        from autoscope.studies.tip.bench_rules import bench_rules_section

        results["rules"] = bench_rules_section(
            clf, 30 if q else args.rules_frames, args.seed, args.threshold, args.patience
        )
        r = results["rules"]
        print(f"rules, window AUC on twin: {json.dumps(r['twin']['window_auc'])}")
        print(f"rules, frames on twin: {json.dumps(r['twin']['frames_by_variant'])}")
        print(
            "rules, real false alarms per 256 lines (good frames): "
            f"{json.dumps(r['real']['false_alarms_per_256_lines_on_good_frames'])}"
        )
        print(f"ood: {json.dumps(r['ood'])}")
    if "imprint" in args.only:
        from autoscope.studies.tip.imprints import bench_imprints

        results["imprint"] = bench_imprints(8 if q else args.imprints_per_kind, clf=clf)
        r = results["imprint"]
        print(f"imprint rule: {json.dumps({k: v for k, v in r.items() if k != 'rule'})}")
    results["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
