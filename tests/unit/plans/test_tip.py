"""condition_tip on the twin."""

from __future__ import annotations

import pytest

from autoscope.errors import ConfigurationError, SafetyLimitError
from autoscope.plans import condition_tip


def test_pulse_is_one_event_with_parameters_and_position(RE, catalog, spm):
    t0 = spm.backend.time()
    (uid,) = RE(condition_tip(spm, "pulse", voltage=4.0, width=0.2, x=10.0, y=-5.0))
    run = catalog[uid]
    assert run.metadata["stop"]["num_events"] == {"primary": 1}
    stream = run["primary"]
    assert stream["spm_tip_action"].read()[0] == "pulse"
    assert stream["spm_probe_x_requested"].read()[0] == 10.0
    assert stream["spm_probe_y_requested"].read()[0] == -5.0
    assert abs(stream["spm_probe_x"].read()[0] - 10.0) < 1.0
    t_start, t_end = stream["spm_tip_t_start"].read()[0], stream["spm_tip_t_end"].read()[0]
    assert t_end - t_start >= 0.2 and t_start >= t0
    conf = stream.metadata["configuration"]["spm_tip"]["data"]
    assert conf["spm_tip_pulse_voltage"] == 4.0 and conf["spm_tip_pulse_width"] == 0.2
    assert run.metadata["start"]["tip_action"] == {"action": "pulse", "voltage": 4.0, "width": 0.2}


def test_dip_where_the_probe_is(RE, catalog, spm):
    before = spm.backend.get_position()
    (uid,) = RE(condition_tip(spm, "dip", depth=1.0))
    stream = catalog[uid]["primary"]
    assert stream["spm_tip_action"].read()[0] == "dip"
    assert stream["spm_probe_x"].read()[0] == pytest.approx(before[0])


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"action": "pulse", "voltage": 9.0}, SafetyLimitError, "pulse voltage 9.0 V"),
        ({"action": "pulse", "width": 0.8}, SafetyLimitError, "pulse width 0.8 s"),
        ({"action": "dip", "depth": 3.0}, SafetyLimitError, "dip depth 3.0 nm"),
        ({"action": "pulse", "x": 300.0, "y": 0.0}, SafetyLimitError, "conditioning position"),
        ({"action": "zap"}, ConfigurationError, "action must be one of"),
        ({"action": "dip", "x": 1.0}, ConfigurationError, "both x and y"),
    ],
)
def test_refused_before_anything_moves(RE, spm, backend_state, kwargs, exc, match):
    before = backend_state(spm)
    with pytest.raises(exc, match=match):
        RE(condition_tip(spm, **kwargs))
    assert backend_state(spm) == before


def test_a_dip_verified_by_its_imprint():
    """verify="imprint": the mark the dip left is imaged and read (issue 21 item 4).

    A RunEngine without the catalog (the documents are checked), for speed.
    """
    from bluesky import RunEngine

    from autoscope.devices import make_spm
    from autoscope.studies.tip.imprints import EXPECTED

    from .conftest import LIMITS

    spm = make_spm("twin", sample="au111", seed=5, name="spm", limits=LIMITS)
    spm.backend.leave_imprints = True
    spm.backend.tip_change_rate = 0.0
    docs = []
    RE = RunEngine({})
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    plan = condition_tip(
        spm, "dip", depth=0.5, x=12.0, y=-8.0, verify="imprint", imprint_size=4.0, imprint_pixels=48
    )
    RE(plan)
    (start,) = [d for n, d in docs if n == "start"]
    (stop,) = [d for n, d in docs if n == "stop"]
    assert stop["exit_status"] == "success"
    assert stop["num_events"] == {"primary": 1, "imprint": 48, "imprint_verdict": 1}
    assert start["plan_args"]["verify"] == "imprint"
    streams = {d["uid"]: d["name"] for n, d in docs if n == "descriptor"}
    (event,) = [
        d for n, d in docs if n == "event" and streams[d["descriptor"]] == "imprint_verdict"
    ]
    # the twin's tip after the dip is the truth the imprint must show
    assert event["data"]["imprint_verdict"] == EXPECTED.get(
        spm.backend.truth.tip_state.kind, "unknown"
    )
    assert len(spm.backend.imprints) == 1


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"action": "pulse", "verify": "imprint"}, "verify='imprint' needs a dip"),
        ({"action": "dip", "verify": "image"}, "verify must be None or one of"),
        ({"action": "dip", "verify": "imprint", "imprint_pixels": 8}, "imprint_pixels"),
        ({"action": "dip", "verify": "imprint", "imprint_size": -1.0}, "imprint_size"),
    ],
)
def test_a_bad_verification_is_refused_before_anything_moves(RE, spm, backend_state, kwargs, match):
    before = backend_state(spm)
    with pytest.raises(ConfigurationError, match=match):
        RE(condition_tip(spm, **kwargs))
    assert backend_state(spm) == before
