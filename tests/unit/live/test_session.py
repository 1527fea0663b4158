"""When the profile opens live views: AUTOSCOPE_LIVE and the display, like BestEffortCallback."""

from __future__ import annotations

import pytest

from autoscope.errors import ConfigurationError
from autoscope.live import live_enabled


@pytest.mark.parametrize(
    ("env", "backend", "expected"),
    [
        ({}, "qtagg", True),
        ({"AUTOSCOPE_LIVE": "1"}, "TkAgg", True),
        ({"AUTOSCOPE_LIVE": "0"}, "qtagg", False),
        ({}, "agg", False),  # no display: nothing to open
        ({"AUTOSCOPE_LIVE": "1"}, "Agg", False),
    ],
)
def test_live_views_need_a_display_and_no_opt_out(env, backend, expected):
    assert live_enabled(env, backend) is expected


def test_a_bad_setting_names_the_value():
    with pytest.raises(ConfigurationError, match="'yes'"):
        live_enabled({"AUTOSCOPE_LIVE": "yes"}, "qtagg")
