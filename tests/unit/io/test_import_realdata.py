"""``autoscope import`` composes runs from the real files of ``realdata.KNOWN_FILES``.

No catalog: :func:`~autoscope.io.importer.compose_file` builds the documents
(validated by event-model as they are composed) and the runs are read back
through :func:`~autoscope.io.xarray_view.dataset_from_columns`, the same code
that reads catalog runs. A file not fetched here (``make realdata``) skips with
the reason.
"""

import numpy as np
import pytest

from autoscope.io import realdata
from autoscope.io.dat import parse_dat
from autoscope.io.importer import compose_file
from autoscope.io.sxm import parse_sxm
from autoscope.io.xarray_view import dataset_from_columns


def _file(key, tmp_path):
    real = realdata.known_file(key)
    try:
        data, source = realdata.locate(real)
    except FileNotFoundError as exc:
        pytest.skip(f"{key} not available here ({exc}); `make realdata` fetches it")
    path = tmp_path / real.name
    path.write_bytes(data)
    return data, source, path


def _dataset(run):
    docs = dict((name, doc) for name, doc in run.documents if name != "event_page")
    (page,) = [doc for name, doc in run.documents if name == "event_page"]
    columns = {k: np.asarray(v) for k, v in page["data"].items()}
    return docs["start"], dataset_from_columns(
        docs["start"], docs["descriptor"]["data_keys"], columns
    )


@pytest.mark.parametrize("key", ["au_mica_sxm", "afm_sxm"])
def test_real_image_becomes_a_raster_run(key, tmp_path):
    data, source, path = _file(key, tmp_path)
    ours = parse_sxm(data, source)
    (run,) = compose_file(path).runs
    start, ds = _dataset(run)
    assert start["plan_name"] == "raster_image" and start["source_file"] == path.name
    assert start["image_shape"] == [ours.lines, ours.pixels]
    for channel, images in ours.channels.items():
        key_name = channel.replace(" ", "_")
        np.testing.assert_allclose(
            ds[key_name].sel(direction="trace").values, images["forward"], equal_nan=True
        )


@pytest.mark.parametrize("key", ["au_mica_sts", "au111_sts"])
def test_real_spectrum_becomes_a_point_spectrum_run(key, tmp_path):
    data, source, path = _file(key, tmp_path)
    ours = parse_dat(data.decode("latin-1"), source)
    (run,) = compose_file(path).runs
    start, ds = _dataset(run)
    assert start["plan_name"] == "point_spectrum" and start["experiment"] == ours.experiment
    assert ds.sizes["spectrum"] == 1
    first = next(iter(ours.channels))
    np.testing.assert_allclose(ds[first.replace(" ", "_")].values[0], ours.channel(first))
