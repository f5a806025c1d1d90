from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stylize.engine import ModelCache, load_clip, parse_model_spec
from stylize.engine.models import resize_and_crop
from stylize.errors import InputError, ModelLoadError


def test_parse_builtin_tag_and_weight():
    spec = parse_model_spec("ViT-B-32:openai@0.25")
    assert (spec.source, spec.arch, spec.pretrained, spec.weight) == ("pretrained", "ViT-B-32", "openai", 0.25)
    assert spec.name == "ViT-B-32:openai"
    assert str(spec) == "ViT-B-32:openai@0.25"


def test_parse_random_file_localdir_hub(tmp_path, tiny_clip_dir):
    assert parse_model_spec("ViT-B-32:random").source == "random"
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    spec = parse_model_spec(f"ViT-B-32:{weights}")
    assert (spec.source, spec.pretrained) == ("file", str(weights))
    spec = parse_model_spec(f"local-dir:{tiny_clip_dir}@2")
    assert (spec.source, spec.weight) == ("local-dir", 2.0)
    assert parse_model_spec("hf-hub:laion/CLIP-ViT-B-32").arch == "laion/CLIP-ViT-B-32"


@pytest.mark.parametrize(
    "bad, words",
    [
        ("", "empty"),
        ("ViT-B-32", "malformed"),
        ("NoSuchNet:openai", "unknown architecture"),
        ("ViT-B-32:nosuchtag", "unknown pretrained tag"),
        ("ViT-B-32:/no/such/file.pt", "does not exist"),
        ("local-dir:/no/such/dir", "does not exist"),
        ("hf-hub:justone", "hf-hub:ORG/NAME"),
        ("ViT-B-32:openai@-1", "weight must be > 0"),
    ],
)
def test_parse_errors_name_the_problem(bad, words):
    with pytest.raises(InputError, match=words):
        parse_model_spec(bad)


def test_local_dir_loads_frozen_with_its_preprocess_cfg(tiny_clip_pair):
    first, second = tiny_clip_pair
    model = load_clip(f"local-dir:{second}")
    assert model.image_size == (48, 48)
    assert model.mean == pytest.approx((0.1, 0.2, 0.3))
    assert model.std == pytest.approx((0.5, 0.5, 0.5))
    assert not model.model.training
    assert all(not p.requires_grad for p in model.model.parameters())


def test_preprocess_uses_each_models_own_constants(tiny_clip_pair):
    images = torch.rand(2, 3, 40, 60)
    for folder in tiny_clip_pair:
        model = load_clip(f"local-dir:{folder}")
        size = model.image_size[0]
        # manual: resize the short side to `size`, centre crop, normalise with this model's constants
        new_w = round(60 * size / 40)
        resized = F.interpolate(images, size=(size, new_w), mode="bicubic", align_corners=False, antialias=True)
        left = (new_w - size) // 2
        cropped = resized[:, :, :, left : left + size]
        mean = torch.tensor(model.mean).view(1, 3, 1, 1)
        std = torch.tensor(model.std).view(1, 3, 1, 1)
        expected = F.normalize(model.model.encode_image((cropped - mean) / std), dim=-1)
        torch.testing.assert_close(model.encode_image(images), expected)


def test_resize_and_crop_modes():
    images = torch.arange(2 * 3 * 8 * 16, dtype=torch.float32).reshape(2, 3, 8, 16)
    assert resize_and_crop(images, (4, 4)).shape == (2, 3, 4, 4)
    assert resize_and_crop(images, (4, 4), resize_mode="squash").shape == (2, 3, 4, 4)
    padded = resize_and_crop(images, (8, 8), resize_mode="longest")
    assert padded.shape == (2, 3, 8, 8)
    assert torch.all(padded[:, :, :2] == 0) and torch.all(padded[:, :, -2:] == 0)
    assert resize_and_crop(images, (8, 16)) is images


def test_model_cache_loads_once(tiny_clip_spec):
    cache = ModelCache()
    first = cache.get(tiny_clip_spec)
    second = cache.get(tiny_clip_spec + "@3")  # the weight is not part of the identity
    assert first is second and len(cache) == 1


def test_offline_error_is_immediate_and_names_the_model(tmp_path):
    with pytest.raises(ModelLoadError) as info:
        load_clip("ViT-B-32:openai", cache_dir=str(tmp_path), allow_download=False)
    message = str(info.value)
    assert "ViT-B-32:openai" in message and "local-dir:" in message and "\n" not in message


def test_offline_env_blocks_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLIZE_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="downloads are disabled"):
        load_clip("ViT-B-32:laion400m_e31", cache_dir=str(tmp_path))


@pytest.mark.slow
def test_weights_file_spec_loads_those_weights(tmp_path, tiny_clip_dir):
    # A checkpoint file for a built-in architecture: save random ViT-S-32 weights with a marker
    # (the smallest built-in ViT, 63 M parameters: RN50's 102 M took a test worker past 2 GB).
    import open_clip

    state = open_clip.create_model("ViT-S-32").state_dict()
    state["logit_scale"] = torch.tensor(1.2345)
    path = tmp_path / "vit-s-32.pt"
    torch.save(state, path)
    del state
    loaded = load_clip(f"ViT-S-32:{path}")
    assert float(loaded.model.logit_scale) == pytest.approx(1.2345)


def test_check_weights_fails_as_loading_would_without_building_a_model(tmp_path, tiny_clip_spec):
    from stylize.engine.models import check_weights

    check_weights(tiny_clip_spec)  # a folder with weights: nothing to say
    check_weights("ViT-B-32:random")
    with pytest.raises(ModelLoadError, match="not cached and downloads are disabled"):
        check_weights("ViT-B-32:openai", cache_dir=str(tmp_path))  # offline (conftest), empty cache
