"""The campaign report's figure and page, drawn from plain arrays (no catalog).

``autoscope report`` reads the catalog into a :class:`ReportData` and draws it
with :func:`write_report`; these tests draw a synthetic 256 x 256 campaign (5 %
measured, a replay, model weights, instrument time, three spectra) and check
that every panel is there with what it must show, that the PNG stays a sane
size, and that the page names every panel. The catalog side is run for real by
the long test at the end and by tests/unit/replay/test_replay.py.
"""

import re

import numpy as np
import pytest
from matplotlib.contour import ContourSet
from scipy.stats import hypergeom

import autoscope.studies.benchmark  # noqa: F401 - imported at collection, not in a timed test
import autoscope.studies.replay  # noqa: F401 - the same
from autoscope.errors import ConfigurationError
from autoscope.studies.campaign_report import (
    PANELS,
    ReportData,
    Spectrum,
    _truth_of,
    discovery_curve,
    random_discovery,
    report_figure,
    typical_spectra,
    write_report,
)
from autoscope.studies.groundtruth import scalar_map, twin_dataset

SIZE = 256


def _synthetic(size=SIZE, truth=True, weights=True, scalarizer="band_integral:0.2:0.4"):
    rng = np.random.default_rng(5)
    rows, cols = np.mgrid[0:size, 0:size]
    field = np.sin(6 * cols / size) * np.cos(5 * rows / size)
    positions = np.column_stack([(cols.ravel() + 0.5) * 8.0, (rows.ravel() + 0.5) * 8.0])
    n = round(0.05 * size * size)
    p = np.exp(3 * field.ravel())
    order = rng.choice(size * size, size=n, replace=False, p=p / p.sum())
    values = field.ravel()[order]
    axis = np.linspace(-1.0, 1.0, 64)
    spectra = [
        Spectrum(
            label,
            int(order[i]),
            i + 1,
            tuple(positions[order[i]]),
            axis,
            values[i] * np.exp(-((axis - 0.3) ** 2) / 0.02),
            float(values[i]),
        )
        for label, i in typical_spectra(values)
    ]
    steps = [
        (m, {"weights": {"dkl": m / n, "gp": 1 - m / n}, "feature_share": 0.5 * m / n})
        for m in range(10, n + 1, 50)
    ]
    return ReportData(
        campaign="synthetic",
        image=field + 0.2 * rng.normal(size=field.shape),
        image_label="topography (nm)",
        positions=positions,
        position_units="nm",
        order=order,
        values=values,
        scalar_label="band_integral (nA)",
        scalarizer=scalarizer,
        mean=field,
        std=np.full(field.shape, 0.1),
        truth=field if truth else None,
        truth_source="synthetic",
        replays={"replay gp": rng.permutation(size * size)[:n]} if truth else {},
        model_steps=steps if weights else [(3, {"kind": "gp"})],
        time=(np.array([m for m, _ in steps]), np.array([3.0 * m for m, _ in steps])),
        spectra=spectra,
        spectrum_labels=("bias (V)", "dIdV (nA/V)"),
        agent="bma",
        summary={"campaign": "synthetic", "top1_found_fraction": 0.5},
        notes=["No replay is in the catalog."],
    )


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The synthetic 256 x 256 report, drawn and written once for the module."""
    out = tmp_path_factory.mktemp("report")
    data = _synthetic()
    fig = report_figure(data)
    return data, fig, write_report(data, out, figure=fig), out


def _axes_by_title(fig) -> dict:
    return {
        ax.get_title(loc="left").split(":")[0]: ax
        for ax in fig.get_axes()
        if ax.get_title(loc="left")
    }


def test_every_panel_is_drawn_with_what_it_shows(drawn):
    data, fig, _, _ = drawn
    axes = _axes_by_title(fig)
    assert set(PANELS) <= set(axes), set(PANELS) - set(axes)
    # maps: an image in each, the chosen points on the second, the top-1 % contour on the truth
    for name in PANELS[:5]:
        assert len(axes[name].get_images()) == 1, name
    assert len(axes["chosen points, in order"].collections[0].get_offsets()) == len(data.order)
    assert any(isinstance(c, ContourSet) for c in axes["ground truth"].collections)
    # one colour bar per map but the second's overview (no two bars on one panel)
    bars = [ax for ax in fig.get_axes() if ax.get_label() == "<colorbar>"]
    assert len(bars) == 5
    # discovery: the campaign, the replay, and random (expected and its band)
    labels = [ln.get_label() for ln in axes["discovery"].get_lines()]
    assert labels == ["random, expected", "replay gp", "bma (this campaign)"]
    mine = axes["discovery"].get_lines()[-1].get_ydata()
    np.testing.assert_allclose(mine, discovery_curve(data.order, data.top))
    # model weights: each model's weight and the feature share, at every report
    weights = axes["model weights"].get_lines()
    assert [ln.get_label() for ln in weights] == [
        "weight of dkl",
        "weight of gp",
        "image-feature share",
    ]
    assert len(weights[0].get_xdata()) == len(data.model_steps)
    # instrument time: a second x axis over the two curves
    for name in ("discovery", "model weights"):
        (top,) = axes[name].child_axes
        assert top.get_xlabel() == "instrument time (min)"
        # 3 s a measurement: the last measurement sits at the last report's instrument time
        assert top.get_xlim()[1] == pytest.approx((len(data.order) + 0.5) * 3.0 / 60, rel=0.02)
    # spectra: best, median, worst with their value in the title and the window shaded
    for name, spectrum in zip(PANELS[7:], data.spectra):
        ax = axes[name]
        assert f"{spectrum.value:.3g} nA" in ax.get_title(loc="left")
        assert ax.get_legend().get_texts()[0].get_text() == "integral, 0.2 to 0.4"


def test_png_and_page(drawn):
    data, _, summary, out = drawn
    png = out / "campaign_report.png"
    import matplotlib.image

    h, w, _ = matplotlib.image.imread(png).shape
    assert (w, h) == (1530, 702)  # 17 x 7.8 in at 90 dpi
    assert 50_000 < png.stat().st_size < 1_500_000  # 65,536 pixels a map, still a sane file
    page = (out / "campaign_report.html").read_text()
    for name in PANELS:
        assert f"<b>{name}</b>" in page
    assert "campaign_report.png" in page and "No replay is in the catalog." in page
    assert summary["report"].endswith("campaign_report.html")
    assert re.search(r"top1_found_fraction</td><td>0.5<", page)


def test_without_truth_or_weights():
    fig = report_figure(_synthetic(size=24, truth=False, weights=False, scalarizer="loop_area"))
    axes = _axes_by_title(fig)
    assert axes["discovery"].get_title(loc="left").endswith("best value so far (no ground truth)")
    assert not axes["ground truth"].get_images()
    assert "not known" in [t.get_text() for t in axes["ground truth"].texts]
    assert "no weights recorded" in axes["model weights"].texts[0].get_text()
    legend = axes["best spectrum"].get_legend().get_texts()[0].get_text()
    assert legend == "loop area"


def test_discovery_counts_each_location_once():
    top = np.array([0, 1, 0, 1, 0], dtype=bool)
    np.testing.assert_allclose(discovery_curve([1, 1, 0, 3], top), [0.5, 0.5, 0.5, 1.0])


@pytest.mark.parametrize(("candidates", "top", "n"), [(65_536, 656, 3277), (100, 1, 20)])
def test_random_discovery_is_the_hypergeometric(candidates, top, n):
    mean, low, high = random_discovery(n, candidates, top)
    k = np.array([1, n // 2, n])
    dist = hypergeom(candidates, top, k)
    np.testing.assert_allclose(mean[k - 1], k / candidates)
    np.testing.assert_allclose(low[k - 1], dist.ppf(0.05) / top)
    np.testing.assert_allclose(high[k - 1], dist.ppf(0.95) / top)


def test_typical_spectra_best_median_worst():
    assert typical_spectra([0.3, np.nan, 0.9, 0.1, 0.5]) == [
        ("best", 2),
        ("typical (median)", 4),
        ("worst", 3),
    ]
    assert typical_spectra([1.0]) == [("best", 0)]
    assert typical_spectra([np.nan]) == []


def test_ground_truth_of_a_twin_campaign_by_default():
    """A campaign whose reports name its twin is scored on that twin's grid, as replay does."""
    from types import SimpleNamespace

    grid = twin_dataset("stm", 8, 1)
    c = SimpleNamespace(
        candidates=SimpleNamespace(shape=(8, 8)),
        frame={"width": grid.pixel_size * 8},
        settings={"twin": {"kind": "stm", "seed": 1}, "scalarizer": "band_integral:-0.5:-0.2"},
    )
    truth, measurable, gt, source = _truth_of(c, None, None, None)
    assert source == "twin:stm:8:seed1" and measurable.all()
    np.testing.assert_array_equal(truth, scalar_map(grid, "band_integral:-0.5:-0.2"))
    with pytest.raises(ConfigurationError, match="give one ground truth"):
        _truth_of(c, "grid.h5", "stm:1", None)
    with pytest.raises(ConfigurationError, match=r"map is \(4, 4\)"):
        _truth_of(c, None, None, np.zeros((4, 4)))
    c.settings = {"scalarizer": "loop_area"}
    assert _truth_of(c, None, None, None) == (None, None, None, None)
