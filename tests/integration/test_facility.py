"""The facility setup on loopback, with faults: Tiled on PostgreSQL, RE Manager, agent runner.

Started as deploy/README.md says, on 127.0.0.1 with free ports: PostgreSQL,
Redis (queue and Tiled's streaming cache), ``tiled serve config
deploy/tiled/config.yml``, ``start-re-manager`` loading the profile, and the
runner as ``python -m autoscope.agents.service CONFIG`` (what the systemd unit
starts). The services are shared by the tests of this module (each test has
its own campaign) and stopped after.

The pass condition of every campaign (:func:`check_campaign`): the measured
points are the budget, each once, and every event of every successful run is
in the catalog.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# each test (and the module's services, set up within the first) may take minutes on a
# loaded machine: the runner is started up to four times, the RE Manager and Tiled restarted
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.facility,
    pytest.mark.timeout(600),
]

REPO = Path(__file__).resolve().parents[2]
DEPLOY_TILED = REPO / "deploy" / "tiled" / "config.yml"
LOCALHOST = "127.0.0.1"
DEADLINE = 240.0  # s, generous bound on anything we wait for


@dataclass
class Facility:
    tiled_uri: str
    api_key: str
    tiled_port: int
    tiled_env: dict
    tiled_proc: subprocess.Popen | None
    manager: object  # ManagedREManager of conftest
    manager_cmd: list
    workdir: Path
    tools: object

    # ----------------------------------------------------------------- Tiled

    def start_tiled(self) -> None:
        log = self.workdir / f"tiled-{time.monotonic_ns()}.log"
        tiled = Path(sys.executable).with_name("tiled")
        with open(log, "wb") as out:
            self.tiled_proc = subprocess.Popen(
                [str(tiled), "serve", "config", str(DEPLOY_TILED),
                 "--host", LOCALHOST, "--port", str(self.tiled_port)],
                env=self.tiled_env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        from autoscope.catalog.server import healthy

        self.tools.wait_for(lambda: healthy(self.tiled_uri), timeout=DEADLINE,
                            what="Tiled (deploy config)", proc=self.tiled_proc)  # fmt: skip

    def stop_tiled(self) -> None:
        proc, self.tiled_proc = self.tiled_proc, None
        if proc is not None:
            self.tools.stop_group(proc, grace=20)
            self.tools.assert_group_gone(proc.pid)

    def client(self):
        from autoscope.catalog import connect

        return connect(self.tiled_uri, self.api_key)

    # ------------------------------------------------------------ RE Manager

    def restart_manager(self) -> None:
        """Stop the RE Manager (its plan, if any, dies with it) and start it on the same ports."""
        from bluesky_queueserver_api.zmq import REManagerAPI

        m = self.manager
        self.tools.stop_group(m.proc, grace=20)
        self.tools.assert_group_gone(m.proc.pid)
        log = self.workdir / "re_manager-restarted.log"
        with open(log, "wb") as out:
            m.proc = subprocess.Popen(
                self.manager_cmd, cwd=self.workdir, env=m.env, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        m.log = log
        m.api.close()
        m.api = REManagerAPI(zmq_control_addr=m.control_addr, zmq_info_addr=m.info_addr,
                             timeout_recv=5)  # fmt: skip

        def answers() -> bool:
            try:
                m.api.status()
            except Exception:  # noqa: BLE001 - not listening yet
                return False
            return True

        self.tools.wait_for(answers, timeout=DEADLINE, what="RE Manager restarted", proc=m.proc)

    # ---------------------------------------------------------------- runner

    def runner_env(self, api_key: str | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QSERVER_")}
        env.update(
            AUTOSCOPE_CATALOG_URI=self.tiled_uri,
            AUTOSCOPE_API_KEY=api_key or self.api_key,
            QSERVER_ZMQ_CONTROL_ADDRESS=self.manager.control_addr,
            QSERVER_ZMQ_INFO_ADDRESS=self.manager.info_addr,
            AUTOSCOPE_AGENT_LOG_LEVEL="INFO",
            OMP_NUM_THREADS="1",
            PYTHONUNBUFFERED="1",
        )
        return env

    def start_runner(self, config: Path, tag: str, api_key: str | None = None):
        log = self.workdir / f"runner-{config.stem}-{tag}.log"
        out = open(log, "wb")  # noqa: SIM115 - closed by finish_runner
        proc = subprocess.Popen(
            [sys.executable, "-m", "autoscope.agents.service", str(config)],
            env=self.runner_env(api_key), cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        proc.log_path, proc.log_file = log, out
        return proc

    def kill_runner(self, proc) -> None:
        """``kill -9`` the runner (its process group; a no-op if it has already exited)."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
        proc.log_file.close()

    def finish_runner(self, proc, timeout: float = DEADLINE) -> tuple[int, str]:
        try:
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                self.tools.stop_group(proc)
            proc.log_file.close()
        return proc.returncode, proc.log_path.read_text(errors="replace")

    # ----------------------------------------------------------------- queue

    def seqs(self, campaign: str) -> dict[str, set[int]]:
        """Steps of ``campaign`` the RE Manager holds: queued, running, done (history)."""
        api = self.manager.api
        q = api.queue_get()
        h = api.history_get()

        def seq(item):
            md = ((item or {}).get("kwargs") or {}).get("md") or {}
            return md.get("agent_seq") if md.get("campaign") == campaign else None

        out = {"queued": {seq(i) for i in q["items"]}, "running": {seq(q.get("running_item"))},
               "done": {seq(i) for i in h["items"]}}  # fmt: skip
        return {k: v - {None} for k, v in out.items()}


def write_config(folder: Path, campaign: str, budget: int, kind: str = "random", **extra) -> Path:
    lines = [
        f'name = "{campaign}-agent"', f'campaign = "{campaign}"', f"budget = {budget}",
        "seed = 0", "poll_interval = 1.0", "lease_ttl = 30.0",
        *(f"{k} = {json.dumps(v)}" for k, v in extra.items()),
        "[agent]", f'kind = "{kind}"',
        "[candidates]", "center_x = 0.0", "center_y = 0.0", "width = 8.0", "pixels = 4",
        "[experiment]", 'scalarizer = "band_integral:-1:1"', 'channel = "dIdV"',
        "[plan]", "start = -1.5", "stop = 1.5", "n_points = 16",
    ]  # fmt: skip
    path = folder / f"{campaign}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def check_campaign(facility: Facility, campaign: str, budget: int) -> dict:
    """The pass condition: the budget measured, each point once, every event in the catalog."""
    from autoscope.agents.history import campaign_records

    client = facility.client()
    try:
        records = campaign_records(client, campaign)
        good = [r for r in records if r.plan_name == "spectra_at" and r.succeeded]
        points = []
        for r in good:
            run = client[r.uid]
            asked = [tuple(p) for p in r.start["positions_requested"]]
            points += asked
            stop = run.metadata["stop"]
            assert stop["num_events"]["primary"] == len(asked), (r.uid, stop)
            data = np.asarray(run["primary"]["spm_spectrum_dIdV"].read())
            assert data.shape == (len(asked), 16) and np.isfinite(data).all()
        assert len(points) == budget, points
        assert len(set(points)) == budget, f"a point measured twice: {points}"
        seqs = [r.seq for r in good]
        assert len(seqs) == len(set(seqs)), seqs
        reports = [r for r in records if r.plan_name == "agent_report"]
        assert len({r.uid for r in reports}) == len(reports)
        assert len({r.seq for r in reports}) == len(reports), "a step reported twice"
        return {"records": records, "good": good, "points": points}
    finally:
        client.context.close()


@pytest.fixture(scope="module")
def facility(service_tools, tmp_path_factory):
    tools = service_tools
    workdir = tmp_path_factory.mktemp("facility")
    with tools.postgres_cluster() as pg, tools.redis_process(workdir) as redis:
        for db in ("autoscope_catalog", "autoscope_tables"):
            pg.psql("postgres", f"CREATE DATABASE {db}")
        api_key = secrets.token_hex(32)
        port = tools.free_port()
        (workdir / "arrays").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TILED_")}
        env.update(
            TILED_SINGLE_USER_API_KEY=api_key,
            AUTOSCOPE_TILED_CATALOG_DB=pg.uri("autoscope_catalog", "postgresql+asyncpg"),
            AUTOSCOPE_TILED_TABLES_DB=pg.uri("autoscope_tables"),
            AUTOSCOPE_TILED_DATA_DIR=str(workdir / "arrays"),
            AUTOSCOPE_TILED_STREAMING_CACHE=f"redis://{redis.addr}",
        )
        uri = f"http://{LOCALHOST}:{port}"
        fac = Facility(uri, api_key, port, env, None, None, [], workdir, tools)
        manager = None
        try:
            fac.start_tiled()
            menv = {k: v for k, v in os.environ.items() if k != "QSERVER_CONFIG"}
            menv.update(AUTOSCOPE_CATALOG_URI=uri, AUTOSCOPE_API_KEY=api_key,
                        AUTOSCOPE_DATA_DIR=str(workdir / "data"), MPLBACKEND="Agg",
                        PYTHONUNBUFFERED="1")  # fmt: skip

            def command_for(control_port, info_port):
                cmd = tools.re_manager_command(
                    control_port=control_port, info_port=info_port, redis_addr=redis.addr,
                    workdir=workdir, redis_prefix=f"autoscope_facility_{control_port}",
                )  # fmt: skip
                fac.manager_cmd = cmd
                return cmd, menv

            manager = tools.start_re_manager(command_for, workdir)
            fac.manager = manager
            yield fac
        except BaseException:
            for log in sorted(workdir.glob("*.log")):
                sys.stderr.write(f"==== {log.name}\n{tools.log_tail(log, 40)}\n")
            raise
        finally:
            if fac.manager is not None:
                tools.stop_re_manager(fac.manager)
            fac.stop_tiled()


def test_runner_killed_at_three_moments_measures_the_budget_once(facility, tmp_path):
    """kill -9 right after adding an item, during a plan, after a plan ends; then finish."""
    budget = 3
    config = write_config(tmp_path, "kill9", budget)
    wait = facility.tools.wait_for

    runner = facility.start_runner(config, "a")
    wait(lambda: 0 in set().union(*facility.seqs("kill9").values()), timeout=DEADLINE,
         what="step 0 added", proc=runner)  # fmt: skip
    facility.kill_runner(runner)  # right after adding an item

    runner = facility.start_runner(config, "b")

    def step1_added() -> bool:  # polled: queued or running when seen, as a rule
        s = facility.seqs("kill9")
        return 1 in s["queued"] | s["running"] | s["done"]

    wait(step1_added, timeout=DEADLINE, what="step 1 queued or running", proc=runner)
    facility.kill_runner(runner)  # during a plan (queued or running)

    runner = facility.start_runner(config, "c")
    wait(lambda: 2 in facility.seqs("kill9")["done"], timeout=DEADLINE, what="step 2 ran",
         proc=runner)  # fmt: skip
    facility.kill_runner(runner)  # after a plan ends

    runner = facility.start_runner(config, "d")
    code, log = facility.finish_runner(runner)
    assert code == 0, log
    summary = json.loads(log.strip().splitlines()[-1])
    assert summary["measured"] == budget
    result = check_campaign(facility, "kill9", budget)
    assert sorted(summary["runs"]) == sorted(str(r.seq) for r in result["good"]), summary


def test_a_failed_run_is_not_data_and_two_runners_do_not_share_a_campaign(facility, tmp_path):
    """A failed run of step 0 is retried, never ingested; a second runner refuses; a bad key too."""
    import bluesky.preprocessors as bpp
    from bluesky import RunEngine
    from bluesky.utils import Msg
    from bluesky_tiled_plugins import TiledWriter
    from tiled.queries import Key

    from autoscope.devices import make_spm
    from autoscope.plans import spectra_at

    campaign, budget = "failed", 2
    config = write_config(tmp_path, campaign, budget)
    # a run of step 0 that failed after its first spectrum, as the RE Manager would record it
    client = facility.client()
    RE = RunEngine({})
    RE.subscribe(TiledWriter(client, max_array_size=0))
    spm = make_spm("twin", name="spm", seed=3)
    md = {"agent": f"{campaign}-agent", "agent_seq": 0, "campaign": campaign, "campaign_step": 0}

    def fail_after_first_spectrum(msg):
        if msg.command == "save":

            def boom():
                yield Msg("null")
                raise RuntimeError("injected: the controller dropped the link")

            return None, boom()
        return None, None

    plan = spectra_at(spm, [[-3.0, -3.0], [-1.0, -3.0]], start=-1.5, stop=1.5, n_points=16, md=md)
    with pytest.raises(RuntimeError, match="injected"):
        RE(bpp.plan_mutator(plan, fail_after_first_spectrum))
    failed_uid = next(iter(client.search(Key("campaign") == campaign)))
    assert client[failed_uid].metadata["stop"]["exit_status"] == "fail"
    client.context.close()

    # a wrong API key is refused in one line, before anything is queued
    bad = facility.start_runner(config, "badkey", api_key="0" * 64)
    code, log = facility.finish_runner(bad, timeout=120)
    assert code == 1 and "API key rejected" in log, log

    # The first runner leaves the queue to its operators (manage_queue = false), so its step 1
    # waits in the stopped queue and it holds the lease for as long as the test needs: a
    # second runner is started while the lease is held, whatever the machine's speed.
    (tmp_path / "held").mkdir()
    held = write_config(tmp_path / "held", campaign, budget, manage_queue=False)
    api = facility.manager.api
    if not api.status().get("worker_environment_exists"):  # as the operator would
        api.environment_open()
        api.wait_for_idle(timeout=DEADLINE)
    first = facility.start_runner(held, "first")
    try:
        facility.tools.wait_for(lambda: facility.seqs(campaign)["queued"], timeout=DEADLINE,
                                what="first runner queues its step", proc=first)  # fmt: skip
        second = facility.start_runner(config, "second")
        code, log = facility.finish_runner(second, timeout=120)
        assert code == 1 and "is already run by" in log and f"pid {first.pid}" in log, log
        # now the operator lets the queue run: every item the first runner adds starts by itself
        api.queue_autostart(True)
        code, log = facility.finish_runner(first)
    finally:
        if first.poll() is None:
            facility.kill_runner(first)
        api.queue_autostart(False)
    assert code == 0, log
    summary = json.loads(log.strip().splitlines()[-1])
    assert failed_uid not in summary["runs"].values()
    assert summary["subscription_updates"] > 0  # it heard of the runs through the websocket
    assert "0" not in summary["runs"]  # step 0 failed: the agent went on with step 1
    check_campaign(facility, campaign, budget)


def test_tiled_and_the_re_manager_restarted_mid_campaign(facility, tmp_path):
    campaign, budget = "restarts", 3
    config = write_config(tmp_path, campaign, budget)
    wait = facility.tools.wait_for
    runner = facility.start_runner(config, "one")
    try:
        wait(lambda: 0 in facility.seqs(campaign)["done"], timeout=DEADLINE, what="step 0 ran",
             proc=runner)  # fmt: skip
        facility.stop_tiled()
        facility.start_tiled()
        wait(lambda: len(facility.seqs(campaign)["done"]) >= 2, timeout=DEADLINE,
             what="a step ran after Tiled came back", proc=runner)  # fmt: skip
        facility.restart_manager()
        code, log = facility.finish_runner(runner)
    except BaseException:
        if runner.poll() is None:
            facility.tools.stop_group(runner)
        sys.stderr.write(runner.log_path.read_text(errors="replace")[-6000:])
        raise
    assert code == 0, log
    check_campaign(facility, campaign, budget)
