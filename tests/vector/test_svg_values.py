"""Tests for stylize.vector.svg.values: lengths and units, colours, paints, opacities, transforms."""

from __future__ import annotations

import math

import pytest

from stylize.vector.svg.values import (
    CURRENT_COLOR,
    LengthContext,
    apply,
    numbers,
    parse_color,
    parse_font_size,
    parse_length,
    parse_opacity,
    parse_paint,
    parse_transform,
    scale_factors,
    view_box_transform,
)

CONTEXT = LengthContext(200.0, 100.0, font_size=20.0)


@pytest.mark.parametrize(
    "text, axis, expected",
    [
        ("12", "x", 12.0), ("12px", "x", 12.0), ("1in", "x", 96.0), ("2.54cm", "x", 96.0), ("25.4mm", "x", 96.0),
        ("101.6Q", "x", 96.0), ("72pt", "x", 96.0), ("6pc", "x", 96.0), ("2em", "x", 40.0), ("2ex", "x", 20.0),
        ("10%", "x", 20.0), ("10%", "y", 10.0), ("10%", "other", 0.1 * math.sqrt((200**2 + 100**2) / 2)),
        (" -1.5e1 ", "x", -15.0), ("3MM", "x", 3 * 96 / 25.4),
    ],
)  # fmt: skip
def test_lengths_in_every_unit(text, axis, expected):
    assert parse_length(text, CONTEXT, axis) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "px", "12 px", "1e", "3vw", "auto", None])
def test_invalid_lengths_are_none(text):
    assert parse_length(text, CONTEXT) is None


def test_font_sizes_compound_and_overflow_reads_as_infinite():
    assert parse_font_size("150%", 20.0) == pytest.approx(30.0)
    assert parse_font_size("0.5em", 30.0) == pytest.approx(15.0)
    assert parse_font_size("large", 10.0) == 18.0 and parse_font_size("larger", 10.0) == pytest.approx(12.0)
    assert parse_font_size("-2px", 10.0) is None
    assert parse_length("1e999", CONTEXT) == math.inf  # refused later with the element's name


@pytest.mark.parametrize(
    "text, expected",
    [
        ("#c63", (0.8, 0.4, 0.2, 1.0)), ("#CC6633", (0.8, 0.4, 0.2, 1.0)), ("#c638", (0.8, 0.4, 0.2, 0x88 / 255)),
        ("rgb(255, 0, 51)", (1.0, 0.0, 0.2, 1.0)), ("rgb(10%,50%,100%)", (0.1, 0.5, 1.0, 1.0)),
        ("rgba(255,0,0,0.25)", (1.0, 0.0, 0.0, 0.25)), ("rgb(0 255 0 / 50%)", (0.0, 1.0, 0.0, 0.5)),
        ("rgb(300,-20,0)", (1.0, 0.0, 0.0, 1.0)), ("hsl(120, 100%, 25%)", (0.0, 0.5, 0.0, 1.0)),
        ("hsla(0,100%,50%,0.5)", (1.0, 0.0, 0.0, 0.5)), ("  SteelBlue ", (70 / 255, 130 / 255, 180 / 255, 1.0)),
        ("rebeccapurple", (0x66 / 255, 0x33 / 255, 0x99 / 255, 1.0)), ("transparent", (0.0, 0.0, 0.0, 0.0)),
    ],
)  # fmt: skip
def test_colours(text, expected):
    assert parse_color(text) == pytest.approx(expected)


def test_current_color_invalid_colours_and_paints():
    assert parse_color("currentcolor") == CURRENT_COLOR
    for text in ("#12", "#ggg", "rgb(1,2)", "hsl(10, 20, 30)", "qwerty", ""):
        assert parse_color(text) is None, text
    assert parse_paint("none").kind == "none" and parse_paint("currentColor").kind == "current"
    paint = parse_paint("url( '#grad' ) #00f")
    assert (paint.kind, paint.reference, paint.fallback.color) == ("url", "grad", (0.0, 0.0, 1.0, 1.0))
    assert parse_paint("url(#g)").fallback is None
    assert parse_paint("url(other.svg#g)") is None and parse_paint("bogus") is None


def test_opacities_take_percentages_and_clamp():
    assert parse_opacity("0.5") == 0.5 and parse_opacity("40%") == pytest.approx(0.4)
    assert parse_opacity("150%") == 1.0 and parse_opacity("-2") == 0.0
    assert parse_opacity("half") is None and parse_opacity("nan") is None


def test_transforms_compose_left_to_right():
    transform = parse_transform("translate(10,20) scale(2) rotate(90)")
    assert apply(transform, 1.0, 0.0) == pytest.approx((10.0, 22.0))
    around = parse_transform("rotate(180 5 5)")
    assert apply(around, 0.0, 0.0) == pytest.approx((10.0, 10.0))
    assert apply(parse_transform("skewX(45)"), 0.0, 1.0) == pytest.approx((1.0, 1.0))
    assert apply(parse_transform("matrix(1 0 0 1 3 4),translate(1)"), 0.0, 0.0) == pytest.approx((4.0, 4.0))
    assert parse_transform(None) == (1, 0, 0, 1, 0, 0) and parse_transform("  ") == (1, 0, 0, 1, 0, 0)
    for text in ("scale(2) wobble(3)", "translate(10,", "rotate(1 2)", "scale()"):
        assert parse_transform(text) is None, text
    assert scale_factors(parse_transform("rotate(30) scale(4 1)")) == pytest.approx((4.0, 1.0))


def test_view_box_alignment():
    meet = view_box_transform((0, 0, 40, 40), 200, 100, None)  # xMidYMid meet: scale 2.5, centred
    assert apply(meet, 0, 0) == pytest.approx((50.0, 0.0)) and apply(meet, 40, 40) == pytest.approx((150.0, 100.0))
    slice_ = view_box_transform((0, 0, 50, 50), 200, 100, "xMinYMax slice")  # scale 4, bottom aligned
    assert apply(slice_, 0, 50) == pytest.approx((0.0, 100.0))
    stretch = view_box_transform((10, 10, 50, 50), 200, 100, "none")
    assert apply(stretch, 60, 60) == pytest.approx((200.0, 100.0))


def test_number_lists_stop_at_errors():
    assert numbers("1,2 3-4.5.5e1") == ([1.0, 2.0, 3.0, -4.5, 5.0], True)
    assert numbers("1 2 x 3") == ([1.0, 2.0], False)


def test_named_colours_survive_pil_caching_its_colormap():
    # PIL's getrgb replaces colormap entries with tuples once it has converted them.
    from PIL import ImageColor

    from stylize.vector.svg import values as svg_values

    ImageColor.getrgb("steelblue")
    svg_values._named_colors.cache_clear()
    assert parse_color("SteelBlue") == pytest.approx((70 / 255, 130 / 255, 180 / 255, 1.0))


def test_rgb_comma_syntax_does_not_mix_numbers_and_percentages():
    from stylize.vector.svg.values import parse_color

    for text in ("rgba(255, 50%, 0, 1)", "rgb(100%, 0, 0)", "rgb(10, 20%, 30)"):
        assert parse_color(text) is None, text
    assert parse_color("rgb(100%, 50%, 0%)") == pytest.approx((1.0, 0.5, 0.0, 1.0))
    assert parse_color("rgb(255 50% 0)") == pytest.approx((1.0, 0.5, 0.0, 1.0))  # the space syntax may mix


def test_css_transforms_and_origins():
    from stylize.vector.svg.values import LengthContext, apply, parse_css_transform, parse_transform_origin

    turned = parse_css_transform("rotate(90deg) translate(10px, 0)")
    assert apply(turned, 0, 0) == pytest.approx((0.0, 10.0))
    assert apply(parse_css_transform("rotate(0.25turn)"), 1, 0) == pytest.approx((0.0, 1.0), abs=1e-9)
    assert apply(parse_css_transform("scaleX(2) translateY(3px)"), 1, 1) == pytest.approx((2.0, 4.0))
    assert parse_css_transform("none") == (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    for bad in ("rotate(90)", "wobble(2)", "translate(1em)", "scale(2) junk"):
        assert parse_css_transform(bad) is None, bad
    context = LengthContext(200.0, 100.0)
    assert parse_transform_origin("center", context) == pytest.approx((100.0, 50.0))
    assert parse_transform_origin("right 25%", context) == pytest.approx((200.0, 25.0))
    assert parse_transform_origin("bottom left", context) == pytest.approx((0.0, 100.0))
    assert parse_transform_origin("10 20px", context) == pytest.approx((10.0, 20.0))
