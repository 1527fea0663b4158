"""The ophyd STEM device: names, protocols, limits before the beam, blanking, the dose ledger."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from bluesky.protocols import Configurable, Movable, Readable, Triggerable

from autoscope.devices import STEM, STEMLimits, make_stem
from autoscope.devices.stem.backend import STEMScan
from autoscope.devices.stem.dose import DoseLedger, electrons, point_increment, raster_increment
from autoscope.devices.stem.twin_backend import TwinSTEMBackend
from autoscope.errors import ConfigurationError, InstrumentTimeout, SafetyLimitError

from .conftest import LIMITS


def _state(stem):
    b = stem.backend
    return b.time(), b.twin.truth.electrons, stem.ledger.total_electrons


def test_names_follow_the_microscopists_usage(stem):
    for name in ("EHT", "BeamCurrent", "probe_position", "fov_nm", "pixel_time_us", "rotation"):
        assert hasattr(stem, name)
    for c in ("C10", "C12", "C21", "C23", "C30", "C32", "C34", "C50"):
        assert getattr(stem, c).describe()[f"stem_{c}"]["units"] == "nm"
    assert {"stem_center_nm_x", "stem_center_nm_y", "stem_blanker"} <= set(
        stem.read_configuration()
    )
    for det in ("haadf", "adf", "bf"):
        assert hasattr(getattr(stem, det), "enabled")
    for part in ("channels", "dispersion", "energy_offset", "exposure"):
        assert hasattr(stem.spectrometer, part)


def test_device_satisfies_the_bluesky_protocols(stem):
    assert isinstance(stem, Readable) and isinstance(stem, Configurable)
    for part in (stem.line, stem.eels, stem.si_line, stem.park):
        assert isinstance(part, Readable) and isinstance(part, Triggerable)
    for sig in (stem.EHT, stem.BeamCurrent, stem.C10, stem.probe_position, stem.fov_nm):
        assert isinstance(sig, Movable)


def test_descriptors_carry_dtype_shape_units(stem):
    stem.pixels.put(16)
    stem.adf.enabled.put(True)
    d = stem.line.describe()
    assert d["stem_line_haadf"]["shape"] == [16]
    assert d["stem_line_haadf"]["dtype_numpy"] == "<f4"
    assert d["stem_line_adf"]["dims"] == ["x"]
    assert d["stem_line_dose"]["units"] == "e/Å^2"
    stem.spectrometer.channels.put(64)
    e = stem.eels.describe()
    assert e["stem_eels_energy"]["units"] == "eV" and e["stem_eels_counts"]["shape"] == [64]
    assert stem.si_line.describe()["stem_si_line_spectra"]["shape"] == [16, 64]
    assert all(v["source"].startswith("STEM:") for v in {**d, **e}.values())


def test_column_settings_reach_the_twin(stem):
    twin = stem.backend.twin
    stem.C10.put(-5.0)
    assert twin.probe.aberrations.C10 == pytest.approx(-50.0)  # nm -> Å
    assert stem.C10.get() == pytest.approx(-5.0)
    stem.BeamCurrent.put(50.0)
    assert twin.current_pa == 50.0
    stem.EHT.put(200.0)
    assert twin.probe.kv == 200.0 and stem.EHT.get() == 200.0


@pytest.mark.parametrize(
    "action, message",
    [
        (lambda s: s.BeamCurrent.put(500.0), "beam current 500 pA is beyond the device limit"),
        (lambda s: s.EHT.put(120.0), "EHT 120 kV is not an allowed beam energy"),
        (lambda s: s.C30.put(2e7), "C30 2e+07 nm is beyond the device limit"),
        (lambda s: s.probe_position.set((100.0, 0.0)), "probe position (100, 0) nm is outside"),
    ],
)
def test_values_beyond_a_limit_never_reach_the_twin(stem, action, message):
    before = (stem.backend.get_beam_current(), stem.backend.get_eht(), stem.C30.get())
    with pytest.raises(SafetyLimitError, match=re.escape(message)):
        action(stem)
    assert (stem.backend.get_beam_current(), stem.backend.get_eht(), stem.C30.get()) == before


def test_a_frame_outside_the_field_is_refused_before_the_line(stem):
    stem.center_nm.x.put(30.0)
    stem.fov_nm.put(20.0)
    stem.pixels.put(16)
    before = _state(stem)
    with pytest.raises(SafetyLimitError, match=r"scan corner \(40, -10\) nm"):
        stem.line.trigger()
    assert _state(stem) == before


def test_the_dose_budget_refuses_a_spectrum_before_the_beam_moves():
    stem = make_stem("twin", sample="nanoparticles", seed=0, limits=STEMLimits(dose_per_area=1e6))
    # 30 pA for 0.1 s into a spot of 0.2 nm radius: ~1.6e6 e/Å² at its centre cells
    stem.spectrometer.exposure.put(0.1)
    before = _state(stem)
    with pytest.raises(SafetyLimitError, match=r"spectrum at \(0, 0\) nm would raise the dose"):
        stem.eels.trigger()
    assert _state(stem) == before
    assert stem.blanker.get() is True


def test_the_total_budget_counts_what_was_sent():
    limits = STEMLimits(dose_total=2 * electrons(30.0, 0.01) * 1.01)
    stem = make_stem("twin", sample="nanoparticles", seed=0, limits=limits)
    stem.eels.x_requested.put(1.0)
    stem.eels.trigger()
    stem.eels.x_requested.put(2.0)
    stem.eels.trigger()
    stem.eels.x_requested.put(3.0)
    with pytest.raises(SafetyLimitError, match="total dose budget"):
        stem.eels.trigger()
    assert stem.dose_total.get() == pytest.approx(2 * electrons(30.0, 0.01))


def test_a_fault_leaves_the_beam_blanked_and_the_ledger_unchanged():
    stem = make_stem("twin", sample="nanoparticles", seed=0, fail_at={"eels": 1})
    stem.eels.trigger()
    sent = stem.ledger.total_electrons
    with pytest.raises(InstrumentTimeout):
        stem.eels.trigger()
    assert stem.blanker.get() is True
    assert stem.ledger.total_electrons == sent


def test_beam_is_unblanked_only_while_acquiring(stem):
    seen = []
    backend = stem.backend
    original = backend.eels

    def watching(*args):
        seen.append(backend.get_blanked())
        return original(*args)

    backend.eels = watching
    stem.eels.trigger()
    assert seen == [False]
    assert stem.blanker.get() is True


def test_a_blanked_twin_sends_no_electrons():
    b = TwinSTEMBackend("nanoparticles", seed=0)
    scan = STEMScan(fov_nm=10.0, pixels=8)
    line = b.scan_line(scan, 0, ("haadf",))
    assert b.twin.truth.electrons == 0.0 and not line.signals["haadf"].any()
    assert b.time() == pytest.approx(scan.line_seconds)


def test_raster_dose_is_current_times_dwell_over_pixel_area():
    scan = STEMScan(center_nm=(1.0, -2.0), fov_nm=8.0, pixels=16, pixel_time_us=10.0)
    inc = raster_increment(scan, 30.0, cell_nm=0.25)
    p_a = 5.0  # Å per pixel
    level = electrons(30.0, 10e-6) / p_a**2
    assert inc.dose.max() == pytest.approx(level)
    assert inc.electrons == pytest.approx(electrons(30.0, 10e-6) * 256)
    # the area dosed is the field of view (cells of 0.25 nm, grown by half a cell)
    area = (inc.dose > 0).sum() * 0.25**2
    assert 64.0 <= area <= (8.0 + 0.5) ** 2
    ledger = DoseLedger(0.25)
    ledger.add(inc)
    ledger.add(inc)
    assert ledger.dose_at(1.0, -2.0) == pytest.approx(2 * level)
    assert ledger.dose_at(6.0, -2.0) == 0.0


def test_rotated_raster_doses_the_rotated_square():
    scan = STEMScan(fov_nm=8.0, pixels=16, rotation=45.0)
    inc = raster_increment(scan, 30.0, cell_nm=0.1)
    ledger = DoseLedger(0.1)
    ledger.add(inc)
    assert ledger.dose_at(5.0, 0.0) > 0  # a corner of the rotated frame (5.66 nm out)
    assert ledger.dose_at(3.9, 3.9) == 0.0  # the unrotated frame's corner


def test_point_dose_spreads_over_the_spot():
    inc = point_increment(0.33, 0.71, 30.0, 0.01, cell_nm=0.1, spot_radius_nm=0.3)
    n = electrons(30.0, 0.01)
    assert inc.electrons == pytest.approx(n)
    cells = (inc.dose > 0).sum()
    assert abs(cells * 0.01 - math.pi * 0.09) < 0.06
    assert inc.dose.sum() * (0.1 * 10.0) ** 2 == pytest.approx(n)  # e/Å² x Å² per cell
    peak, x, y = inc.peak(0.1)
    assert math.hypot(x - 0.33, y - 0.71) <= 0.3


def test_ledger_peak_after_counts_overlapping_exposures():
    ledger = DoseLedger(0.2)
    a = point_increment(0.0, 0.0, 30.0, 0.01, 0.2, 0.2)
    ledger.add(a)
    peak, x, y = ledger.peak_after([a, a])
    assert peak == pytest.approx(3 * a.dose.max())
    assert ledger.total_electrons == pytest.approx(a.electrons)  # unchanged by the check


def test_limits_resolve_inside_the_ranges():
    b = TwinSTEMBackend("graphene", seed=0)
    with pytest.raises(ConfigurationError, match="beam_current_pa 5000 is beyond"):
        STEMLimits(beam_current_pa=5000.0).resolve(b.ranges)
    with pytest.raises(ConfigurationError, match="eht_kv 120 kV"):
        STEMLimits(eht_kv=(60.0, 120.0)).resolve(b.ranges)
    r = STEMLimits().resolve(b.ranges)
    assert r.field_nm == pytest.approx(10.0) and math.isinf(r.dose_per_area)
    assert r.as_dict()["dose_per_area"] is None


def test_factory_backends():
    with pytest.raises(ConfigurationError, match="unknown STEM backend 'nion'"):
        make_stem("nion")
    b = TwinSTEMBackend("graphene", seed=1)
    s = make_stem(b, name="s2")
    assert isinstance(s, STEM) and s.backend is b and s.name == "s2"
    with pytest.raises(ConfigurationError, match=r"options \['seed_x'\]"):
        make_stem(b, seed_x=1)
    with pytest.raises(ConfigurationError, match="does not implement"):
        STEM(object())
    with pytest.raises(ConfigurationError, match="unknown detector 'eds'"):
        make_stem("twin", detectors=("eds",))


def test_line_readout_records_positions_times_and_dose(stem):
    stem.fov_nm.put(10.0)
    stem.pixels.put(16)
    stem.line.index.put(5)
    stem.line.trigger()
    r = stem.line.read()
    assert r["stem_line_haadf"]["value"].shape == (16,)
    assert r["stem_line_y_start_requested"]["value"] == pytest.approx((5.5 / 16 - 0.5) * 10)
    assert r["stem_line_t_end"]["value"] > r["stem_line_t_start"]["value"]
    scan = stem.get_scan()
    expected = electrons(30.0, scan.pixel_time_us * 1e-6) / (scan.pixel_size_nm * 10) ** 2
    assert r["stem_line_dose"]["value"] == pytest.approx(expected)
    assert np.isfinite(r["stem_line_haadf"]["value"]).all()


def test_limits_field_is_required_resolved():
    with pytest.raises(ConfigurationError, match="resolved"):
        LIMITS.check_beam_current(1.0)


@pytest.mark.parametrize("pixels, rotation", [(16, 0.0), (64, 30.0)])
def test_lines_add_up_to_the_frame_cell_by_cell(pixels, rotation):
    # cell 0.25 nm against pixels of 0.5 and 0.125 nm
    scan = STEMScan(center_nm=(0.3, 0.1), fov_nm=8.0, pixels=pixels, rotation=rotation)
    by_lines, whole = DoseLedger(0.25), DoseLedger(0.25)
    for i in range(pixels):
        by_lines.add(raster_increment(scan, 30.0, 0.25, (i, i + 1)))
    whole.add(raster_increment(scan, 30.0, 0.25))
    assert by_lines.total_electrons == pytest.approx(whole.total_electrons)
    np.testing.assert_allclose(by_lines.dose_map(-6, -6, 12, 12), whole.dose_map(-6, -6, 12, 12))
    level = electrons(30.0, scan.pixel_time_us * 1e-6) / (scan.pixel_size_nm * 10) ** 2
    assert whole.max_dose() == pytest.approx(level)
