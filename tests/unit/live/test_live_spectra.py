"""LiveSpectra on real runs: the last N spectra drawn, a grid's map filling in node by node."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from autoscope.errors import ConfigurationError
from autoscope.live import LiveSpectra
from autoscope.plans import grid_spectroscopy, spectra_at

from .conftest import AtEvent
from .pixels import cell_colours, is_background

# The README's figures are regenerated only on request (AUTOSCOPE_UPDATE_FIGURES=1), so that a
# test run leaves the checkout as it was.
FIGURES = Path(__file__).resolve().parents[3] / "docs" / "figures"


def _figures(tmp_path):
    return FIGURES if os.environ.get("AUTOSCOPE_UPDATE_FIGURES") == "1" else tmp_path


def test_grid_map_fills_in_and_the_last_spectra_are_drawn(RE, spm, tmp_path):
    view = LiveSpectra(channel="dIdV", n_last=5, scalar="mean")
    seen = {}

    def snap(n):
        png = view.render_png(tmp_path / f"grid_{n}.png")
        rgb = cell_colours(png, view.figure, view.map_axis, 4, 4)
        seen[n] = (len(view.spectrum_axis.lines), is_background(rgb).ravel())

    RE.subscribe(view)
    RE.subscribe(AtEvent({1, 3, 7, 16}, snap))
    RE(grid_spectroscopy(spm, width=8.0, height=8.0, nx=4, ny=4, n_points=40))
    for n, (drawn, background) in seen.items():
        assert drawn == min(n, 5)
        # nodes are measured row-major from the bottom: index = iy * nx + ix
        assert not background[:n].any() and background[n:].all()
    assert view.spectrum_axis.get_xlabel() == "bias (V)"
    assert view.spectrum_axis.get_ylabel() == "dIdV (nS)"
    assert np.isfinite(view.grid_map).all()


def test_spectra_without_a_grid_have_no_map(RE, spm, tmp_path):
    view = LiveSpectra(n_last=2)
    RE.subscribe(view)
    RE(spectra_at(spm, [[0.0, 0.0], [1.0, 1.0], [2.0, -1.0]], n_points=30))
    view.render_png(tmp_path / "spectra.png")
    assert view.map_axis is None and len(view.spectrum_axis.lines) == 2
    assert view.count == 3 and view.spectrum_axis.get_ylabel() == "current (pA)"


def test_bad_choices_name_the_value(RE, spm):
    with pytest.raises(ConfigurationError, match="'median'"):
        LiveSpectra(scalar="median")
    with pytest.raises(ConfigurationError, match="0"):
        LiveSpectra(n_last=0)
    view = LiveSpectra(channel="nope")
    RE.subscribe(view)
    RE(spectra_at(spm, [[0.0, 0.0]], n_points=10))
    with pytest.raises(ConfigurationError, match="'nope'"):
        view.update()


def test_readme_figure_of_a_grid(RE, spm, tmp_path):
    """An 8 x 8 grid of dI/dV spectra, drawn after 40 of 64 (docs/figures/live_grid.png)."""
    view = LiveSpectra(channel="dIdV", n_last=8, scalar="ptp")
    RE.subscribe(view)
    RE.subscribe(AtEvent({40}, lambda n: view.render_png(_figures(tmp_path) / "live_grid.png")))
    RE(grid_spectroscopy(spm, width=10.0, height=10.0, nx=8, ny=8, n_points=100))
    assert (_figures(tmp_path) / "live_grid.png").stat().st_size > 10_000
