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


def test_paired_warps_apply_one_warp_to_every_image_of_a_copy():
    from stylize.engine.augment import paired_warps, warp_copies

    warps = paired_warps(3, (32, 32), torch.Generator().manual_seed(0))
    assert warps.shape == (3, 3, 3) and not torch.allclose(warps[0], warps[1])
    image = torch.rand(1, 3, 32, 32)
    out = warp_copies(torch.cat([image, image, torch.rand(1, 3, 32, 32)]), warps)
    assert out.shape == (9, 3, 32, 32)
    for copy in range(3):  # the same picture under the same warp: the same result
        torch.testing.assert_close(out[3 * copy], out[3 * copy + 1])
    assert not torch.allclose(out[0], out[3])
    # No distortion and a full crop: the identity.
    identity = paired_warps(2, (32, 32), torch.Generator().manual_seed(1), distortion=0.0, crop_scale=1.0)
    torch.testing.assert_close(warp_copies(image, identity), image.repeat(2, 1, 1, 1), atol=1e-4, rtol=0)
    # Outside pixels take the fill value.
    squeezed = torch.eye(3).unsqueeze(0).clone()
    squeezed[0, 0, 0] = squeezed[0, 1, 1] = 0.5
    assert float(warp_copies(torch.zeros(1, 3, 32, 32), squeezed, fill=1.0)[0, :, -1, -1].min()) == 1.0
    with pytest.raises(ValueError, match="distortion"):
        paired_warps(1, (8, 8), torch.Generator(), distortion=1.0)
