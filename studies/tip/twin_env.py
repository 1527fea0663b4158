"""A degraded twin tip as a :class:`~autoscope.agents.tip.policy.ConditioningEnvironment`.

Used to train the learned policy on the twin's stochastic tip dynamics and to
compare policies in benchmarks; never in use on an instrument. Every action
costs what it costs on the twin: the move to a fresh conditioning spot, the
pulse or dip, and a check image (``check_lines`` lines of ``check_pixels``
pixels) taken at the spot, all in instrument seconds.

The verdict after each check comes either from the classifier on the check
image (``classifier=...``, as in use) or, by default, from the twin's ground
truth mapped to classes (:data:`~autoscope.studies.tip.dataset.KIND_CLASS`),
which isolates the policies from classifier errors.
"""

from __future__ import annotations

import numpy as np

from autoscope.agents.tip.policy import Action, ThompsonPolicy, train_policy
from autoscope.agents.tip.rolling import RollingTipClassifier, summarize
from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TwinSPM
from autoscope.studies.tip.dataset import KIND_CLASS

BAD_KINDS = ("blunt", "multi", "unstable")


class TwinTipEnv:
    """A twin whose tip starts bad; actions condition it at fresh spots and check it.

    Parameters
    ----------
    seed : int
        Seed of the twin (and of the starting bad kind).
    sample : str
        Twin sample.
    classifier : TipClassifier, optional
        Judge the check images with it; default: the twin's ground truth.
    check_lines, check_pixels : int
        Size of the check image.
    pixel_size : float
        nm per pixel of the check image.
    line_time : float
        Seconds per trace of the check image.
    """

    def __init__(
        self,
        seed: int,
        sample: str = "si100_h",
        classifier=None,
        check_lines: int = 32,
        check_pixels: int = 64,
        pixel_size: float = 0.1,
        line_time: float = 0.5,
    ):

        rng = np.random.default_rng((seed, 77))
        self.twin = TwinSPM(
            sample, seed=seed, tip=BAD_KINDS[int(rng.integers(len(BAD_KINDS)))], tip_change_rate=0.0
        )
        self.classifier = classifier
        self.check_lines = int(check_lines)
        self.check_pixels = int(check_pixels)
        self.size = pixel_size * check_pixels
        self.line_time = float(line_time)
        self._spot = 0
        self._verdict = None
        if classifier is not None:
            self._check()

    def _next_spot(self) -> tuple[float, float]:
        # a fresh spot on a spiral around the origin, 3 check sizes apart
        self._spot += 1
        r = 3 * self.size * np.sqrt(self._spot)
        a = 2.4 * self._spot
        return float(r * np.cos(a)), float(r * np.sin(a))

    def _check(self) -> None:

        x, y = self.twin.get_position()
        frame = ScanFrame(
            center_x=x,
            center_y=y,
            width=self.size,
            height=self.size * self.check_lines / self.check_pixels,
            pixels=self.check_pixels,
            lines=self.check_lines,
            line_time=self.line_time,
        )
        roll = (
            RollingTipClassifier(self.classifier, pixel_size=self.size / self.check_pixels)
            if self.classifier is not None
            else None
        )
        verdicts = []
        for i in range(frame.lines):
            line = self.twin.scan_line(frame, i)
            if roll is not None:
                v = roll.push(*line.channels["topography"], index=i)
                if v is not None:
                    verdicts.append(v)
        if roll is not None:
            self._verdict = summarize(verdicts).label

    def observe(self) -> str:
        """The verdict on the tip: the classifier's on the last check image, or the truth."""
        if self.classifier is not None:
            return self._verdict
        c = KIND_CLASS[self.twin.truth.tip_state.kind]
        return "good_atomic" if c == "good" else c

    def act(self, action: Action) -> float:
        """Move to a fresh spot, apply ``action``, take a check image; instrument seconds spent."""
        t0 = self.twin.time()
        self.twin.move_to(*self._next_spot())
        if action.kind == "pulse":
            self.twin.bias_pulse(action.magnitude, action.width)
        else:
            self.twin.dip(action.magnitude)
        self._check()
        return self.twin.time() - t0


def train_thompson_on_twin(
    episodes: int = 300, seed: int = 0, first_env_seed: int = 0, **env_options
) -> ThompsonPolicy:
    """A :class:`ThompsonPolicy` trained on ``episodes`` twin tips.

    Environment ``i`` is ``TwinTipEnv(first_env_seed + i, **env_options)``.
    """
    policy = ThompsonPolicy(seed=seed)
    train_policy(policy, lambda i: TwinTipEnv(first_env_seed + i, **env_options), episodes)
    return policy
