"""The profile in bluesky-queueserver: queue a raster image, run it, find it in the catalog.

Real services on 127.0.0.1 only: redis-server, autoscope's catalog server
(Tiled) and the RE Manager loading ``profile_collection/startup`` unchanged.
The fixtures (conftest.py) stop every process they started and fail the test
if one survives.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOCALHOST = "127.0.0.1"
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
    assert {ip for ip, _ in listening} == {LOCALHOST}, (
        f"sockets beyond 127.0.0.1: {sorted(listening)}"
    )

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
        images = [
            k for k in data.data_vars if data[k].ndim == 2 and data[k].shape == (LINES, PIXELS)
        ]
        assert images, f"no (lines, pixels) channel among {list(data.data_vars)}"
        for key in images:
            values = np.asarray(data[key])
            assert values.dtype == np.float32, (key, values.dtype)
            assert np.isfinite(values).all() and np.ptp(values) > 0, f"{key} holds no image"
    finally:
        client.context.close()
