"""The profile in bluesky-queueserver: queue a raster image, run it, find it in the catalog.

Real services on 127.0.0.1 only: redis-server, autoscope's catalog server
(Tiled) and the RE Manager loading ``profile_collection/startup`` unchanged.
The fixtures (conftest.py) stop every process they started and fail the test
if one survives.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
STARTUP_DIR = REPO / "profile_collection" / "startup"
PERMISSIONS = REPO / "profile_collection" / "user_group_permissions.yaml"
LOCALHOST = "127.0.0.1"
DEPLOY_QSERVER = REPO / "deploy" / "queueserver" / "re_manager.yml"
LINES, PIXELS = 16, 32
RUN_TIMEOUT = 240  # s, bound on opening the environment and on the plan


def _open_environment(api):
    api.environment_open()
    api.wait_for_idle(timeout=RUN_TIMEOUT)
    status = api.status()
    assert status["worker_environment_exists"], "the worker environment did not open"


def test_queue_server_runs_a_raster_image_into_the_catalog(
    re_manager, redis_server, catalog_server, service_tools
):
    from bluesky_queueserver_api import BPlan

    from autoscope.catalog import connect

    api = re_manager.api
    try:
        _open_environment(api)
    except Exception:
        pytest.fail(f"environment did not open; RE Manager log:\n{re_manager.log_tail()}")

    # Every socket the manager, its worker and Redis listen on is on 127.0.0.1.
    listening = service_tools.listening_addresses(re_manager.proc.pid)
    listening |= service_tools.listening_addresses(redis_server.proc.pid)
    assert listening, "found no listening sockets"
    assert {ip for ip, _ in listening} == {LOCALHOST}, f"sockets beyond 127.0.0.1: {sorted(listening)}"

    allowed = api.plans_allowed()["plans_allowed"]
    assert {"raster_image", "spectra_at", "point_spectrum"} <= set(allowed)
    assert "spm" in api.devices_allowed()["devices_allowed"]

    plan = BPlan("raster_image", "spm", pixels=PIXELS, lines=LINES, width=8.0, height=8.0,
                 md={"purpose": "queue server integration test"})  # fmt: skip
    added = api.item_add(plan)
    assert added["success"], added
    api.queue_start()
    api.wait_for_idle(timeout=RUN_TIMEOUT)

    history = api.history_get()["items"]
    assert history, "nothing ran"
    result = history[-1]["result"]
    assert result["exit_status"] == "completed", f"{result}\n{re_manager.log_tail()}"
    (uid,) = result["run_uids"]

    client = connect(catalog_server.uri, catalog_server.api_key)
    try:
        run = client[uid]
        start, stop = run.metadata["start"], run.metadata["stop"]
        assert start["plan_name"] == "raster_image"
        assert start["purpose"] == "queue server integration test"
        assert stop["exit_status"] == "success"
        assert stop["num_events"]["primary"] == LINES
        data = run["primary"].read()
        assert data.sizes["time"] == LINES
        images = [k for k in data.data_vars if data[k].ndim == 2 and data[k].shape == (LINES, PIXELS)]
        assert images, f"no (lines, pixels) channel among {list(data.data_vars)}"
        for key in images:
            values = np.asarray(data[key])
            assert values.dtype == np.float32, (key, values.dtype)
            assert np.isfinite(values).all() and np.ptp(values) > 0, f"{key} holds no image"
    finally:
        client.context.close()


def test_deploy_config_starts_a_manager_on_localhost(
    redis_server, catalog_server, tmp_path, monkeypatch, service_tools
):
    """deploy/queueserver/re_manager.yml, filled from the environment, runs the profile."""
    from bluesky_queueserver.manager.config import parse_configs
    from bluesky_queueserver_api.zmq import REManagerAPI

    tools = service_tools
    control_port, info_port = tools.free_port(), tools.free_port()
    filled = dict(
        AUTOSCOPE_PROFILE_DIR=str(STARTUP_DIR),
        AUTOSCOPE_PERMISSIONS_FILE=str(PERMISSIONS),
        AUTOSCOPE_QSERVER_STATE_DIR=str(tmp_path),
        AUTOSCOPE_QSERVER_HOST=LOCALHOST,
        AUTOSCOPE_QSERVER_CONTROL_PORT=str(control_port),
        AUTOSCOPE_QSERVER_INFO_PORT=str(info_port),
        AUTOSCOPE_REDIS_PORT=str(redis_server.port),
        AUTOSCOPE_QSERVER_REDIS_PREFIX="autoscope_deploy_test",
        AUTOSCOPE_CATALOG_URI=catalog_server.uri,
        AUTOSCOPE_API_KEY=catalog_server.api_key,
        AUTOSCOPE_DATA_DIR=str(tmp_path / "data"),
        MPLBACKEND="Agg",
    )
    for name, value in filled.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("QSERVER_CONFIG", raising=False)
    env = dict(os.environ)
    # The queue server's own schema accepts the file, filled from the environment.
    parsed = parse_configs(str(DEPLOY_QSERVER))
    assert parsed["network"]["zmq_control_addr"] == f"tcp://{LOCALHOST}:{control_port}"

    exe = Path(sys.executable).with_name("start-re-manager")
    log = tmp_path / "re_manager.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(exe), "--config", str(DEPLOY_QSERVER)], cwd=tmp_path, env=env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    api = REManagerAPI(
        zmq_control_addr=f"tcp://{LOCALHOST}:{control_port}",
        zmq_info_addr=f"tcp://{LOCALHOST}:{info_port}",
        timeout_recv=5,
    )

    def answers() -> bool:
        try:
            api.status()
        except Exception:  # not listening yet  # noqa: BLE001
            return False
        return True

    try:
        tools.wait_for(answers, timeout=60, what="RE Manager (deploy config)", proc=proc)
        _open_environment(api)
        listening = tools.listening_addresses(proc.pid)
        assert {ip for ip, _ in listening} == {LOCALHOST}, sorted(listening)
        assert {control_port, info_port} <= {port for _, port in listening}
        assert (tmp_path / "existing_plans_and_devices.yaml").is_file()
        api.environment_close()
        api.wait_for_idle(timeout=RUN_TIMEOUT)
        api.send_request(method="manager_stop", params={"option": "safe_off"})
        proc.wait(timeout=60)
    except BaseException:
        sys.stderr.write(log.read_text(errors="replace")[-6000:])
        raise
    finally:
        api.close()
        tools.stop_group(proc, grace=20)
        tools.assert_group_gone(proc.pid)
