"""``stylize sketch`` (CLIPasso) on tiny random-init CLIPs: the run, its SVGs, the one-batch
promise (one rasterizer call and one CLIP pass per step for every seed and level), early stop
and the best iteration, optional width / colour, prompts, the loss, bad input, CLI, worker, batch."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from stylize import api
from stylize.cli import main
from stylize.cli.worker import request_parser
from stylize.engine import ModelCache
from stylize.engine.models import load_clip
from stylize.engine.specs import parse_model_spec
from stylize.errors import InputError
from stylize.images import save_image
from stylize.pipeline.jobs import parse_jobs
from stylize.sketching.loss import SketchLoss
from stylize.sketching.sketcher import Sketcher
from stylize.vector.raster import render
from stylize.vector.svg import read_svg


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    image = torch.ones(3, 60, 48)  # not square: centre-cropped
    image[:, 14:40, 10:38] = torch.tensor([0.85, 0.1, 0.1]).view(3, 1, 1)
    path = tmp_path_factory.mktemp("sketch") / "photo.png"
    save_image(path, image)
    return path


@pytest.fixture(scope="module")
def cache():
    return ModelCache()


def _sketch(photo, clip, cache, out=None, **options):
    settings = {"preset": "smoke", "clip": [clip], "size": 48, "iters": 4, "strokes": 4, "device": "cpu"}
    settings.update(options)
    return api.sketch(photo, out, model_cache=cache, **settings)


def test_sketch_writes_clean_svg_paths_that_reopen_and_render_the_same(photo, tiny_clip_spec, cache, tmp_path):
    resvg = pytest.importorskip("resvg_py")
    result = _sketch(photo, tiny_clip_spec, cache, tmp_path / "run")
    names = {path.name for path in (tmp_path / "run").iterdir()}
    assert {"sketch.svg", "sketch.png", "preview.png", "progress.gif", "config.toml", "run.json", "metrics.jsonl"} <= names
    assert result.scene.num_paths == 4 and result.photo.shape == (3, 48, 48)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["kind"] == "sketch" and run["steps"] == 4 and run["strokes"] == [4]
    assert set(run["timings"]["per_iteration"]) >= {"render", "augment", "clip", "step"}
    assert set(result.scores["trainer"]) == {"photo", "mean"}  # no prompt: scored against the photo
    text = (tmp_path / "run" / "sketch.svg").read_text()
    assert text.count("<path ") == 4 and "transform" not in text and 'fill="none"' in text and 'stroke="#000000"' in text
    document = read_svg(tmp_path / "run" / "sketch.svg")
    assert document.metadata["strokes"] == 4 and (document.width, document.height) == (48, 48)
    torch.testing.assert_close(document.scene.points, result.scene.points, atol=1e-4, rtol=0)
    torch.testing.assert_close(document.scene.stroke_widths, result.scene.stroke_widths, atol=1e-4, rtol=0)
    png = np.asarray(Image.open(tmp_path / "run" / "sketch.png").convert("RGB"), np.float32) / 255
    ours = render(document.scene, 48, 48).numpy()
    assert float(np.abs(ours - png).mean()) < 2e-3  # the toolkit's importer: the same picture
    reference = resvg.svg_to_bytes(svg_string=text, background="#ffffff")
    other = np.asarray(Image.open(io.BytesIO(bytes(reference))).convert("RGB"), np.float32) / 255
    assert float((png < 0.9).mean()) > 0.005  # there is ink to compare
    assert float(np.abs(png - other).mean()) < 0.01, "resvg draws the SVG as sketch.png shows it"


def test_every_seed_and_level_in_one_render_and_one_clip_pass_per_step(photo, tiny_clip_spec, cache, tmp_path):
    config_calls = {"render": 0, "clip": 0, "per_step": []}
    sketcher_type = Sketcher

    class Counting(sketcher_type):
        def render(self, scenes):
            config_calls["render"] += 1
            config_calls["batch"] = len(scenes)
            return super().render(scenes)

    from stylize.config import resolve_config
    from stylize.sketching.config import SKETCH_PRESETS, SketchConfig

    config = resolve_config(SketchConfig, SKETCH_PRESETS, "smoke", overrides={
        "image": str(photo), "clip": [tiny_clip_spec], "size": 48, "iters": 3, "strokes": [2, 5], "best_of": 2,
        "device": "cpu"})  # fmt: skip
    sketcher = Counting(config, cache)
    visual = sketcher.clip_model.model.visual
    handle = visual.register_forward_hook(lambda *_: config_calls.__setitem__("clip", config_calls["clip"] + 1))
    try:
        counts = []
        result = sketcher.run(
            tmp_path / "ladder", on_step=lambda *_: counts.append((config_calls["render"], config_calls["clip"]))
        )
    finally:
        handle.remove()
    assert counts == [(1, 1), (2, 2), (3, 3)]  # one rasterizer call and one CLIP pass per step
    assert config_calls["batch"] == 4  # 2 levels x 2 seeds, rendered together
    assert sorted(result.levels) == [2, 5] and [result.levels[n].num_paths for n in (2, 5)] == [2, 5]
    assert [(c["strokes"], c["seed"]) for c in result.candidates] == [(2, 0), (2, 1), (5, 0), (5, 1)]
    for name in ("levels/sketch-2.svg", "levels/sketch-5.svg", "levels/sketch-2.png", "ladder.png"):
        assert (tmp_path / "ladder" / name).is_file(), name
    with Image.open(tmp_path / "ladder" / "ladder.png") as ladder:
        assert ladder.size == (3 * 48, 48)  # the photo, then each level
    assert read_svg(tmp_path / "ladder" / "sketch.svg").scene.num_paths == 5


def test_early_stop_keeps_the_best_evaluated_iteration(photo, tiny_clip_spec, cache):
    # Every evaluation "moves the best by at most min_delta": the second one in a row stops it.
    result = _sketch(photo, tiny_clip_spec, cache, iters=20, eval_every=1, min_delta=10.0)
    (candidate,) = result.all_candidates
    assert candidate.stopped and candidate.steps == 3 and candidate.best_step == 0
    torch.testing.assert_close(candidate.final().points, candidate.initial.points)  # the evaluated state, not the last
    assert not torch.equal(candidate.scene.points.detach(), candidate.initial.points)
    # Without early stop the run goes on, and the best is the lowest evaluated loss.
    result = _sketch(photo, tiny_clip_spec, cache, iters=6, eval_every=1, min_delta=0.0)
    (candidate,) = result.all_candidates
    assert not candidate.stopped and candidate.steps == 6 and candidate.best_step >= 0


def test_widths_and_colours_move_only_when_asked(photo, tiny_clip_spec, cache):
    plain = _sketch(photo, tiny_clip_spec, cache).all_candidates[0]
    assert torch.equal(plain.final().stroke_widths, plain.initial.stroke_widths)
    assert torch.equal(plain.final().stroke_colors, plain.initial.stroke_colors)
    free = _sketch(photo, tiny_clip_spec, cache, optimise_width=True, optimise_color=True, eval_every=10).all_candidates[0]
    assert not torch.equal(free.scene.stroke_widths.detach(), free.initial.stroke_widths)
    assert not torch.equal(free.scene.stroke_colors.detach(), free.initial.stroke_colors)
    colours = free.scene.stroke_colors.detach()
    assert float(colours.min()) >= 0 and float(colours.max()) <= 1


def test_a_prompt_adds_a_text_term_and_is_scored(photo, tiny_clip_spec, cache):
    steps: list[dict] = []
    result = _sketch(photo, tiny_clip_spec, cache, prompt="a sketch of a square", on_step=lambda s, t, m: steps.append(m))
    assert set(result.scores["trainer"]) == {"a sketch of a square", "mean"}
    assert all("text" in metrics and metrics["text"] > 0 for metrics in steps)
    plain: list[dict] = []
    _sketch(photo, tiny_clip_spec, cache, on_step=lambda s, t, m: plain.append(m))
    # Same seed, same start: the first loss differs by the weighted text term exactly.
    assert steps[0]["loss"] == pytest.approx(plain[0]["loss"] + 0.1 * steps[0]["text"], abs=1e-5)


def test_the_loss_compares_each_sketch_with_the_photo_alone(tiny_clip_spec):
    model = load_clip(parse_model_spec(tiny_clip_spec), "cpu")
    loss = SketchLoss(model, [0.5, 1.0], [1.0, 1.0], semantic_weight=0.1)
    photo, other = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    sketches = torch.cat([photo, other]).requires_grad_(True)
    groups = 2  # the photo and two sketches, twice (as an unaugmented and an augmented group)
    images = torch.cat([photo, sketches, photo, sketches])
    terms = loss(images, groups)
    assert terms.train.shape == (2,) and float(terms.geometric[0]) < 1e-10 and float(terms.semantic[0]) < 1e-6
    assert float(terms.eval[1]) > 0.01
    (grad,) = torch.autograd.grad(terms.train[1], sketches)
    assert float(grad[0].abs().max()) == 0.0 and float(grad[1].abs().max()) > 0  # sketches do not mix
    with pytest.raises(ValueError, match="groups"):
        loss(images[:5], 2)


def test_bad_input_is_one_line_and_exit_code_2(photo, tiny_clip_spec, tmp_path, capsys):
    with pytest.raises(InputError, match="does not exist"):
        api.sketch(tmp_path / "missing.png", None, clip=[tiny_clip_spec], preset="smoke", device="cpu")
    with pytest.raises(InputError, match="strokes"):
        api.sketch(photo, None, strokes="4,eight", clip=[tiny_clip_spec], preset="smoke")
    with pytest.raises(InputError, match="would encode"):
        api.sketch(photo, None, strokes=[4, 8, 16, 32], best_of=16, copies=16, clip=[tiny_clip_spec], preset="smoke")
    with pytest.raises(InputError, match="one CLIP"):
        api.sketch(photo, None, clip=[tiny_clip_spec, tiny_clip_spec], preset="smoke")
    code = main(["sketch", str(tmp_path / "missing.png"), "--preset", "smoke", "--clip", tiny_clip_spec, "--out",
                 str(tmp_path / "out")])  # fmt: skip
    assert code == 2 and capsys.readouterr().err.count("\n") == 1


def test_cli_ladder_json_progress_and_worker_request(photo, tiny_clip_spec, tmp_path, capsys):
    code = main(["sketch", str(photo), "--strokes", "2,3", "--preset", "smoke", "--clip", tiny_clip_spec, "--size", "32",
                 "--iters", "2", "--out", str(tmp_path / "cli"), "--progress", "json", "--device", "cpu"])  # fmt: skip
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and [e["event"] for e in events] == ["step", "step", "done"]
    assert events[-1]["levels"] == {n: str(tmp_path / "cli" / "levels" / f"sketch-{n}.svg") for n in ("2", "3")}
    args = request_parser().parse_args(["sketch", str(photo), "--strokes", "4,8", "--prompt", "ink"])
    assert args.command == "sketch" and args.strokes == "4,8" and args.prompts == ["ink"]


def test_a_batch_sketch_job_resolves_like_the_command(photo, tmp_path):
    (job,) = parse_jobs({"jobs": [{"kind": "sketch", "input": str(photo), "strokes": [8, 4], "preset": "smoke",
                                   "mask": str(photo)}]}, base_dir=tmp_path)  # fmt: skip
    assert job.kind == "sketch" and job.config["strokes"] == [4, 8] and job.config["image"] == str(photo)
    with pytest.raises(InputError, match="strokes"):
        parse_jobs({"jobs": [{"kind": "sketch", "input": str(photo), "strokes": "many"}]}, base_dir=tmp_path)


def test_a_mask_whitens_the_background_and_keeps_strokes_on_the_object(photo, tiny_clip_spec, cache, tmp_path):
    mask = torch.zeros(3, 60, 48)
    mask[:, :, :24] = 1.0  # the left half of the picture is the object
    save_image(tmp_path / "mask.png", mask)
    result = _sketch(photo, tiny_clip_spec, cache, mask=tmp_path / "mask.png", iters=1, strokes=12)
    assert float(result.photo[:, :, 26:].min()) > 0.99 and float(result.photo[:, :, :22].min()) < 0.2
    starts = result.all_candidates[0].initial.points.view(12, 4, 2)[:, 0]
    assert float(starts[:, 0].max()) < 25  # every stroke starts on the object
    assert (tmp_path / "mask.png").is_file()  # an input: read, never written


def test_sketch_jobs_run_in_a_batch(photo, tiny_clip_spec, tmp_path):
    from stylize.pipeline import run_batch

    jobs = tmp_path / "jobs.toml"
    jobs.write_text(f"""
[[jobs]]
kind = "sketch"
input = "{photo}"
preset = "smoke"
clip = ["{tiny_clip_spec}"]
device = "cpu"
size = 32
iters = 2
strokes = [2, 3]
""")
    result = run_batch(jobs, tmp_path / "out")
    assert not result.failed
    (entry,) = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert entry["status"] == "done" and isinstance(entry["score"], float)
    folder = tmp_path / "out" / entry["id"]
    assert {"sketch.svg", "sketch.png", "preview.png", "ladder.png", "run.json"} <= {p.name for p in folder.iterdir()}
    assert read_svg(folder / "levels" / "sketch-2.svg").scene.num_paths == 2
