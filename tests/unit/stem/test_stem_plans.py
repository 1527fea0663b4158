"""STEM plans on the twin, written to an in-process Tiled catalog."""

from __future__ import annotations

import collections.abc
import inspect
import typing

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.utils import Msg, MsgGenerator

from autoscope.catalog.external import stream_dir
from autoscope.devices import STEMLimits, make_stem
from autoscope.devices.twin.stem.scan import ScanErrors
from autoscope.errors import ConfigurationError, InstrumentTimeout, SafetyLimitError
from autoscope.io.stream_hdf5 import StreamHDF5Writer
from autoscope.plans import stem as stem_plans
from autoscope.plans import stem_campaign, stem_drift
from autoscope.plans.stem import eels_at, park_beam, spectrum_image, stem_image
from autoscope.plans.stem_campaign import dose_aware_campaign
from autoscope.plans.stem_drift import drift_corrected_series, measure_shift

PLANS = {
    "stem_image": stem_image,
    "spectrum_image": spectrum_image,
    "eels_at": eels_at,
    "park_beam": park_beam,
    "drift_corrected_series": drift_corrected_series,
    "dose_aware_campaign": dose_aware_campaign,
}


def _primary(catalog, uid, key):
    return np.asarray(catalog[uid]["primary"][key].read())


def test_stem_image_streams_lines_into_the_catalog(RE, catalog, docs, stem):
    RE(stem_image(stem, fov_nm=30.0, pixels=24, pixel_time_us=4.0, detectors=["haadf", "bf"]))
    start = docs.of("start")[0]
    assert start["plan_name"] == "stem_image" and start["image_shape"] == [24, 24]
    assert start["image_keys"] == {"haadf": "stem_line_haadf", "bf": "stem_line_bf"}
    events = docs.of("event")
    assert [e["data"]["stem_line_index"] for e in events] == list(range(24))
    image = _primary(catalog, start["uid"], "stem_line_haadf")
    expected = np.array([e["data"]["stem_line_haadf"] for e in events])
    np.testing.assert_array_equal(image, expected)
    # a particle is bright in HAADF and dark in BF
    bf = _primary(catalog, start["uid"], "stem_line_bf")
    assert np.corrcoef(image.ravel(), bf.ravel())[0, 1] < -0.5
    assert docs.of("stop")[0]["exit_status"] == "success"
    assert stem.blanker.get() is True


def test_eels_at_and_park_beam(RE, catalog, docs, stem):
    RE(
        eels_at(
            stem,
            [[0.0, 0.0], [12.0, -3.0]],
            exposure=0.02,
            channels=256,
            dispersion=0.02,
            energy_offset=-0.5,
        )
    )
    start = docs.of("start")[0]
    assert start["spectral_axis"]["units"] == "eV" and start["num_points"] == 2
    counts = _primary(catalog, start["uid"], "stem_eels_counts")
    energy = _primary(catalog, start["uid"], "stem_eels_energy")
    assert counts.shape == (2, 256)
    np.testing.assert_allclose(energy[0], -0.5 + 0.02 * np.arange(256))
    assert energy[0][np.argmax(counts[0])] == pytest.approx(0.0, abs=0.2)  # zero-loss peak
    before = stem.ledger.total_electrons
    RE(park_beam(stem, 5.0, 5.0, 0.5))
    park = docs.of("event")[-1]["data"]
    assert park["stem_park_x_reported"] == 5.0
    assert stem.ledger.total_electrons - before == pytest.approx(30e-12 * 0.5 / 1.602176634e-19)
    assert stem.blanker.get() is True


def test_spectrum_image_in_events(RE, catalog, docs, stem):
    RE(
        spectrum_image(
            stem, fov_nm=20.0, pixels=6, channels=128, dispersion=0.05, energy_offset=-1.0
        )
    )
    start = docs.of("start")[0]
    assert start["spectra_storage"] == "event"
    spectra = _primary(catalog, start["uid"], "stem_si_line_spectra")
    assert spectra.shape == (6, 6, 128) and spectra.dtype == np.float32
    assert (spectra.sum(axis=2) > 0).all()
    assert not docs.of("stream_resource")


def test_spectrum_image_streamed_to_hdf5_is_registered(RE, catalog, catalog_folder, docs):
    stem = make_stem("twin", sample="nanoparticles", seed=3)
    writer = StreamHDF5Writer(stream_dir(catalog_folder))
    stem.stream_to(writer)
    RE(spectrum_image(stem, fov_nm=20.0, pixels=6, channels=128, dispersion=0.05))
    start = docs.of("start")[0]
    assert start["spectra_storage"] == "stream"
    (sres,) = docs.of("stream_resource")
    assert sres["mimetype"] == "application/x-hdf5"
    assert len(docs.of("stream_datum")) == 6
    assert all("stem_si_line_spectra" not in e["data"] for e in docs.of("event"))
    spectra = _primary(catalog, start["uid"], "stem_si_line_spectra")
    assert spectra.shape == (6, 6, 128)
    # what the catalog serves is what the detector measured, line by line
    np.testing.assert_array_equal(spectra[-1], stem.si_line.last.spectra)
    assert not writer.is_open


def test_the_whole_plan_is_refused_before_the_beam_moves(RE, docs):
    stem = make_stem("twin", sample="nanoparticles", seed=0, limits=STEMLimits(dose_per_area=8.0))
    # 30 pA, 4 µs per 12.5 Å pixel: 4.8 e/Å² a frame; one frame fits the budget, two do not
    RE(stem_image(stem, fov_nm=30.0, pixels=24, pixel_time_us=4.0))
    t, sent = stem.backend.time(), stem.ledger.total_electrons
    n_docs = len(docs.docs)
    with pytest.raises(SafetyLimitError, match=r"stem_image of 30 nm would raise the dose at"):
        RE(stem_image(stem, fov_nm=30.0, pixels=24, pixel_time_us=4.0))
    assert (stem.backend.time(), stem.ledger.total_electrons) == (t, sent)
    assert len(docs.docs) == n_docs  # no run was opened
    with pytest.raises(SafetyLimitError, match=r"eels_at 40 positions would raise the dose"):
        RE(eels_at(stem, [[1.0, 1.0]] * 40, exposure=0.01))
    assert stem.backend.time() == t


@pytest.mark.parametrize(
    "plan, message",
    [
        (lambda s: stem_image(s, fov_nm=-1.0), "fov_nm -1 nm must be > 0"),
        (lambda s: stem_image(s, detectors=["eds"]), "unknown detector 'eds'"),
        (lambda s: spectrum_image(s, exposure=100.0), "EELS exposure 100 s is beyond"),
        (lambda s: eels_at(s, [[0.0, 0.0], [0.0]]), "positions[1] must be an [x, y] pair"),
        (lambda s: park_beam(s, 0.0, 0.0, 0.0), "park time 0 s must be > 0 s"),
        (lambda s: stem_image(s, beam_current=900.0), "beam current 900 pA is beyond"),
    ],
)
def test_bad_arguments_name_the_value(stem, plan, message):
    with pytest.raises((ConfigurationError, SafetyLimitError)) as err:
        RunEngine({}, call_returns_result=False)(plan(stem))
    assert message in str(err.value)


def test_a_fault_mid_image_keeps_the_lines_and_closes_the_run(RE, catalog, docs):
    stem = make_stem("twin", sample="nanoparticles", seed=0, fail_at={"scan_line": 7})
    with pytest.raises(InstrumentTimeout):
        RE(stem_image(stem, fov_nm=20.0, pixels=16))
    stop = docs.of("stop")[0]
    assert stop["exit_status"] == "fail"
    assert stop["reason"].startswith("InstrumentTimeout: simulated STEM fault")
    uid = docs.of("start")[0]["uid"]
    lines = _primary(catalog, uid, "stem_line_index")
    assert list(lines) == list(range(7))
    assert stem.blanker.get() is True


def test_a_fault_mid_spectra_keeps_the_spectra_measured(RE, catalog, docs):
    stem = make_stem("twin", sample="nanoparticles", seed=0, fail_at={"eels": 2})
    with pytest.raises(InstrumentTimeout):
        RE(eels_at(stem, [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]], channels=64))
    stop = docs.of("stop")[0]
    assert stop["exit_status"] == "fail" and stop["reason"].startswith("InstrumentTimeout")
    x = _primary(catalog, docs.of("start")[0]["uid"], "stem_eels_x_requested")
    assert list(x) == [0.0, 1.0]
    assert stem.blanker.get() is True


def test_a_fault_mid_spectrum_image_keeps_the_streamed_lines(RE, catalog, catalog_folder, docs):
    stem = make_stem("twin", sample="nanoparticles", seed=0, fail_at={"scan_line": 3})
    stem.stream_to(StreamHDF5Writer(stream_dir(catalog_folder)))
    with pytest.raises(InstrumentTimeout):
        RE(spectrum_image(stem, fov_nm=20.0, pixels=5, channels=64))
    assert docs.of("stop")[0]["exit_status"] == "fail"
    spectra = _primary(catalog, docs.of("start")[0]["uid"], "stem_si_line_spectra")
    assert spectra.shape == (3, 5, 64)


def test_measure_shift_finds_a_known_shift():
    rng = np.random.default_rng(0)
    base = rng.random((80, 80))
    from scipy.ndimage import gaussian_filter, shift

    base = gaussian_filter(base, 2.0)
    moved = shift(base, (3.4, -5.7), mode="wrap")
    dy, dx = measure_shift(base[8:72, 8:72], moved[8:72, 8:72])
    assert dy == pytest.approx(3.4, abs=0.3) and dx == pytest.approx(-5.7, abs=0.3)


def test_drift_correction_follows_the_sample():
    # 6.7 nm/s of drift; frames of 0.46 s (48 x 48 at 200 µs) over 40 nm (8.3 Å pixels)
    errors = ScanErrors(drift_velocity=(60.0, -30.0), drift_wander=0.0)
    final = {}
    for correct in (False, True):
        stem = make_stem("twin", sample="nanoparticles", seed=0, scan_errors=errors)
        docs: list = []
        RunEngine({}, call_returns_result=False)(
            drift_corrected_series(
                stem, n_frames=3, fov_nm=40.0, pixels=48, pixel_time_us=200.0, correct=correct
            ),
            lambda n, d, docs=docs: docs.append((n, d)),
        )
        drift = [d["data"] for n, d in docs if n == "event" and "drift_frame" in d["data"]]
        assert [d["drift_frame"] for d in drift] == [0, 1, 2]
        final[correct] = np.hypot(drift[-1]["drift_shift_x"], drift[-1]["drift_shift_y"])
        truth = np.asarray(stem.backend.twin.truth.line_offsets)[:, 1:] / 10.0  # nm
        moved = truth[-48:].mean(0) - truth[:48].mean(0)
        if not correct:
            # the features move against the beam's drift (5.6, -2.8 nm over two frames),
            # found within about a pixel
            assert drift[-1]["drift_shift_x"] == pytest.approx(-moved[0], abs=0.9)
            assert drift[-1]["drift_shift_y"] == pytest.approx(-moved[1], abs=0.9)
        else:
            assert drift[-1]["drift_center_x"] < -2.0  # the centre followed the features
    assert final[True] < 0.5 * final[False]


@pytest.fixture(scope="module")
def described():
    from bluesky_queueserver.manager.profile_ops import existing_plans_and_devices_from_nspace

    ns = dict(PLANS)
    ns["stem"] = make_stem("twin", seed=0)
    plans_desc, devices_desc, _, _ = existing_plans_and_devices_from_nspace(nspace=ns)
    return plans_desc, devices_desc


@pytest.mark.parametrize("name", sorted(PLANS))
def test_plan_is_described_for_the_queue_server(described, name):
    plans_desc, _ = described
    desc = plans_desc[name]
    params = {p["name"]: p for p in desc["parameters"]}
    assert params["stem"]["annotation"]["type"] == "__READABLE__"
    assert params["md"]["default"] == "None"
    for p in params.values():
        assert p.get("description"), f"{name}.{p['name']} has no description"


def test_queue_items_validate(described):
    from bluesky_queueserver.manager.profile_ops import validate_plan

    plans_desc, devices_desc = described
    for item in (
        {
            "name": "eels_at",
            "args": ["stem", [[0.0, 1.0], [2.0, 3.0]]],
            "kwargs": {"exposure": 0.02},
        },
        {"name": "stem_image", "args": ["stem"], "kwargs": {"detectors": ["haadf", "adf"]}},
        {"name": "park_beam", "args": ["stem", 0.0, 1.0, 2.0], "kwargs": {}},
    ):
        ok, msg = validate_plan(item, allowed_plans=plans_desc, allowed_devices=devices_desc)
        assert ok, msg


@pytest.mark.parametrize("module", [stem_plans, stem_drift, stem_campaign])
def test_every_plan_and_stub_is_annotated_msg_generator(module):
    found = {
        name: fn
        for name, fn in vars(module).items()
        if inspect.isgeneratorfunction(fn) and fn.__module__ == module.__name__
    }
    assert found
    for name, fn in found.items():
        hint = typing.get_type_hints(fn).get("return")
        assert typing.get_origin(hint) is collections.abc.Generator, name
        assert typing.get_args(hint)[:2] == (Msg, typing.Any), name
    for name in PLANS:
        if hasattr(module, name) and getattr(module, name).__module__ == module.__name__:
            assert inspect.signature(getattr(module, name)).return_annotation == MsgGenerator[str]


def test_spectrum_image_through_the_profiles_writer_is_registered_once(catalog, catalog_folder):
    """The profile's CatalogWriter batches the stream data: each line registered once."""

    from autoscope.catalog import make_writer

    writer = make_writer(catalog, data_dir=catalog_folder)
    engine = RunEngine({}, call_returns_result=False)
    engine.subscribe(writer)
    stem = make_stem("twin", sample="nanoparticles", seed=4)
    stem.stream_to(StreamHDF5Writer(stream_dir(catalog_folder)))
    try:
        (uid,) = engine(spectrum_image(stem, fov_nm=20.0, pixels=4, channels=64, dispersion=0.05))
        writer.flush()
    finally:
        writer.close()
    spectra = _primary(catalog, uid, "stem_si_line_spectra")
    assert spectra.shape == (4, 4, 64)
    np.testing.assert_array_equal(spectra[-1], stem.si_line.last.spectra)
