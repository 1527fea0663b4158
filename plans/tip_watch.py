"""A raster image watched by the tip-state classifier, with autonomous tip recovery.

:func:`tip_watched_image` records a raster image one event per line, like
:func:`autoscope.plans.imaging.raster_image`, and classifies the tip after
every line from the last ``N`` lines (stream ``tip_state``: the confidence of
every class per line). When the confidence in a bad state stays above
``threshold`` for ``patience`` windows in a row, or its mean over the last
``slow_windows`` windows stays above ``slow_level`` (a multiple tip whose ghosts
show only where there is something to copy), it

1. stops the frame: the run (a *segment* of the frame) closes with the reason;
2. opens a ``tip_recovery`` run (after a ``tip_change`` alarm it first takes
   a check image without acting: the tip may have changed to a good one), and
   repeats: choose a conditioning spot away
   from the region of interest, earlier spots and damaged areas; move there;
   apply the action the policy picks (bias pulse or dip); image a small check
   area there and classify it (good only when its mean bad-state confidence is
   also below ``check_level``); record the step with its reason (stream
   ``tip_actions``) — until the tip is good or ``max_actions`` is reached;
3. resumes the frame in a new segment run that rescans the lines measured
   while the tip was going bad, from the first window of the bad run that leaned
   bad (confidence above 0.5) (start document: ``resumes``, ``start_line``,
   ``reason``). The earlier lines stay in the catalog: nothing is dropped.

Beside the classifier, rules that hold on any surface
(:mod:`autoscope.agents.tip.rules`: line-to-line jumps, trace/retrace
disagreement, steps within a line, noise changes, doubled features, each
against the frame's own earlier lines) watch every line; one that fires stops
the frame the same way, with the rule named in the reason. Each classifier
window also carries an out-of-distribution score
(:mod:`autoscope.agents.tip.ood`); a window outside what the classifier was
trained on has the verdict ``unknown`` (stream ``tip_state``, label
``unknown``) and is no evidence for the classifier's alarm, so on an unknown
surface only the rules can stop the frame. A check image whose windows are
mostly unknown is judged by the rules alone: quiet rules pass the tip, so the
tip is never conditioned on an ``unknown`` alone.

When the frame ends while the last windows lean bad but do not yet raise the
alarm (a tip change in the last lines), the plan acts on it
as on an alarm, once per frame, instead of keeping lines measured with a bad tip.

An instrument fault during a line closes the segment with the fault as its
reason and resumes at that line (``max_fault_retries`` times). When the tip
cannot be recovered the recovery run closes with ``exit_status="fail"`` and
the plan raises :class:`TipRecoveryFailed`.

All runs of one frame share ``frame_uid`` in their start documents.
"""

# No "from __future__ import annotations": the queue server reads the annotations as
# objects to describe and validate plan parameters.

import dataclasses
import logging
import uuid
from typing import Optional

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator, RunEngineControlException

from autoscope.agents.tip.classes import CLASSES, GOOD
from autoscope.agents.tip.policy import POLICIES, Action, make_policy
from autoscope.agents.tip.rolling import (
    BadTipDetector,
    LineVerdict,
    RollingTipClassifier,
    summarize,
)
from autoscope.agents.tip.rules import RuleConfig, SurfaceRules
from autoscope.agents.tip.spots import choose_conditioning_spot
from autoscope.agents.tip.watch import LineWatcher, frame_verdict
from autoscope.agents.tip.weights import TipClassifier
from autoscope.devices import geometry
from autoscope.devices.backend import ScanFrame
from autoscope.devices.spm.limits import check_int, check_real
from autoscope.devices.spm.tip_logs import TipActionLog, TipVerdictLog
from autoscope.errors import ConfigurationError, InstrumentFault, TipRecoveryFailed
from autoscope.plans import stubs
from autoscope.plans.utils import check_md, check_spm, checked_frame, run_metadata

__all__ = ["tip_watched_image", "TipRecoveryFailed"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class _Context:
    spm: object
    frame: ScanFrame
    classifier: TipClassifier
    policy: object
    threshold: float
    patience: int
    slow_windows: int
    slow_level: float
    check_level: float
    max_actions: int
    check_frame: ScanFrame
    roi: tuple[float, float, float, float]
    clearance: float
    rng: np.random.Generator
    frame_uid: str
    verdict_log: TipVerdictLog
    action_log: TipActionLog
    spots: list = dataclasses.field(default_factory=list)
    damaged: list = dataclasses.field(default_factory=list)
    uids: list = dataclasses.field(default_factory=list)
    segments: int = 0
    end_alarm_used: bool = False
    surface_rules: bool = True

    def rolling(self, frame: ScanFrame) -> RollingTipClassifier:
        """A rolling classifier for ``frame`` (its pixel size feeds the OOD score)."""
        return RollingTipClassifier(self.classifier, pixel_size=frame.width / frame.pixels)

    def rules(self) -> Optional[SurfaceRules]:
        """The surface rules of a new frame or check image (None when switched off)."""
        return SurfaceRules(RuleConfig()) if self.surface_rules else None


def _line_keys(spm) -> tuple[str, str]:
    keys = spm.line.channel_keys()
    if "topography" not in keys:
        raise ConfigurationError(
            f"the tip classifier needs a 'topography' channel; this instrument has {sorted(keys)}"
        )
    return keys["topography"]


def _scan_lines(ctx: _Context, frame: ScanFrame, first: int, watcher) -> MsgGenerator[tuple]:
    """Scan lines ``first..`` of ``frame`` (stream ``primary``); stop on an alarm or a fault.

    Every line goes through ``watcher`` (a :class:`~autoscope.agents.tip.watch.LineWatcher`:
    surface rules, classifier with its OOD gate, detector). Returns
    ``(next_line, outcome, info)`` with outcome ``"done"``, ``"alarm"`` (info:
    the :class:`~autoscope.agents.tip.watch.Alarm`) or ``"fault"`` (info: the exception).
    """
    spm = ctx.spm
    kt, kr = _line_keys(spm)
    for i in range(first, frame.lines):
        yield from stubs.mv(spm.line.index, i)
        try:
            reading = yield from stubs.trigger_and_read([spm.line])
        except InstrumentFault as exc:
            return i, "fault", exc
        step = watcher.push(reading[kt]["value"], reading[kr]["value"], i)
        verdict = step.verdict
        if verdict is not None:
            ctx.verdict_log.record(
                verdict.line,
                verdict.verdict,
                verdict.p_bad,
                verdict.agreement,
                [verdict.proba[c] for c in CLASSES],
            )
            yield from stubs.trigger_and_read([ctx.verdict_log], name="tip_state")
        if step.alarm is not None:
            return i + 1, "alarm", step.alarm
    alarm = watcher.end_alarm()
    if alarm is not None and not ctx.end_alarm_used:
        # the frame ran out before the evidence could confirm a bad last stretch:
        # act on it once per frame rather than keep lines measured with a bad tip
        ctx.end_alarm_used = True
        return frame.lines, "alarm", alarm
    return frame.lines, "done", None


def _segment(
    ctx: _Context, first: int, reason: str, resumes: Optional[str], md: dict
) -> MsgGenerator[tuple]:
    """One run holding lines ``first..`` of the frame until done, an alarm or a fault."""
    spm = ctx.spm
    watcher = LineWatcher(
        ctx.classifier,
        ctx.frame.width / ctx.frame.pixels,
        ctx.threshold,
        ctx.patience,
        ctx.slow_windows,
        ctx.slow_level,
        surface_rules=ctx.surface_rules,
    )
    seg_md = dict(md)
    seg_md.update(
        {
            "frame_uid": ctx.frame_uid,
            "segment": ctx.segments,
            "start_line": first,
            "resumes": resumes,
            "reason": reason,
        }
    )
    uid = yield from bps.open_run(seg_md)
    ctx.uids.append(uid)
    ctx.segments += 1
    yield from stubs.mv(spm.frame, ctx.frame)
    try:
        nxt, outcome, info = yield from _scan_lines(ctx, ctx.frame, first, watcher)
    except Exception as exc:
        yield from _close_after(exc)
        raise
    if outcome == "done":
        yield from bps.close_run(exit_status="success", reason="frame complete")
    elif outcome == "alarm":
        yield from bps.close_run(
            exit_status="abort",
            reason=(
                f"stopped at line {info.line}: tip looks {info.state} ({info.why}); "
                f"conditioning, then rescanning from line {info.rescan}"
            ),
        )
    else:
        yield from bps.close_run(
            exit_status="fail",
            reason=f"{type(info).__name__} at line {nxt}: {info}; resuming at line {nxt}",
        )
    return uid, nxt, outcome, info


def _close_after(exc: BaseException) -> MsgGenerator[None]:
    """Close the open run after ``exc``: a RunEngine pause/abort keeps its own status."""
    if isinstance(exc, RunEngineControlException):
        yield from bps.close_run(exit_status=exc.exit_status)
    else:
        yield from bps.close_run(exit_status="fail", reason=f"{type(exc).__name__}: {exc}")


def _instrument_time(spm) -> MsgGenerator[float]:
    value = yield from bps.rd(spm.instrument_time)
    return float(value)


def _apply(spm, action: Action) -> MsgGenerator[None]:
    if action.kind == "pulse":
        yield from stubs.mv(
            spm.tip.pulse_voltage, action.magnitude, spm.tip.pulse_width, action.width
        )
        yield from stubs.mv(spm.tip.action, "pulse")
    else:
        yield from stubs.mv(spm.tip.dip_depth, action.magnitude)
        yield from stubs.mv(spm.tip.action, "dip")


def _check(ctx: _Context, spot: tuple[float, float]) -> MsgGenerator[tuple]:
    """Image the check area at ``spot`` (faults propagate).

    Returns the summarized verdict and the state the surface rules saw (the
    state of the first rule that fired, or None).
    """
    frame = dataclasses.replace(ctx.check_frame, center_x=spot[0], center_y=spot[1])
    yield from stubs.mv(ctx.spm.frame, frame)
    rolling = ctx.rolling(frame)
    rules = ctx.rules()
    ruled = None
    verdicts: list[LineVerdict] = []
    kt, kr = _line_keys(ctx.spm)
    for i in range(frame.lines):
        yield from stubs.mv(ctx.spm.line.index, i)
        reading = yield from stubs.trigger_and_read([ctx.spm.line], name="check")
        trace, retrace = reading[kt]["value"], reading[kr]["value"]
        if rules is not None:
            r = rules.push(trace, retrace, index=i)
            ruled = ruled or r.state
        v = rolling.push(trace, retrace, index=i)
        if v is not None:
            verdicts.append(v)
    return summarize(verdicts), ruled


def _check_state(summary: LineVerdict, check_level: float, ruled: Optional[str] = None) -> str:
    """The tip state a check image shows: good only when its mean p_bad is below ``check_level``.

    A multiple tip's check image often has a good *most likely* class with a
    mean p_bad of 0.35-0.5 (its ghosts show in a few windows only); calling it
    good would resume the frame with it. Such a check counts as its most
    likely bad class. A surface rule that fired on the check image (``ruled``,
    its state) makes it bad whatever the classifier says; a check image the
    classifier calls ``unknown`` is judged by the rules alone (quiet rules:
    good), so the tip is never conditioned on an ``unknown`` alone.
    """
    if ruled is not None:
        return ruled
    if summary.unknown:
        return "good_rows"
    verdict = frame_verdict(summary, check_level)
    return summary.label if verdict == "good" else verdict


def _recover(ctx: _Context, state: str, why: str, md: dict) -> MsgGenerator[bool]:
    """One ``tip_recovery`` run; returns True when the tip was made good."""
    spm = ctx.spm
    rec_md = dict(md)
    rec_md.update(
        {
            "plan_name": "tip_recovery",
            "frame_uid": ctx.frame_uid,
            "reason": why,
            "state_before": state,
            "policy": ctx.policy.describe(),
            "roi": list(ctx.roi),
            "check_frame": dataclasses.asdict(ctx.check_frame),
        }
    )
    uid = yield from bps.open_run(rec_md)
    ctx.uids.append(uid)
    ctx.policy.start_episode()
    t_begin = yield from _instrument_time(spm)
    # a tip change may have been to a good tip: look before acting
    first = 0 if state == "tip_change" else 1
    try:
        for step in range(first, ctx.max_actions + 1):
            spot = choose_conditioning_spot(
                spm.limits.scan_range,
                ctx.roi,
                ctx.spots,
                ctx.damaged,
                check_size=max(ctx.check_frame.width, ctx.check_frame.height),
                clearance=ctx.clearance,
                rng=ctx.rng,
            )
            ctx.spots.append(spot)
            yield from stubs.mv(spm.probe, spot)
            if step == 0:
                action = None
                reason = "the tip changed during the frame: check it before conditioning"
            else:
                action = ctx.policy.choose(state)
                reason = ctx.policy.explain(state, action)
            t0 = yield from _instrument_time(spm)
            try:
                if action is not None:
                    yield from _apply(spm, action)
                after, ruled = yield from _check(ctx, spot)
            except InstrumentFault as exc:
                # a lost contact leaves the feedback off: every later image would be flat
                # (and look blunt), so re-engage it before the next step
                ctx.damaged.append((spot[0], spot[1], ctx.clearance))
                after, ruled = None, None
                yield from stubs.mv(spm.feedback, True)
                reason += f"; {type(exc).__name__} during the step: {exc}; feedback re-engaged"
            t1 = yield from _instrument_time(spm)
            new_state = state if after is None else _check_state(after, ctx.check_level, ruled)
            if ruled is not None:
                reason += f"; a surface rule fired on the check image: {ruled}"
            elif after is not None and after.unknown:
                reason += (
                    f"; the check image is outside what the classifier knows (OOD score "
                    f"{after.ood:.2f}, {after.ood_feature}) and the surface rules are quiet: "
                    f"taken as good"
                )
            elif after is not None and new_state != after.label:  # a good label in doubt
                reason += (
                    f"; the check image looks {after.label} but its mean p_bad "
                    f"{after.p_bad:.2f} is not below {ctx.check_level}: still {new_state}"
                )
            if action is not None:
                ctx.policy.update(state, action, new_state, t1 - t0)
            log = ctx.action_log
            for sig, value in (
                (log.step, step),
                (log.action, action.name if action else "check only"),
                (log.action_kind, action.kind if action else "none"),
                (log.magnitude, action.magnitude if action else float("nan")),
                (log.spot_x, spot[0]),
                (log.spot_y, spot[1]),
                (log.state_before, state),
                (log.state_after, new_state),
                (log.p_bad_after, after.p_bad if after is not None else float("nan")),
                (log.t_start, t0),
                (log.t_end, t1),
                (log.reason, reason),
            ):
                sig.put(value)
            yield from stubs.trigger_and_read([log], name="tip_actions")
            logger.info(
                "tip recovery step %d: %s -> %s (%s)",
                step,
                action.name if action else "check",
                new_state,
                reason,
            )
            state = new_state
            if state in GOOD:
                t_end = yield from _instrument_time(spm)
                yield from bps.close_run(
                    exit_status="success",
                    reason=f"tip {state} after {step} action(s), {t_end - t_begin:.0f} s",
                )
                return True
    except Exception as exc:
        yield from _close_after(exc)
        raise
    yield from bps.close_run(
        exit_status="fail",
        reason=f"tip still {state} after {ctx.max_actions} actions; imaging stopped",
    )
    return False


def tip_watched_image(
    spm: Readable,
    center_x: float = 0.0,
    center_y: float = 0.0,
    width: float = 20.0,
    height: float = 20.0,
    pixels: int = 256,
    lines: int = 256,
    line_time: float = 1.0,
    angle: float = 0.0,
    weights: Optional[str] = None,
    threshold: float = 0.8,
    patience: int = 3,
    slow_windows: int = 12,
    slow_level: float = 0.5,
    check_level: float = 0.4,
    policy: str = "rule",
    policy_file: Optional[str] = None,
    max_actions: int = 10,
    max_recoveries: int = 5,
    max_fault_retries: int = 3,
    check_size: float = 5.0,
    clearance: float = 10.0,
    seed: int = 0,
    surface_rules: bool = True,
    md: Optional[dict] = None,
) -> MsgGenerator[list[str]]:
    """Record a raster image while watching the tip; recover a degraded tip and resume.

    Parameters
    ----------
    spm : Readable
        The SPM device (``autoscope.devices.SPM``) with a ``topography`` channel.
    center_x, center_y, width, height : float
        Frame centre and size in nm; the frame is the region of interest that
        conditioning keeps away from.
    pixels, lines : int
        Pixels per line and lines of the frame.
    line_time : float
        Seconds per trace (the retrace takes as long).
    angle : float
        Scan angle in degrees.
    weights : str, optional
        Path of the classifier weights (default:
        :func:`~autoscope.agents.tip.weights.default_weights_path`, i.e.
        ``$AUTOSCOPE_TIP_WEIGHTS``, a classifier the user trained, or the shipped one).
    threshold : float
        Confidence in a bad state above which a window counts as bad.
    patience : int
        Bad windows in a row that stop the frame.
    slow_windows : int
        Windows over which a lasting, milder doubt is averaged; 0 turns that
        rule off.
    slow_level : float
        Mean bad-state confidence over ``slow_windows`` windows that also
        stops the frame (a multiple tip whose ghosts show only now and then).
    check_level : float
        A check image after a conditioning action shows a good tip only when
        its most likely class is good *and* its mean bad-state confidence is
        below this.
    policy : str
        ``"rule"`` (escalation ladder) or ``"thompson"`` (learned bandit).
    policy_file : str, optional
        JSON file of a learned policy: read if it exists, written back after.
    max_actions : int
        Conditioning actions per recovery before giving up.
    max_recoveries : int
        Recoveries per frame before giving up.
    max_fault_retries : int
        Instrument faults per frame that are retried.
    check_size : float
        Width of the square check image (nm), at the frame's pixel size.
    clearance : float
        Minimum distance of a conditioning spot from the frame, earlier spots
        and damaged areas (nm).
    seed : int
        Seed of the spot choice and of the learned policy's sampling.
    surface_rules : bool
        Watch every line also with the rules that hold on any surface
        (:mod:`autoscope.agents.tip.rules`, default levels); False leaves
        the classifier alone.
    md : dict, optional
        Extra metadata for every run's start document (merged last).

    Returns
    -------
    list of str
        The uids of every run recorded (frame segments and recoveries), in order.

    Raises
    ------
    TipRecoveryFailed
        when a recovery ran out of actions or the frame out of recoveries.
    InstrumentFault
        when faults exceed ``max_fault_retries``.
    ConfigurationError, SafetyLimitError
        for bad arguments, before anything moves.
    """
    spm = check_spm(spm)
    frame = checked_frame(
        spm, center_x, center_y, width, height, angle, pixels, lines, line_time, min_pixels=8
    )
    threshold = check_real("threshold", threshold, low=0.0, high=1.0, low_inclusive=False)
    patience = check_int("patience", patience, low=1)
    slow_windows = check_int("slow_windows", slow_windows, low=0)
    slow_level = check_real("slow_level", slow_level, low=0.0, high=1.0, low_inclusive=False)
    check_level = check_real("check_level", check_level, low=0.0, high=1.0, low_inclusive=False)
    BadTipDetector(threshold, patience, slow_windows, slow_level)  # its own checks, before moving
    max_actions = check_int("max_actions", max_actions, low=1)
    max_recoveries = check_int("max_recoveries", max_recoveries, low=0)
    max_fault_retries = check_int("max_fault_retries", max_fault_retries, low=0)
    check_size = check_real("check_size", check_size, low=0.0, low_inclusive=False, units="nm")
    clearance = check_real("clearance", clearance, low=0.0, units="nm")
    if policy not in POLICIES:
        raise ConfigurationError(f"policy {policy!r} is unknown; choose one of {POLICIES}")
    md = check_md(md)
    classifier = TipClassifier.load(weights)
    px = frame.width / frame.pixels
    # the check image's pixels: check_size at the frame's pixel size, a multiple of the
    # controller's pixel step (a Nanonis controller keeps only multiples of 16)
    step = spm.limits.pixel_step
    check_px = int(np.clip(step * round(check_size / px / step), max(16, step), 512 // step * step))
    check_lines = max(2 * classifier.n_lines, int(round(check_size / (frame.height / frame.lines))))
    check_frame = ScanFrame(
        width=check_px * px,
        height=check_lines * frame.height / frame.lines,
        pixels=check_px,
        lines=check_lines,
        line_time=frame.line_time,
        angle=frame.angle,
    )
    roi = geometry.bounds(frame)
    pol = make_policy(policy, policy_file, seed=seed)
    rng = np.random.default_rng(seed)

    line = spm.line
    plan_args = {
        **dataclasses.asdict(frame),
        "weights": weights,
        "threshold": threshold,
        "patience": patience,
        "slow_windows": slow_windows,
        "slow_level": slow_level,
        "check_level": check_level,
        "policy": policy,
        "policy_file": policy_file,
        "max_actions": max_actions,
        "max_recoveries": max_recoveries,
        "max_fault_retries": max_fault_retries,
        "check_size": check_size,
        "clearance": clearance,
        "seed": seed,
        "surface_rules": surface_rules,
    }
    extra = {
        "frame": dataclasses.asdict(frame),
        "pixel_size": [frame.width / frame.pixels, frame.height / frame.lines],
        "pixel_units": "nm",
        "image_shape": [frame.lines, frame.pixels],
        "line_key": line.index.name,
        "image_keys": {ch: list(keys) for ch, keys in line.channel_keys().items()},
        "tip_classes": list(CLASSES),
        "tip_classifier": {
            "n_lines": classifier.n_lines,
            "members": len(classifier.ensemble.members),
            "trained": classifier.metadata.get("created"),
            "weights": classifier.source,
            "input_range": classifier.input_range is not None,
        },
        "surface_rules": dataclasses.asdict(RuleConfig()) if surface_rules else None,
        "hints": {"dimensions": [([line.index.name], "primary")]},
    }
    seg_md = run_metadata(spm, "tip_watched_image", plan_args, extra, md)
    ctx = _Context(
        spm=spm,
        frame=frame,
        classifier=classifier,
        policy=pol,
        threshold=threshold,
        patience=patience,
        slow_windows=slow_windows,
        slow_level=slow_level,
        check_level=check_level,
        max_actions=max_actions,
        check_frame=check_frame,
        roi=roi,
        clearance=clearance,
        rng=rng,
        frame_uid=str(uuid.uuid4()),
        verdict_log=TipVerdictLog(name="tip", n_classes=len(CLASSES)),
        action_log=TipActionLog(name="tip_action"),
        surface_rules=bool(surface_rules),
    )

    def inner() -> MsgGenerator[list[str]]:
        first, reason, resumes = 0, "start of frame", None
        recoveries = faults = 0
        while True:
            uid, nxt, outcome, info = yield from _segment(ctx, first, reason, resumes, seg_md)
            if outcome == "done":
                break
            if outcome == "fault":
                faults += 1
                if faults > max_fault_retries:
                    raise info
                yield from stubs.mv(spm.feedback, True)
                first, resumes = nxt, uid
                reason = f"resume after {type(info).__name__} at line {nxt}: {info}"
                continue
            state, rescan = info.state, info.rescan
            recoveries += 1
            why = (
                f"tip looked {state} at line {info.line} of frame {ctx.frame_uid} "
                f"(p_bad {info.p_bad:.2f}; {info.why})"
            )
            if recoveries > max_recoveries:
                raise TipRecoveryFailed(
                    f"{why}; {max_recoveries} recoveries already spent on this frame"
                )
            ok = yield from _recover(ctx, state, why, md)
            if policy_file is not None and policy == "thompson":
                pol.save(policy_file)
            if not ok:
                raise TipRecoveryFailed(
                    f"{why}; still bad after {max_actions} conditioning actions, imaging stopped"
                )
            first, resumes = rescan, uid
            reason = f"resume after tip recovery; rescanning from line {rescan}"
        return list(ctx.uids)

    return (yield from bpp.stage_wrapper(inner(), [spm]))
