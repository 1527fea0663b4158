"""``autoscope demo --chain``: the image-and-spectra chain through the catalog and back.

An STM twin image streamed line by line and a few spectra, written to the
embedded Tiled catalog through the TiledWriter, then read back out of it and
checked against what was measured.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from autoscope.devices import make_spm
from autoscope.errors import AutoscopeError
from autoscope.plans import raster_image, spectra_at

log = logging.getLogger(__name__)


def run_chain(client, writer, seed: int = 0, lines: int = 64, pixels: int = 64) -> dict:
    """Image a twin line by line and take spectra, through the catalog and back.

    Returns a dict with the two run uids and what was read back; raises
    :class:`AutoscopeError` if what comes back differs from what was measured.
    """
    from bluesky import RunEngine

    spm = make_spm("twin", sample="si100_h", seed=seed, name="spm")
    RE = RunEngine({}, call_returns_result=True)
    kept: dict[str, list] = {}
    RE.subscribe(writer)
    RE.subscribe(lambda name, doc: kept.setdefault(name, []).append(doc))

    t0 = time.perf_counter()
    image_uid = RE(
        raster_image(spm, width=8.0, height=8.0, pixels=pixels, lines=lines, line_time=1.0)
    ).run_start_uids[0]
    rng = np.random.default_rng(seed)
    points = [[float(x), float(y)] for x, y in rng.uniform(-3.5, 3.5, size=(4, 2))]
    spectra_uid = RE(spectra_at(spm, points, start=-2.0, stop=2.0, n_points=200)).run_start_uids[0]
    writer.flush()
    wall = time.perf_counter() - t0

    image_run = client[image_uid]
    table = image_run["primary"].read()
    topo_key = next(k for k in table if k.endswith("topography_trace"))
    image = np.stack([np.asarray(v) for v in table[topo_key]])
    measured = np.stack([d["data"][topo_key] for d in kept["event"] if topo_key in d["data"]])
    if image.shape != (lines, pixels) or not np.array_equal(image, measured):
        raise AutoscopeError(
            f"the image read back from the catalog ({image.shape}) "
            f"differs from the one measured ({measured.shape})"
        )
    spectra_run = client[spectra_uid]
    n_spectra = len(spectra_run["primary"].read()["time"])
    instrument_s = spm.backend.time()
    print(
        f"image run   {image_uid[:8]}: {lines} lines x {pixels} px, topography "
        f"{image.dtype}, range {np.ptp(image):.3f} nm, read back identical"
    )
    print(f"spectra run {spectra_uid[:8]}: {n_spectra} spectra at {points}")
    print(f"instrument time {instrument_s:.0f} s simulated in {wall:.1f} s wall")
    return {
        "image_uid": image_uid,
        "spectra_uid": spectra_uid,
        "image": image,
        "spectra": n_spectra,
    }
