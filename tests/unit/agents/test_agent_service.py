"""The agent runner's parts without services: step sorting, config, reports and lease.

Reports and leases run against a real in-process Tiled catalog; the end-to-end
runner (RE Manager, Tiled on PostgreSQL, kill -9) is tests/integration/test_facility.py.
"""

import subprocess
import sys

import numpy as np
import pytest

from autoscope.agents.history import RunRecord
from autoscope.agents.service.config import RunnerConfig, load_config
from autoscope.agents.service.lease import Lease
from autoscope.agents.service.queue import QueueSnapshot
from autoscope.agents.service.reports import read_chosen, report_uid, write_report
from autoscope.agents.service.runner import classify
from autoscope.errors import AgentServiceError, ConfigurationError

GRID = {"center_x": 0.0, "center_y": 0.0, "width": 8.0, "pixels": 4}


def run(seq, status, plan="spectra_at", uid=None):
    return RunRecord(uid or f"uid-{seq}-{status}", plan, seq, seq, "a", status, float(seq))


def test_every_step_is_sorted_by_what_the_catalog_and_the_queue_say():
    records = [
        run(0, "success"),  # measured
        run(1, "fail"),  # failed run in the catalog
        run(2, None),  # open run, the queue says it completed: the catalog lags
        run(4, None),  # open run and nothing running: left behind by a crash
        run(6, None),
        run(6, "success", uid="retried"),  # the RE Manager ran it again: measured once
    ]
    snap = QueueSnapshot(
        queued={5}, running=3, history={2: ["completed"], 7: ["failed"], 8: ["completed"]}
    )
    states = classify(records, reports={0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, snap=snap)
    assert sorted(states.measured) == [0, 6] and states.measured[6].uid == "retried"
    assert states.pending == {2, 3, 5, 8}
    assert states.failed == {1, 4, 7}
    assert states.unsent == {9}  # reported, never queued: queued again with its points
    assert states.last == 9
    assert states.trailing_failures() == 1  # step 7, after the last measured step 6


def test_a_failed_run_is_never_data_even_with_events():
    states = classify([run(0, "fail"), run(0, "abort")], {0}, QueueSnapshot())
    assert not states.measured and states.failed == {0}


def test_config_is_checked_before_anything_connects(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "a"\ncampaign = "c1"\nbudget = 3\n[candidates]\npixels = 4\n')
    with pytest.raises(ConfigurationError, match=r"needs overview = <run uid> or all of"):
        load_config(path)
    with pytest.raises(ConfigurationError, match="campaign 'no/slash' must be"):
        RunnerConfig(name="a", campaign="no/slash", budget=3, candidates=GRID)
    with pytest.raises(ConfigurationError, match="budget 17 exceeds the 16 candidates"):
        RunnerConfig(name="a", campaign="c", budget=17, candidates=GRID)
    with pytest.raises(ConfigurationError, match=r"unknown keys in \[plan\]: \['speed'\]"):
        RunnerConfig(name="a", campaign="c", budget=3, candidates=GRID, plan={"speed": 1})
    path.write_text('name = "a"\ncampaign = "c"\nbudget = 3\nbudgte = 4\n')
    with pytest.raises(ConfigurationError, match=r"unknown keys \['budgte'\]"):
        load_config(path)
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_addresses_come_from_the_environment(monkeypatch):
    for name in ("AUTOSCOPE_CATALOG_URI", "QSERVER_ZMQ_CONTROL_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="AUTOSCOPE_CATALOG_URI is not set"):
        RunnerConfig.catalog_address()
    with pytest.raises(ConfigurationError, match="QSERVER_ZMQ_CONTROL_ADDRESS"):
        RunnerConfig.queue_addresses()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    from autoscope.catalog.testing import inprocess_catalog

    with inprocess_catalog(tmp_path_factory.mktemp("catalog")) as client:
        yield client


def _report(q=2, shape=(4, 4)):
    from autoscope.agents.reporting import report_values

    nan = np.full(shape, np.nan)
    report = {
        "step": 3, "source": "random", "chosen": [5, 9],
        "chosen_positions": np.array([[1.0, 2.0], [3.0, 4.0]]), "n_measured": 3,
        "seconds": 0.1, "best_value": 1.0, "error": None, "model": {}, "mean": nan,
        "std": nan, "acquisition_map": nan, "measured": np.zeros(shape, bool),
    }  # fmt: skip
    return report_values(report, q, [])


def test_a_report_is_written_once_under_its_deterministic_uid(catalog):
    uid = report_uid("c-report", "a", 3)
    assert uid == report_uid("c-report", "a", 3) != report_uid("c-report", "a", 4)
    md = {"plan_name": "agent_report", "campaign": "c-report", "agent_seq": 3}
    assert write_report(catalog, uid, md, _report(), (4, 4), 2, "nm") is True
    assert write_report(catalog, uid, md, _report(), (4, 4), 2, "nm") is False  # a restart
    assert read_chosen(catalog, uid) == [5, 9]
    assert read_chosen(catalog, report_uid("c-report", "a", 99)) is None


def test_a_report_cut_short_by_a_crash_is_written_again(catalog):
    from bluesky_tiled_plugins import TiledWriter
    from event_model import compose_run

    uid = report_uid("c-cut", "a", 0)
    bundle = compose_run(uid=uid, metadata={"plan_name": "agent_report"})
    TiledWriter(catalog)("start", bundle.start_doc)  # then the runner died
    assert read_chosen(catalog, uid) is None
    assert write_report(catalog, uid, {"plan_name": "agent_report"}, _report(), (4, 4), 2, "nm")
    assert read_chosen(catalog, uid) == [5, 9]


def test_one_runner_per_campaign_and_a_dead_holder_is_taken_over(catalog):
    first = Lease(catalog, "c-lease", "a", ttl=60)
    assert first.acquire() == 0
    second = Lease(catalog, "c-lease", "b", ttl=60)
    with pytest.raises(AgentServiceError, match=r"already run by agent 'a' on .* pid \d+"):
        second.acquire()
    first.renew(force=True)
    first.release()  # stopped cleanly: the next runner need not wait
    assert second.acquire() == 1
    with pytest.raises(AgentServiceError, match="lost campaign 'c-lease'"):
        first.epoch = 0
        first.check()

    # a holder on this host whose process is gone (kill -9) is taken over at once
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    ghost = Lease(catalog, "c-dead", "a", ttl=3600)
    ghost.pid = int(dead.stdout)
    ghost.acquire()
    assert Lease(catalog, "c-dead", "a", ttl=3600).acquire() == 1


class CornerOptimizer:
    """An optimizer of bluesky-adaptive 1.0's shape: ``suggest(n)`` points, ``ingest(points)``."""

    def __init__(self, x: float, y: float):
        self.x, self.y = x, y
        self.seen: list[dict] = []

    def suggest(self, n=None):
        return [{"_id": f"s{k}", "x": self.x, "y": self.y} for k in range(n or 1)]

    def ingest(self, points):
        self.seen += points


def test_an_optimizer_named_in_the_config_runs_as_the_agent(monkeypatch):
    import types

    from autoscope.agents.decide import decide
    from autoscope.agents.optimizer import OptimizerAgent
    from autoscope.agents.service.runner import agent_from_config, candidates_from_config

    module = types.ModuleType("lab_optimizers")
    module.corner = CornerOptimizer
    monkeypatch.setitem(sys.modules, "lab_optimizers", module)
    agent = {"optimizer": "lab_optimizers:corner", "x": 3.2, "y": -2.9}
    config = RunnerConfig(name="a", campaign="c", budget=2, candidates=GRID, agent=agent)
    candidates = candidates_from_config(config)
    agent = agent_from_config(config, candidates)
    assert isinstance(agent, OptimizerAgent)
    decision = decide(agent, 1, step=0)
    assert decision.source == "optimizer"
    assert candidates.positions[decision.indices[0]].tolist() == [3.0, -3.0]  # nearest pixel
    agent.ingest_indices(decision.indices, np.array([2.5]))
    assert agent.optimizer.seen == [{"x": 3.0, "y": -3.0, "value": 2.5, "_id": "s0"}]

    config.agent = {"optimizer": "lab_optimizers:nope"}
    with pytest.raises(ConfigurationError, match="optimizer 'lab_optimizers:nope'"):
        agent_from_config(config, candidates)
