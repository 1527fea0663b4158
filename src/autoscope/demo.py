"""``autoscope demo``: a whole run of a simulated microscope on the embedded catalog.

When the active-learning agent is available (``autoscope.agents.demo``), the demo
is an autonomous campaign on the PFM twin. Otherwise (``--chain``) it runs the
longest real chain there is: an STM twin image streamed line by line and a few
spectra, written to the embedded Tiled catalog through the TiledWriter, then read
back out of it and checked.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import time
from pathlib import Path

import numpy as np

from autoscope.errors import AutoscopeError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None,
                        help="catalog folder (default: $AUTOSCOPE_DATA_DIR or the user data dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the twin and the agent")
    parser.add_argument("--out", default="autoscope-demo",
                        help="folder for the report file (default: ./autoscope-demo)")
    parser.add_argument("--size", type=int, default=None,
                        help="campaign grid size (candidates per side); default: the agent's")
    parser.add_argument("--chain", action="store_true",
                        help="run the image+spectra chain instead of the agent campaign")


def main(args: argparse.Namespace) -> int:
    from autoscope.catalog import connect, data_dir, make_writer

    folder = data_dir(args.data_dir)
    client = connect(data_dir=folder)
    use_agent = not args.chain and importlib.util.find_spec("autoscope.agents.demo") is not None
    if use_agent:
        from autoscope.agents.demo import run_campaign_demo

        kwargs = {"seed": args.seed, "catalog": client}
        if args.size:
            kwargs["size"] = args.size
        summary = run_campaign_demo(Path(args.out), **kwargs)
        _print_summary(summary)
    else:
        writer = make_writer(client, data_dir=folder)
        run_chain(client, writer, seed=args.seed)
    print(f"\ncatalog folder: {folder}")
    print("open it from Python:  from autoscope.catalog import connect; "
          f"catalog = connect(data_dir={str(folder)!r})")
    return 0


def _print_summary(summary: dict) -> None:
    print("\ncampaign summary")
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.3g}"
        print(f"  {key}: {value}")


def run_chain(client, writer, seed: int = 0, lines: int = 64, pixels: int = 64) -> dict:
    """Image a twin line by line and take spectra, through the catalog and back.

    Returns a dict with the two run uids and what was read back; raises
    :class:`AutoscopeError` if what comes back differs from what was measured.
    """
    from bluesky import RunEngine

    from autoscope.devices import make_spm
    from autoscope.plans import raster_image, spectra_at

    spm = make_spm("twin", sample="si100_h", seed=seed, name="spm")
    RE = RunEngine({}, call_returns_result=True)
    kept: dict[str, list] = {}
    RE.subscribe(writer)
    RE.subscribe(lambda name, doc: kept.setdefault(name, []).append(doc))

    t0 = time.perf_counter()
    image_uid = RE(raster_image(spm, width=8.0, height=8.0, pixels=pixels, lines=lines,
                                line_time=1.0)).run_start_uids[0]
    rng = np.random.default_rng(seed)
    points = [[float(x), float(y)] for x, y in rng.uniform(-3.5, 3.5, size=(4, 2))]
    spectra_uid = RE(spectra_at(spm, points, start=-2.0, stop=2.0, n_points=200)).run_start_uids[0]
    writer.flush()
    wall = time.perf_counter() - t0

    image_run = client[image_uid]
    table = image_run["primary"].read()
    topo_key = next(k for k in table if k.endswith("topography_trace"))
    image = np.stack([np.asarray(v) for v in table[topo_key]])
    measured = np.stack([d["data"][topo_key] for d in kept["event"]
                         if topo_key in d["data"]])
    if image.shape != (lines, pixels) or not np.array_equal(image, measured):
        raise AutoscopeError(f"the image read back from the catalog ({image.shape}) "
                             f"differs from the one measured ({measured.shape})")
    spectra_run = client[spectra_uid]
    n_spectra = len(spectra_run["primary"].read()["time"])
    instrument_s = spm.backend.time()
    print(f"image run   {image_uid[:8]}: {lines} lines x {pixels} px, topography "
          f"{image.dtype}, range {np.ptp(image):.3f} nm, read back identical")
    print(f"spectra run {spectra_uid[:8]}: {n_spectra} spectra at {points}")
    print(f"instrument time {instrument_s:.0f} s simulated in {wall:.1f} s wall")
    return {"image_uid": image_uid, "spectra_uid": spectra_uid, "image": image,
            "spectra": n_spectra}
