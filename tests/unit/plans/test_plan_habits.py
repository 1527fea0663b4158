"""Plan habits: every plan is annotated ``MsgGenerator``; one keyword name per meaning.

The number of points of a sweep is ``n_points`` and a list of [x, y] pairs is
``positions`` in every plan. The old keyword (``points`` for both) still works
for one release, with a ``DeprecationWarning``; giving the old and the new
keyword together is refused.
"""

from __future__ import annotations

import collections.abc
import importlib
import inspect
import typing
import warnings

import pytest
from bluesky import RunEngine
from bluesky.utils import Msg, MsgGenerator

from autoscope import plans
from autoscope.errors import ConfigurationError
from autoscope.plans import grid_spectroscopy, point_spectrum, spectra_at
from autoscope.plans.utils import renamed_keywords

PLAN_MODULES = ["imaging", "spectroscopy", "tip", "tip_watch", "campaign", "utils"]

#: what each public plan returns when the RunEngine runs it
RETURNS = {
    "raster_image": str,
    "point_spectrum": str,
    "spectra_at": str,
    "grid_spectroscopy": str,
    "condition_tip": str,
    "autonomous_campaign": str,
    "tip_watched_image": list[str],
}


def _is_msg_generator(hint) -> bool:
    return typing.get_origin(hint) is collections.abc.Generator and typing.get_args(hint)[:2] == (
        Msg,
        typing.Any,
    )


def test_every_public_plan_is_listed():
    assert sorted(RETURNS) == sorted(plans.__all__)


@pytest.mark.parametrize("name", sorted(RETURNS))
def test_public_plan_is_annotated_msg_generator(name):
    plan = getattr(plans, name)
    assert inspect.isgeneratorfunction(plan)
    returned = inspect.signature(plan).return_annotation
    assert returned == MsgGenerator[RETURNS[name]]
    assert typing.get_type_hints(plan)["return"] == MsgGenerator[RETURNS[name]]


@pytest.mark.parametrize("module", PLAN_MODULES)
def test_every_plan_and_plan_stub_of_a_module_is_annotated(module):
    mod = importlib.import_module(f"autoscope.plans.{module}")
    found = {
        name: fn
        for name, fn in vars(mod).items()
        if inspect.isgeneratorfunction(fn) and fn.__module__ == mod.__name__
    }
    assert found
    for name, fn in found.items():
        hint = typing.get_type_hints(fn).get("return")
        assert hint is not None and _is_msg_generator(hint), f"{module}.{name}: {hint}"


# --- one name per meaning; the old keyword for one release ---------------------------------


def _run(plan) -> list[tuple[str, dict]]:
    docs: list[tuple[str, dict]] = []
    RunEngine({}, call_returns_result=False)(plan, lambda name, doc: docs.append((name, doc)))
    return docs


def _start(docs) -> dict:
    return next(d for n, d in docs if n == "start")


def _spectrum_lengths(docs) -> set[int]:
    return {len(d["data"]["spm_spectrum_bias"]) for n, d in docs if n == "event"}


def test_point_spectrum_old_points_keyword_warns_and_still_works(spm):
    with pytest.warns(
        DeprecationWarning, match="point_spectrum: keyword 'points' is deprecated, use 'n_points'"
    ) as record:
        docs = _run(point_spectrum(spm, 1.0, 2.0, points=24))
    assert len([w for w in record if w.category is DeprecationWarning]) == 1
    assert _start(docs)["plan_args"]["n_points"] == 24
    assert _spectrum_lengths(docs) == {24}


def test_grid_spectroscopy_old_points_keyword_warns_and_still_works(spm):
    with pytest.warns(
        DeprecationWarning,
        match="grid_spectroscopy: keyword 'points' is deprecated, use 'n_points'",
    ) as record:
        docs = _run(grid_spectroscopy(spm, width=4.0, height=4.0, nx=2, ny=1, points=24))
    assert len([w for w in record if w.category is DeprecationWarning]) == 1
    assert _start(docs)["plan_args"]["n_points"] == 24
    assert _spectrum_lengths(docs) == {24}


def test_spectra_at_old_points_keyword_warns_and_still_works(spm):
    positions = [[1.0, 2.0], [-3.0, 0.5]]
    with pytest.warns(
        DeprecationWarning, match="spectra_at: keyword 'points' is deprecated, use 'positions'"
    ) as record:
        docs = _run(spectra_at(spm, points=positions, n_points=24))
    assert len([w for w in record if w.category is DeprecationWarning]) == 1
    start = _start(docs)
    assert start["positions_requested"] == positions
    assert start["plan_args"]["positions"] == positions
    assert _spectrum_lengths(docs) == {24}


@pytest.mark.parametrize(
    "make_plan,new",
    [
        (lambda spm: point_spectrum(spm, 0.0, 0.0, n_points=24, points=24), "n_points"),
        (lambda spm: point_spectrum(spm, 0.0, 0.0, -1.0, 1.0, 24, points=24), "n_points"),
        (lambda spm: grid_spectroscopy(spm, n_points=24, points=24), "n_points"),
        (lambda spm: spectra_at(spm, [[0.0, 0.0]], points=[[0.0, 0.0]]), "positions"),
        (lambda spm: spectra_at(spm, positions=[[0.0, 0.0]], points=[[0.0, 0.0]]), "positions"),
    ],
)
def test_old_and_new_keyword_together_are_refused(spm, make_plan, new):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused before any deprecation warning
        with pytest.raises(
            ConfigurationError, match=f"give '{new}' only; 'points' is its deprecated old name"
        ):
            next(make_plan(spm))


@pytest.mark.parametrize(
    "make_plan",
    [
        lambda spm: point_spectrum(spm, 0.0, 0.0, n_points=24),
        lambda spm: point_spectrum(spm, 0.0, 0.0, -1.0, 1.0, 24),
        lambda spm: grid_spectroscopy(spm, n_points=24),
        lambda spm: spectra_at(spm, [[0.0, 0.0]], n_points=24),
        lambda spm: spectra_at(spm, positions=[[0.0, 0.0]]),
    ],
)
def test_new_keywords_do_not_warn(spm, make_plan):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        next(make_plan(spm))


def test_renamed_plans_keep_their_signature_and_docstring():
    assert "points" not in inspect.signature(point_spectrum).parameters
    assert "points" not in inspect.signature(grid_spectroscopy).parameters
    assert list(inspect.signature(spectra_at).parameters)[:2] == ["spm", "positions"]
    assert spectra_at.__name__ == "spectra_at" and "positions" in spectra_at.__doc__
    assert spectra_at.__module__ == "autoscope.plans.spectroscopy"


def test_renamed_keywords_refuses_a_rename_that_does_not_fit():
    def plan(spm, n_points: int = 2) -> MsgGenerator[None]:
        yield Msg("null")

    with pytest.raises(TypeError, match="'count' to 'positions'"):
        renamed_keywords(count="positions")(plan)
    with pytest.raises(TypeError, match="'n_points' to 'n_points'"):
        renamed_keywords(n_points="n_points")(plan)


def test_plans_use_the_stubs_without_stack_capture():
    """bluesky's checkpoint/mv/trigger_and_read format the whole stack per call (docs/benchmarks.md,
    "plan stubs"); the plans go through :mod:`autoscope.plans.stubs`, which yield the same
    messages."""
    import re
    from pathlib import Path

    folder = Path(plans.__file__).parent
    slow = re.compile(r"\bbps\.(checkpoint|mv|trigger_and_read)\(")
    found = [
        f"{path.name}:{n}"
        for path in sorted(folder.glob("*.py"))
        if path.name != "stubs.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if slow.search(line)
    ]
    assert found == []
