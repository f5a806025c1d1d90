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
    assert rect.fill_color[3].item() == pytest.approx(0.5)  # fill-opacity
    assert rect.opacity == pytest.approx(0.5)  # the group's opacity, over fill and stroke together
    assert rect.stroke_color.tolist() == pytest.approx([0, 0, 1, 1])
    assert (rect.linecap, rect.linejoin, rect.miter_limit) == ("butt", "miter", 4.0)  # SVG's defaults
    assert scene.path(3).fill_color is None  # a line has no area
    assert scene.path(5).fill_rule == "evenodd"
    fill_part, stroke_part = scene.path(6), scene.path(7)
    assert fill_part.closed_flags() == [True] and fill_part.stroke_color is None
    assert stroke_part.closed_flags() == [False] and stroke_part.fill_color is None


def test_unsupported_content_warns_once_per_feature(tmp_path, caplog):
    file = tmp_path / "fancy.svg"
    file.write_text(
        """<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">
        <defs><linearGradient id="g"><stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/></linearGradient></defs>
        <rect width="5" height="5" fill="url(#g)" stroke="black" filter="url(#blur)"/>
        <rect x="5" width="5" height="5" fill="url(#g)" filter="url(#blur)"/>
        <text x="1" y="1">hello</text>
        <image href="x.png" width="2" height="2"/>
        </svg>"""
    )
    with caplog.at_level(logging.WARNING, logger="stylize.vector.svg"):
        scene = load_svg(file)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3  # filters (twice, said once), text, image
    filters = next(message for message in messages if "filter" in message)
    assert "url(#blur)" in filters and "2 times" in filters and "fancy.svg" in filters
    assert any("text" in message for message in messages) and any("image" in message for message in messages)
    # The gradient is a gradient (no warning): red to blue along x over the rectangle, whose solid
    # stand-in colour is the average.
    assert scene.num_paths == 2 and scene.num_gradients == 2
    gradient = scene.path(0).fill_gradient
    assert gradient.kind == "linear" and gradient.geometry()[:4] == pytest.approx([0.0, 0.0, 1.0, 0.0])
    assert gradient.transform == pytest.approx((5.0, 0.0, 0.0, 5.0, 0.0, 0.0))  # objectBoundingBox units
    assert scene.path(0).fill_color.tolist() == pytest.approx([0.5, 0.0, 0.5, 1.0], abs=0.02)


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


def test_billion_laughs_is_refused(tmp_path):
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    file = tmp_path / "laughs.svg"
    file.write_text(
        f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY l0 "lol">{entities}]>'
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><title>&l9;</title></svg>'
    )
    with pytest.raises(InputError, match="malformed SVG file .*amplification"):
        read_svg(file)


def _write(tmp_path, name: str, body: str, size: str = 'width="100" height="100"') -> str:
    file = tmp_path / name
    file.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" {size}>{body}</svg>')
    return str(file)


@pytest.mark.parametrize(
    "body, words",
    [
        ('<path d="M 0 0 L 1e999 5 L 3 4" stroke="black"/>', "<path> has a coordinate that is not a finite number"),
        ('<g transform="scale(1e300)"><rect width="10" height="10" transform="scale(1e300)"/></g>', "<rect> has a coordinate"),
        (
            '<rect id="far" width="10" height="10" transform="translate(1e30 0)"/>',
            "<rect id='far'> has a coordinate or stroke width of 1e+30",
        ),
        ('<rect width="10" height="10" stroke="red" stroke-width="1e400"/>', "stroke width of inf"),
    ],
)
def test_infinite_or_overflowing_coordinates_are_refused(tmp_path, body, words):
    with pytest.raises(InputError) as info:
        read_svg(_write(tmp_path, "bad.svg", body))
    assert words in str(info.value) and "\n" not in str(info.value)


def test_size_limits_are_checked_before_allocating(tmp_path, monkeypatch):
    import stylize.vector.svg.importer as svg_import

    with pytest.raises(InputError, match="canvas of 100000 x 100000 px, more than the import limit of 67108864 pixels"):
        read_svg(_write(tmp_path, "huge.svg", "<rect width='1' height='1'/>", 'width="100000" height="100000"'))
    with pytest.raises(InputError, match="no usable size"):
        read_svg(_write(tmp_path, "zero.svg", "<rect width='1' height='1'/>", 'width="0" height="10"'))
    with pytest.raises(InputError, match="more than 128 deep"):
        read_svg(_write(tmp_path, "deep.svg", "<g>" * 200 + "</g>" * 200))
    monkeypatch.setattr(svg_import, "MAX_IMPORT_PATHS", 5)
    with pytest.raises(InputError, match="has 6 shapes, more than the import limit of 5 paths"):
        read_svg(_write(tmp_path, "six.svg", "<rect width='1' height='1'/>" * 6))
    # use multiplies paths beyond what the file holds: counted as they are made
    uses = "<defs><rect id='r' width='1' height='1'/></defs>" + "<use href='#r'/>" * 6
    with pytest.raises(InputError, match="more than 5 paths"):
        read_svg(_write(tmp_path, "uses.svg", uses))
    monkeypatch.setattr(svg_import, "MAX_IMPORT_SEGMENTS", 7)
    with pytest.raises(InputError, match="more than 7 curve segments"):
        read_svg(_write(tmp_path, "segments.svg", "<rect width='1' height='1'/><rect width='1' height='1'/>"))
    # a use bomb of empty groups makes no paths at all: bounded by the elements visited
    monkeypatch.setattr(svg_import, "MAX_VISITS", 500)
    bomb = (
        "<defs><g id='g0'/>"
        + "".join(f"<g id='g{i}'>" + f"<use href='#g{i - 1}'/>" * 10 + "</g>" for i in range(1, 6))
        + "</defs><use href='#g5'/>"
    )
    with pytest.raises(InputError, match="more than 500 elements"):
        read_svg(_write(tmp_path, "bomb.svg", bomb))


def _many_paths_svg(path, count: int = 100_000) -> None:
    generator = np.random.default_rng(0)
    coordinates = generator.uniform(0, 100, size=(count, 4))
    with open(path, "w") as handle:
        handle.write('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">\n')
        handle.writelines(f'<path d="M{a:.2f} {b:.2f} L{c:.2f} {d:.2f}" stroke="black"/>\n' for a, b, c, d in coordinates)
        handle.write("</svg>\n")


@pytest.mark.slow
def test_a_file_of_100k_paths_is_refused_with_little_memory(tmp_path):
    import tracemalloc

    file = tmp_path / "many.svg"
    _many_paths_svg(file)
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="has 100000 shapes, more than the import limit of 10000 paths"):
            read_svg(file)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400 * 2**20, f"peak {peak / 2**20:.0f} MiB while refusing"


def test_svgz_is_read_and_its_size_bounded(tmp_path, monkeypatch):
    import gzip

    import stylize.vector.svg.read as svg

    file = tmp_path / "small.svgz"
    file.write_bytes(
        gzip.compress(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5"/></svg>')
    )
    assert read_svg(file).scene.num_paths == 1
    monkeypatch.setattr(svg, "MAX_SVG_BYTES", 100_000)
    bomb = tmp_path / "bomb.svgz"  # 1 kB that would unpack to 1 MB: never unpacked past the limit
    bomb.write_bytes(gzip.compress(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' + b" " * 2**20 + b"</svg>"))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(InputError, match="larger than the import limit of 100000 bytes"):
        read_svg(bomb)


@pytest.mark.parametrize(
    "content, words",
    [
        ('<path d="M 0 0 L 1e999 5" stroke="black"/>', "not a finite number"),
        ("many", "more than the import limit of 10000 paths"),
    ],
)
def test_draw_init_with_hostile_svg_is_one_line_exit_2(tmp_path, capsys, tiny_clip_spec, content, words):
    from stylize.cli import main

    init = tmp_path / "init.svg"
    if content == "many":
        _many_paths_svg(init)
    else:
        init.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">{content}</svg>')
    before = init.read_bytes()
    out = tmp_path / "run"
    argv = [
        "draw",
        "a cat",
        "--init",
        str(init),
        "--out",
        str(out),
        "--preset",
        "smoke",
        "--clip",
        tiny_clip_spec,
        "--device",
        "cpu",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylize: error:") and words in err and "\n" not in err
    assert not out.exists() or not any(out.iterdir())
    assert init.read_bytes() == before
