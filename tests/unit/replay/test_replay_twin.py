"""``autoscope replay`` of a campaign that ran on a twin: scored on the twin's truth.

A small campaign (8 x 8 candidates, 4 spectra, the random agent) runs on the PFM
twin with a real RunEngine into an in-process catalog, its runs naming the twin
(``twin``). Replayed without a dataset, the ground truth is that twin's measured
grid: the original agent makes the same choices, and the counterfactual one is
scored on the same truth. (The GP campaign on a recorded grid, with its report,
is the other long test, in test_replay.py.)
"""

import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.catalog.testing import inprocess_catalog
from autoscope.catalog.writer import make_writer
from autoscope.devices import make_spm
from autoscope.errors import ConfigurationError
from autoscope.plans.campaign import autonomous_campaign
from autoscope.studies.groundtruth import scalar_map, twin_dataset
from autoscope.studies.replay import replay_campaign

N, SEED = 8, 3


@pytest.fixture(scope="module")
def twin_campaign(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalog")
    with inprocess_catalog(folder) as client:
        writer = make_writer(client, data_dir=folder)
        spm = make_spm(
            "twin", sample="pfm_film", seed=SEED, drift=0.0, creep=0.0, hysteresis=0.0,
            tip_change_rate=0.0,
        )  # fmt: skip
        RE = RunEngine({}, call_returns_result=True)
        RE.subscribe(writer)
        result = RE(
            autonomous_campaign(
                spm,
                agent="random",
                scalarizer="loop_area",
                channel="piezoresponse",
                overview_channel="piezoresponse",
                budget=4,
                pixels=N,
                width=2000.0,
                height=2000.0,
                line_time=0.01,
                seed=SEED,
                progress=False,
                md={"twin": {"kind": "pfm", "seed": SEED}},
            )
        )
        writer.flush()
        yield client, result.plan_result
        writer.close()


# a twin campaign through a real catalog, then two replays that read it back: on a loaded
# 2-core machine (load 13) 243 s to start the catalog, 88 s the campaign, 119 s the replays;
# several seconds idle, so it runs in make test-long
@pytest.mark.long
@pytest.mark.timeout(900)
def test_replay_of_a_twin_campaign_scores_on_the_twins_truth(twin_campaign):
    client, campaign = twin_campaign
    out = replay_campaign(client, campaign, ["random", "raster"])
    assert out["truth_source"] == f"twin:pfm:{N}:seed{SEED}"
    truth = twin_dataset("pfm", N, SEED)
    # the truth is the grid the campaign imaged: its overview is the twin's image
    # (the campaign's own overview, scanned at 0.01 s a line, carries more noise)
    assert np.corrcoef(out["image"].ravel(), truth.image.ravel())[0, 1] > 0.8
    same, other = out["replays"]
    assert same["reproduced"] and same["order"] == out["original"]["order"]
    assert same["curve"] == out["original"]["curve"] and len(same["curve"]) == 4
    assert other["agent"] == "raster" and len(other["order"]) == 4
    values = scalar_map(truth, "loop_area").ravel()
    top = values >= np.sort(values)[-1]  # top 1 % of 64 pixels: the largest value
    found = [bool(top[i]) for i in other["order"]]
    assert other["curve"][-1] == pytest.approx(float(any(found)))
    with pytest.raises(ConfigurationError, match="not both"):
        replay_campaign(client, campaign, ["raster"], dataset="x.h5", twin="pfm:3")
