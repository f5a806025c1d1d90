from __future__ import annotations

import pytest
import torch

from stylize.engine import ClipEngine, Direction, EmbeddingCache, ImagePrompt, ModelCache, PromptSet
from stylize.errors import InputError


@pytest.fixture(scope="module")
def models(tiny_clip_pair):
    return [f"local-dir:{folder}" for folder in tiny_clip_pair]


def test_loss_is_differentiable_and_finite(models):
    engine = ClipEngine(models, "a red circle", device="cpu")
    images = torch.rand(3, 3, 37, 53, requires_grad=True)
    out = engine(images)
    assert out.loss.ndim == 0
    out.loss.backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert set(out.similarities) == set(engine.model_names)


def test_similarities_match_manual_cosine(models):
    engine = ClipEngine(models[:1], ["a red circle", "a blue square"], device="cpu")
    images = torch.rand(2, 3, 32, 32)
    out = engine(images)
    model = engine.clip_models[0]
    manual = (model.encode_image(images) @ model.encode_text(["a red circle"]).T).mean()
    assert out.similarities[model.spec.name]["a red circle"] == pytest.approx(float(manual), abs=1e-6)
    # cosine loss of two equally weighted prompts = mean of (1 - cos)
    sims = out.similarities[model.spec.name]
    assert float(out.loss) == pytest.approx(1 - (sims["a red circle"] + sims["a blue square"]) / 2, abs=1e-6)


def test_ensemble_weighting(models):
    images = torch.rand(2, 3, 32, 32)
    cache = ModelCache()
    loss_a = float(ClipEngine([models[0]], "a cat", device="cpu", model_cache=cache)(images).loss)
    loss_b = float(ClipEngine([models[1]], "a cat", device="cpu", model_cache=cache)(images).loss)
    both = ClipEngine([models[0] + "@1", models[1] + "@3"], "a cat", device="cpu", model_cache=cache)
    assert float(both(images).loss) == pytest.approx((loss_a + 3 * loss_b) / 4, abs=1e-6)
    assert len(cache) == 2


def test_prompt_weights(models):
    images = torch.rand(2, 3, 32, 32)
    prompts = PromptSet.build([("a cat"), ("a dog")])
    weighted = PromptSet(texts=[prompts.texts[0], type(prompts.texts[1])("a dog", 3.0)])
    engine = ClipEngine(models[:1], weighted, device="cpu")
    sims = engine(images).similarities[engine.model_names[0]]
    expected = ((1 - sims["a cat"]) + 3 * (1 - sims["a dog"])) / 4
    assert float(engine(images).loss) == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
def test_negative_prompt_is_pushed_away(models):
    torch.manual_seed(0)
    start = torch.rand(1, 3, 32, 32)
    plain = ClipEngine(models[:1], "a red circle", device="cpu")
    with_negative = ClipEngine(models[:1], PromptSet.build("a red circle", "a blue square", negative_weight=0.5), device="cpu")
    name = plain.model_names[0]
    out = with_negative(start)
    neg_cos = out.similarities[name]["a blue square"]
    # the loss carries +w * cos(image, negative)
    assert float(out.loss) == pytest.approx(float(plain(start).loss) + 0.5 * neg_cos, abs=1e-6)

    def optimise(engine):
        pixels = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([pixels], lr=0.02)
        for _ in range(15):
            opt.zero_grad()
            engine(pixels.clamp(0, 1)).loss.backward()
            opt.step()
        return with_negative(pixels.detach().clamp(0, 1)).similarities[name]["a blue square"]

    assert optimise(with_negative) < optimise(plain)


def test_image_prompt_pulls_towards_reference(models):
    reference = torch.rand(3, 32, 32)
    engine = ClipEngine(models[:1], PromptSet(images=[ImagePrompt(reference, name="ref")]), device="cpu")
    same = engine(reference.unsqueeze(0)).similarities[engine.model_names[0]]["ref"]
    other = engine(torch.rand(1, 3, 32, 32)).similarities[engine.model_names[0]]["ref"]
    assert same == pytest.approx(1.0, abs=1e-5) and other < same


def test_directional_needs_source_and_is_finite(models):
    engine = ClipEngine(models[:1], PromptSet.build(direction=("a photo", "a sketch")), device="cpu")
    images = torch.rand(2, 3, 32, 32, requires_grad=True)
    with pytest.raises(RuntimeError, match="set_source"):
        engine(images)
    engine.set_source(torch.rand(2, 3, 32, 32))
    out = engine(images)
    out.loss.backward()
    assert 0.0 <= float(out.loss.detach()) <= 2.0 and torch.isfinite(images.grad).all()


@pytest.mark.slow
def test_embedding_cache_reused(models):
    cache = EmbeddingCache()
    engine = ClipEngine(models, ["a cat", "a dog"], negatives=["a mess"], device="cpu", embedding_cache=cache)
    engine(torch.rand(1, 3, 32, 32))
    computed = cache.misses
    assert computed == 2 * 3  # two models x three texts
    engine(torch.rand(1, 3, 32, 32))
    ClipEngine(models, ["a cat"], device="cpu", embedding_cache=cache)(torch.rand(1, 3, 32, 32))
    assert cache.misses == computed


def test_pooled_scoring_compares_the_mean_embedding(models):
    engine = ClipEngine(models[:1], "a cat", device="cpu")
    images = torch.rand(4, 3, 32, 32)
    model = engine.clip_models[0]
    mean = torch.nn.functional.normalize(model.encode_image(images).mean(0), dim=-1)
    expected = 1 - float(mean @ model.encode_text(["a cat"])[0])
    assert float(engine(images, pool=True).loss) == pytest.approx(expected, abs=1e-6)


def test_bad_inputs(models):
    with pytest.raises(InputError, match="empty prompt"):
        ClipEngine(models[:1], "  ", device="cpu")
    with pytest.raises(InputError, match="no prompt"):
        ClipEngine(models[:1], [], device="cpu")
    with pytest.raises(InputError, match="twice"):
        ClipEngine([models[0], models[0] + "@2"], "a cat", device="cpu")
    engine = ClipEngine(models[:1], "a cat", device="cpu")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        engine(torch.rand(3, 32, 32))
    with pytest.raises(TypeError, match="floating-point"):
        engine(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    assert isinstance(Direction("a", "b"), Direction)
