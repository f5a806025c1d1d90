"""Tests for stylize.vector.svg.importer: structure, opacity folding, paint order and warnings.

What each feature looks like is checked against resvg in tests/vector/test_svg_corpus.py; these
tests check the scene the importer builds and what it says.
"""

from __future__ import annotations

import logging

import pytest

from stylize.vector.svg import read_svg


def _read(tmp_path, body: str, caplog, size: str = 'width="100" height="100"'):
    file = tmp_path / "t.svg"
    file.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" {size}>{body}</svg>')
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stylize"):
        document = read_svg(file)
    return document.scene, [record.getMessage() for record in caplog.records]


def test_group_opacity_folds_into_paths_and_warns_only_on_overlap(tmp_path, caplog):
    apart = '<g opacity="0.5"><rect width="10" height="10"/><rect x="50" width="10" height="10" opacity="0.5"/></g>'
    scene, messages = _read(tmp_path, apart, caplog)
    assert scene.opacities.tolist() == [0.5, 0.25] and messages == []
    scene, messages = _read(tmp_path, apart.replace('x="50"', 'x="5"'), caplog)
    assert len(messages) == 1 and "overlapping" in messages[0]
    # One element's fill and stroke are composited together by the renderer: no warning.
    scene, messages = _read(tmp_path, '<rect width="10" height="10" stroke="red" stroke-width="4" opacity="0.5"/>', caplog)
    assert scene.num_paths == 1 and scene.opacities.tolist() == [0.5] and messages == []


def test_open_filled_subpaths_and_paint_order_split_fill_and_stroke(tmp_path, caplog):
    scene, messages = _read(tmp_path, '<path d="M 10 90 L 40 10 L 70 90" fill="#fc6" stroke="#630" stroke-width="6"/>', caplog)
    fill, stroke = scene.paths()
    assert fill.closed_flags() == [True] and fill.stroke_color is None
    assert stroke.closed_flags() == [False] and stroke.fill_color is None and messages == []
    scene, _ = _read(tmp_path, '<rect width="10" height="10" fill="red" stroke="blue" paint-order="stroke"/>', caplog)
    first, second = scene.paths()
    assert first.stroke_color is not None and first.fill_color is None and second.fill_color is not None
    scene, messages = _read(tmp_path, '<path d="M 10 90 L 40 10 L 70 90" fill="#fc6" stroke="#630" opacity="0.5"/>', caplog)
    assert scene.num_paths == 2 and "overlapping" in messages[0]  # the two halves overlap


def test_use_symbol_and_switch(tmp_path, caplog):
    body = (
        '<symbol id="s" viewBox="0 0 10 10"><rect width="10" height="10"/></symbol>'
        '<rect id="r" width="5" height="5"/>'
        '<use href="#s" x="20" y="0" width="40" height="20" fill="red"/>'
        '<use xlink:href="#r" x="70" fill="blue" stroke="black"/>'
        '<switch><rect systemLanguage="fr" width="1" height="1"/><circle r="3" cx="90" cy="90"/><rect width="2" height="2"/></switch>'
    )
    scene, messages = _read(tmp_path, body, caplog)
    assert messages == []
    direct, symbol, used, switched = scene.paths()
    xs = symbol.contours[0][:, 0]
    assert (xs.min().item(), xs.max().item()) == pytest.approx((30.0, 50.0))  # 10 x 10 viewBox meets 40 x 20, centred
    assert symbol.fill_color.tolist() == [1, 0, 0, 1]  # inherited from the use
    assert used.contours[0][:, 0].min().item() == pytest.approx(70.0) and used.stroke_color is not None
    assert direct.fill_color.tolist() == [0, 0, 0, 1]
    assert switched.contours[0][:, 0].max().item() == pytest.approx(93.0)  # the circle, the first that passes


def test_zero_length_subpaths_follow_the_cap(tmp_path, caplog):
    dots = "".join(
        f'<path d="M {10 + 30 * i} 10 z" stroke="black" stroke-width="6" stroke-linecap="{cap}"/>'
        for i, cap in enumerate(("butt", "round", "square"))
    )
    scene, _ = _read(tmp_path, dots, caplog)
    assert [path.linecap for path in scene.paths()] == ["round", "square"]


def test_warnings_are_said_once_per_feature_with_counts(tmp_path, caplog):
    body = (
        '<line x1="0" y1="0" x2="50" y2="50" stroke="black" stroke-dasharray="4 2"/>'
        '<line x1="0" y1="9" x2="50" y2="59" stroke="black" stroke-dasharray="1"/>'
        '<svg x="10" y="10" width="20" height="20"><rect width="50" height="5"/></svg>'
        '<svg x="60" y="60" width="20" height="20"><rect width="5" height="5"/></svg>'
        '<polyline points="0 0 5 5" stroke="red" stroke-linejoin="arcs" marker-end="url(#m)"/>'
        '<rect width="5" height="5" filter="url(#f)" mask="url(#m)"/>'
    )
    scene, messages = _read(tmp_path, body, caplog)
    text = "\n".join(messages)
    assert len(messages) == 4, text  # dashes and viewport clipping are drawn (no warning)
    # The overflowing viewport clips its content (one clip group); the one that fits needs none.
    assert scene.clip_of.tolist().count(0) == 1 and scene.clipped_by.tolist().count(0) == 1
    assert "markers" in text and "arcs" in text and "filter" in text and "mask" in text


def test_a_missing_height_follows_the_view_box_aspect(tmp_path, caplog):
    file = tmp_path / "v.svg"
    file.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 80 40" width="160"><rect width="8" height="4"/></svg>')
    document = read_svg(file)
    assert (document.width, document.height) == (160, 80)
    assert document.scene.points[:, 0].max().item() == pytest.approx(16.0)


def _import(text: str):
    from stylize.vector.svg.importer import import_svg
    from stylize.vector.svg.read import parse_document

    return import_svg(parse_document(text.encode(), "inline"), "inline")[0]


def test_href_wins_over_xlink_href_for_use_and_gradients():
    paths = _import(
        """<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="20" height="20">
        <defs><rect id="a" width="2" height="2" fill="red"/><rect id="b" width="2" height="2" fill="blue"/>
        <linearGradient id="g1"><stop offset="0" stop-color="red"/><stop offset="1" stop-color="red"/></linearGradient>
        <linearGradient id="g2"><stop offset="0" stop-color="blue"/><stop offset="1" stop-color="lime"/></linearGradient>
        <linearGradient id="g" href="#g2" xlink:href="#g1"/></defs>
        <use href="#b" xlink:href="#a"/><rect x="4" width="4" height="4" fill="url(#g)"/></svg>"""
    )
    assert list(paths[0].fill_color) == pytest.approx([0, 0, 1, 1])
    assert paths[1].fill_gradient.stop_tensors()[1][:, 1].tolist() == pytest.approx([0.0, 1.0])


def test_css_transform_property_and_transform_origin_are_applied():
    paths = _import(
        """<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">
        <style>.moved { transform: translate(10px, 5px) }</style>
        <rect class="moved" width="2" height="2" transform="translate(50 50)"/>
        <rect x="40" y="40" width="20" height="20" transform="rotate(90)" transform-origin="50 50"/>
        <rect x="0" y="0" width="10" height="10" style="transform: scale(2); transform-origin: 10px 10px"/></svg>"""
    )
    assert paths[0].contours[0][0].tolist() == pytest.approx([10.0, 5.0])  # the property beats the attribute
    assert paths[1].contours[0][0].tolist() == pytest.approx([60.0, 40.0], abs=1e-5)  # (40, 40) about (50, 50)
    assert paths[2].contours[0][0].tolist() == pytest.approx([-10.0, -10.0])
