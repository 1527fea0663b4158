"""Classifying the tip from the last ``N`` scan lines, one verdict per line.

:class:`RollingTipClassifier` keeps the last ``N`` lines (trace and retrace)
and, once it has ``N``, classifies the window after every new line, giving the
confidence of every class at that line. :class:`BadTipDetector` turns the
stream of verdicts into a decision: a bad state whose confidence stays above a
threshold for ``patience`` windows in a row, or whose mean confidence over a
longer stretch stays above a lower level. :class:`TipWatchCallback` feeds
a rolling classifier from RunEngine event documents, for plans that do not
classify by themselves.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from bluesky.callbacks.core import CallbackBase

from autoscope.agents.tip.classes import BAD, BAD_INDICES, CLASSES
from autoscope.errors import ConfigurationError

logger = logging.getLogger(__name__)


@dataclass
class LineVerdict:
    """The classifier's view of the tip after one line.

    Attributes
    ----------
    line : int
        Index of the line just added (the last line of the window).
    proba : dict
        ``{class name: confidence}`` (soft vote of the ensemble), summing to 1.
    label : str
        Most likely class.
    p_bad : float
        Confidence that the tip is in any bad state.
    agreement : float
        Share of ensemble members whose top class is ``label``.
    ood : float
        Out-of-distribution score of the window (nan: the classifier has no
        input range, see :mod:`.ood`).
    unknown : bool
        The window lies outside what the classifier was trained on: its
        class and p_bad are not to be acted on.
    ood_feature : str
        The input statistic furthest outside its training range.
    """

    line: int
    proba: dict[str, float]
    label: str
    p_bad: float
    agreement: float
    ood: float = float("nan")
    unknown: bool = False
    ood_feature: str = ""

    @property
    def worst(self) -> str:
        """The most likely bad class."""
        return max(BAD, key=lambda c: self.proba[c])

    @property
    def verdict(self) -> str:
        """``"unknown"`` for an out-of-distribution window, else ``label``."""
        return "unknown" if self.unknown else self.label

    @classmethod
    def from_output(
        cls, out, row: int, line: int, ood: tuple[float, str] | None = None, margin: float = 0.0
    ) -> LineVerdict:
        """The verdict of window ``row`` of an :class:`EnsembleOutput` ``out``, at ``line``.

        ``ood`` is the window's ``(score, feature)``; the window is unknown
        when the score is above ``margin`` (or not a number).
        """
        k = int(out.label[row])
        score, feature = ood if ood is not None else (float("nan"), "")
        return cls(
            line=int(line),
            proba=dict(zip(CLASSES, map(float, out.proba[row]))),
            label=CLASSES[k],
            p_bad=float(out.p_bad[row]),
            agreement=float(out.votes[row, k]),
            ood=float(score),
            unknown=ood is not None and not score <= margin,
            ood_feature=feature,
        )


class RollingTipClassifier:
    """Per-line classification of the last ``n_lines`` scan lines.

    Parameters
    ----------
    classifier : TipClassifier
        Trained classifier (see :mod:`.weights`).
    n_lines : int, optional
        Window height; by default the one the classifier was trained with.
    pixel_size : float, optional
        nm per pixel along the line, for the OOD score (None: unknown, which
        is out of range when the classifier has an input range).
    """

    def __init__(self, classifier, n_lines: int | None = None, pixel_size: float | None = None):
        self.classifier = classifier
        self.pixel_size = pixel_size
        self.n_lines = int(n_lines or classifier.n_lines)
        if self.n_lines < 4:
            raise ConfigurationError(f"n_lines must be >= 4; got {self.n_lines}")
        self._trace: deque[np.ndarray] = deque(maxlen=self.n_lines)
        self._retrace: deque[np.ndarray] = deque(maxlen=self.n_lines)
        self._count = 0

    def reset(self) -> None:
        """Forget the buffered lines (a new frame, or after conditioning)."""
        self._trace.clear()
        self._retrace.clear()
        self._count = 0

    def push(
        self, trace: np.ndarray, retrace: np.ndarray, index: int | None = None
    ) -> LineVerdict | None:
        """Add one line; return the verdict once ``n_lines`` lines are buffered, else None.

        A line of a different width than the buffered ones starts a new window.
        """
        t = np.asarray(trace, dtype=np.float64).ravel()
        r = np.asarray(retrace, dtype=np.float64).ravel()
        if t.shape != r.shape:
            raise ConfigurationError(f"trace and retrace differ in length: {t.size} and {r.size}")
        if self._trace and self._trace[-1].size != t.size:
            self.reset()
        self._trace.append(t)
        self._retrace.append(r)
        line = self._count if index is None else int(index)
        self._count += 1
        if len(self._trace) < self.n_lines:
            return None
        t, r = np.stack(self._trace), np.stack(self._retrace)
        out = self.classifier.predict(self.classifier.make_window(t, r))
        rng = getattr(self.classifier, "input_range", None)
        if rng is None or out.member_p_bad is None:
            return LineVerdict.from_output(out, 0, line)
        ood = self.classifier.ood(t, r, self.pixel_size, out.member_p_bad[:, 0])
        return LineVerdict.from_output(out, 0, line, ood, rng.margin)


@dataclass
class BadTipDetector:
    """Raises the alarm on a bad tip: a confident streak, or lasting doubt.

    Two rules, either of which raises the alarm:

    - *fast*: the confidence in the bad states (summed) stays above
      ``threshold`` for ``patience`` windows in a row (a clear degradation,
      found within a few lines);
    - *slow*: the mean of that confidence over the last ``slow_windows``
      windows is above ``slow_level`` (a tip that images *a bit wrong* for
      many lines: a multiple tip on a stretch of surface where its ghosts have
      little to copy stays below ``threshold`` in most windows, as a
      microscopist who says "something has been off for a while" would notice).

    Parameters
    ----------
    threshold : float
        Confidence in the bad states (summed) above which a window counts as bad.
    patience : int
        Consecutive bad windows needed to raise the alarm.
    slow_windows : int
        Windows averaged by the slow rule; 0 turns the slow rule off.
    slow_level : float
        Mean confidence in the bad states over ``slow_windows`` windows above
        which the slow rule raises the alarm.
    """

    threshold: float = 0.8
    patience: int = 3
    slow_windows: int = 12
    slow_level: float = 0.5
    streak: int = 0
    rule: str | None = None
    _bad_sum: np.ndarray = field(default_factory=lambda: np.zeros(len(BAD_INDICES)))
    _recent: deque = field(default_factory=deque)
    _streak_line: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigurationError(f"threshold must lie in (0, 1); got {self.threshold}")
        if self.patience < 1:
            raise ConfigurationError(f"patience must be >= 1; got {self.patience}")
        if self.slow_windows < 0:
            raise ConfigurationError(f"slow_windows must be >= 0 (0: off); got {self.slow_windows}")
        if not 0.0 < self.slow_level < 1.0:
            raise ConfigurationError(f"slow_level must lie in (0, 1); got {self.slow_level}")
        self._recent = deque(maxlen=max(self.slow_windows, 1))

    def reset(self) -> None:
        """Forget the streak and the slow rule's windows."""
        self.streak = 0
        self.rule = None
        self._streak_line = None
        self._bad_sum[:] = 0
        self._recent.clear()

    def update(self, verdict: LineVerdict) -> bool:
        """Add a verdict; True when the alarm is raised (stays True while it persists).

        An ``unknown`` verdict (outside the classifier's training range) is no
        evidence either way: it ends the streak and empties the slow rule's
        windows, and never raises the alarm.
        """
        if verdict.unknown:
            self.reset()
            return False
        if verdict.p_bad > self.threshold:
            if not self.streak:
                self._streak_line = verdict.line
            self.streak += 1
            self._bad_sum += [verdict.proba[c] for c in BAD]
        else:
            self.streak = 0
            self._streak_line = None
            self._bad_sum[:] = 0
        if self.slow_windows:
            self._recent.append((verdict.line, verdict.p_bad, [verdict.proba[c] for c in BAD]))
        if self.streak >= self.patience:
            self.rule = "fast"
        elif (
            self.slow_windows
            and len(self._recent) == self.slow_windows
            and (self.slow_mean > self.slow_level)
        ):
            self.rule = "slow"
        else:
            self.rule = None
        return self.rule is not None

    @property
    def slow_mean(self) -> float:
        """Mean confidence in the bad states over the slow rule's windows (nan without any)."""
        if not self._recent:
            return float("nan")
        return float(np.mean([p for _, p, _ in self._recent]))

    @property
    def leaning(self) -> bool:
        """Evidence of a bad tip short of the alarm: a streak, or a slow mean above its level.

        The slow mean counts from half of ``slow_windows`` windows on (the end
        of a frame may leave fewer than all of them).
        """
        if self.streak:
            return True
        return bool(
            self.slow_windows
            and len(self._recent) >= max(self.patience, self.slow_windows // 2)
            and self.slow_mean > self.slow_level
        )

    @property
    def evidence_start(self) -> int | None:
        """Line of the first window behind the current evidence (None without any)."""
        evidence = self._evidence
        if evidence == "fast":
            return self._streak_line
        return int(self._recent[0][0]) if evidence == "slow" else None

    @property
    def state(self) -> str | None:
        """The bad class most confident over the evidence (None without any)."""
        evidence = self._evidence
        if evidence == "fast":
            return BAD[int(np.argmax(self._bad_sum))]
        if evidence == "slow":
            return BAD[int(np.argmax(np.sum([b for _, _, b in self._recent], axis=0)))]
        return None

    @property
    def _evidence(self) -> str | None:
        """Whose evidence stands: ``"fast"`` (a streak), ``"slow"`` (the recent mean) or None.

        A streak that is there when the slow rule raised the alarm counts as slow.
        """
        if self.streak and self.rule != "slow":
            return "fast"
        if self._recent and self.leaning:
            return "slow"
        return None

    def describe(self) -> str:
        """Why the alarm is up (or the evidence so far), in words."""
        if self._evidence == "slow":
            return (
                f"mean p_bad {self.slow_mean:.2f} over the last {len(self._recent)} windows, "
                f"above {self.slow_level}"
            )
        return f"p_bad above {self.threshold} for {self.streak} windows in a row"


class TipWatchCallback(CallbackBase):
    """Feeds a rolling classifier with scan lines from event documents.

    Parameters
    ----------
    rolling : RollingTipClassifier
        Give it the frame's ``pixel_size``: a classifier with an input range
        (the shipped one) calls every window of unknown pixel size ``unknown``,
        and the detector never raises the alarm on those.
    trace_field, retrace_field : str
        Event data keys of the topography trace and retrace (one line each).
    detector : BadTipDetector, optional
        Updated with every verdict; its alarm is logged.

    Attributes
    ----------
    verdicts : list of LineVerdict
        Verdicts of the current run.
    alarms : list of (line, state)
        Lines at which the detector raised the alarm.
    """

    def __init__(
        self,
        rolling: RollingTipClassifier,
        trace_field: str,
        retrace_field: str,
        detector: BadTipDetector | None = None,
    ):
        super().__init__()
        self.rolling = rolling
        self.trace_field = trace_field
        self.retrace_field = retrace_field
        self.detector = detector
        self.verdicts: list[LineVerdict] = []
        self.alarms: list[tuple[int, str]] = []

    def start(self, doc):
        self.rolling.reset()
        if self.detector is not None:
            self.detector.reset()
        self.verdicts = []
        self.alarms = []
        return super().start(doc)

    def event(self, doc):
        data = doc.get("data", {})
        if self.trace_field in data and self.retrace_field in data:
            verdict = self.rolling.push(data[self.trace_field], data[self.retrace_field])
            if verdict is not None:
                self.verdicts.append(verdict)
                if self.detector is not None and self.detector.update(verdict):
                    self.alarms.append((verdict.line, self.detector.state))
                    logger.warning(
                        "tip looks %s since line %d (p_bad %.2f)",
                        self.detector.state,
                        verdict.line,
                        verdict.p_bad,
                    )
        return super().event(doc)


def summarize(verdicts: list[LineVerdict]) -> LineVerdict:
    """One verdict for a whole check image: the mean confidences of its windows.

    Windows of unknown verdict are left out of the means; when they are the
    majority the summary is itself unknown (its confidences are then the
    means over all windows, for the record).

    Raises
    ------
    ConfigurationError
        If there are no verdicts (the image had fewer lines than a window).
    """
    if not verdicts:
        raise ConfigurationError(
            "no verdicts to summarize: the image had fewer lines than one window"
        )
    known = [v for v in verdicts if not v.unknown]
    unknown = 2 * len(known) < len(verdicts)
    used = verdicts if unknown else known
    proba = {c: float(np.mean([v.proba[c] for v in used])) for c in CLASSES}
    label = max(proba, key=proba.get)
    oods = [v.ood for v in verdicts if np.isfinite(v.ood)]
    features = [v.ood_feature for v in verdicts if v.unknown]
    return LineVerdict(
        line=verdicts[-1].line,
        proba=proba,
        label=label,
        p_bad=float(sum(proba[c] for c in BAD)),
        agreement=float(np.mean([v.label == label for v in used])),
        ood=float(np.median(oods)) if oods else float("nan"),
        unknown=unknown,
        ood_feature=max(set(features), key=features.count) if features else "",
    )
