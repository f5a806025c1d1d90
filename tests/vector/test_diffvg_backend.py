"""Tests for stylize.vector.diffvg_backend with a stand-in pydiffvg (the real one is built from source).

The stand-in records what the backend passes, so the translation of a scene is checked here; the
parity with real diffvg is tests/vector/test_raster.py::test_diffvg_parity, where pydiffvg exists.
"""

from __future__ import annotations

import logging
import sys
import types

import torch

from stylize.vector.renderer import get_renderer
from stylize.vector.scene import Scene, VectorPath, rect_contour


def _fake_pydiffvg(calls: list) -> types.ModuleType:
    module = types.ModuleType("pydiffvg")

    class Path:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class ShapeGroup:
        def __init__(self, **kwargs):
            self.kwargs = kwargs
            calls.append(kwargs)

    class RenderFunction:
        @staticmethod
        def serialize_scene(width, height, shapes, groups):
            return [width, height]

        @staticmethod
        def apply(width, height, *args):
            return torch.zeros(height, width, 4)

    module.Path, module.ShapeGroup, module.RenderFunction = Path, ShapeGroup, RenderFunction
    return module


def test_diffvg_gets_opacity_in_alphas_and_styles_are_reported_once(monkeypatch, caplog):
    calls: list = []
    monkeypatch.setitem(sys.modules, "pydiffvg", _fake_pydiffvg(calls))
    square = VectorPath([rect_contour(2, 2, 8, 8)], closed=True, stroke_width=1.0, stroke_color=(0, 0, 1, 0.8),
                        fill_color=(1, 0, 0, 1), linejoin="miter", opacity=0.5)  # fmt: skip
    renderer = get_renderer("diffvg")
    with caplog.at_level(logging.WARNING, logger="stylize.vector.diffvg_backend"):
        image = renderer([Scene.from_paths([square]), Scene.from_paths([square])], 12, 12)
    assert image.shape == (2, 12, 12, 3)
    assert torch.allclose(calls[0]["fill_color"], torch.tensor([1.0, 0.0, 0.0, 0.5]))
    assert torch.allclose(calls[0]["stroke_color"], torch.tensor([0.0, 0.0, 1.0, 0.4]))
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and "round" in messages[0]
