"""SpectraExperiment scalarizes counting spectra as the benchmark's ground truth does.

A spectrum of counts (EDS, EELS) may hold a run of zeros at its minimum: a counter
measured nothing there, no channel clipped. The ground truth of a recorded spectrum
image (``spectra_kind: "counts"``) is not checked for flat runs
(:func:`autoscope.studies.groundtruth.scalar_map`); the experiment that unpacks the
same spectra in a campaign or a replay must not flag them either, or the agent is
told NaN where the truth has a value.
"""

from __future__ import annotations

import numpy as np
import pytest

from autoscope.agents.experiment import SpectraExperiment
from autoscope.agents.scalarizers import InvalidSpectrumWarning

AXIS = np.linspace(0.0, 5.0, 6)
#: counts with three zeros at the minimum, and one without
SPECTRA = np.array([[0.0, 0.0, 0.0, 5.0, 9.0, 3.0], [1.0, 2.0, 4.0, 5.0, 9.0, 3.0]])
P = "spm_spectrum_"


def _data():
    return {
        f"{P}bias": np.tile(AXIS, (2, 1)),
        f"{P}spectra": SPECTRA,
        **{f"{P}{k}": np.array([1.0, 2.0]) for k in ("x_reported", "y_reported")},
        **{f"{P}{k}": np.array([1.0, 2.0]) for k in ("x_requested", "y_requested")},
    }


def _documents(units: str):
    start = {"uid": "run-1", "spectrum_keys": {"spectra": f"{P}spectra"}}
    descriptor = {
        "uid": "d1",
        "name": "primary",
        "data_keys": {f"{P}spectra": {"units": units, "shape": [6], "dtype": "array"}},
    }
    data = _data()
    events = [
        ("event", {"descriptor": "d1", "data": {k: v[i] for k, v in data.items()}})
        for i in range(2)
    ]
    return [("start", start), ("descriptor", descriptor), *events]


def test_counts_are_not_checked_for_flat_runs():
    exp = SpectraExperiment("band_integral:0:5", channel="spectra")
    expected = [np.trapezoid(s, AXIS) for s in SPECTRA]
    m = exp.unpack_documents(_documents("counts"))
    np.testing.assert_allclose(m.values, expected)
    # the same from the start document of an exported spectrum image
    m = exp.unpack_arrays(_data(), "run-2", {"spectra_kind": "counts"})
    np.testing.assert_allclose(m.values, expected)


def test_other_spectra_keep_the_clipping_check():
    exp = SpectraExperiment("band_integral:0:5", channel="spectra")
    with pytest.warns(InvalidSpectrumWarning, match="1 of 2 spectra left out.*1 saturated"):
        m = exp.unpack_documents(_documents("pA"))
    assert np.isnan(m.values[0]) and np.isfinite(m.values[1])
    # told outright, the experiment does not look at the units
    told = SpectraExperiment("band_integral:0:5", channel="spectra", counts=False)
    with pytest.warns(InvalidSpectrumWarning):
        assert np.isnan(told.unpack_documents(_documents("counts")).values[0])
    assert SpectraExperiment("loop_area", counts=True).is_counting({}, "pA")
