"""Tests for stylize.vector.svg: export, import, round trip, fidelity vs resvg, safety."""

from __future__ import annotations

import io
import logging
import math

import numpy as np
import pytest
import torch

from stylize.errors import InputError
from stylize.vector.raster import render
from stylize.vector.scene import Scene, VectorPath, ellipse_contour, polyline_contour, random_strokes, rect_contour
from stylize.vector.svg import load_svg, read_svg, save_svg, svg_string


def _mixed_scene(size: int = 256) -> Scene:
    """Fills (nonzero and even-odd), strokes of several widths, partial alphas."""
    generator = torch.Generator().manual_seed(1)
    angles = torch.arange(5, dtype=torch.float64) * (4 * math.pi / 5) - math.pi / 2
    star = torch.stack([180 + 60 * torch.cos(angles), 180 + 60 * torch.sin(angles)], dim=1)
    paths = [
        VectorPath([ellipse_contour((90, 100), 60, 40)], True, 3.0, (0.1, 0.2, 0.7, 0.9), (0.9, 0.6, 0.1, 0.6)),
        VectorPath([rect_contour(120, 30, 100, 80)], True, 1.0, None, (0.2, 0.8, 0.3, 0.5)),
        VectorPath([polyline_contour(star, closed=True)], True, 2.0, (0, 0, 0, 0.8), (0.8, 0.1, 0.1, 0.7), "evenodd"),
    ]
    for path in random_strokes(40, size, size, generator=generator, requires_grad=False).paths():
        path.stroke_width = float(1 + 4 * torch.rand(1, generator=generator))
        paths.append(path)
    return Scene.from_paths(paths)


def test_export_attributes_and_metadata(tmp_path):
    scene = _mixed_scene()
    out = save_svg(scene, tmp_path / "drawing.svg", 256, 256, metadata={"prompt": "a <red> & blue cat", "seed": 7})
    text = out.read_text()
    assert 'width="256" height="256" viewBox="0 0 256 256"' in text
    assert 'stroke-linecap="round"' in text and 'stroke-linejoin="round"' in text
    assert 'fill-rule="evenodd"' in text and 'fill="none"' in text
    assert 'stroke-width="6"' in text  # half-width 3 on the ellipse
    assert not list(tmp_path.glob(".*tmp*")), "atomic write left a temporary file"
    document = read_svg(out)
    assert document.metadata == {"prompt": "a <red> & blue cat", "seed": 7}
    assert (document.width, document.height) == (256, 256)


def test_round_trip_reproduces_the_scene(tmp_path):
    scene = _mixed_scene()
    loaded = load_svg(save_svg(scene, tmp_path / "drawing.svg", 256, 256))
    assert loaded.num_paths == scene.num_paths
    assert torch.equal(loaded.contour_point_counts, scene.contour_point_counts)
    assert torch.equal(loaded.contour_closed, scene.contour_closed)
    for name in ("has_stroke", "has_fill", "evenodd"):
        assert torch.equal(getattr(loaded, name), getattr(scene, name)), name
    assert torch.allclose(loaded.points, scene.points, atol=1e-4)
    has_stroke, has_fill = scene.has_stroke, scene.has_fill
    assert torch.allclose(loaded.stroke_widths[has_stroke], scene.stroke_widths[has_stroke], atol=1e-4)
    assert torch.allclose(loaded.stroke_colors[has_stroke], scene.stroke_colors[has_stroke], atol=1 / 255)  # 8-bit RGB
    assert torch.allclose(loaded.fill_colors[has_fill], scene.fill_colors[has_fill], atol=1 / 255)
    assert (render(loaded, 256, 256) - render(scene, 256, 256)).abs().mean() < 1e-3


def test_independent_renderer_matches():
    resvg = pytest.importorskip("resvg_py")
    from PIL import Image

    scene = _mixed_scene()
    png = resvg.svg_to_bytes(svg_string=svg_string(scene, 256, 256), background="#ffffff")
    reference = np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"), dtype=np.float32) / 255.0
    ours = render(scene, 256, 256).numpy()
    error = float(np.abs(ours - reference).mean())
    assert error <= 0.01, f"mean absolute error vs resvg {error:.4f}"


SHAPES_SVG = """<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="80" viewBox="0 0 50 40">
  <g transform="translate(5,0)" opacity="0.5">
    <rect x="1" y="2" width="10" height="6" fill="#ff0000" fill-opacity="0.5" stroke="blue" stroke-width="2"/>
    <circle cx="20" cy="20" r="5" fill="rgb(0,255,0)"/>
  </g>
  <ellipse cx="30" cy="10" rx="6" ry="3" fill="none" stroke="black"/>
  <line x1="0" y1="39" x2="49" y2="39" stroke="black"/>
  <polyline points="0,0 10,10 20,0" fill="none" stroke="black"/>
  <polygon points="30,30 40,30 35,38" fill="black" fill-rule="evenodd"/>
  <path d="M 40 2 Q 45 8 48 2 L 48 6" fill="#00f" stroke="#000"/>
</svg>
"""


def test_load_shapes_groups_transforms_and_opacity(tmp_path):
    file = tmp_path / "shapes.svg"
    file.write_text(SHAPES_SVG)
    document = read_svg(file)
    scene = document.scene
    assert (document.width, document.height) == (100, 80)
    # rect, circle, ellipse, line, polyline, polygon, and the open filled path split in two
    assert scene.num_paths == 8
    rect = scene.path(0)
    assert rect.closed_flags() == [True]
    # translate(5,0) then viewBox scale 2: x from (1 + 5) * 2 = 12 to (11 + 5) * 2 = 32
    xs = rect.contours[0][:, 0]
    assert xs.min().item() == pytest.approx(12.0) and xs.max().item() == pytest.approx(32.0)
    assert rect.stroke_width == pytest.approx(2.0)  # stroke-width 2 scaled by 2, halved
    assert rect.fill_color[3].item() == pytest.approx(0.25)  # fill-opacity 0.5 x group opacity 0.5
    assert rect.stroke_color.tolist() == pytest.approx([0, 0, 1, 0.5])
    assert scene.path(3).fill_color is None  # a line has no area
    assert scene.path(5).fill_rule == "evenodd"
    fill_part, stroke_part = scene.path(6), scene.path(7)
    assert fill_part.closed_flags() == [True] and fill_part.stroke_color is None
    assert stroke_part.closed_flags() == [False] and stroke_part.fill_color is None


def test_unsupported_content_warns(tmp_path, caplog):
    file = tmp_path / "fancy.svg"
    file.write_text(
        """<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">
        <defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient></defs>
        <rect width="5" height="5" fill="url(#g)" stroke="black"/>
        <text x="1" y="1">hello</text>
        <image href="x.png" width="2" height="2"/>
        </svg>"""
    )
    with caplog.at_level(logging.WARNING, logger="stylize.vector.svg"):
        scene = load_svg(file)
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "url(#g)" in messages and "gradient" in messages
    assert "text" in messages and "image" in messages
    assert scene.num_paths == 1 and scene.path(0).fill_color is None


def test_malformed_and_missing_files_raise_input_error(tmp_path):
    broken = tmp_path / "broken.svg"
    broken.write_text("<svg xmlns='http://www.w3.org/2000/svg'><path d='M0 0 L1 1'</svg>")
    with pytest.raises(InputError, match="broken.svg"):
        load_svg(broken)
    with pytest.raises(InputError, match="missing.svg"):
        load_svg(tmp_path / "missing.svg")


def test_external_entities_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    file = tmp_path / "xxe.svg"
    file.write_text(
        f"""<?xml version="1.0"?>
<!DOCTYPE svg [ <!ENTITY leak SYSTEM "file://{secret}"> ]>
<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">
<metadata><stylize xmlns="urn:stylize:metadata">{{"prompt": "&leak;"}}</stylize></metadata>
<rect width="5" height="5"/></svg>"""
    )
    with pytest.raises(InputError, match="external XML entity") as info:
        read_svg(file)
    assert "TOP-SECRET" not in str(info.value)
