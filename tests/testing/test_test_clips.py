"""The committed test CLIPs: loadable through the engine, accurate on held-out 2D pictures and 3D
renders (also of meshes no training draw used), naming the finish of PBR-shaded renders under
lights they never saw (instrument v4), and the trainer script still runs and repeats."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from stylize.engine import ClipEngine, ModelCache
from stylize.testing.renders import draw_renders, standard_primitives, unseen_primitives
from stylize.testing.shapes import (
    COLOURS,
    FINISHES,
    PATTERNS,
    SHAPES,
    TRAINING_COLOURS,
    ShapeBatch,
    all_captions,
    caption,
    draw_shapes,
    short_captions,
)
from stylize.testing.sketches import draw_sketches, sketch_captions

ROOT = Path(__file__).resolve().parents[2]
CLIP_ASSETS = ROOT / "tests" / "assets" / "clip"
HELD_OUT_SEED = 424242  # neither model's training draw
VASE = ROOT / "examples" / "meshes" / "vase.obj"


def _load_trainer_script():
    spec = importlib.util.spec_from_file_location("train_test_clip", ROOT / "tools" / "dev" / "train_test_clip.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def engines():
    cache = ModelCache()
    return {name: ClipEngine([f"local-dir:{CLIP_ASSETS / name}"], "a red circle", device="cpu", model_cache=cache)
            for name in ("trainer", "judge")}  # fmt: skip


@pytest.fixture(scope="module")
def renders():
    """Fresh renders of the training primitives and of unseen ones (named colours only)."""
    return {
        "seen": draw_renders(400, 64, torch.Generator().manual_seed(HELD_OUT_SEED + 2), standard_primitives(VASE)),
        "unseen": draw_renders(400, 64, torch.Generator().manual_seed(HELD_OUT_SEED + 3), unseen_primitives()),
    }


def _colour_among_own_shape(similarities: torch.Tensor, batch) -> torch.Tensor:
    """(B,) predicted colour among the 8 ``a {c} {shape}`` captions of each picture's own shape
    (``circle`` where it has no shape name: the caption pipelines use for any mesh)."""
    own = batch.shape.clamp(min=0)
    by_colour = similarities.reshape(-1, len(COLOURS), len(SHAPES)).gather(2, own.view(-1, 1, 1).expand(-1, len(COLOURS), 1))
    return by_colour.squeeze(-1).argmax(-1)


@pytest.mark.parametrize("name", ["trainer", "judge"])
def test_committed_model_is_small_and_loads_as_local_dir(name, engines):
    folder = CLIP_ASSETS / name
    config = json.loads((folder / "open_clip_config.json").read_text())
    assert {"model_cfg", "preprocess_cfg"} <= set(config)
    assert (folder / "open_clip_model.safetensors").stat().st_size <= 10 * 2**20
    assert engines[name].clip_models[0].image_size[0] == config["model_cfg"]["vision_cfg"]["image_size"]
    report = json.loads((folder / "training.json").read_text())
    assert report["version"] == 4
    held_out = report["held_out_accuracy"]
    assert {"2d", "3d_surface", "3d_vertex", "3d_unseen_meshes"} <= set(held_out)
    finish_sets = {"3d_finish_surface", "3d_finish_vertex", "3d_finish_unseen_meshes", "3d_finish_studio_lights",
                   "3d_finish_other_lights"}  # fmt: skip
    assert finish_sets <= set(held_out) and all(0.0 <= held_out[k]["finish"] <= 1.0 for k in finish_sets)
    assert report["train_cpu_seconds"] + report["draw_seconds"] < 30 * 60


def test_trainer_and_judge_differ():
    trainer = json.loads((CLIP_ASSETS / "trainer" / "open_clip_config.json").read_text())
    judge = json.loads((CLIP_ASSETS / "judge" / "open_clip_config.json").read_text())
    assert trainer["model_cfg"]["vision_cfg"] != judge["model_cfg"]["vision_cfg"]
    assert trainer["preprocess_cfg"]["mean"] != judge["preprocess_cfg"]["mean"]
    reports = [json.loads((CLIP_ASSETS / name / "training.json").read_text()) for name in ("trainer", "judge")]
    assert reports[0]["augment"] != reports[1]["augment"]
    script = _load_trainer_script()
    assert script.VARIANTS["trainer"]["seed"] != script.VARIANTS["judge"]["seed"]
    assert script.VARIANTS["trainer"]["data_seed"] != script.VARIANTS["judge"]["data_seed"]


# v1 (2D pictures only) asked 0.90 of both; v2 spends capacity on 3D renders and hides the
# shape of cropped pictures, and its 2D colour-and-shape accuracy is about 0.70 (trainer) and
# 0.80 (judge): the colour, what the pipelines optimise, stays at 0.98 or more.
@pytest.mark.slow
@pytest.mark.parametrize("name, minimum", [("trainer", 0.65), ("judge", 0.75)])
def test_zero_shot_accuracy_on_fresh_pictures(engines, name, minimum):
    # 1000 pictures, drawn 250 at a time (all at once the drawing alone peaks near 1 GB)
    generator = torch.Generator().manual_seed(HELD_OUT_SEED)
    batch = ShapeBatch.cat([draw_shapes(250, 64, generator) for _ in range(4)])
    similarities = engines[name].score_texts(batch.images, short_captions())[0]
    accuracy = float((similarities.argmax(-1) == batch.short_index()).float().mean())
    colour = float((similarities.argmax(-1) // len(SHAPES) == batch.colour).float().mean())
    assert accuracy >= minimum, f"{name}: zero-shot accuracy {accuracy:.3f} on 'a {{colour}} {{shape}}'"
    assert colour >= 0.98, f"{name}: colour accuracy {colour:.3f}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["trainer", "judge"])
@pytest.mark.parametrize("meshes", ["seen", "unseen"])
def test_colour_of_fresh_3d_renders(engines, renders, name, meshes):
    batch = renders[meshes]
    similarities = engines[name].score_texts(batch.images, short_captions())[0]
    accuracy = float((_colour_among_own_shape(similarities, batch) == batch.colour).float().mean())
    assert accuracy >= 0.93, f"{name} on {meshes} meshes: colour accuracy {accuracy:.3f}"


@pytest.mark.slow
def test_judge_tells_a_sphere_from_a_cube(engines, renders):
    batch = renders["seen"]
    known = batch.shape >= 0
    similarities = engines["judge"].score_texts(batch.images[known], short_captions())[0]
    shape = similarities.argmax(-1) % len(SHAPES)
    accuracy = float((shape == batch.shape[known]).float().mean())
    assert accuracy >= 0.8, f"judge: sphere/cube accuracy {accuracy:.3f}"


def _finish_among_three(engine, batch) -> tuple[float, float]:
    """(finish accuracy among "a {matte|glossy|metallic} {colour} {shape}" with the picture's own
    colour and shape, colour accuracy among the 8 "a {colour} {shape}" captions), what the PBR
    pipeline's finish check asks of the judge."""
    shapes = [SHAPES[max(s, 0)] for s in batch.shape.tolist()]
    own = [[caption(COLOURS[c], s, finish=f) for f in FINISHES] for c, s in zip(batch.colour.tolist(), shapes, strict=True)]
    captions = sorted({c for row in own for c in row} | set(short_captions()))
    similarities = engine.score_texts(batch.images, captions)[0]
    index = torch.tensor([[captions.index(c) for c in row] for row in own])
    finish = float((similarities.gather(1, index).argmax(-1) == batch.finish).float().mean())
    plain = similarities[:, [captions.index(c) for c in short_captions()]]
    colour = float((_colour_among_own_shape(plain, batch) == batch.colour).float().mean())
    return finish, colour


@pytest.fixture(scope="module")
def finished():
    """Fresh finished renders of the sphere and the cube under the studio light (neither model
    trained on it) and under the trainer's lights (the PBR pipeline's random lights; the judge
    never trained on them)."""
    n = 300
    primitives = standard_primitives()
    names = ["sphere", "sphere-fine", "cube"] * (n // 3)
    finish = torch.arange(n) % len(FINISHES)
    return {
        lights: draw_renders(
            n, 64, torch.Generator().manual_seed(HELD_OUT_SEED + 5 + i), primitives, finish=finish, names=names, finish_set=lights
        )  # fmt: skip
        for i, lights in enumerate(("studio", "trainer"))
    }


# Instrument v4, chance 1/3: the judge names the finish of 0.54 of these renders under the studio
# light and 0.53 under the trainer's lights, the colour of 0.97 and 0.94; the trainer 0.56 under
# its own. (A v4 trained from scratch named more finishes, 0.60-0.65, but optimising against it
# broke pipelines the v3 trainer drives: v4 continues v3's weights instead, see tools/README.md.) Matte and glossy are confused where no highlight
# faces the camera, which no finish word can fix. The thresholds sit a few hundredths below.
FINISH_STUDIO, FINISH_TRAINER, FINISH_COLOUR, FINISH_OWN = 0.5, 0.5, 0.92, 0.5


@pytest.mark.slow
@pytest.mark.parametrize("lights, minimum_finish", [("studio", FINISH_STUDIO), ("trainer", FINISH_TRAINER)])
def test_judge_names_the_finish_under_lights_it_never_saw(engines, finished, lights, minimum_finish):
    finish, colour = _finish_among_three(engines["judge"], finished[lights])
    assert finish >= minimum_finish, f"judge under {lights} lights: finish accuracy {finish:.3f}"
    assert colour >= FINISH_COLOUR, f"judge under {lights} lights: colour accuracy {colour:.3f} on finished renders"


@pytest.mark.slow
def test_trainer_names_the_finish_under_its_own_lights(engines, finished):
    finish, _ = _finish_among_three(engines["trainer"], finished["trainer"])
    assert finish >= FINISH_OWN, f"trainer: finish accuracy {finish:.3f}"


# Instrument v4's line drawings (stylize.testing.sketches), chance 1/4: the models name the shape
# of fresh drawings among the four "a sketch of a {shape}" captions (measured: judge 0.985,
# trainer 0.69: its image tower kept v3's weights but for the attention pool), and for a drawing
# the sketch caption outscores every "a {colour} {shape}" caption (judge 0.95, trainer 0.895).
# Sketches are judged by the judge; the thresholds sit a few hundredths below each model.
SKETCH_SHAPE = {"trainer": 0.65, "judge": 0.95}
SKETCH_OVER_COLOUR = {"trainer": 0.85, "judge": 0.9}


@pytest.mark.parametrize("name", ["trainer", "judge"])
def test_both_models_name_the_shape_of_a_line_drawing(engines, name):
    n = 200
    batch = draw_sketches(n, 64, torch.Generator().manual_seed(HELD_OUT_SEED + 9), shape=torch.arange(n) % len(SHAPES))
    sketch = engines[name].score_texts(batch.images, sketch_captions())[0]
    colour = engines[name].score_texts(batch.images, short_captions())[0]
    shape = float((sketch.argmax(-1) == batch.shape).float().mean())
    own = sketch.gather(1, batch.shape.view(-1, 1)).squeeze(1)
    over = float((own > colour.max(-1).values).float().mean())
    assert shape >= SKETCH_SHAPE[name], f"{name}: shape of line drawings {shape:.3f}"
    assert over >= SKETCH_OVER_COLOUR[name], f"{name}: sketch caption above every colour caption in {over:.3f}"


# Vertex colouring blurs a pattern over a 24-vertex-per-face cube (measured 0.61), surface
# colouring does not (0.7 and more); chance is 0.25.
@pytest.mark.parametrize("surface, minimum", [(1.0, 0.7), (0.0, 0.55)])
def test_judge_reads_the_pattern_of_a_cube(engines, surface, minimum):
    """ "a {colour} {pattern} square": the cube's colour is given, the judge picks the pattern."""
    n = 240
    generator = torch.Generator().manual_seed(HELD_OUT_SEED + 4)
    pattern = torch.arange(n) % len(PATTERNS)
    batch = draw_renders(n, 64, generator, standard_primitives(), surface=surface, pattern=pattern, names=["cube"] * n)
    similarities = engines["judge"].score_texts(batch.images, all_captions())[0]
    square = SHAPES.index("square")
    options = torch.stack([(batch.colour * len(SHAPES) + square) * len(PATTERNS) + p for p in range(len(PATTERNS))], 1)
    picked = similarities.gather(1, options).argmax(-1)
    accuracy = float((picked == pattern).float().mean())
    assert accuracy >= minimum, f"judge: pattern accuracy {accuracy:.3f} on cubes (surface share {surface})"


def test_judge_ranks_full_captions_with_pattern(engines):
    batch = draw_shapes(400, 48, torch.Generator().manual_seed(HELD_OUT_SEED + 1))
    similarities = engines["judge"].score_texts(batch.images, all_captions())[0]
    pattern_accuracy = float((similarities.argmax(-1) % len(PATTERNS) == batch.pattern).float().mean())
    assert pattern_accuracy >= 0.6


@pytest.mark.slow
def test_training_script_runs_and_is_deterministic(tmp_path):
    trainer = _load_trainer_script()
    first = trainer.train("trainer", tmp_path / "a", steps=2, batch_size=8, pool_size=16, log_every=0, eval_samples=16)
    trainer.train("trainer", tmp_path / "b", steps=2, batch_size=8, pool_size=16, log_every=0, eval_samples=16)
    assert first["steps"] == 2 and 0.0 <= first["held_out_accuracy"]["3d_surface"]["colour"] <= 1.0
    assert (tmp_path / "a" / "open_clip_model.safetensors").read_bytes() == (
        tmp_path / "b" / "open_clip_model.safetensors"
    ).read_bytes()
    # the written folder loads through the same path as real weights
    engine = ClipEngine([f"local-dir:{tmp_path / 'a'}"], "a red circle", device="cpu", model_cache=ModelCache())
    assert engine.clip_models[0].image_size == (64, 64)


def test_soft_targets_spread_what_a_picture_does_not_show():
    script = _load_trainer_script()
    batch = draw_renders(4, 16, torch.Generator().manual_seed(0), standard_primitives(), pattern=torch.tensor([0, 1, 0, 0]),
                         names=["sphere", "sphere", "torus", "sphere"])  # fmt: skip
    targets = script.soft_targets(batch, shape_hidden=torch.tensor([False, False, False, True]))
    assert targets.shape == (4, 580) and torch.allclose(targets.sum(-1), torch.ones(4))
    assert float(targets[:, 576:].abs().sum()) == 0.0  # no sketch caption for a render
    grid = targets[:, :576].reshape(4, len(TRAINING_COLOURS), len(SHAPES), len(PATTERNS), 1 + len(FINISHES))
    per_shape = grid.sum((1, 3, 4))
    assert float(per_shape[0, SHAPES.index("circle")]) == pytest.approx(1.0)
    assert torch.allclose(per_shape[2], torch.full((4,), 0.25)) and torch.allclose(per_shape[3], torch.full((4,), 0.25))
    per_pattern = grid.sum((1, 2, 4))
    assert per_pattern[1].tolist() == pytest.approx([0.3, 0.7, 0.0, 0.0])
    # a picture without a finish matches only the captions without a finish word
    assert grid.sum((1, 2, 3))[0].tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])


def test_soft_targets_of_a_finished_render_name_its_finish_and_keep_the_plain_caption():
    script = _load_trainer_script()
    glossy = FINISHES.index("glossy")
    batch = draw_renders(2, 16, torch.Generator().manual_seed(0), standard_primitives(), finish=torch.tensor([glossy, -1]),
                         pattern=torch.tensor([0, 0]), names=["sphere", "sphere"])  # fmt: skip
    targets = script.soft_targets(batch)[:, :576]
    grid = targets.reshape(2, len(TRAINING_COLOURS), len(SHAPES), len(PATTERNS), 1 + len(FINISHES))
    # the plain caption keeps half: "a red circle" rises as a PBR render turns red, whatever its finish
    assert grid.sum((1, 2, 3))[0].tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0])
    assert script.training_captions()[1 + glossy] == "a glossy red circle"


def test_soft_targets_of_a_line_drawing_name_the_sketch_of_its_shape():
    script = _load_trainer_script()
    star = SHAPES.index("star")
    batch = draw_sketches(2, 32, torch.Generator().manual_seed(0), shape=torch.tensor([star, 0]))
    targets = script.soft_targets(batch, shape_hidden=torch.tensor([False, True]))
    assert torch.allclose(targets.sum(-1), torch.ones(2))
    assert script.training_captions()[576 + star] == "a sketch of a star"
    assert targets[0, 576:].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.8])
    assert targets[1, 576:].tolist() == pytest.approx([0.2] * 4)  # a crop hides which shape
    grid = targets[:, :576].reshape(2, len(TRAINING_COLOURS), len(SHAPES), len(PATTERNS), 1 + len(FINISHES))
    black = TRAINING_COLOURS.index("black")
    assert float(grid[0, black, star, 0, 0]) > 0.1 and float(grid[0].sum()) == pytest.approx(0.2)
    assert float(grid[0, :, :, 1:].sum()) == 0.0 and float(grid[0, :, :, :, 1:].sum()) == 0.0  # plain, no finish


@pytest.mark.slow
def test_training_can_continue_from_a_written_model(tmp_path):
    script = _load_trainer_script()
    script.train("trainer", tmp_path / "a", steps=2, batch_size=8, pool_size=16, log_every=0, eval_samples=16)
    report = script.train("trainer", tmp_path / "b", steps=1, batch_size=8, pool_size=16, log_every=0, eval_samples=16,
                          init=tmp_path / "a", lr=0.0)  # fmt: skip
    assert report["started_from"]["steps"] == 2 and report["started_from"]["version"] == script.VERSION
    # with a zero learning rate the weights are the ones it started from (batch-norm statistics
    # still follow the batches it saw)
    first, second = (load_file(str(tmp_path / name / "open_clip_model.safetensors")) for name in ("a", "b"))
    weights = [key for key in first if "running_" not in key and "num_batches" not in key]
    assert len(weights) > 50 and all(torch.equal(first[key], second[key]) for key in weights)
    assert any(not torch.equal(first[key], second[key]) for key in first if "running_" in key)
    with pytest.raises(SystemExit, match="not 'judge'"):
        script.train("judge", tmp_path / "c", steps=1, batch_size=8, pool_size=16, log_every=0, init=tmp_path / "a")


def test_captions_cover_the_world():
    assert len(short_captions()) == len(COLOURS) * len(SHAPES) == 32
    assert len(all_captions()) == 128 and "a blue striped square" in all_captions() and "a red checkered square" in all_captions()
