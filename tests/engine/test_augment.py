from __future__ import annotations

import pytest
import torch

from stylize.engine import AUGMENT_PRESETS, Augmenter


@pytest.mark.parametrize("preset", sorted(AUGMENT_PRESETS))
def test_same_seed_same_augmentations(preset):
    images = torch.rand(2, 3, 40, 40)
    first = Augmenter(preset, copies=3, seed=7)
    second = Augmenter(preset, copies=3, seed=7)
    a1, a2 = first(images), first(images)
    torch.testing.assert_close(second(images), a1)
    torch.testing.assert_close(second(images), a2)
    assert a1.shape == (6, 3, 40, 40)


def test_different_seeds_differ_and_global_rng_untouched():
    images = torch.rand(1, 3, 40, 40)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = Augmenter("clipdraw", copies=2, seed=1)(images)
    assert torch.equal(torch.rand(1), expected_next)
    b = Augmenter("clipdraw", copies=2, seed=2)(images)
    assert not torch.allclose(a, b)


def test_perspective_fills_with_white():
    black = torch.zeros(1, 3, 64, 64)
    out = Augmenter("clipdraw", copies=4, seed=0)(black)
    # perspective always moves some corner inwards: the uncovered area must be white, not black
    assert out.max() == pytest.approx(1.0, abs=1e-5)
    assert out.min() == pytest.approx(0.0, abs=1e-5)


def test_output_size_and_gradients():
    images = torch.rand(2, 3, 50, 70, requires_grad=True)
    out = Augmenter("text2mesh_local", copies=2, size=32, seed=0, local_area=0.1)(images)
    assert out.shape == (4, 3, 32, 32)
    out.sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        Augmenter("nope")
    with pytest.raises(ValueError, match="copies"):
        Augmenter("clipdraw", copies=0)
