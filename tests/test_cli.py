from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stylize.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "red_circle.png"


def test_score_prints_one_json_line(capsys, tiny_clip_spec):
    code = main(["score", str(EXAMPLE), "a red circle", "--clip", tiny_clip_spec, "--negative", "a mess", "--device", "cpu"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    scores = data["models"][tiny_clip_spec]  # 100 x cosine, as every score the toolkit prints
    assert set(scores) == {"a red circle", "a mess"}
    assert data["scores"] == {"judge": {"a red circle": pytest.approx(scores["a red circle"]),
                                        "mean": pytest.approx(scores["a red circle"])}}  # fmt: skip
    assert all(-100.0 <= v <= 100.0 for v in scores.values())
    assert data["loss"] == pytest.approx(1 - scores["a red circle"] / 100 + 0.3 * scores["a mess"] / 100, abs=1e-5)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["score", "missing.png", "a cat"], "does not exist"),
        (["score", str(EXAMPLE), " "], "empty prompt"),
        (["score", str(EXAMPLE), "a cat", "--clip", "ViT-B-32"], "malformed"),
        (["score", str(EXAMPLE), "a cat", "--clip", "ViT-B-32:openai"], "ViT-B-32:openai"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylize: error:") and words in err and "\n" not in err


def test_unreadable_image(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert main(["score", str(bad), "a cat", "--clip", "ViT-B-32:random"]) == 2
    assert "cannot read image" in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_entry_point(tiny_clip_spec):
    result = subprocess.run(
        [sys.executable, "-m", "stylize", "score", str(EXAMPLE), "a cat", "--clip", "NoSuch:x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "unknown architecture" in result.stderr


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = 'python3.11 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest -q'
    assert command in readme and command in ci
