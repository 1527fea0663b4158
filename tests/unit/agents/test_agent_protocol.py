"""The Agent protocol: built-in agents by name, the campaign plan's check, optimizer adapters."""

import numpy as np
import pytest

from autoscope.agents.agent import (
    AGENT_KINDS,
    AGENTS,
    ActiveLearningAgent,
    DKLAgent,
    EvidenceAgent,
    GPAgent,
    RandomAgent,
    RasterAgent,
    agent_class,
    make_agent,
)
from autoscope.agents.candidates import CandidateSet
from autoscope.agents.optimizer import AgentOptimizer, OptimizerAgent, as_optimizer
from autoscope.agents.protocol import Agent, Optimizer, check_agent
from autoscope.agents.reporting import report_metadata, report_values
from autoscope.errors import ConfigurationError


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).random((10, 10))


@pytest.fixture
def cands(image):
    return CandidateSet.from_image(image, pixel_size=2.0)


def run(agent, values, budget):
    """Suggest / ingest until ``budget``; the indices in the order measured."""
    out = []
    while agent.n_measured < budget:
        idx = agent.suggest_indices(min(agent.batch_size, budget - agent.n_measured))
        agent.ingest_indices(idx, values[idx])
        out += np.asarray(idx).tolist()
    return out


class ListOptimizer:
    """A hand-written optimizer of bluesky-adaptive's shape: positions from a list, in order."""

    def __init__(self, positions):
        self.positions = [tuple(map(float, p)) for p in positions]
        self.suggested = []
        self.ingested = []

    def suggest(self, n=None):
        n = 1 if n is None else n
        points = []
        for _ in range(n):
            k = len(self.suggested)
            x, y = self.positions[k % len(self.positions)]
            point = {"_id": f"p{k}", "x": x, "y": y}
            self.suggested.append(point)
            points.append(point)
        return points

    def ingest(self, points):
        self.ingested += [dict(p) for p in points]


# ----------------------------------------------------------------- protocol


def test_every_built_in_agent_satisfies_the_protocol(cands):
    assert AGENT_KINDS == ("bma", "dkl", "gp", "random", "raster") == tuple(AGENTS)
    classes = {
        "bma": EvidenceAgent,
        "dkl": DKLAgent,
        "gp": GPAgent,
        "random": RandomAgent,
        "raster": RasterAgent,
    }
    for kind, cls in classes.items():
        assert AGENTS[kind] is cls and agent_class(kind) is cls
        for agent in (
            cls(cands, budget=20),
            ActiveLearningAgent(cands, kind=kind, budget=20),
            make_agent(kind, cands, budget=20),
        ):
            assert type(agent) is cls and agent.kind == kind
            assert isinstance(agent, Agent) and isinstance(agent, ActiveLearningAgent)
            assert check_agent(agent) is agent
            assert agent.report()["agent"] == kind
    assert type(ActiveLearningAgent(cands)) is EvidenceAgent  # the default kind (issue 15)
    assert type(ActiveLearningAgent(cands, "raster")) is RasterAgent  # kind by position
    assert DKLAgent(cands).seed_design == "image" and GPAgent(cands).seed_design == "spatial"


@pytest.mark.parametrize("kind", ["gp", "random", "raster"])
def test_the_factory_and_the_class_choose_the_same_points(cands, image, kind):
    values = image.ravel()
    options = dict(budget=12, n_seed=4, seed=3, batch_size=2)
    by_name = run(ActiveLearningAgent(cands, kind=kind, **options), values, 12)
    by_class = run(AGENTS[kind](cands, **options), values, 12)
    assert by_name == by_class and len(set(by_name)) == 12


def test_an_unknown_kind_is_one_line_naming_it_and_the_known_ones(cands):
    for make in (
        lambda: ActiveLearningAgent(cands, kind="svm"),
        lambda: make_agent("svm", cands),
        lambda: agent_class("svm"),
        lambda: GPAgent(cands, kind="svm"),
    ):
        with pytest.raises(ConfigurationError) as info:
            make()
        assert str(info.value) == "unknown agent 'svm'; known: bma, dkl, gp, random, raster"
    with pytest.raises(ConfigurationError, match="unknown agent"):
        agent_class(["gp"])  # not even a name
    with pytest.raises(ConfigurationError, match="GPAgent is the 'gp' agent, not 'dkl'"):
        GPAgent(cands, kind="dkl")


def test_check_agent_names_the_object_and_what_it_lacks(cands):
    class Half:
        candidates = cands
        batch_size = 1
        steps = []

        def suggest_indices(self, n=None):
            return np.zeros(1, int)

        def __repr__(self):
            return "<Half agent>"

    assert not isinstance(Half(), Agent)
    with pytest.raises(ConfigurationError) as info:
        check_agent(Half())
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("<Half agent> is not an autoscope Agent")
    for member in ("n_measured", "ingest_indices", "fallback_indices", "report"):
        assert member in msg
    assert "suggest_indices" not in msg


# ------------------------------------------------------------- campaign plan


@pytest.fixture
def spm():
    from autoscope.devices import make_spm

    return make_spm("twin", sample="pfm_film", seed=0)


def test_the_campaign_plan_refuses_a_non_agent_before_anything_moves(spm):
    from bluesky import RunEngine

    from autoscope.agents.experiment import SpectraExperiment
    from autoscope.plans.campaign import campaign_loop

    experiment = SpectraExperiment("loop_area", channel="piezoresponse")
    gen = campaign_loop(spm, "dkl", experiment, 5, progress=False)
    with pytest.raises(ConfigurationError, match="'dkl' is not an autoscope Agent"):
        next(gen)  # refused at the first step: not one message was yielded
    t0 = spm.backend.time()
    RE = RunEngine({}, call_returns_result=True)
    with pytest.raises(ConfigurationError, match="object at 0x.* is not an autoscope Agent"):
        RE(campaign_loop(spm, object(), experiment, 5, progress=False))
    assert spm.backend.time() == t0


def test_the_campaign_plan_runs_an_optimizer_agent(spm):
    from bluesky import RunEngine

    from autoscope.agents.experiment import SpectraExperiment
    from autoscope.plans.campaign import campaign_loop, overview_candidates

    state = {}

    def plan():
        candidates, _image, _ = yield from overview_candidates(
            spm, 0.0, 0.0, 400.0, 400.0, 8, 0.05, "piezoresponse"
        )
        # the optimizer asks for the first four pixel centres of the bottom row
        optimizer = ListOptimizer(candidates.positions[:4])
        agent = OptimizerAgent(candidates, optimizer, batch_size=2, budget=4)
        state.update(agent=agent, optimizer=optimizer)
        experiment = SpectraExperiment("loop_area", channel="piezoresponse")
        return (
            yield from campaign_loop(
                spm,
                agent,
                experiment,
                4,
                {"n_points": 32, "start": -2.5, "stop": 2.5},
                progress=False,
            )
        )

    summary = RunEngine({}, call_returns_result=True)(plan()).plan_result
    agent, optimizer = state["agent"], state["optimizer"]
    assert summary["measured"] == 4 and not summary["failures"]
    assert agent.obs_index == [0, 1, 2, 3]
    assert [s.source for s in agent.steps] == ["optimizer", "optimizer"]
    assert [p["_id"] for p in optimizer.ingested] == ["p0", "p1", "p2", "p3"]
    assert all(np.isfinite(p["value"]) for p in optimizer.ingested)


# ---------------------------------------------------------- optimizer adapters


def test_optimizer_agent_maps_points_to_free_candidates_and_sends_outcomes_back(cands):
    # pixel (row 0, col 0) is at (1, 1); ask for it twice, then near pixel 12 (row 1, col 2)
    optimizer = ListOptimizer([(1.2, 0.9), (1.0, 1.0), (5.1, 2.8)])
    agent = OptimizerAgent(cands, optimizer, batch_size=3, budget=10)
    assert isinstance(agent, Agent) and isinstance(optimizer, Optimizer)
    idx = agent.suggest_indices()
    assert idx[0] == 0 and idx[2] == 12
    assert idx[1] in (1, 10)  # pixel 0 was taken: the nearest free one
    agent.ingest_indices(idx, [0.5, np.nan, 2.0])  # a flagged value stays with autoscope
    assert agent.n_measured == 3 and agent.measured[idx].all()
    assert optimizer.ingested == [
        {"x": 1.0, "y": 1.0, "value": 0.5, "_id": "p0"},
        {"x": 5.0, "y": 3.0, "value": 2.0, "_id": "p2"},
    ]
    # a point the optimizer never suggested goes back without an "_id"
    agent.ingest([[19.0, 19.0]], [7.0])
    assert optimizer.ingested[-1] == {"x": 19.0, "y": 19.0, "value": 7.0}
    rep = agent.report()
    assert rep["agent"] == "optimizer" and rep["source"] == "optimizer"
    assert rep["best_value"] == 7.0 and np.isnan(rep["mean"]).all()
    assert np.isnan(agent.max_uncertainty())
    values = report_values(rep, agent.batch_size, [(0, 0.5)])
    assert values["agent_chosen"].tolist() == idx.tolist()
    md = report_metadata(agent)
    assert md["agent"] == "optimizer" and md["acquisition"] is None and md["batch_size"] == 3


def test_a_failing_optimizer_never_stops_the_microscope(cands):
    class Broken(ListOptimizer):
        def suggest(self, n=None):
            raise RuntimeError("no idea")

        def ingest(self, points):
            raise RuntimeError("cannot take it")

    agent = OptimizerAgent(cands, Broken([(0, 0)]), budget=5)
    idx = agent.suggest_indices(2)
    assert len(set(idx.tolist())) == 2 and agent.steps[-1].source == "fallback"
    assert "RuntimeError: no idea" in agent.steps[-1].error
    agent.ingest_indices(idx, [1.0, 2.0])
    assert agent.n_measured == 2
    assert [f["error"] for f in agent.failures] == [
        "RuntimeError: no idea",
        "RuntimeError: cannot take it",
    ]

    class Short(ListOptimizer):
        def suggest(self, n=None):
            return super().suggest(n)[:-1]

    agent = OptimizerAgent(cands, Short([(0, 0)]), budget=5)
    assert len(agent.suggest_indices(3)) == 3  # explored instead of measuring fewer
    assert "gave 2 points for 3" in agent.steps[-1].error


def test_optimizer_agent_refuses_what_is_not_an_optimizer(cands):
    with pytest.raises(ConfigurationError, match="no ingest"):
        OptimizerAgent(cands, type("OnlySuggest", (), {"suggest": lambda self, n: []})())
    with pytest.raises(ConfigurationError, match="outcome"):
        OptimizerAgent(cands, ListOptimizer([(0, 0)]), inputs=("x", "y"), outcome="x")


def test_as_optimizer_drives_an_agent_through_suggest_and_ingest_points(cands, image):
    values = image.ravel()
    agent = GPAgent(cands, budget=12, n_seed=4, seed=1)
    opt = as_optimizer(agent, inputs=("px", "py"), outcome="loop_area")
    assert isinstance(opt, AgentOptimizer) and isinstance(opt, Optimizer)
    chosen = []
    while agent.n_measured < 12:
        points = opt.suggest(2)
        assert [set(p) for p in points] == [{"_id", "px", "py"}] * 2
        assert len({p["_id"] for p in points}) == 2
        idx = cands.nearest([[p["px"], p["py"]] for p in points])
        chosen += idx.tolist()
        # one outcome comes back by its "_id", the other by position only
        opt.ingest(
            [
                {"_id": points[0]["_id"], "loop_area": float(values[idx[0]])},
                {"px": points[1]["px"], "py": points[1]["py"], "loop_area": values[idx[1]]},
            ]
        )
    # batches of two from a GP differ from single steps; compare with the same batching
    assert len(set(chosen)) == 12 and agent.obs_index == chosen
    batched = GPAgent(cands, budget=12, n_seed=4, seed=1, batch_size=2)
    assert run(batched, values, 12) == chosen
    assert opt.report()["n_measured"] == 12
    opt.ingest([{"px": 1.0, "py": 1.0, "loop_area": None}])  # flagged: NaN
    assert np.isnan(agent.obs_value[-1])
    with pytest.raises(ConfigurationError, match="no outcome 'loop_area'"):
        opt.ingest([{"px": 1.0, "py": 1.0}])
    with pytest.raises(ConfigurationError, match="neither a pending '_id' nor px, py"):
        opt.ingest([{"_id": "unknown", "loop_area": 1.0}])
    with pytest.raises(ConfigurationError, match="is not an autoscope Agent"):
        as_optimizer(ListOptimizer([(0, 0)]))


def test_both_adapters_in_a_row_choose_what_the_agent_chooses(cands, image):
    values = image.ravel()
    for kind in ("random", "gp"):
        direct = run(make_agent(kind, cands, budget=10, n_seed=4, seed=2), values, 10)
        inner = make_agent(kind, cands, budget=10, n_seed=4, seed=2)
        wrapped = OptimizerAgent(cands, as_optimizer(inner), budget=10)
        assert run(wrapped, values, 10) == direct
        assert inner.obs_index == direct and inner.obs_value == values[direct].tolist()
