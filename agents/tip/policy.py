"""Conditioning policies: which action to apply to a degraded tip.

A policy sees what the instrument would show it (the classifier's verdict on
the tip, one of :data:`~autoscope.agents.tip.classes.CLASSES`) and picks an
:class:`Action` (a bias pulse or a controlled dip). After each action the tip
is checked; the policy is told the new verdict and the instrument time spent.

- :class:`RuleBasedPolicy`: the baseline a microscopist uses, an escalation
  ladder of ever stronger pulses, then dips, regardless of the verdict.
- :class:`ThompsonPolicy`: a contextual bandit. For every (verdict, action) it
  keeps a Beta posterior of the chance that the action gives a good tip and a
  running mean of its time cost, and picks the action with the smallest
  sampled expected time to recovery, ``cost / p``. It learns on the twin's
  stochastic tip dynamics (:func:`train_policy`) and keeps learning in use.

The decision logic does no I/O; :func:`run_episode` drives any object with the
:class:`ConditioningEnvironment` interface (the twin in benchmarks, a plan in use).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from autoscope.agents.tip.classes import CLASSES, GOOD
from autoscope.errors import ConfigurationError


@dataclass(frozen=True)
class Action:
    """A conditioning action.

    Attributes
    ----------
    kind : str
        ``"pulse"`` (bias pulse) or ``"dip"`` (controlled indentation).
    magnitude : float
        Pulse voltage (V) or dip depth (nm).
    width : float
        Pulse duration (s); ignored for dips.
    """

    kind: str
    magnitude: float
    width: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in ("pulse", "dip"):
            raise ConfigurationError(f"action kind must be 'pulse' or 'dip'; got {self.kind!r}")
        if not math.isfinite(self.magnitude) or self.magnitude == 0:
            raise ConfigurationError(
                f"action magnitude must be finite and non-zero; got {self.magnitude}"
            )
        if self.kind == "dip" and self.magnitude < 0:
            raise ConfigurationError(f"dip depth must be positive (nm); got {self.magnitude}")
        if not (self.width > 0):
            raise ConfigurationError(f"pulse width must be positive (s); got {self.width}")

    @property
    def name(self) -> str:
        """Short readable name, e.g. ``pulse 3.0 V`` or ``dip 1.0 nm``."""
        if self.kind == "pulse":
            return f"pulse {self.magnitude:g} V"
        return f"dip {self.magnitude:g} nm"


DEFAULT_ACTIONS: tuple[Action, ...] = (
    Action("pulse", 2.0),
    Action("pulse", 3.0),
    Action("pulse", 4.5),
    Action("pulse", 6.0),
    Action("dip", 0.5),
    Action("dip", 1.0),
    Action("dip", 2.0),
)
"""Menu of actions, ordered from gentle to strong (the rule-based ladder)."""


class Policy(Protocol):
    """What a conditioning policy provides."""

    actions: Sequence[Action]

    def start_episode(self) -> None:
        """A new degraded tip: forget the current episode's attempts."""

    def choose(self, state: str) -> Action:
        """The action to apply to a tip classified as ``state``."""

    def update(self, state: str, action: Action, next_state: str, cost: float) -> None:
        """Outcome of ``action`` applied in ``state``: the new verdict and instrument seconds."""

    def explain(self, state: str, action: Action) -> str:
        """Why ``action`` was chosen, in words (for the catalog)."""


def _check_state(state: str) -> None:
    if state not in CLASSES:
        raise ConfigurationError(f"unknown tip state {state!r}; expected one of {CLASSES}")


class RuleBasedPolicy:
    """Escalation ladder: each attempt in an episode takes the next, stronger action.

    Parameters
    ----------
    actions : sequence of Action
        The ladder, gentle first. After the last rung it stays there.
    """

    def __init__(self, actions: Sequence[Action] = DEFAULT_ACTIONS):
        if not actions:
            raise ConfigurationError(f"a policy needs at least one action; got {actions!r}")
        self.actions = tuple(actions)
        self._attempt = 0

    def start_episode(self) -> None:
        self._attempt = 0

    def choose(self, state: str) -> Action:
        _check_state(state)
        return self.actions[min(self._attempt, len(self.actions) - 1)]

    def update(self, state: str, action: Action, next_state: str, cost: float) -> None:
        self._attempt += 1

    def describe(self) -> dict:
        """A JSON-able summary for the catalog."""
        return {"policy": "rule_based", "ladder": [a.name for a in self.actions]}

    def explain(self, state: str, action: Action) -> str:
        """Why ``action`` was chosen (for the catalog)."""
        rung = self.actions.index(action) + 1
        return (
            f"rule-based escalation: attempt {self._attempt + 1}, rung {rung}/{len(self.actions)}"
        )


@dataclass
class _Arm:
    alpha: float = 1.0
    beta: float = 1.0
    cost_sum: float = 0.0
    n: int = 0


@dataclass
class ThompsonPolicy:
    """Contextual Thompson sampling over (verdict, action), minimising time to recovery.

    Parameters
    ----------
    actions : sequence of Action
    prior_cost : float
        Assumed instrument seconds of an action (with its check) before any is seen.
    seed : int
        Seed of the sampling generator.
    """

    actions: Sequence[Action] = DEFAULT_ACTIONS
    prior_cost: float = 60.0
    seed: int = 0
    arms: dict[tuple[str, int], _Arm] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.actions:
            raise ConfigurationError(f"a policy needs at least one action; got {self.actions!r}")
        self.actions = tuple(self.actions)
        self._rng = np.random.default_rng(self.seed)

    def _arm(self, state: str, i: int) -> _Arm:
        return self.arms.setdefault((state, i), _Arm())

    def start_episode(self) -> None:
        """Nothing per episode: the posterior carries over."""

    def choose(self, state: str) -> Action:
        _check_state(state)
        best, best_score = 0, math.inf
        for i in range(len(self.actions)):
            arm = self._arm(state, i)
            p = self._rng.beta(arm.alpha, arm.beta)
            cost = (arm.cost_sum + self.prior_cost) / (arm.n + 1)
            score = cost / max(p, 1e-6)
            if score < best_score:
                best, best_score = i, score
        return self.actions[best]

    def update(self, state: str, action: Action, next_state: str, cost: float) -> None:
        _check_state(state)
        _check_state(next_state)
        if not (cost >= 0 and math.isfinite(cost)):
            raise ConfigurationError(f"cost must be a finite number of seconds >= 0; got {cost}")
        arm = self._arm(state, self.actions.index(action))
        if next_state in GOOD:
            arm.alpha += 1
        else:
            arm.beta += 1
        arm.cost_sum += cost
        arm.n += 1

    def success_table(self) -> dict[str, dict[str, float]]:
        """Posterior mean chance of success, ``{state: {action name: p}}``."""
        table: dict[str, dict[str, float]] = {}
        for (state, i), arm in sorted(self.arms.items()):
            table.setdefault(state, {})[self.actions[i].name] = arm.alpha / (arm.alpha + arm.beta)
        return table

    def describe(self) -> dict:
        """A JSON-able summary for the catalog (no dots in keys: event-model forbids them)."""
        return {
            "policy": "thompson",
            "p_success": [
                {"state": state, "action": action, "p": p}
                for state, row in self.success_table().items()
                for action, p in row.items()
            ],
        }

    def explain(self, state: str, action: Action) -> str:
        """Why ``action`` was chosen (for the catalog)."""
        arm = self._arm(state, self.actions.index(action))
        p = arm.alpha / (arm.alpha + arm.beta)
        cost = (arm.cost_sum + self.prior_cost) / (arm.n + 1)
        return (
            f"Thompson sampling for a {state} tip: posterior success {p:.2f} "
            f"from {arm.n} tries, mean cost {cost:.0f} s"
        )

    def save(self, path: str | Path) -> None:
        """Write the actions and posterior to a JSON file."""
        data = {
            "actions": [asdict(a) for a in self.actions],
            "prior_cost": self.prior_cost,
            "seed": self.seed,
            "arms": [
                {"state": s, "action": i, **asdict(a)} for (s, i), a in sorted(self.arms.items())
            ],
        }
        Path(path).write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> ThompsonPolicy:
        """Read a policy written by :meth:`save`."""
        data = json.loads(Path(path).read_text())
        pol = cls(
            actions=tuple(Action(**a) for a in data["actions"]),
            prior_cost=data["prior_cost"],
            seed=data["seed"],
        )
        for a in data["arms"]:
            pol.arms[(a["state"], a["action"])] = _Arm(a["alpha"], a["beta"], a["cost_sum"], a["n"])
        return pol


class ConditioningEnvironment(Protocol):
    """A degraded tip that actions can be applied to (a twin, or a plan on an instrument)."""

    def observe(self) -> str:
        """The current verdict on the tip (a class name)."""

    def act(self, action: Action) -> float:
        """Apply ``action``, check the tip, and return the instrument seconds it all took."""


@dataclass
class Episode:
    """What happened while recovering one degraded tip."""

    recovered: bool
    actions: int
    time: float
    steps: list[dict] = field(default_factory=list)


def run_episode(policy: Policy, env: ConditioningEnvironment, max_actions: int = 20) -> Episode:
    """Apply the policy's actions until the verdict is good or ``max_actions`` were spent.

    Returns
    -------
    Episode
        ``recovered`` is False when the limit was reached with a bad tip.
    """
    if max_actions < 1:
        raise ConfigurationError(f"max_actions must be >= 1; got {max_actions}")
    policy.start_episode()
    state = env.observe()
    ep = Episode(recovered=state in GOOD, actions=0, time=0.0)
    while state not in GOOD and ep.actions < max_actions:
        action = policy.choose(state)
        cost = env.act(action)
        new_state = env.observe()
        policy.update(state, action, new_state, cost)
        ep.steps.append({"state": state, "action": action.name, "next": new_state, "cost": cost})
        ep.actions += 1
        ep.time += cost
        state = new_state
    ep.recovered = state in GOOD
    return ep


def train_policy(
    policy: Policy,
    make_env: Callable[[int], ConditioningEnvironment],
    episodes: int,
    max_actions: int = 20,
) -> list[Episode]:
    """Let ``policy`` learn on ``episodes`` fresh environments ``make_env(i)``."""
    return [run_episode(policy, make_env(i), max_actions) for i in range(episodes)]


POLICIES = ("rule", "thompson")


def make_policy(name: str, path: str | Path | None = None, seed: int = 0) -> Policy:
    """A policy by name: ``"rule"`` or ``"thompson"`` (read from ``path`` if it exists).

    Raises
    ------
    ConfigurationError
        For an unknown name.
    """
    if name == "rule":
        return RuleBasedPolicy()
    if name == "thompson":
        if path is not None and Path(path).is_file():
            return ThompsonPolicy.load(path)
        return ThompsonPolicy(seed=seed)
    raise ConfigurationError(f"unknown policy {name!r}; choose one of {POLICIES}")
