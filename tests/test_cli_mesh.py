"""`stylize mesh` and `stylize eval` from the command line: a smoke run, JSON output, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylize.cli import main
from stylize.mesh.geometry import make_cube, make_icosphere
from stylize.mesh.io import save_mesh


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_mesh") / "cube.obj"
    v, f = make_cube(2.0)
    save_mesh(path, v, f)
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stylize: error:"), err
    return err[0]


@pytest.mark.slow
def test_mesh_smoke_run_then_eval_the_run_folder(cube, tiny_clip_spec, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "mesh",
            str(cube),
            "a red square",
            "--out",
            str(out),
            "--preset",
            "smoke",
            "--clip",
            tiny_clip_spec,
            "--iters",
            "3",
            "--views",
            "2",
            "--seed",
            "5",
            "--set",
            "output.turntable_frames=2",
            "--negative",
            "a blue square",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["status"] == "finished" and report["iterations"] == 3
    config = (out / "config.toml").read_text()
    assert "iters = 3" in config and "seed = 5" in config and "n_views = 2" in config and "a blue square" in config
    # mesh.glb's colours as trimesh reads them the way the README says (COLOR_0 under a white,
    # non-metallic material), equal to vertex_data.npz's
    import trimesh

    loaded = trimesh.load(out / "mesh.glb", force="mesh", skip_materials=True)
    assert loaded.visual.kind == "vertex"
    stored = np.load(out / "vertex_data.npz")["colors"]  # sRGB; glTF's COLOR_0 is linear
    linear = np.where(stored <= 0.04045, stored / 12.92, ((stored + 0.055) / 1.055) ** 2.4)
    assert len(loaded.vertices) == len(stored)
    assert np.abs(loaded.visual.vertex_colors[:, :3] / 255.0 - linear).max() <= 1.5 / 255.0
    code = main(
        [
            "eval",
            str(out),
            "a red square",
            "--judge",
            tiny_clip_spec,
            "--size",
            "32",
            "--captions",
            "a red square",
            "a blue square",
        ]
    )
    assert code == 0
    line = capsys.readouterr().out.strip()
    result = json.loads(line)
    assert "\n" not in line and result["views"] == 24 and -100 <= result["mes"] <= 100
    assert set(result["ranking"]) == {"a red square", "a blue square"} and result["rank"] in (1, 2)
    assert result["scores"] == {"judge": {"a red square": result["mes"], "mean": result["mes"]}}


def test_eval_renders_a_mesh_without_colours_grey(tiny_clip_spec, tmp_path, capsys):
    v, f = make_icosphere(1)
    save_mesh(tmp_path / "plain.ply", v, f)
    save_mesh(tmp_path / "grey.ply", v, f, np.full((len(v), 3), 0.5))
    scores = []
    for name in ("plain.ply", "grey.ply"):
        assert main(["eval", str(tmp_path / name), "a grey circle", "--judge", tiny_clip_spec, "--size", "32"]) == 0
        scores.append(json.loads(capsys.readouterr().out)["mes"])
    assert abs(scores[0] - scores[1]) < 0.05


@pytest.mark.parametrize(
    "args, needle",
    [
        (["mesh", "{missing}", "a cat"], "not found"),
        (["mesh", "{garbage}", "a cat"], "garbage.obj"),
        (["mesh", "{cube}", "a cat", "--set", "field.colour_depth=3"], "field.colour_depth"),
        (["mesh", "{cube}", "a cat", "--set", "iters=many"], "iters"),
        (["mesh", "{cube}", "a cat", "--preset", "slow"], "unknown preset"),
        (["mesh", "{cube}", "a cat", "--clip", "NoSuchArch:openai"], "NoSuchArch"),
        (["mesh", "{cube}", "a cat", "--iters", "0"], "iters"),
        (["mesh", "{cube}", "a cat", "--preset", "smoke"], "ViT-B-32"),  # default CLIP, offline
        (["eval", "{missing}", "a cat", "--judge", "{clip}"], "not found"),
        (["mesh", "{cube}", "a cat", "--bake-size", "1000"], "--bake-size must be a power of two"),  # the flag, not its key
        (["apply", "{missing}", "{cube}", "--bake-size", "1000"], "--bake-size must be a power of two"),
        (["bake", "{cube}", "--size", "1000"], "--size must be a power of two"),
    ],
)
def test_bad_inputs_give_one_line_and_exit_2(args, needle, cube, tiny_clip_spec, tmp_path, capsys):
    garbage = tmp_path / "garbage.obj"
    garbage.write_bytes(b"\x00\xffnot a mesh\n" * 3)
    names = {"missing": str(tmp_path / "nope.obj"), "garbage": str(garbage), "cube": str(cube), "clip": tiny_clip_spec}
    argv = [a.format(**names) for a in args] + (["--out", str(tmp_path / "out")] if args[0] == "mesh" else [])
    assert main(argv) == 2
    assert needle in _error_line(capsys)
    assert not (tmp_path / "out" / "mesh.glb").exists()


def test_help_states_defaults_and_the_same_metavar_for_the_same_option(capsys):
    import argparse

    from stylize.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    metavars: dict[str, set] = {}
    for parser in commands.values():
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and action.nargs != 0 and not action.choices:
                    metavars.setdefault(option, set()).add(action.metavar)
    for option in ("--iters", "--seed", "--size", "--config", "--best-of", "--source"):
        assert len(metavars[option]) == 1 and None not in metavars[option], (option, metavars[option])
    assert metavars["--out"] == {"DIR", "FILE.glb"}  # a run folder everywhere, the GLB of stylize bake
    mesh_help = " ".join(commands["mesh"].format_help().split())
    assert "smoke 30" in mesh_help and "smoke cpu" in mesh_help and "random seed (default: 0)" in mesh_help
    assert "--device" in " ".join(commands["bake"].format_help().split())
    restyle_help = " ".join(commands["restyle"].format_help().split())
    assert "(default: 512)" in restyle_help and "(default: 200)" in restyle_help
