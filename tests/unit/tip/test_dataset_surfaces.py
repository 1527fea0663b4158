"""Training data that reaches real frames: more surfaces, survey frames, noise spectra, zoom."""

from dataclasses import replace

import numpy as np
import pytest

from autoscope.agents.tip.augment import AugmentConfig, augment_image
from autoscope.agents.tip.classes import class_index
from autoscope.errors import ConfigurationError
from autoscope.studies.tip import dataset
from autoscope.studies.tip.pipeline import PipelineConfig, make_split


def test_survey_frames_have_survey_pixels_and_atomic_frames_atomic_ones():
    rng = np.random.default_rng(0)
    specs = dataset.random_specs(60, range(10), rng, samples=dataset.STM_SAMPLES, survey_share=0.5)
    px = np.array([s.width / s.pixels for s in specs])
    survey = px >= dataset.SURVEY_PIXEL_SIZE[0]
    assert 15 < survey.sum() < 45
    assert np.all((px[survey] >= 0.2) & (px[survey] <= 2.0))
    assert np.all((px[~survey] >= 0.04) & (px[~survey] <= 0.16))
    assert {s.sample for s in specs} == set(dataset.STM_SAMPLES)


def test_without_the_new_options_the_draws_are_the_first_classifiers():
    a = dataset.random_specs(12, range(10), np.random.default_rng(3))
    b = dataset.random_specs(
        12, range(10), np.random.default_rng(3), survey_share=0.0, noise_slopes=None
    )
    assert a == b
    assert {s.sample for s in a} <= set(dataset.BASE_SAMPLES)
    c = dataset.random_specs(12, range(10), np.random.default_rng(3), noise_slopes=(-3.0, -1.0))
    assert [replace(s, noise_slope=a[0].noise_slope) for s in c] == a  # only the slope differs
    assert all(-3.0 <= s.noise_slope <= -1.0 for s in c)
    assert len({s.noise_slope for s in c}) == 12


@pytest.mark.parametrize(
    "kind, pixel, expected",
    [
        ("blunt", 0.1, "blunt"),
        ("blunt", 0.5, "good"),
        ("multi", 0.5, "multi_apex"),
        ("multi", 1.0, "good"),
        ("unstable", 2.0, "unstable"),
        ("sharp", 2.0, "good"),
    ],
)
def test_a_tip_is_labelled_by_what_the_pixel_size_lets_the_image_show(kind, pixel, expected):
    assert dataset.visible_class(kind, pixel) == expected


def test_a_blunt_tip_s_survey_frame_is_a_good_image_and_its_atomic_frame_is_not():
    base = dataset.random_specs(1, [7], np.random.default_rng(1), samples=("cu111",))[0]
    for px, expected in ((0.08, "blunt"), (0.8, "good_rows")):
        spec = replace(
            base, tip="blunt", change_rate=0.0, width=px * base.pixels, pixels=base.pixels
        )
        im = dataset.scan(spec)
        ((_, y),) = dataset.full_width_windows([im], 16)
        assert set(y.tolist()) == {class_index(expected)}, (px, y)


def test_the_default_pipeline_draws_every_surface_and_both_scales():
    config = PipelineConfig(frames=40, test_frames=16)
    images = make_split(config, test=True)
    assert len({im.spec.sample for im in images}) >= 5
    px = np.array([im.pixel_size for im in images])
    assert (px >= 0.2).any() and (px < 0.2).any()
    assert len({im.spec.noise_slope for im in images}) == len(images)


def test_zoom_below_one_gives_finer_pixels_at_the_same_output_width():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(32, 128))
    config = AugmentConfig(out_width=96, min_zoom=0.5, max_zoom=1.3)
    zooms = []
    for _ in range(40):
        a, b, order, zoom = augment_image(t, t, rng, config)
        assert a.shape == (32, 96) and b.shape == (32, 96)
        zooms.append(zoom)
    assert min(zooms) < 0.7 and max(zooms) > 1.1
    with pytest.raises(ConfigurationError, match="min_zoom 2.0"):
        augment_image(t, t, rng, AugmentConfig(out_width=96, min_zoom=2.0, max_zoom=1.5))
    with pytest.raises(ConfigurationError, match="survey_share"):
        dataset.random_specs(2, range(2), rng, survey_share=1.5)


def test_a_warm_start_begins_from_the_given_members():
    import torch

    from autoscope.agents.tip.model import TipEnsemble, TipNet
    from autoscope.studies.tip.train import TrainConfig, train_ensemble

    torch.manual_seed(0)
    start = TipEnsemble([TipNet(width=4, in_channels=3), TipNet(width=4, in_channels=3)])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3, 16, 32)).astype(np.float32)
    y = rng.integers(0, 6, 32)
    config = TrainConfig(members=2, width=4, epochs=1, batch_size=8, lr=1e-12, weight_decay=0.0)
    ens = train_ensemble(x, y, config, init=start)
    for a, b in zip(ens.members, start.members):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            if p.dtype.is_floating_point and "running" not in name:
                assert torch.allclose(p, q, atol=1e-6), name
    cold = train_ensemble(x, y, config)
    w0 = next(iter(cold.members[0].state_dict().values()))
    assert not torch.allclose(w0, next(iter(start.members[0].state_dict().values())))
    with pytest.raises(ConfigurationError, match="has 2 members; the configuration asks for 3"):
        train_ensemble(x, y, TrainConfig(members=3, width=4, epochs=1, batch_size=8), init=start)
