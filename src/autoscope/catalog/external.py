"""Where detectors write the files the catalog registers (StreamResource / StreamDatum).

Tiled serves an external file only from its readable storage; the catalog of
:mod:`autoscope.catalog.app` declares none of its own, but Tiled reads everything under
its writable storage (``<data dir>/data``) too. Stream files therefore go in
``<data dir>/data/streams/`` (:func:`stream_dir`), beside the arrays Tiled writes itself
(which live in per-node folders named by uid, so the name ``streams`` cannot collide):
an embedded or in-process catalog registers and serves them with no further setup.

A facility whose detectors write elsewhere (a shared file system) lists that folder in
the Tiled server's ``readable_storage``.
"""

from __future__ import annotations

from pathlib import Path

from autoscope.catalog import paths

__all__ = ["STREAM_DIR", "stream_dir"]

STREAM_DIR = "streams"


def stream_dir(data_dir) -> Path:
    """The folder (created if missing) for stream files of the catalog in ``data_dir``."""
    folder = Path(data_dir) / paths.ARRAY_DIR / STREAM_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder
