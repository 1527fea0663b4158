"""Short lines and spectra (<= 16 points) come back as float arrays, not strings.

TiledWriter would put arrays of up to 16 elements into the events table by
default; the writer sends every array to array storage instead.
"""

import numpy as np
from bluesky import RunEngine

from autoscope.catalog.writer import make_writer
from autoscope.devices import make_spm
from autoscope.plans import raster_image, spectra_at


def test_a_16_pixel_image_and_10_point_spectra_round_trip(module_catalog, tmp_path):
    writer = make_writer(module_catalog, data_dir=tmp_path)
    RE = RunEngine({})
    RE.subscribe(writer)
    spm = make_spm("twin", seed=3)
    measured = []
    RE.subscribe(lambda name, doc: measured.append(doc["data"]) if name == "event" else None)
    (image_uid,) = RE(raster_image(spm, width=4.0, height=4.0, pixels=16, lines=4))
    (spectra_uid,) = RE(spectra_at(spm, [[0.0, 0.0], [1.0, 1.0]], n_points=10))
    writer.close()

    lines = np.asarray(module_catalog[image_uid]["primary"]["spm_line_topography_trace"].read())
    assert lines.dtype == np.float32 and lines.shape == (4, 16)
    np.testing.assert_array_equal(lines, [d["spm_line_topography_trace"] for d in measured[:4]])
    spectra = np.asarray(module_catalog[spectra_uid]["primary"]["spm_spectrum_current"].read())
    assert spectra.shape == (2, 10) and np.issubdtype(spectra.dtype, np.floating)
