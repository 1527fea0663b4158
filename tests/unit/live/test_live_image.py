"""LiveImage on a real run: the PNG shows the lines scanned so far and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from autoscope.errors import ConfigurationError
from autoscope.live import LiveImage
from autoscope.live.drawing import level
from autoscope.plans import raster_image

from .conftest import AtEvent
from .pixels import cell_colours, is_background, values_from_colours

# The README's figures are regenerated only on request (AUTOSCOPE_UPDATE_FIGURES=1), so that a
# test run leaves the checkout as it was.
FIGURES = Path(__file__).resolve().parents[3] / "docs" / "figures"


def _figures(tmp_path):
    return FIGURES if os.environ.get("AUTOSCOPE_UPDATE_FIGURES") == "1" else tmp_path


class Lines:
    """Keeps the trace of every line event (the data the PNG must show)."""

    def __init__(self, key):
        self.key, self.rows = key, {}

    def __call__(self, name, doc):
        if name == "event":
            self.rows[int(doc["data"]["spm_line_index"])] = np.asarray(doc["data"][self.key])


def run_with_snapshots(RE, spm, view, moments, folder, **raster):
    snapshots = {}

    def snap(n):
        snapshots[n] = view.render_png(folder / f"image_{n}.png")

    lines = Lines("spm_line_topography_trace")
    RE.subscribe(view)
    RE.subscribe(lines)
    RE.subscribe(AtEvent(moments, snap))
    RE(raster_image(spm, **raster))
    return snapshots, lines


@pytest.mark.parametrize("levelling", ["offset", "plane", "none"])
def test_rows_scanned_show_the_data_rows_not_scanned_are_background(RE, spm, tmp_path, levelling):
    view = LiveImage(levelling=levelling)
    snaps, lines = run_with_snapshots(
        RE, spm, view, {1, 12, 32}, tmp_path,
        width=20.0, height=20.0, pixels=32, lines=32, line_time=0.05,
    )  # fmt: skip
    data = np.stack([lines.rows[i] for i in range(32)])
    for n, png in snaps.items():
        # the figure now holds the final state; lay the snapshot's geometry over it
        for channel, direction in [("topography", "trace"), ("current", "retrace")]:
            ax = view.axes[(channel, direction)]
            rgb = cell_colours(png, view.figure, ax, 32, 32)
            bg = is_background(rgb)
            assert not bg[:n].any(), f"{channel} {direction}: a scanned row is background at {n}"
            assert bg[n:].all(), f"{channel} {direction}: an unscanned row is drawn at {n}"
    # the colours are the data: invert the colour map on the last snapshot
    im, _ = view._artists[("topography", "trace")]
    vmin, vmax = im.get_clim()
    rgb = cell_colours(snaps[32], view.figure, view.axes[("topography", "trace")], 32, 32)
    shown = values_from_colours(rgb, im.get_cmap(), vmin, vmax)
    expected = np.clip(level(data, levelling), vmin, vmax)
    corr = np.corrcoef(shown.ravel(), expected.ravel())[0, 1]
    assert corr > 0.95
    np.testing.assert_allclose(view.displayed("topography", "trace"), level(data, levelling))


def test_the_callback_only_queues_drawing_happens_on_demand(RE, spm):
    view = LiveImage()
    RE.subscribe(view)
    RE(raster_image(spm, pixels=16, lines=8, line_time=0.05))
    assert view.pending > 8 and view.axes == {}  # nothing drawn while the run ran
    assert view.update() is True and view.pending == 0
    assert view.measured.all() and view.exit_status == "success"
    assert view.update() is False  # nothing new: no redraw


def test_rotation_direction_units_and_scale_bar_are_shown(RE, spm, tmp_path):
    view = LiveImage(levelling="plane")
    RE.subscribe(view)
    RE(raster_image(spm, center_x=3.0, width=16.0, height=16.0, pixels=16, lines=16,
                    line_time=0.05, angle=30.0))  # fmt: skip
    view.render_png(tmp_path / "rotated.png")
    title = view.figure._suptitle.get_text()
    assert "rotation 30° ccw" in title and "bottom to top" in title and "line 16 of 16" in title
    ax = view.axes[("topography", "trace")]
    assert "frame axes" in ax.get_xlabel() and "nm" in ax.get_xlabel()
    assert ax.get_xlim() == pytest.approx((3.0 - 8.0, 3.0 + 8.0))
    labels = [a.get_ylabel() for a in view.figure.axes if a not in view.axes.values()]
    assert "topography (nm)" in labels and "current (pA)" in labels
    texts = [
        t.get_text()
        for a in view.axes.values()
        for t in a.findobj(lambda o: hasattr(o, "get_text"))
    ]
    assert "2 nm" in texts  # 1-2-5 scale bar: the longest not above a fifth of 16 nm


def test_bad_choices_name_the_value():
    with pytest.raises(ConfigurationError, match="'tilt'"):
        LiveImage(levelling="tilt")
    with pytest.raises(ConfigurationError, match="'nocmap'"):
        LiveImage(cmap="nocmap")
    with pytest.raises(ConfigurationError, match="'topography'"):
        LiveImage(channels="topography")


def test_readme_figure_of_a_raster(RE, spm, tmp_path):
    """The README's example raster (10 nm, 128 x 128), drawn at line 80: docs/figures/."""
    view = LiveImage(levelling="offset")
    RE.subscribe(view)
    RE.subscribe(AtEvent({80}, lambda n: view.render_png(_figures(tmp_path) / "live_image.png")))
    RE(raster_image(spm, width=10, height=10, pixels=128, lines=128))
    assert (_figures(tmp_path) / "live_image.png").stat().st_size > 10_000
    assert view.measured.sum() == 80  # the rest is still queued: nothing drawn since
    view.update()
    assert view.measured.all()
