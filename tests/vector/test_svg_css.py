"""Tests for stylize.vector.svg.css and stylize.vector.svg.style: selectors, specificity, !important, inheritance."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from stylize.vector.svg.css import StyleSheet, Tree, UnsupportedSelector, parse_declarations, parse_selector, parse_stylesheet
from stylize.vector.svg.style import Cascade, root_style

DOCUMENT = """<svg id="root">
  <g id="outer" class="a">
    <rect id="r1" class="warm deep" data-kind="hot" lang="en-GB"/>
    <circle id="c1"/>
    <g id="inner"><rect id="r2"/></g>
  </g>
  <rect id="r3" class="warm" style="fill: #00f; stroke-width: 3 !important"/>
</svg>"""


def _tree():
    root = ET.fromstring(DOCUMENT)
    return (
        root,
        Tree(root, lambda element: element.tag),
        {element.get("id"): element for element in root.iter() if element.get("id")},
    )


@pytest.mark.parametrize(
    "selector, ids",
    [
        ("rect", {"r1", "r2", "r3"}), ("*", {"root", "outer", "r1", "c1", "inner", "r2", "r3"}), (".warm", {"r1", "r3"}),
        (".warm.deep", {"r1"}), ("#c1", {"c1"}), ("rect.warm#r3", {"r3"}), ("g rect", {"r1", "r2"}),
        ("#outer > rect", {"r1"}), ("#outer > g > rect", {"r2"}), (":root", {"root"}), ("rect + circle", {"c1"}), ("rect ~ g", {"inner"}), ("rect + g", set()),
        ("circle ~ g", {"inner"}), ("[data-kind]", {"r1"}), ('[data-kind="hot"]', {"r1"}), ("[class~=deep]", {"r1"}),
        ('[lang|="en"]', {"r1"}), ('[id^="r"]', {"root", "r1", "r2", "r3"}), ("[id$='3']", {"r3"}), ('[id*="ute"]', {"outer"}),
        ("rect:first-child", {"r1", "r2"}), ("g:last-child", {"inner"}), ("rect:nth-child(odd)", {"r1", "r2"}),
        ("rect:not(.deep)", {"r2", "r3"}), ("rect:hover", set()),
    ],
)  # fmt: skip
def test_selectors_match(selector, ids):
    root, tree, by_id = _tree()
    parsed = parse_selector(selector)
    from stylize.vector.svg.css import selector_matches

    found = {element.get("id") or "" for element in root.iter() if selector_matches(parsed, element, tree)}
    assert found == ids


def test_specificity_and_unsupported_selectors():
    assert parse_selector("rect.warm#r3").specificity == (1, 1, 1)
    assert parse_selector("g > rect:first-child [x]").specificity == (0, 2, 2)
    for selector in ("rect::before", "rect:has(circle)", "[x=y i]", "> rect", "rect >"):
        with pytest.raises(UnsupportedSelector):
            parse_selector(selector)


def test_stylesheet_reports_at_rules_and_drops_unreadable_rules():
    reports = []
    rules = parse_stylesheet(
        "@import url(x.css); /* c */ @media print { rect { fill: red } } rect::after { fill: red } @font-face { x: y }"
        " rect, circle { fill : #0f0 ; stroke: red !important; ; bogus ; }",
        0, lambda feature, detail: reports.append((feature, detail)),
    )  # fmt: skip
    assert [rule.selector.parts[-1][1].tag for rule in rules] == ["rect", "circle"]
    assert rules[0].declarations == [("fill", "#0f0", False), ("stroke", "red", True)]
    assert [feature for feature, _ in reports] == ["css-at-rule", "css-at-rule", "css-selector"]
    assert "@import" in reports[0][1] and "@media" in reports[1][1]
    assert parse_declarations("FILL: red; x:; stroke : url(a;b) ;") == [("fill", "red", False), ("stroke", "url(a;b)", False)]


def test_cascade_order_important_inherit_and_current_color():
    root, tree, by_id = _tree()
    rules = parse_stylesheet(
        "rect { fill: #f00; stroke-width: 5 } #r3 { fill: #0f0 } .warm { stroke: currentColor; color: #123456 }"
        " rect.warm { fill-opacity: 50% !important } g { fill: #fff; opacity: 0.5 }",
        0, lambda *args: None,
    )  # fmt: skip
    cascade = Cascade(tree, StyleSheet(rules))
    viewport = (100.0, 100.0)
    group = cascade.computed(by_id["outer"], root_style(), viewport)
    r1 = cascade.computed(by_id["r1"], group, viewport)
    r3 = cascade.computed(by_id["r3"], root_style(), viewport)
    assert r3["fill"].color == (0.0, 0.0, 1.0, 1.0)  # inline style beats #id
    assert r3["stroke-width"] == 3.0  # inline !important beats the sheet
    assert r3["fill-opacity"] == 0.5  # sheet !important beats everything normal
    assert r3["stroke"].kind == "current" and r3["color"][:3] == pytest.approx((0x12 / 255, 0x34 / 255, 0x56 / 255))
    assert r1["fill"].color == (1.0, 0.0, 0.0, 1.0)  # its own rule beats the inherited group fill
    assert group["opacity"] == 0.5 and r1["opacity"] == 1.0  # opacity is not inherited
    child = ET.fromstring('<rect fill="inherit" opacity="inherit" stroke-width="-1" fill-rule="sideways"/>')
    computed = Cascade(Tree(child, lambda e: e.tag), StyleSheet([])).computed(child, group, viewport)
    assert computed["fill"].color == (1.0, 1.0, 1.0, 1.0) and computed["opacity"] == 0.5
    assert computed["stroke-width"] == 1.0 and computed["fill-rule"] == "nonzero"  # invalid values are ignored
