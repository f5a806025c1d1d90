"""`stylize mesh INPUT PROMPT --source TEXT`: restyle a coloured mesh with the directional CLIP loss
from its own renders, judged by the judge test CLIP."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tomllib
import torch

from stylize import api
from stylize.cli import main
from stylize.engine import ClipEngine, ModelCache
from stylize.mesh.config import resolve_mesh_config
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.io import LoadedMesh, load_mesh, save_mesh
from stylize.testing.robustness import judged_colour
from tests.generation_helpers import JUDGE, TEST_THREADS, TRAINER

RED = (0.85, 0.1, 0.1)


@pytest.fixture(scope="module")
def red_sphere(tmp_path_factory):
    folder = tmp_path_factory.mktemp("restyle_mesh")
    v, f = make_icosphere(3)
    save_mesh(folder / "red.ply", v, f, np.tile(np.asarray([RED], dtype=np.float32), (len(v), 1)))
    return folder / "red.ply"


@pytest.fixture(scope="module")
def cache():
    return ModelCache()


@pytest.fixture(scope="module")
def judge(cache):
    return ClipEngine([f"local-dir:{JUDGE}"], "a red circle", device="cpu", model_cache=cache)


def _restyle(path, prompt, cache, **options):
    torch.set_num_threads(TEST_THREADS)
    return api.stylize_mesh(path, prompt, out=None, preset="smoke", model_cache=cache, clip=[f"local-dir:{TRAINER}"],
                            iters=60, **options)  # fmt: skip


def _judged(judge, path, result) -> str:
    mesh = load_mesh(path, normalize=True)
    return judged_colour(
        judge, LoadedMesh(mesh.vertices, mesh.faces, result.colors.astype(np.float32), mesh.normalization), "circle"
    )[0]


def test_source_implies_the_inputs_colours_and_is_a_setting():
    config = resolve_mesh_config("a yellow circle", "smoke", None, {"source": "a red circle"})
    assert config.source == "a red circle" and config.field.input_colours
    assert not resolve_mesh_config("a yellow circle", "smoke", None, {}).field.input_colours


@pytest.mark.slow
def test_a_red_sphere_restyled_towards_yellow_is_judged_yellow(red_sphere, cache, judge):
    restyled = _restyle(red_sphere, "a yellow circle", cache, source="a red circle")
    assert _judged(judge, red_sphere, restyled) == "yellow"
    # The same prompt from the same colours without the direction: with instrument v2 it stayed
    # red at 60 steps; the v3 trainer moves it to yellow by the prompt alone (judged yellow too),
    # but it goes further from the input than the restyle, which the content term holds back
    # (measured mean colour change 0.38 plain vs 0.32 restyled).
    plain = _restyle(red_sphere, "a yellow circle", cache, input_colours=True)
    change = [float(np.abs(r.colors - np.asarray(RED)).mean()) for r in (restyled, plain)]
    assert change[0] < 0.92 * change[1], change


@pytest.mark.slow
def test_the_content_term_keeps_the_result_closer_to_the_input(red_sphere, cache, judge):
    free = _restyle(red_sphere, "a yellow circle", cache, source="a red circle", overrides={"loss.content_weight": 0.0})
    held = _restyle(red_sphere, "a yellow circle", cache, source="a red circle", overrides={"loss.content_weight": 20.0})
    distance = [float(np.abs(r.colors - np.asarray(RED)).mean()) for r in (free, held)]
    assert distance[1] < 0.8 * distance[0], distance  # measured 0.38 -> 0.25 with instrument v2
    assert _judged(judge, red_sphere, held) == "yellow"  # and still the new colour


@pytest.mark.slow
def test_cli_surface_mode_restyle_writes_its_source_and_a_texture(red_sphere, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["mesh", str(red_sphere), "a yellow circle", "--source", "a red circle", "--preset", "smoke", "--iters", "3",
            "--field", "surface", "--clip", f"local-dir:{TRAINER}", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert done["status"] == "finished" and "mesh_textured.glb" in done["files"]
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["source"] == "a red circle" and config["field"]["input_colours"] is True
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("loss_content" in row for row in metrics)
