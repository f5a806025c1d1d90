"""The README's examples run as written, from the repository root: the Python blocks with the test
CLIPs substituted for the real ones they name (and the small ``smoke`` presets for the long ones),
and the offline demo command verbatim. They run in a scratch folder that links ``examples/`` and
``tests/`` from the repository, so their ``runs/`` folders land there."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from stylize.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CLIPS = ROOT / "tests" / "assets" / "clip"
SUBSTITUTES = {  # what a machine without real weights runs instead
    '"ViT-B-32:openai"': f'"local-dir:{CLIPS / "trainer"}"',
    '"ViT-B-16:openai@0.5"': f'"local-dir:{CLIPS / "judge"}@0.5"',
    'preset="fast"': 'preset="smoke"',
    'preset="clipdraw"': 'preset="smoke"',
}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


@pytest.fixture
def repository_root(tmp_path, monkeypatch):
    for name in ("examples", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_the_python_examples_run(repository_root, capsys):
    blocks = [block for block in _blocks("python") if "import stylize" in block or "from stylize" in block]
    assert len(blocks) >= 2, "the README's Python API examples went missing"
    results: dict = {}
    for block in blocks:
        code = block
        for real, test in SUBSTITUTES.items():
            code = code.replace(real, test)
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102  (our own README)
        results.update({name: namespace[name] for name in ("vase", "fox", "out") if name in namespace})
    # the facade returns what the CLI reports: status, out, files, scores
    for name in ("vase", "fox"):
        result = results[name]
        assert result.status == "finished" and Path(result.out).is_dir()
        assert result.files and all(Path(path).is_file() for path in result.files.values())
        assert result.scores
    assert results["out"].similarities  # the engine example scored its images
    assert (repository_root / "runs" / "vase-api" / "mesh.glb").is_file()


@pytest.mark.slow
def test_the_offline_demo_command_runs_verbatim(repository_root, capsys):
    commands = [line for block in _blocks("bash") for line in block.splitlines() if "--clip local-dir:tests/assets" in line]
    assert commands, "the README's offline demo went missing"
    argv = shlex.split(commands[0])
    assert argv[0].endswith("stylize")
    assert main(argv[1:]) == 0
    out = Path(argv[argv.index("--out") + 1])
    assert (repository_root / out / "preview.png").is_file() and (repository_root / out / "mesh.glb").is_file()
