"""``autonomous_campaign(campaign_id=...)`` resumes a campaign from the catalog the profile uses.

A served catalog (autoscope's Tiled server on 127.0.0.1), named to the plan as the
profile names it (``AUTOSCOPE_CATALOG_URI`` / ``AUTOSCOPE_API_KEY``), a real RunEngine
writing to it and the PFM twin.
"""

import pytest
from bluesky import RunEngine

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMALL = dict(width=400.0, height=400.0, pixels=8, line_time=0.05, n_points=24, progress=False)


def test_a_campaign_resumed_by_id_numbers_on_and_measures_nothing_twice(
    catalog_server, monkeypatch
):
    from bluesky_tiled_plugins import TiledWriter
    from tiled.queries import Key

    from autoscope.catalog import connect
    from autoscope.devices import make_spm
    from autoscope.plans.campaign import autonomous_campaign

    monkeypatch.setenv("AUTOSCOPE_CATALOG_URI", catalog_server.uri)
    monkeypatch.setenv("AUTOSCOPE_API_KEY", catalog_server.api_key)
    client = connect()
    try:
        RE = RunEngine({}, call_returns_result=True)
        RE.subscribe(TiledWriter(client, max_array_size=0))
        spm = make_spm("twin", sample="pfm_film", seed=0)
        first = RE(autonomous_campaign(spm, agent="random", budget=3, **SMALL)).plan_result
        again = RE(
            autonomous_campaign(spm, agent="random", budget=5, campaign_id=first, **SMALL)
        ).plan_result
        assert again == first
        runs = client.search(Key("campaign") == first)
        spectra = [r for r in runs.values() if r.metadata["start"]["plan_name"] == "spectra_at"]
        steps = sorted(r.metadata["start"]["campaign_step"] for r in spectra)
        assert steps == [0, 1, 2, 3, 4]
        asked = [tuple(p) for r in spectra for p in r.metadata["start"]["positions_requested"]]
        assert len(asked) == 5 and len(set(asked)) == 5, asked
    finally:
        client.context.close()
