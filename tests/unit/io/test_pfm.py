"""Piezoresponse has one formula (autoscope.io.pfm) and one reference, the instrument's."""

import numpy as np
import pytest

from autoscope.errors import ConfigurationError
from autoscope.io.pfm import piezoresponse


def test_piezoresponse_by_hand():
    amp = np.array([1.0, 2.0, 0.5])
    phase = np.array([12.0, 192.0, 102.0])
    np.testing.assert_allclose(piezoresponse(amp, phase, 12.0), [1.0, -2.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(piezoresponse(2.0, 60.0, 0.0), 1.0)
    # a float32 image stays float32, also with a numpy scalar as reference
    out = piezoresponse(amp.astype(np.float32), phase.astype(np.float32), np.float64(12.0))
    assert out.dtype == np.float32


def test_the_twin_states_its_reference_and_its_image_uses_it():
    from autoscope.devices.backend import SpectroscopySettings
    from autoscope.devices.twin import TwinSPM, make_dataset

    pfm, stm = TwinSPM("pfm_film", seed=0), TwinSPM("si100_h", seed=0)
    assert pfm.phase_reference == 12.0 and stm.phase_reference is None
    d = make_dataset("pfm", size=8, seed=0, points=16)
    expected = d["channels"]["amplitude"] * np.cos(np.deg2rad(d["channels"]["phase"] - 12.0))
    assert np.array_equal(d["image"], expected.astype(np.float32))
    # the measured spectra obey the same formula
    ch = pfm.spectrum(0.0, 0.0, SpectroscopySettings(start=-2.5, stop=2.5, points=16)).channels
    np.testing.assert_allclose(
        ch["piezoresponse"],
        piezoresponse(ch["amplitude"], ch["phase"], 12.0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_the_device_reads_the_reference_from_its_backend():
    from autoscope.devices import make_spm

    assert make_spm("twin", sample="pfm_film", seed=0).phase_reference == 12.0
    assert make_spm("twin", sample="si100_h", seed=0).phase_reference is None


def _docs(phase_reference=None):
    start = {
        "image_keys": {"amplitude": ["amp_t", "amp_r"], "phase": ["ph_t", "ph_r"]},
        "image_shape": [2, 3],
        "line_key": "line",
    }
    if phase_reference is not None:
        start["phase_reference"] = phase_reference
    docs = [("start", start)]
    for i in range(2):
        docs.append(
            ("event", {"data": {"line": i, "amp_t": [1.0, 2.0, 3.0], "ph_t": [30.0, 210.0, 120.0]}})
        )
    return docs


def test_the_overview_is_formed_with_the_reference_its_run_records():
    from autoscope.plans.campaign import _image_from_documents

    img = _image_from_documents(_docs(30.0), "piezoresponse")
    np.testing.assert_allclose(img, [[1.0, -2.0, 0.0]] * 2, atol=1e-12)
    with pytest.raises(ConfigurationError, match="records no phase_reference"):
        _image_from_documents(_docs(), "piezoresponse")


def test_the_overview_run_records_the_reference():
    from bluesky import RunEngine

    from autoscope.devices import make_spm
    from autoscope.plans.campaign import _image_from_documents, overview_candidates

    spm = make_spm(
        "twin", sample="pfm_film", seed=0, drift=0.0, creep=0.0, hysteresis=0.0, tip_change_rate=0.0
    )
    docs = []
    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    result = RE(overview_candidates(spm, 0.0, 0.0, 400.0, 400.0, 8, 0.05, "piezoresponse"))
    _, image, _ = result.plan_result
    start = next(d for n, d in docs if n == "start")
    assert start["phase_reference"] == 12.0
    assert np.array_equal(image, _image_from_documents(docs, "piezoresponse"))
