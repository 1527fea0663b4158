"""``from databroker import Broker`` works on autoscope's catalog, as NSLS-II scripts use it."""

from __future__ import annotations

import numpy as np
from bluesky import RunEngine
from bluesky_tiled_plugins import TiledWriter

from autoscope.catalog.testing import inprocess_catalog
from autoscope.devices import make_spm
from autoscope.plans import raster_image


def test_broker_reads_a_raster_from_the_catalog(tmp_path):
    from databroker import Broker  # needs databroker[back-compat] (a declared dependency)

    with inprocess_catalog(tmp_path / "catalog") as client:
        RE = RunEngine({}, call_returns_result=True)
        RE.subscribe(TiledWriter(client, batch_size=1, max_array_size=0))  # as the profile writes
        lines = []
        RE.subscribe(lambda name, doc: lines.append(doc["data"]["spm_line_topography_trace"])
                     if name == "event" else None)  # fmt: skip
        spm = make_spm("twin", sample="si100_h", seed=0, name="spm")
        uid = RE(raster_image(spm, pixels=8, lines=4, line_time=0.05)).run_start_uids[0]
        db = Broker(client)
        header = db[-1]
        assert header.start["uid"] == uid and header.stop["exit_status"] == "success"
        table = header.table()
        assert len(table) == 4
        np.testing.assert_array_equal(
            np.stack(table["spm_line_topography_trace"].to_numpy()),
            np.stack(lines),
        )
        assert [h.start["uid"] for h in db(plan_name="raster_image")] == [uid]
