"""``stylize restyle`` and ``stylize restyle --apply``: outputs, JSON progress, one-line errors with
exit code 2, and no output written over an input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stylize.cli import main
from stylize.images import save_image
from stylize.testing.restyle_check import disc_picture

from .test_restyle import _png_header_only

SMALL = ["--preset", "smoke", "--size", "32", "--iters", "2", "--device", "cpu", "--set", "crop_size=16",
         "--set", "num_crops=2", "--set", "content_features=clip"]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_clip_spec):
    """One CLI training run, shared by the tests that need a net.pt."""
    folder = tmp_path_factory.mktemp("cli_restyle")
    image = folder / "red.png"
    save_image(image, disc_picture(40, (0.5, 0.5), 0.3))
    out = folder / "run"
    assert (
        main(["restyle", str(image), "a blue circle", "--out", str(out), "--clip", tiny_clip_spec, "--progress", "none", *SMALL])
        == 0
    )
    return folder, image, out


@pytest.mark.slow
def test_restyle_progress_json_then_apply(trained, tiny_clip_spec, tmp_path, capsys):
    _, image, _ = trained
    out = tmp_path / "run"
    code = main(["restyle", str(image), "a blue circle", "--source", "a red circle", "--out", str(out), "--clip", tiny_clip_spec,
                 "--progress", "json", *SMALL])  # fmt: skip
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [e["event"] for e in events] == ["step", "step", "done"]
    assert events[0]["step"] == 1 and events[0]["total"] == 2 and isinstance(events[0]["loss"], float)
    assert events[-1]["net"] == str(out / "net.pt") and Path(events[-1]["image"]).is_file()
    other = tmp_path / "other.png"
    save_image(other, disc_picture((30, 50), (0.3, 0.6), 0.2))
    code = main(["restyle", "--apply", str(out / "net.pt"), str(other), "--out", str(tmp_path / "applied")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["out"] == str(tmp_path / "applied") and summary["seconds"] >= 0
    assert {p.name for p in (tmp_path / "applied").iterdir()} == {"image.png", "preview.png", "run.json"}


@pytest.mark.parametrize(
    "argv, words",
    [
        (["restyle", "{missing}", "a blue circle"], "does not exist"),
        (["restyle", "{corrupt}", "a blue circle"], "cannot read content image"),
        (["restyle", "{huge}", "a blue circle"], "over the limit"),
        (["restyle", "{image}"], "no prompt given"),
        (["restyle", "{image}", "a blue circle", "--set", "lambda_tv=-1"], "lambda_tv"),
        (["restyle", "--apply", "{missing}", "{image}"], "StyleNet file"),
        (["restyle", "--apply", "{corrupt}", "{image}"], "cannot read StyleNet file"),
        (["restyle", "--apply", "{image}", "{image}"], "cannot read StyleNet file"),
        (["restyle", "--apply", "{net}", "{huge}"], "over the limit"),
        (["restyle", "--apply", "{net}", "{corrupt}"], "cannot read image"),
        (["restyle", "--apply", "{net}", "{image}", "a blue circle"], "--apply takes only"),
        (["restyle", "--apply", "{net}", "{image}", "--iters", "3"], "--apply takes only"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(trained, tiny_clip_spec, tmp_path, capsys, argv, words):
    _, image, out = trained
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    names = {"missing": tmp_path / "missing.png", "corrupt": corrupt, "image": image, "net": out / "net.pt",
             "huge": _png_header_only(tmp_path / "huge.png", 9000, 9000)}  # fmt: skip
    argv = [part.format(**names) for part in argv] + ["--out", str(tmp_path / "out")]
    if "--apply" not in argv:
        argv += ["--clip", tiny_clip_spec, *SMALL]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylize: error:") and words in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_an_output_over_the_input_is_refused(trained, tiny_clip_spec, tmp_path, capsys):
    _, image, out = trained
    target = tmp_path / "image.png"
    target.write_bytes(image.read_bytes())
    before = target.read_bytes()
    assert main(["restyle", str(target), "a blue circle", "--out", str(tmp_path), "--clip", tiny_clip_spec, *SMALL]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    net = tmp_path / "net.pt"
    net.write_bytes((out / "net.pt").read_bytes())
    assert main(["restyle", "--apply", str(net), str(target), "--out", str(tmp_path)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["image.png", "net.pt"]
