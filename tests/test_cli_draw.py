"""The ``stylize draw`` and ``stylize paint`` commands: run folders, JSON output, one-line errors."""

from __future__ import annotations

import json

import pytest

from stylize.cli import main


def test_draw_command_writes_run_folder(tmp_path, capsys, tiny_clip_spec):
    out = tmp_path / "draw"
    argv = ["draw", "a red circle", "--out", str(out), "--preset", "smoke", "--clip", tiny_clip_spec, "--device", "cpu",
            "--iters", "2", "--size", "32", "--paths", "4", "--seed", "3", "--negative", "a mess", "--set", "copies=1"]  # fmt: skip
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["out"] == str(out) and "a red circle" in printed["scores"]["trainer"]
    for name in ("drawing.svg", "drawing.png", "progress.gif", "preview.png", "config.toml", "run.json", "metrics.jsonl"):
        assert (out / name).is_file(), name
    config = (out / "config.toml").read_text()
    assert "seed = 3" in config and "copies = 1" in config and 'negatives = ["a mess"]' in config


def test_paint_command_writes_image(tmp_path, capsys, tiny_clip_spec):
    out = tmp_path / "paint"
    argv = ["paint", "a red circle", "--out", str(out), "--preset", "smoke", "--param", "pixel", "--clip", tiny_clip_spec,
            "--device", "cpu", "--iters", "2", "--size", "32"]  # fmt: skip
    assert main(argv) == 0
    assert (out / "image.png").is_file() and (out / "run.json").is_file()
    assert 'param = "pixel"' in (out / "config.toml").read_text()


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--style", "missing.png"], "does not exist"),
        (["--palette", "#aa33,#fff"], "bad palette"),
        (["--init", "missing.svg"], "does not exist"),
        (["--set", "speed=3"], "unknown config key 'speed'"),
        (["--set", "paths=many"], "expected an integer"),
    ],
)
def test_draw_bad_input_is_one_line_exit_2(tmp_path, capsys, tiny_clip_spec, extra, words):
    argv = [
        "draw",
        "a cat",
        "--out",
        str(tmp_path / "x"),
        "--preset",
        "smoke",
        "--clip",
        tiny_clip_spec,
        "--device",
        "cpu",
        *extra,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylize: error:") and words in err and "\n" not in err


def test_paint_unreadable_init_is_exit_2(tmp_path, capsys, tiny_clip_spec):
    (tmp_path / "bad.png").write_text("nope")
    argv = [
        "paint",
        "a cat",
        "--init",
        str(tmp_path / "bad.png"),
        "--clip",
        tiny_clip_spec,
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "x"),
    ]
    assert main(argv) == 2
    assert "cannot read image" in capsys.readouterr().err


def test_score_reads_the_svg_that_draw_writes(tmp_path, capsys):
    """`stylize score` of an SVG draws it on white first; the judge CLIP names its colour."""
    from tests.generation_helpers import JUDGE

    svg = tmp_path / "circle.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
                   '<circle cx="32" cy="32" r="20" fill="#e01010"/></svg>')  # fmt: skip
    spec = f"local-dir:{JUDGE}"
    assert main(["score", str(svg), "a red circle", "--clip", spec]) == 0
    red = json.loads(capsys.readouterr().out)["scores"]["judge"]["a red circle"]
    assert main(["score", str(svg), "a blue circle", "--clip", spec]) == 0
    blue = json.loads(capsys.readouterr().out)["scores"]["judge"]["a blue circle"]
    assert red > blue + 5.0, (red, blue)  # 100 x cosine
    (tmp_path / "broken.svg").write_text("<svg")
    assert main(["score", str(tmp_path / "broken.svg"), "a red circle", "--clip", spec]) == 2
    assert "broken.svg" in capsys.readouterr().err


def test_draw_paint_and_restyle_record_their_files_absolute(tmp_path, capsys, tiny_clip_dir, monkeypatch):
    import shutil

    from PIL import Image

    shutil.copytree(tiny_clip_dir, tmp_path / "clip")
    Image.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "red.png")
    (tmp_path / "start.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">'
                                        '<path d="M 2 2 L 30 30" stroke="#000" stroke-width="2" fill="none"/></svg>')  # fmt: skip
    monkeypatch.chdir(tmp_path)
    small = ["--preset", "smoke", "--clip", "local-dir:clip", "--device", "cpu", "--iters", "1", "--size", "32"]
    assert main(["draw", "a red circle", "--out", "draw", *small, "--init", "start.svg", "--style", "red.png",
                 "--set", "copies=1", "--set", "style_features=vgg16-random"]) == 0  # fmt: skip
    assert main(["paint", "a red circle", "--out", "paint", *small, "--init", "red.png"]) == 0
    capsys.readouterr()
    clip = f'"local-dir:{tmp_path / "clip"}"'
    draw = (tmp_path / "draw" / "config.toml").read_text()
    assert clip in draw and f'init = "{tmp_path / "start.svg"}"' in draw and f'style = "{tmp_path / "red.png"}"' in draw
    paint = (tmp_path / "paint" / "config.toml").read_text()
    assert clip in paint and f'init = "{tmp_path / "red.png"}"' in paint
    from stylize.config import absolute_paths
    from stylize.restyling.config import RestyleConfig

    restyle = absolute_paths(RestyleConfig(image="red.png", prompt="a blue circle", clip=["local-dir:clip"]))
    assert restyle.image == str(tmp_path / "red.png") and restyle.clip == [f"local-dir:{tmp_path / 'clip'}"]
