"""The package's structure holds: no import cycles, no oversized modules (tools/code_metrics.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _metrics():
    spec = importlib.util.spec_from_file_location("code_metrics", ROOT / "tools" / "code_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_between_modules():
    metrics = _metrics()
    assert metrics.cycles(metrics.import_graph(ROOT / "stylize")) == []


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def f():\n    from pkg import a\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    metrics = _metrics()
    assert metrics.cycles(metrics.import_graph(package)) == [["pkg.a", "pkg.b"]]


def test_no_module_over_600_lines():
    assert [(name, lines) for name, lines in _metrics().module_sizes(ROOT / "stylize") if lines > 600] == []


def test_help_does_not_import_torch():
    code = "import sys; from stylize.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
