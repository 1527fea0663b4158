"""The queue server can describe and validate every SPM plan."""

from __future__ import annotations

import pytest

from autoscope import plans

PLAN_NAMES = ["raster_image", "point_spectrum", "spectra_at", "grid_spectroscopy", "condition_tip"]


@pytest.fixture(scope="module")
def described():
    from bluesky_queueserver.manager.profile_ops import existing_plans_and_devices_from_nspace

    from autoscope.devices import make_spm

    ns = {name: getattr(plans, name) for name in PLAN_NAMES}
    ns["spm"] = make_spm("twin", seed=0)
    plans_desc, devices_desc, _, _ = existing_plans_and_devices_from_nspace(nspace=ns)
    return plans_desc, devices_desc


@pytest.mark.parametrize("name", PLAN_NAMES)
def test_plan_is_described_with_every_parameter(described, name):
    plans_desc, _ = described
    desc = plans_desc[name]
    assert desc["description"]
    params = {p["name"]: p for p in desc["parameters"]}
    assert params["spm"]["annotation"]["type"] == "__READABLE__"
    assert params["md"]["default"] == "None"
    for p in params.values():
        assert p.get("description"), f"{name}.{p['name']} has no description"


def test_queue_items_validate(described):
    from bluesky_queueserver.manager.profile_ops import validate_plan

    plans_desc, devices_desc = described
    ok, msg = validate_plan(
        {
            "name": "spectra_at",
            "args": ["spm", [[0.0, 1.0], [2.0, 3.0]]],
            "kwargs": {"n_points": 20},
        },
        allowed_plans=plans_desc,
        allowed_devices=devices_desc,
    )
    assert ok, msg
    ok, msg = validate_plan(
        {"name": "point_spectrum", "args": ["spm", 0.0, 1.0], "kwargs": {"n_points": 20}},
        allowed_plans=plans_desc,
        allowed_devices=devices_desc,
    )
    assert ok, msg
    ok, msg = validate_plan(
        {
            "name": "spectra_at",
            "args": ["spm"],
            "kwargs": {"positions": [[0.0, 1.0]], "n_points": 20},
        },
        allowed_plans=plans_desc,
        allowed_devices=devices_desc,
    )
    assert ok, msg
    ok, msg = validate_plan(
        {"name": "raster_image", "args": ["spm"], "kwargs": {"pixels": 16.5}},
        allowed_plans=plans_desc,
        allowed_devices=devices_desc,
    )
    assert not ok and "pixels" in msg
