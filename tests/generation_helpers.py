"""Shared bits of the 2D generation tests: the test CLIPs and the synthetic world's captions."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TRAINER = ROOT / "tests" / "assets" / "clip" / "trainer"
JUDGE = ROOT / "tests" / "assets" / "clip" / "judge"

# torch threads in every test, in-process, in workers and in CLI calls (STYLIZE_THREADS): one, so
# a figure measured here is the figure on any machine, whatever its core count, and the suite runs
# as one pytest-xdist worker per core instead of one process with many threads.
TEST_THREADS = 1

COLOURS = ("red", "green", "blue", "yellow", "orange", "purple", "black", "white")
SHAPES = ("circle", "square", "triangle", "star")
CAPTIONS = [f"a {colour} {shape}" for colour in COLOURS for shape in SHAPES]


def test_clip_specs() -> tuple[str, str]:
    """(trainer spec, judge spec); skips the test when the trained test CLIPs are not present."""
    if not (TRAINER.is_dir() and JUDGE.is_dir()):
        pytest.skip("trained test CLIPs not present under tests/assets/clip")
    return f"local-dir:{TRAINER}", f"local-dir:{JUDGE}"


test_clip_specs.__test__ = False  # a helper, not a test
