"""The committed test CLIPs: loadable through the engine, accurate on held-out pictures, and the
trainer script still runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from stylize.engine import ClipEngine, ModelCache
from stylize.testing.shapes import SHAPES, COLOURS, all_captions, draw_shapes, short_captions

ROOT = Path(__file__).resolve().parents[2]
CLIP_ASSETS = ROOT / "tests" / "assets" / "clip"
HELD_OUT_SEED = 424242  # neither model's training draw


def _load_trainer_script():
    spec = importlib.util.spec_from_file_location("train_test_clip", ROOT / "tools" / "train_test_clip.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["trainer", "judge"])
def test_committed_model_is_small_and_loads_as_local_dir(name):
    folder = CLIP_ASSETS / name
    config = json.loads((folder / "open_clip_config.json").read_text())
    assert {"model_cfg", "preprocess_cfg"} <= set(config)
    assert (folder / "open_clip_model.safetensors").stat().st_size <= 10 * 2**20
    engine = ClipEngine([f"local-dir:{folder}"], "a red circle", device="cpu")
    assert engine.clip_models[0].image_size[0] == config["model_cfg"]["vision_cfg"]["image_size"]


def test_trainer_and_judge_differ():
    trainer = json.loads((CLIP_ASSETS / "trainer" / "open_clip_config.json").read_text())
    judge = json.loads((CLIP_ASSETS / "judge" / "open_clip_config.json").read_text())
    assert trainer["model_cfg"]["vision_cfg"] != judge["model_cfg"]["vision_cfg"]
    assert trainer["preprocess_cfg"]["mean"] != judge["preprocess_cfg"]["mean"]


@pytest.mark.parametrize("name", ["trainer", "judge"])
def test_zero_shot_accuracy_on_fresh_pictures(name):
    engine = ClipEngine([f"local-dir:{CLIP_ASSETS / name}"], "a red circle", device="cpu")
    batch = draw_shapes(1000, 64, torch.Generator().manual_seed(HELD_OUT_SEED))
    similarities = engine.score_texts(batch.images, short_captions())[0]
    accuracy = float((similarities.argmax(-1) == batch.short_index()).float().mean())
    assert accuracy >= 0.90, f"{name}: zero-shot accuracy {accuracy:.3f} on 'a {{colour}} {{shape}}'"


def test_judge_ranks_full_captions_with_pattern():
    engine = ClipEngine([f"local-dir:{CLIP_ASSETS / 'judge'}"], "a red circle", device="cpu")
    batch = draw_shapes(300, 48, torch.Generator().manual_seed(HELD_OUT_SEED + 1))
    similarities = engine.score_texts(batch.images, all_captions())[0]
    pattern_accuracy = float((similarities.argmax(-1) % 3 == batch.pattern).float().mean())
    assert pattern_accuracy >= 0.7


def test_training_script_runs_and_is_deterministic(tmp_path):
    trainer = _load_trainer_script()
    first = trainer.train("trainer", tmp_path / "a", steps=2, batch_size=8, pool_size=16, log_every=0, eval_samples=16)
    second = trainer.train("trainer", tmp_path / "b", steps=2, batch_size=8, pool_size=16, log_every=0, eval_samples=16)
    assert first["steps"] == 2 and 0.0 <= first["held_out_accuracy"]["colour"] <= 1.0
    assert (tmp_path / "a" / "open_clip_model.safetensors").read_bytes() == (tmp_path / "b" / "open_clip_model.safetensors").read_bytes()
    # the written folder loads through the same path as real weights
    engine = ClipEngine([f"local-dir:{tmp_path / 'a'}"], "a red circle", device="cpu", model_cache=ModelCache())
    assert engine.clip_models[0].image_size == (64, 64)


def test_captions_cover_the_world():
    assert len(short_captions()) == len(COLOURS) * len(SHAPES) == 32
    assert len(all_captions()) == 96 and "a blue striped square" in all_captions()
