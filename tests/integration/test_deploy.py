"""The deploy/ configurations run: the RE Manager from its YAML, Tiled on PostgreSQL.

Each service is started from the committed file, filled from environment
variables exactly as the systemd units do, on 127.0.0.1 with free ports. They
belong with the facility tests (`make test-long`): each starts PostgreSQL or a
RE Manager with Redis, 20-60 s of a 2-core machine.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.facility]

REPO = Path(__file__).resolve().parents[2]
STARTUP_DIR = REPO / "profile_collection" / "startup"
PERMISSIONS = REPO / "profile_collection" / "user_group_permissions.yaml"
DEPLOY_QSERVER = REPO / "deploy" / "queueserver" / "re_manager.yml"
DEPLOY_TILED = REPO / "deploy" / "tiled" / "config.yml"
LOCALHOST = "127.0.0.1"
RUN_TIMEOUT = 240  # s


def _open_environment(api):
    api.environment_open()
    api.wait_for_idle(timeout=RUN_TIMEOUT)
    assert api.status()["worker_environment_exists"], "the worker environment did not open"


def test_deploy_config_starts_a_manager_on_localhost(
    redis_server, catalog_server, tmp_path, monkeypatch, service_tools
):
    """deploy/queueserver/re_manager.yml, filled from the environment, runs the profile."""
    from bluesky_queueserver.manager.config import parse_configs

    tools = service_tools
    base = dict(
        AUTOSCOPE_PROFILE_DIR=str(STARTUP_DIR),
        AUTOSCOPE_PERMISSIONS_FILE=str(PERMISSIONS),
        AUTOSCOPE_QSERVER_STATE_DIR=str(tmp_path),
        AUTOSCOPE_QSERVER_HOST=LOCALHOST,
        AUTOSCOPE_REDIS_PORT=str(redis_server.port),
        AUTOSCOPE_QSERVER_REDIS_PREFIX="autoscope_deploy_test",
        AUTOSCOPE_CATALOG_URI=catalog_server.uri,
        AUTOSCOPE_API_KEY=catalog_server.api_key,
        AUTOSCOPE_DATA_DIR=str(tmp_path / "data"),
        MPLBACKEND="Agg",
    )

    def filled(control_port: int, info_port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "QSERVER_CONFIG"}
        env.update(base, AUTOSCOPE_QSERVER_CONTROL_PORT=str(control_port),
                   AUTOSCOPE_QSERVER_INFO_PORT=str(info_port))  # fmt: skip
        return env

    # The queue server's own schema accepts the file, filled from the environment.
    for name, value in filled(60615, 60625).items():
        monkeypatch.setenv(name, value)
    parsed = parse_configs(str(DEPLOY_QSERVER))
    assert parsed["network"]["zmq_control_addr"] == f"tcp://{LOCALHOST}:60615"
    assert parsed["network"]["redis_addr"] == f"127.0.0.1:{redis_server.port}"
    assert parsed["startup"]["startup_dir"] == str(STARTUP_DIR)

    exe = Path(sys.executable).with_name("start-re-manager")
    manager = tools.start_re_manager(
        lambda control, info: ([str(exe), "--config", str(DEPLOY_QSERVER)], filled(control, info)),
        tmp_path,
    )
    try:
        _open_environment(manager.api)
        listening = tools.listening_addresses(manager.proc.pid)
        assert {ip for ip, _ in listening} == {LOCALHOST}, sorted(listening)
        ports = {int(addr.rsplit(":", 1)[1]) for addr in (manager.control_addr, manager.info_addr)}
        assert ports <= {port for _, port in listening}
        assert (tmp_path / "existing_plans_and_devices.yaml").is_file()
        assert {"raster_image", "spectra_at"} <= set(manager.api.plans_allowed()["plans_allowed"])
    except BaseException:
        sys.stderr.write(manager.log_tail())
        raise
    finally:
        tools.stop_re_manager(manager)


def test_tiled_config_serves_a_catalog_on_postgresql(
    postgres_server, redis_server, tmp_path, service_tools
):
    """deploy/tiled/config.yml on a real PostgreSQL: a raster image goes in and comes back."""
    from bluesky import RunEngine

    from autoscope.catalog import connect, make_writer
    from autoscope.devices import make_spm
    from autoscope.errors import CatalogError
    from autoscope.plans import raster_image

    tools = service_tools
    pg = postgres_server
    for db in ("autoscope_catalog", "autoscope_tables"):
        pg.psql("postgres", f"CREATE DATABASE {db}")
    api_key = secrets.token_hex(32)
    port = tools.free_port()
    env = dict(os.environ)
    env.update(
        TILED_SINGLE_USER_API_KEY=api_key,
        AUTOSCOPE_TILED_CATALOG_DB=pg.uri("autoscope_catalog", "postgresql+asyncpg"),
        AUTOSCOPE_TILED_TABLES_DB=pg.uri("autoscope_tables"),
        AUTOSCOPE_TILED_DATA_DIR=str(tmp_path / "arrays"),
        AUTOSCOPE_TILED_STREAMING_CACHE=f"redis://{redis_server.addr}",
    )
    # Tiled reads TILED_* variables as overrides of its config; only ours may be set.
    env = {
        k: v
        for k, v in env.items()
        if not k.startswith("TILED_") or k == "TILED_SINGLE_USER_API_KEY"
    }
    (tmp_path / "arrays").mkdir()
    tiled = Path(sys.executable).with_name("tiled")
    log = tmp_path / "tiled.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(tiled), "serve", "config", str(DEPLOY_TILED),
             "--host", LOCALHOST, "--port", str(port)],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    uri = f"http://{LOCALHOST}:{port}"
    client = None
    try:
        from autoscope.catalog.server import healthy

        tools.wait_for(lambda: healthy(uri), timeout=120, what="Tiled (deploy config)", proc=proc)
        assert {ip for ip, _ in tools.listening_addresses(proc.pid)} == {LOCALHOST}
        client = connect(uri, api_key)
        assert "CatalogOfBlueskyRuns" in [s.name for s in client.specs]
        with pytest.raises(CatalogError, match="API key"):
            connect(uri, "0" * 64)

        RE = RunEngine({})
        writer = make_writer(client, data_dir=tmp_path / "writer")
        RE.subscribe(writer)
        spm = make_spm(backend="twin", seed=1, name="spm")
        # 8 px: lines short enough that TiledWriter may keep them in the event table.
        uids = {px: RE(raster_image(spm, pixels=px, lines=6, width=6.0, height=6.0))[0]
                for px in (32, 8)}  # fmt: skip
        writer.close()

        for px, uid in uids.items():
            run = client[uid]
            assert run.metadata["stop"]["exit_status"] == "success"
            trace = np.asarray(run["primary"]["spm_line_topography_trace"].read())
            assert trace.shape == (6, px) and trace.dtype == np.float32
        # The run's nodes and event rows are in PostgreSQL, not in a local file.
        assert int(pg.psql("autoscope_catalog", "SELECT count(*) FROM nodes")) >= 3
        tables = pg.psql("autoscope_tables", "SELECT count(*) FROM information_schema.tables "
                         "WHERE table_schema = 'public'")  # fmt: skip
        assert int(tables) >= 1
    except BaseException:
        sys.stderr.write(log.read_text(errors="replace")[-6000:])
        raise
    finally:
        if client is not None:
            client.context.close()
        tools.stop_group(proc, grace=20)
        tools.assert_group_gone(proc.pid)
