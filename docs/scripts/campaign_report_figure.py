"""Draw docs/figures/campaign_report.png: ``autoscope report`` on a real campaign.

A ``bma`` campaign runs on a recorded grid (the STM twin's grid, seed 3,
written as a recorded-dataset file and served by the recorded backend) with a
real RunEngine writing to an in-process catalog; the campaign is replayed with
the GP on the same grid (``autoscope replay``'s code); then the report is drawn
from the catalog alone, with the grid as its ground truth, by the code
``autoscope report CAMPAIGN --dataset grid.h5`` runs::

    python docs/scripts/campaign_report_figure.py            # 24 x 24, 30 spectra
    python docs/scripts/campaign_report_figure.py --size 32 --budget 50
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    from bluesky import RunEngine

    from autoscope.catalog.testing import inprocess_catalog
    from autoscope.catalog.writer import make_writer
    from autoscope.devices import make_spm
    from autoscope.devices.twin.datasets import as_recorded, make_dataset
    from autoscope.plans.campaign import autonomous_campaign
    from autoscope.studies.campaign_report import campaign_report
    from autoscope.studies.replay import replay_campaign

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "docs" / "figures" / "campaign_report.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = make_dataset("stm", size=args.size, seed=args.seed)
        grid = as_recorded(data).write(work / "grid.h5")
        axis = np.asarray(data["spectral_axis"])
        with inprocess_catalog(work / "catalog") as client:
            spm = make_spm("recorded", dataset=grid)
            f = spm.backend.frame
            writer = make_writer(client, data_dir=work / "catalog")
            RE = RunEngine({}, call_returns_result=True)
            RE.subscribe(writer)
            campaign = RE(
                autonomous_campaign(
                    spm,
                    agent="bma",
                    scalarizer="band_integral:-0.5:-0.2",  # the dangling-bond state
                    channel="dIdV",
                    overview_channel="topography",
                    budget=args.budget,
                    report_every=5,
                    pixels=args.size,
                    center_x=f["center_x"],
                    center_y=f["center_y"],
                    width=f["width"],
                    height=f["height"],
                    line_time=0.01,
                    start=float(axis[0]),
                    stop=float(axis[-1]),
                    n_points=len(axis),
                    seed=args.seed,
                    progress=False,
                )
            ).plan_result
            writer.flush()
            replay_campaign(client, campaign, ["gp"], dataset=grid, writer=writer)
            writer.flush()
            summary = campaign_report(client, campaign, work / "report", dataset=grid)
            writer.close()
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / "report" / "campaign_report.png", args.out)
    for key in ("measured", "top1_found_fraction", "top1_found_fraction_replay_gp"):
        print(f"{key}: {summary[key]}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
