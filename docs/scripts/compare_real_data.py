"""Compare the SPM twin with real instrument files; writes docs/twin_vs_real.md and its figures.

A thin front-end of :mod:`autoscope.studies.twin_vs_real` that writes into this checkout::

    python docs/scripts/compare_real_data.py --download
    python docs/scripts/compare_real_data.py --archives DIR --seed 0
"""

from pathlib import Path

from autoscope.studies.twin_vs_real import main

if __name__ == "__main__":
    raise SystemExit(main(root=Path(__file__).resolve().parents[2]))
