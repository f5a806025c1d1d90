"""Run the Khronos glTF validator (npm `gltf-validator`, under node) from tests.

`validate_gltf(path)` returns the validator's report (a dict); `assert_valid(path)` also fails on
any error and on more warnings than allowed. Without node or the package a test skips with the
install command; under CI (`CI=true`, as `.ci/run` sets it) it fails instead: there the validator
must run.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "dev" / "validate_gltf.mjs"
VALIDATOR_VERSION = "2.0.0-dev.3.10"
INSTALL = f"npm install --prefix .ci/node --no-save gltf-validator@{VALIDATOR_VERSION}"
SEVERITIES = {0: "error", 1: "warning", 2: "info", 3: "hint"}


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@functools.lru_cache(maxsize=1)
def _unavailable() -> str | None:
    """Why the validator cannot run here, or None when it can."""
    node = shutil.which("node")
    if node is None:
        return "node is not on PATH"
    done = subprocess.run([node, str(SCRIPT), "--version"], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return None


def require_validator() -> None:
    """Skip (or, under CI, fail) the calling test when the validator cannot run."""
    reason = _unavailable()
    if reason is None:
        return
    message = f"Khronos glTF validator unavailable ({reason}); install it from the repository root with: {INSTALL}"
    if on_ci():
        pytest.fail(message + " (CI must run the validator tests)")
    pytest.skip(message)


def validate_gltf(path: str | Path) -> dict:
    """The validator's report for a .glb / .gltf file."""
    require_validator()
    done = subprocess.run([shutil.which("node"), str(SCRIPT), str(path)], capture_output=True, text=True, timeout=300)
    if done.returncode not in (0, 1):
        pytest.fail(f"validator failed on {path} (exit {done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


def describe(report: dict, severity: int | None = None) -> list[str]:
    """``"severity CODE at POINTER: message"`` for the report's messages (of one severity)."""
    return [f"{SEVERITIES[m['severity']]} {m['code']} at {m.get('pointer', '-')}: {m['message']}"
            for m in report["issues"]["messages"] if severity is None or m["severity"] == severity]  # fmt: skip


def assert_valid(path: str | Path, max_warnings: int = 0) -> dict:
    """Validate ``path``: no errors and at most ``max_warnings`` warnings; returns the report."""
    report = validate_gltf(path)
    issues = report["issues"]
    assert issues["numErrors"] == 0, f"{path}: " + "; ".join(describe(report, 0))
    assert issues["numWarnings"] <= max_warnings, f"{path}: " + "; ".join(describe(report, 1))
    return report
