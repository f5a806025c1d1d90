"""One CLIP pass for many pooled groups, the memory budget, and device selection."""

from __future__ import annotations

import pytest
import torch

from stylize.engine import ClipEngine, ModelCache, PromptSet
from stylize.engine.engine import default_clip_batch
from stylize.errors import InputError, ModelLoadError
from stylize.utils import resolve_device


@pytest.fixture(scope="module")
def cache():
    return ModelCache()


@pytest.fixture(scope="module")
def specs(tiny_clip_pair):
    return [f"local-dir:{folder}" for folder in tiny_clip_pair]  # two models: an ensemble


def _engine(specs, cache, **options):
    prompts = PromptSet.build(["a red circle", "a blue square"], ["a mess"])
    return ClipEngine(specs, prompts, device="cpu", model_cache=cache, **options)


def _per_group(engine, images, groups):
    return torch.stack([engine(group, pool=True).loss for group in images.chunk(groups)])


@pytest.mark.slow
def test_score_groups_equals_one_call_per_group_in_value_and_gradient(specs, cache):
    engine = _engine(specs, cache)
    images = torch.rand(9 * 5, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    weights = torch.linspace(0.5, 2.0, 9)  # groups weighted differently, as global/local/geometry are
    reference_input = images.clone().requires_grad_()
    reference = _per_group(engine, reference_input, 9)
    (reference * weights).sum().backward()
    batched_input = images.clone().requires_grad_()
    scored = engine.score_groups(batched_input, 9, pool=True)
    (scored.losses * weights).sum().backward()
    torch.testing.assert_close(scored.losses, reference, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(batched_input.grad, reference_input.grad, atol=1e-7, rtol=1e-4)
    assert batched_input.grad.abs().sum() > 0
    # each group's similarities are those of its own call
    last = engine(images[-5:], pool=True)
    for model, sims in last.similarities.items():
        assert scored.outputs[-1].similarities[model] == pytest.approx(sims, abs=1e-6)


@pytest.mark.slow
def test_score_groups_checks_the_split(specs, cache):
    with pytest.raises(ValueError, match="3 equal groups"):
        _engine(specs, cache).score_groups(torch.rand(8, 3, 32, 32), 3)


@pytest.mark.slow
def test_clip_batch_chunks_give_the_same_loss_and_gradient(specs, cache):
    images = torch.rand(10, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    results = []
    for clip_batch in (0, 3):  # 0: auto, one batch on the CPU; 3: four checkpointed chunks
        engine = _engine(specs, cache, clip_batch=clip_batch)
        pixels = images.clone().requires_grad_()
        loss = engine.score_groups(pixels, 2).losses.sum()
        loss.backward()
        results.append((loss.detach(), pixels.grad))
    assert _engine(specs, cache, clip_batch=3).clip_batch == 3
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(results[0][1], results[1][1], atol=1e-7, rtol=1e-4)


def test_chunks_are_encoded_at_most_clip_batch_at_a_time(specs, cache, monkeypatch):
    engine = _engine(specs[:1], cache, clip_batch=4)
    sizes = []
    real = engine._encoders[0]
    engine._encoders[0] = lambda chunk: sizes.append(chunk.shape[0]) or real(chunk)
    engine.encode(torch.rand(10, 3, 32, 32))
    assert sizes == [4, 4, 2]


def test_out_of_memory_names_the_setting_to_lower(specs, cache):
    engine = _engine(specs[:1], cache, clip_batch=64)

    def boom(chunk):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    engine._encoders[0] = boom
    with pytest.raises(ModelLoadError, match=r"lower clip_batch \(e\.g\. --set clip_batch=32\)"):
        engine(torch.rand(2, 3, 32, 32))
    with pytest.raises(InputError, match="clip_batch"):
        _engine(specs, cache, clip_batch=-1)


def test_similarities_stay_tensors_until_read(specs, cache):
    out = _engine(specs[:1], cache)(torch.rand(2, 3, 32, 32))
    sims = next(iter(out.similarity_tensors.values()))
    assert all(isinstance(value, torch.Tensor) and value.ndim == 0 for value in sims.values())
    assert out.mean_similarity("a red circle") == pytest.approx(float(out.similarity_tensor("a red circle")))


def test_device_resolution_covers_cuda_mps_and_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto").type == "mps" and resolve_device("mps").type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(InputError, match="no MPS"):
        resolve_device("mps")
    with pytest.raises(InputError, match="CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"


def test_default_clip_batch_by_device(monkeypatch):
    assert default_clip_batch(torch.device("cpu")) >= 1024  # no chunking on the CPU
    assert default_clip_batch(torch.device("mps")) == 32

    class Props:
        total_memory = 8 * 2**30

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: Props())
    assert default_clip_batch(torch.device("cuda")) == 64
