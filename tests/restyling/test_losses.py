"""Tests for stylize.restyling.losses: TV, random patches, the thresholded patch loss, content loss."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from stylize.engine.losses import directional_loss
from stylize.errors import ModelLoadError
from stylize.restyling.losses import (
    CONTENT_FEATURES,
    ContentLoss,
    get_content_features,
    patch_directional_loss,
    random_patches,
    total_variation,
)


def test_total_variation_by_hand():
    image = torch.zeros(1, 1, 2, 2)
    image[0, 0, 0, 0] = 1.0  # one bright corner pixel
    # horizontal, vertical and the "\" diagonal each see one difference of 1; "/" sees none.
    assert float(total_variation(image)) == pytest.approx(3.0)
    assert float(total_variation(torch.full((2, 3, 5, 5), 0.7))) == 0.0
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        total_variation(torch.zeros(3, 4, 4))


def test_total_variation_gradcheck():
    image = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(total_variation, (image,))


def test_random_patches_are_crops_and_follow_the_generator():
    image = torch.arange(3 * 10 * 12, dtype=torch.float32).view(1, 3, 10, 12)
    patches = random_patches(image, 5, 4, torch.Generator().manual_seed(3))
    assert patches.shape == (5, 3, 4, 4)
    again = random_patches(image, 5, 4, torch.Generator().manual_seed(3))
    assert torch.equal(patches, again)
    for patch in patches:  # each patch is a contiguous window of the image
        top, left = divmod(int(patch[0, 0, 0]), 12)
        assert torch.equal(patch, image[0, :, top : top + 4, left : left + 4])
    with pytest.raises(ValueError, match="patch size"):
        random_patches(image, 1, 11, torch.Generator())


def test_directional_loss_per_image():
    emb = F.normalize(torch.randn(4, 8), dim=-1)
    source, target, src_text = (F.normalize(torch.randn(8), dim=-1) for _ in range(3))
    each = directional_loss(emb, source, target, src_text, reduction="none")
    assert each.shape == (4,)
    assert float(each.mean()) == pytest.approx(float(directional_loss(emb, source, target, src_text)), abs=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        directional_loss(emb, source, target, src_text, reduction="sum")


def test_patch_loss_rejects_patches_below_the_threshold():
    source_text, target_text = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    source_image = torch.tensor([0.0, 0.0, 1.0])
    # Patch moves: exactly along the text direction (loss 0), opposed (loss 2), sideways (loss 1).
    text_direction = F.normalize(target_text - source_text, dim=0)
    moves = torch.stack([text_direction, -text_direction, torch.tensor([0.0, 0.0, 1.0])])
    patches = source_image + moves
    loss, kept = patch_directional_loss(patches, source_image, target_text, source_text, threshold=0.7)
    assert float(loss) == pytest.approx((0.0 + 2.0 + 1.0) / 3, abs=1e-5) and kept == pytest.approx(2 / 3)
    loss, kept = patch_directional_loss(patches, source_image, target_text, source_text, threshold=1.5)
    assert float(loss) == pytest.approx(2.0 / 3, abs=1e-5) and kept == pytest.approx(1 / 3)


def test_content_loss_is_zero_on_the_content_and_has_gradients():
    features = get_content_features("vgg-random")
    content = torch.rand(1, 3, 32, 32)
    loss = ContentLoss(features, content)
    assert float(loss(content)) == pytest.approx(0.0, abs=1e-8)
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    value = loss(image)
    value.backward()
    assert float(value.detach()) > 0 and float(image.grad.abs().sum()) > 0
    assert [m.shape[1] for m in features(content)] == [512, 512]  # conv4_2, relu5_2


def test_content_features_names_and_clip_needs_a_model():
    assert set(CONTENT_FEATURES) == {"vgg", "vgg-random", "clip"}
    with pytest.raises(ValueError, match="unknown content features"):
        get_content_features("gram")
    with pytest.raises(ValueError, match="need a loaded CLIP model"):
        get_content_features("clip")


def test_pretrained_vgg19_offline_is_one_line_error_naming_the_setting():
    import torchvision

    name = torchvision.models.VGG19_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    if os.path.isfile(os.path.join(torch.hub.get_dir(), "checkpoints", name)):
        pytest.skip("VGG-19 weights are cached here")
    with pytest.raises(ModelLoadError, match="--set content_features=clip") as info:
        get_content_features("vgg")
    assert "VGG-19" in str(info.value) and "\n" not in str(info.value)
