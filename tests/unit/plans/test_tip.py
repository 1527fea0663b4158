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
