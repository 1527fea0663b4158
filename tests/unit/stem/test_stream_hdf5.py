"""StreamHDF5Writer: frames on disk and readable when append returns, the documents that
announce them."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from autoscope.errors import ConfigurationError
from autoscope.io.stream_hdf5 import MIMETYPE, StreamHDF5Writer


def test_frames_are_readable_by_another_reader_as_soon_as_appended(tmp_path):
    w = StreamHDF5Writer(tmp_path / "streams")
    path = w.open("run-a")
    frames = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    docs = w.append("spectra", frames[0])
    assert [n for n, _ in docs] == ["stream_resource", "stream_datum"]
    sres = docs[0][1]
    assert sres["mimetype"] == MIMETYPE and sres["data_key"] == "spectra"
    assert sres["uri"] == "file://localhost" + str(path)
    assert sres["parameters"] == {"dataset": "/spectra", "chunk_shape": [1, 4, 5], "swmr": True}
    for k in (1, 2):
        (datum,) = w.append("spectra", frames[k])
        assert datum[0] == "stream_datum"
        assert datum[1]["indices"] == {"start": k, "stop": k + 1}
        assert datum[1]["stream_resource"] == sres["uid"]
        # a second process-like reader sees every frame while the writer is open
        with h5py.File(path, "r", swmr=True) as f:
            np.testing.assert_array_equal(f["spectra"][: k + 1], frames[: k + 1])
    w.close()
    assert not w.is_open


def test_a_frame_of_another_shape_or_a_second_key_is_refused(tmp_path):
    w = StreamHDF5Writer(tmp_path)
    w.open()
    w.append("spectra", np.zeros((2, 3), np.float32))
    with pytest.raises(ConfigurationError, match=r"the file holds float32\(2, 3\)"):
        w.append("spectra", np.zeros((2, 4), np.float32))
    with pytest.raises(ConfigurationError, match="one key per file"):
        w.append("other", np.zeros(3, np.float32))
    with pytest.raises(ConfigurationError, match="plain file name"):
        w.open("../escape")
    w.close()


def test_each_open_starts_a_new_file_and_resource(tmp_path):
    w = StreamHDF5Writer(tmp_path)
    w.open()
    a = w.append("k", np.ones(3))[0][1]
    w.open()
    b = w.append("k", np.ones(3))[0][1]
    w.close()
    assert a["uid"] != b["uid"] and a["uri"] != b["uri"]
    assert len(list(tmp_path.glob("*.h5"))) == 2
