"""Tests for stylize.vector.style: the STROTSS-like loss and its feature extractors."""

from __future__ import annotations

import os

import pytest
import torch

from stylize.engine import ModelCache
from stylize.engine.features import VggFeatures
from stylize.errors import ModelLoadError
from stylize.vector.style import (
    StyleLoss,
    cosine_distance_matrix,
    get_style_features,
    moment_loss,
    relaxed_emd,
    sample_hypercolumns,
)


def test_relaxed_emd_by_hand():
    # row minima 0.5 and 2 -> mean 1.25; column minima 1, 2, 0.5 -> mean 7/6; the larger is 1.25
    distances = torch.tensor([[1.0, 3.0, 0.5], [4.0, 2.0, 5.0]])
    assert float(relaxed_emd(distances)) == pytest.approx(1.25)
    assert float(relaxed_emd(distances.T)) == pytest.approx(1.25)


def test_cosine_distance_and_moments():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    d = cosine_distance_matrix(x, torch.tensor([[3.0, 0.0]]))
    assert torch.allclose(d, torch.tensor([[0.0], [1.0]]))
    samples = torch.randn(50, 4)
    assert float(moment_loss(samples, samples)) == 0.0
    assert float(moment_loss(samples, samples + 1.0)) == pytest.approx(1.0, abs=1e-5)  # mean shift only


def test_hypercolumns_sample_rgb_and_features():
    image = torch.zeros(1, 3, 8, 8)
    image[:, 0] = 1.0
    feature = torch.arange(16.0).view(1, 1, 4, 4)
    columns = sample_hypercolumns(image, [feature], torch.zeros(5, 2))
    assert columns.shape == (5, 4)
    assert torch.allclose(columns[:, :3], torch.tensor([1.0, 0.0, 0.0]).expand(5, 3))
    assert torch.allclose(columns[:, 3], torch.full((5,), 7.5))  # centre of the 4x4 map


def test_vgg_random_features_shapes_and_gradient():
    features = VggFeatures(pretrained=False, layers=(1, 3, 6))  # relu1_1, relu1_2, relu2_1
    maps = features(torch.rand(1, 3, 32, 32))
    assert [tuple(m.shape[1:]) for m in maps] == [(64, 32, 32), (64, 32, 32), (128, 16, 16)]
    loss = StyleLoss(torch.rand(3, 32, 32), features, samples=64)
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    value = loss(image)
    value.backward()
    assert value.ndim == 0 and float(image.grad.abs().sum()) > 0
    assert set(loss.last_terms) == {"style_remd", "style_moment", "style_palette"}


def test_clip_features_and_identical_image_is_near_zero(tiny_clip_spec):
    clip = ModelCache().get(tiny_clip_spec, "cpu")
    features = get_style_features("clip", clip_model=clip)
    style = torch.rand(3, 32, 32)
    loss = StyleLoss(style, features, samples=128, seed=0)
    same = float(loss(style[None]))
    other = float(loss(torch.full((1, 3, 32, 32), 0.9)))
    assert same < other


def test_bad_inputs(tiny_clip_spec):
    with pytest.raises(ValueError, match="unknown style features"):
        get_style_features("gram")
    with pytest.raises(ValueError, match="need a loaded CLIP"):
        get_style_features("clip")
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        StyleLoss(torch.rand(1, 3, 8, 8), torch.nn.Identity())
    loss = StyleLoss(torch.rand(3, 8, 8), lambda x: [x], samples=8)
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        loss(torch.rand(2, 3, 8, 8))


def test_pretrained_vgg_offline_is_one_line_error():
    import torchvision

    name = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    if os.path.isfile(os.path.join(torch.hub.get_dir(), "checkpoints", name)):
        pytest.skip("VGG-16 weights are cached here")
    with pytest.raises(ModelLoadError, match="--set style_features=clip") as info:
        VggFeatures(pretrained=True)
    assert "\n" not in str(info.value)
