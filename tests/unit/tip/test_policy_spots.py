"""Conditioning policies and spot choice, on an abstract stochastic tip."""

import numpy as np
import pytest

from autoscope.agents.tip.policy import (
    DEFAULT_ACTIONS,
    Action,
    RuleBasedPolicy,
    ThompsonPolicy,
    run_episode,
    train_policy,
)
from autoscope.agents.tip.spots import choose_conditioning_spot
from autoscope.errors import ConfigurationError


class ToyTip:
    """A blunt tip that only a 1 nm dip fixes often; a multi-apex tip that pulses fix."""

    P = {
        ("blunt", "dip 1 nm"): 0.7,
        ("blunt", "dip 2 nm"): 0.4,
        ("multi_apex", "pulse 3 V"): 0.6,
        ("multi_apex", "pulse 4.5 V"): 0.5,
    }

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.state = "blunt" if self.rng.random() < 0.5 else "multi_apex"

    def observe(self):
        return self.state

    def act(self, action):
        if self.rng.random() < self.P.get((self.state, action.name), 0.03):
            self.state = "good_atomic"
        return 30.0 + (5.0 if action.kind == "dip" else 1.0)


def test_rule_based_escalates_and_restarts():
    pol = RuleBasedPolicy()
    pol.start_episode()
    seen = []
    for _ in range(len(DEFAULT_ACTIONS) + 2):
        a = pol.choose("blunt")
        seen.append(a)
        pol.update("blunt", a, "blunt", 10.0)
    assert seen[: len(DEFAULT_ACTIONS)] == list(DEFAULT_ACTIONS)
    assert seen[-1] == DEFAULT_ACTIONS[-1]
    pulses = [a.magnitude for a in seen if a.kind == "pulse"]
    assert pulses == sorted(pulses)
    pol.start_episode()
    assert pol.choose("unstable") == DEFAULT_ACTIONS[0]


def test_thompson_learns_state_dependent_actions_and_beats_the_ladder():
    learned = ThompsonPolicy(seed=1)
    train_policy(learned, lambda i: ToyTip(10_000 + i), episodes=300)
    table = learned.success_table()
    assert max(table["blunt"], key=table["blunt"].get) == "dip 1 nm"
    assert max(table["multi_apex"], key=table["multi_apex"].get) in ("pulse 3 V", "pulse 4.5 V")
    rule = RuleBasedPolicy()
    test = range(50_000, 50_200)
    t_rule = np.mean([run_episode(rule, ToyTip(i)).time for i in test])
    t_learn = np.mean([run_episode(learned, ToyTip(i)).time for i in test])
    assert t_learn < 0.7 * t_rule


def test_episode_stops_at_the_limit():
    class Hopeless:
        def observe(self):
            return "blunt"

        def act(self, action):
            return 10.0

    ep = run_episode(RuleBasedPolicy(), Hopeless(), max_actions=4)
    assert not ep.recovered and ep.actions == 4 and ep.time == 40.0
    assert [s["action"] for s in ep.steps] == [a.name for a in DEFAULT_ACTIONS[:4]]


def test_thompson_save_load_roundtrip(tmp_path):
    pol = ThompsonPolicy(seed=3)
    train_policy(pol, lambda i: ToyTip(i), episodes=20)
    pol.save(tmp_path / "p.json")
    again = ThompsonPolicy.load(tmp_path / "p.json")
    assert again.success_table() == pol.success_table()


def test_bad_actions_and_states_are_refused():
    with pytest.raises(ConfigurationError, match="kind"):
        Action("zap", 3.0)
    with pytest.raises(ConfigurationError, match="dip depth"):
        Action("dip", -1.0)
    with pytest.raises(ConfigurationError, match="unknown tip state 'dull'"):
        RuleBasedPolicy().choose("dull")


def test_spot_keeps_clear_of_roi_previous_and_damage():
    roi = (-50.0, -50.0, 50.0, 50.0)
    previous = [(100.0, 0.0), (0.0, 100.0)]
    damaged = [(-100.0, 0.0, 30.0)]
    x, y = choose_conditioning_spot(
        500.0, roi, previous, damaged, check_size=10.0, clearance=20.0, rng=np.random.default_rng(0)
    )
    dx = max(roi[0] - x, 0, x - roi[2])
    dy = max(roi[1] - y, 0, y - roi[3])
    assert np.hypot(dx, dy) >= 25.0
    assert all(np.hypot(x - px, y - py) >= 25.0 for px, py in previous)
    assert np.hypot(x + 100.0, y) >= 55.0
    assert abs(x) <= 245 and abs(y) <= 245


def test_spot_impossible_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="no conditioning spot"):
        choose_conditioning_spot(100.0, (-45.0, -45.0, 45.0, 45.0), clearance=20.0)
    with pytest.raises(ConfigurationError, match="roi"):
        choose_conditioning_spot(100.0, (10.0, 0.0, 0.0, 1.0))


def test_learned_policy_on_twin_dynamics_needs_fewer_actions_than_the_ladder():
    from autoscope.studies.tip.twin_env import TwinTipEnv, train_thompson_on_twin

    learned = train_thompson_on_twin(
        episodes=60, seed=0, first_env_seed=0, check_lines=8, check_pixels=32
    )
    rule = RuleBasedPolicy()
    held_out = range(90_000, 90_060)
    opts = dict(check_lines=8, check_pixels=32)
    ep_rule = [run_episode(rule, TwinTipEnv(i, **opts)) for i in held_out]
    ep_learn = [run_episode(learned, TwinTipEnv(i, **opts)) for i in held_out]
    assert all(e.recovered for e in ep_rule + ep_learn)
    assert np.mean([e.actions for e in ep_learn]) < np.mean([e.actions for e in ep_rule])
    assert np.mean([e.time for e in ep_learn]) < np.mean([e.time for e in ep_rule])
