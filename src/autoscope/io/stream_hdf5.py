"""High-rate detector data into HDF5, announced to the catalog as StreamResource/StreamDatum.

A detector that produces more than an event can carry (a spectrum-image line of 64 x 2048
float32 is 0.5 MB; at 1,000 spectra/s that is 8 MB/s) writes its frames into an HDF5 file
and hands the RunEngine small documents instead: one ``stream_resource`` per file (its URI,
the dataset, the chunk shape) and one ``stream_datum`` per event (which frames of the file
belong to it). ``bluesky_tiled_plugins.TiledWriter`` registers the file with Tiled, which
reads the frames from it on demand; the RunEngine never carries the array. This is the
pattern of ophyd-async's HDF writers (``ophyd_async.core.HDFDocumentComposer``).

:class:`StreamHDF5Writer` is what a device holds: ``open`` starts a file (a device's
``stage``), ``append`` writes one frame, flushes it (it is durable and readable by another
process, in SWMR mode, when ``append`` returns) and returns the documents to hand on,
``close`` ends the file (``unstage``). The catalog server must list the writer's folder in
its readable storage.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError

__all__ = ["MIMETYPE", "StreamHDF5Writer"]

MIMETYPE = "application/x-hdf5"


class StreamHDF5Writer:
    """Writes frames of one data key into ``<directory>/<name>.h5``, dataset ``/<data_key>``.

    Parameters
    ----------
    directory : str or path-like
        Folder for the files (created if missing); the catalog must be able to read it.
    """

    def __init__(self, directory) -> None:
        self.directory = Path(directory).absolute()
        self._file = None
        self._datasets: dict[str, object] = {}
        self._resources: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self.path: Path | None = None

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def open(self, name: str | None = None) -> Path:
        """Start a new file (default name: a fresh uuid); returns its path."""
        import h5py

        self.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        name = name or str(uuid.uuid4())
        if "/" in name or name.startswith("."):
            raise ConfigurationError(f"stream file name {name!r} must be a plain file name")
        self.path = self.directory / f"{name}.h5"
        self._file = h5py.File(self.path, "w", libver="latest")
        self._datasets.clear()
        self._resources.clear()
        self._counts.clear()
        return self.path

    def append(self, data_key: str, frame) -> list[tuple[str, dict]]:
        """Write one frame of ``data_key``; returns the documents that announce it
        (``stream_resource`` the first time, then ``stream_datum``)."""
        if self._file is None:
            self.open()
        frame = np.asarray(frame)
        docs: list[tuple[str, dict]] = []
        ds = self._datasets.get(data_key)
        if ds is None:
            if self._file.swmr_mode:
                # SWMR allows no new datasets: a new key starts a new file
                raise ConfigurationError(
                    f"data key {data_key!r} arrived after the file {self.path} was opened for "
                    f"{sorted(self._datasets)}; one key per file"
                )
            ds = self._file.create_dataset(
                data_key,
                shape=(0, *frame.shape),
                maxshape=(None, *frame.shape),
                chunks=(1, *frame.shape),
                dtype=frame.dtype,
            )
            self._file.swmr_mode = True
            self._datasets[data_key] = ds
            uid = str(uuid.uuid4())
            self._resources[data_key] = uid
            self._counts[data_key] = 0
            docs.append(
                (
                    "stream_resource",
                    {
                        "uid": uid,
                        "data_key": data_key,
                        "mimetype": MIMETYPE,
                        "uri": self.path.as_uri().replace("file:///", "file://localhost/", 1),
                        "parameters": {
                            "dataset": f"/{data_key}",
                            "chunk_shape": [1, *frame.shape],
                            "swmr": True,
                        },
                    },
                )
            )
        if ds.shape[1:] != frame.shape or ds.dtype != frame.dtype:
            raise ConfigurationError(
                f"frame of {data_key!r} is {frame.dtype}{frame.shape}, the file holds "
                f"{ds.dtype}{ds.shape[1:]}"
            )
        n = self._counts[data_key]
        ds.resize(n + 1, axis=0)
        ds[n] = frame
        ds.flush()
        self._counts[data_key] = n + 1
        sres = self._resources[data_key]
        docs.append(
            (
                "stream_datum",
                {
                    "uid": f"{sres}/{n}",
                    "stream_resource": sres,
                    "descriptor": "",
                    "indices": {"start": n, "stop": n + 1},
                    "seq_nums": {"start": 0, "stop": 0},
                },
            )
        )
        return docs

    def close(self) -> None:
        """Close the file (frames already appended stay readable)."""
        if self._file is not None:
            self._file.close()
            self._file = None
