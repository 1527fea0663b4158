"""The watched plan's decision, line by line, without the instrument: classifier, OOD, rules.

:class:`LineWatcher` is what :func:`autoscope.plans.tip_watch.tip_watched_image`
runs after every line, and what ``autoscope tip classify --lines`` and the
benchmarks run on recorded frames, so that all three judge a frame alike:

1. the surface rules (:mod:`.rules`) take the line; one that fires raises
   the alarm at once, named ``rule:<name>``;
2. the rolling classifier (:mod:`.rolling`) classifies the last ``N`` lines,
   with the window's OOD score (:mod:`.ood`); an ``unknown`` window is no
   evidence, and the classifier's detector (fast and slow rules) raises the
   alarm only on windows it knows (``cnn:fast``, ``cnn:slow``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoscope.agents.tip.classes import GOOD
from autoscope.agents.tip.rolling import BadTipDetector, LineVerdict, RollingTipClassifier
from autoscope.agents.tip.rules import RuleConfig, RuleVerdict, SurfaceRules

#: A window whose bad-state confidence exceeds this leans bad; the rescan after a
#: recovery starts at the first such window before the alarm (not at the first
#: window above the alarm threshold, which comes lines later).
ONSET_LEVEL = 0.5

#: A whole image (a check image, a file judged by ``autoscope tip classify``) shows a
#: good tip only when its mean p_bad is below this, whatever its most likely class.
CHECK_LEVEL = 0.4


def frame_verdict(summary: LineVerdict, check_level: float = CHECK_LEVEL) -> str:
    """One word for a whole image from its summarized windows (:func:`.rolling.summarize`).

    ``"unknown"`` when most windows lie outside what the classifier knows;
    ``"good"`` when the most likely class is good and the mean p_bad is below
    ``check_level``; else the name of the bad class (the most likely one, or
    the most likely bad one when a good class leads with too much doubt: a
    multiple tip's ghosts show in a few windows only).
    """
    if summary.unknown:
        return "unknown"
    if summary.label in GOOD:
        return "good" if summary.p_bad < check_level else summary.worst
    return summary.label


@dataclass
class Alarm:
    """Why the watcher stops a frame.

    Attributes
    ----------
    line : int
        Line at which the alarm was raised.
    p_bad : float
        The classifier's p_bad of the last window (nan before the first window).
    state : str
        The tip class the evidence points to.
    rescan : int
        First line to rescan after a recovery.
    why : str
        The evidence, in words.
    rule : str
        ``rule:<name>`` (a surface rule), ``cnn:fast`` or ``cnn:slow``.
    """

    line: int
    p_bad: float
    state: str
    rescan: int
    why: str
    rule: str


@dataclass
class LineStep:
    """What one line gave: the classifier's verdict (None while buffering), the rules', an alarm."""

    verdict: LineVerdict | None
    ruled: RuleVerdict | None
    alarm: Alarm | None


class LineWatcher:
    """Classifier, OOD gate and surface rules over the lines of one frame.

    Parameters
    ----------
    classifier : TipClassifier
    pixel_size : float or None
        nm per pixel along the line (None: unknown; with an input range every
        window is then ``unknown``).
    threshold, patience, slow_windows, slow_level : see :class:`.rolling.BadTipDetector`
    surface_rules : bool
        Run the rules of :mod:`.rules` (default levels, or ``rule_config``).
    rule_config : RuleConfig, optional
    """

    def __init__(
        self,
        classifier,
        pixel_size: float | None,
        threshold: float = 0.8,
        patience: int = 3,
        slow_windows: int = 12,
        slow_level: float = 0.5,
        surface_rules: bool = True,
        rule_config: RuleConfig | None = None,
    ):
        self.rolling = RollingTipClassifier(classifier, pixel_size=pixel_size)
        self.detector = BadTipDetector(threshold, patience, slow_windows, slow_level)
        self.rules = SurfaceRules(rule_config or RuleConfig()) if surface_rules else None
        self.onset: int | None = None
        self.verdict: LineVerdict | None = None

    def reset(self) -> None:
        """Forget the frame (after a recovery, or a new frame)."""
        self.rolling.reset()
        self.detector.reset()
        if self.rules is not None:
            self.rules.reset()
        self.onset = None
        self.verdict = None

    def push(
        self, trace: np.ndarray, retrace: np.ndarray, index: int, verdict: object = "classify"
    ) -> LineStep:
        """Take line ``index`` (trace and retrace, nm); say whether the frame must stop.

        ``verdict`` may bring the classifier's verdict for the window ending at
        this line, computed beforehand in a batch (a :class:`LineVerdict`, or
        None while fewer than ``n_lines`` lines are in); by default the
        rolling classifier computes it.
        """
        ruled = self.rules.push(trace, retrace, index=index) if self.rules is not None else None
        if isinstance(verdict, str):
            verdict = self.rolling.push(trace, retrace, index=index)
        if verdict is not None:
            self.verdict = verdict
        if ruled is not None and ruled.fired:
            why = "rule " + ", ".join(f"{k} (score {ruled.scores[k]:.1f})" for k in ruled.fired)
            top = max(ruled.fired, key=ruled.scores.get)
            p_bad = self.verdict.p_bad if self.verdict is not None else float("nan")
            # the change happened in this line or between it and the one before
            alarm = Alarm(index, p_bad, ruled.state, max(0, index - 1), why, f"rule:{top}")
            return LineStep(verdict, ruled, alarm)
        if verdict is None:
            return LineStep(None, ruled, None)
        # onset: first window of the current run that leans bad (p_bad > 0.5); the tip
        # usually went bad there, before the windows cleared the alarm threshold
        if verdict.p_bad > ONSET_LEVEL and not verdict.unknown:
            self.onset = verdict.line if self.onset is None else self.onset
        else:
            self.onset = None
        if self.detector.update(verdict):
            return LineStep(verdict, ruled, self._cnn_alarm())
        return LineStep(verdict, ruled, None)

    def end_alarm(self) -> Alarm | None:
        """At the end of a frame: an alarm if the last windows lean bad, else None."""
        if self.verdict is None or not self.detector.leaning:
            return None
        return self._cnn_alarm()

    def _cnn_alarm(self) -> Alarm:
        """The classifier's alarm; the rescan starts where the evidence (or its onset) began.

        That is ``n_lines - 1`` lines before the first window of the evidence
        (or the first bad-leaning window before it).
        """
        verdict, det = self.verdict, self.detector
        start = det.evidence_start
        start = verdict.line if start is None else start
        if self.onset is not None:
            start = min(start, self.onset)
        rule = "cnn:slow" if det._evidence == "slow" else "cnn:fast"
        return Alarm(
            verdict.line,
            verdict.p_bad,
            det.state,
            max(0, start - self.rolling.n_lines + 1),
            det.describe(),
            rule,
        )


def image_verdicts(
    classifier, trace: np.ndarray, retrace: np.ndarray, pixel_size: float | None
) -> list[LineVerdict | None]:
    """The rolling classifier's verdict after every line of a recorded frame, in one batch.

    The same windows, outputs and OOD scores as :class:`RollingTipClassifier`
    gives line by line (None for the first ``n_lines - 1`` lines).
    """
    t = np.asarray(trace, dtype=np.float64)
    r = np.asarray(retrace, dtype=np.float64)
    n = classifier.n_lines
    out: list[LineVerdict | None] = [None] * t.shape[0]
    if t.shape[0] < n:
        return out
    x, last = classifier.windows(t, r, stride=1)
    res = classifier.predict(x)
    rng = getattr(classifier, "input_range", None)
    for j, end in enumerate(last):
        if rng is None or res.member_p_bad is None:
            out[end] = LineVerdict.from_output(res, j, end)
            continue
        s = slice(end - n + 1, end + 1)
        ood = classifier.ood(t[s], r[s], pixel_size, res.member_p_bad[:, j])
        out[end] = LineVerdict.from_output(res, j, end, ood, rng.margin)
    return out


def watch_image(
    classifier,
    trace: np.ndarray,
    retrace: np.ndarray,
    pixel_size: float | None,
    reset_after_alarm: bool = True,
    batch: bool = True,
    **options,
) -> tuple[list[LineStep], list[Alarm]]:
    """Feed a recorded frame (row 0 first) through a :class:`LineWatcher`.

    After an alarm the watcher is reset (as after a recovery) when
    ``reset_after_alarm``, so every alarm the frame would raise is listed.
    With ``batch`` the classifier runs once over all windows
    (:func:`image_verdicts`) and its windows go on across a reset (only the
    detector and the rules start over); else it runs line by line and starts
    a new window after a reset. ``options`` go to :class:`LineWatcher`.
    """
    t = np.asarray(trace, dtype=np.float64)
    r = np.asarray(retrace, dtype=np.float64)
    w = LineWatcher(classifier, pixel_size, **options)
    verdicts = image_verdicts(classifier, t, r, pixel_size) if batch else None
    steps, alarms = [], []
    for i in range(t.shape[0]):
        step = w.push(t[i], r[i], i, verdicts[i] if verdicts is not None else "classify")
        steps.append(step)
        if step.alarm is not None:
            alarms.append(step.alarm)
            if reset_after_alarm:
                w.reset()
    return steps, alarms
