"""Make the recorded datasets of docs/benchmarks.md's real-data rows: import -> export.

Every dataset goes the way a user's file goes: ``autoscope import`` puts the file
into a catalog (here an in-process one, through the same
:func:`autoscope.io.importer.import_files`), ``autoscope export`` writes the
recorded-dataset file (:func:`autoscope.io.exporter.export_recorded`), and
``autoscope benchmark --dataset FILE.h5`` reads it. It prints the benchmark
command of each.

- STEM EDS spectrum images from the hyperspy 1.7.6 wheel's IO test data
  (:data:`autoscope.io.realdata.STEM_FILES`, read through the optional ``rsciio``
  extra; the wheel is fetched into the user cache by ``make realdata``, never
  committed), each exported on one element line: the line's counts per pixel
  are the property.
- Nanonis ``.3ds`` grids: no real grid ships in any package (ADR 0014), so the
  STM twin's 32 x 32 grid is written as a ``.3ds`` by autoscope's writer, once
  complete and once stopped after 30 % of its points, as an early-stopped
  grid is.
- AFM force maps (JPK) from the afmformats 0.18.7 sdist's tests
  (:data:`autoscope.io.realdata.FORCE_MAP_FILES`, read through the optional
  ``afm`` extra; the sdist is fetched into the user cache by ``make realdata``):
  each is a grid from which 3 or 4 curves were extracted, so only those are
  candidates; the property is the adhesion of each retract curve.

Usage::

    python docs/scripts/recorded_datasets.py OUT_DIR
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from autoscope.catalog.testing import inprocess_catalog
from autoscope.catalog.writer import make_writer
from autoscope.devices.twin.datasets import make_dataset
from autoscope.io import realdata
from autoscope.io.exporter import export_recorded
from autoscope.io.grid3ds import write_3ds
from autoscope.io.importer import import_files

#: keys of realdata.FORCE_MAP_FILES
FORCE_MAP_JOBS = ("jpk_force_map_2x2", "jpk_force_map_refpoints", "jpk_qi_map")

#: (key of realdata.STEM_FILES, bin, element line): lines with the most counts and the
#: most structure beyond counting noise in each file
STEM_JOBS = (
    ("bruker_sem_bcf", 1, "Fe_Ka"),
    ("velox_superx_10x50", 1, "Ni_Ka"),
    ("velox_4detectors_16x16", 1, "Au_Ma"),
    ("jeol_asw", 8, "Fe_Ka"),
)


def twin_grids(folder: Path) -> list[Path]:
    """The STM twin's 32 x 32 grid as ``.3ds`` files: complete, and stopped at 30 %."""
    data = make_dataset(kind="stm", size=32, seed=0)
    didv = np.asarray(data["spectra"], dtype=np.float32)
    axis = np.asarray(data["spectral_axis"], dtype=float)
    ny, nx = didv.shape[:2]
    side = 2.0 * nx  # nm, square points
    out = []
    for name, written in (
        ("twin_stm_32.3ds", None),
        ("twin_stm_32_stopped.3ds", int(0.3 * nx * ny)),
    ):
        out.append(
            write_3ds(
                folder / name,
                {"LI Demod 1 X": didv},
                {"LI Demod 1 X": "pA", "Z": "nm"},
                (float(axis[0]), float(axis[-1])),
                (side, side),
                parameters={"Z": np.asarray(data["image"], dtype=float)},
                points_written=written,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    with inprocess_catalog(out / "catalog") as client:
        writer = make_writer(client, data_dir=out / "catalog")
        try:
            for key, n, line in STEM_JOBS:
                path = realdata.fetch_to(realdata.known_file(key), out / "files" / key)
                (r,) = import_files([path], client, writer, bin=n, again=True)
                writer.flush()
                si = next(x["uid"] for x in r["runs"] if x["role"] == "spectrum image")
                target = out / f"{key}_{line}.h5"
                info = export_recorded(client, [si], target, line=line)
                h, w, k = info["shape"]
                print(
                    f"{target}: {h} x {w} px, {k} channels of {line}; autoscope benchmark "
                    f"--dataset {target} --scalarizer {info['scalarizer']}"
                )
            for path in twin_grids(out / "files"):
                (r,) = import_files([path], client, writer, again=True)
                writer.flush()
                grid = next(x["uid"] for x in r["runs"] if x["role"] == "grid")
                target = out / (path.stem + ".h5")
                info = export_recorded(client, [grid], target)
                print(
                    f"{target}: {info['n_measured']} measured, {info['n_missing']} missing; "
                    f"autoscope benchmark --dataset {target} --scalarizer peak_prominence"
                )
            for key in FORCE_MAP_JOBS:
                path = realdata.fetch_to(realdata.known_file(key), out / "files" / key)
                (r,) = import_files([path], client, writer, again=True)
                writer.flush()
                grid = next(x["uid"] for x in r["runs"] if x["role"] == "grid")
                target = out / f"{key}.h5"
                info = export_recorded(client, [grid], target)
                print(
                    f"{target}: {info['n_measured']} measured, {info['n_missing']} missing "
                    f"(channel {info['channel']}); autoscope benchmark --dataset {target} "
                    "--scalarizer adhesion"
                )
        finally:
            writer.close()


if __name__ == "__main__":
    main()
