"""The CSS an SVG file can carry: style sheets, selectors, declarations and their priorities.

Supported selectors (Selectors Level 3 without the dynamic parts): type, ``*``, ``.class``,
``#id``, attribute selectors (``[a]``, ``=``, ``~=``, ``|=``, ``^=``, ``$=``, ``*=``), compound
selectors, the descendant, child (``>``), adjacent (``+``) and general sibling (``~``)
combinators, selector lists, ``:first-child``, ``:last-child``, ``:only-child``,
``:nth-child()``, ``:root`` and ``:not()`` of a compound. Dynamic pseudo-classes (``:hover``,
...) never match a static drawing. A rule with any other selector is dropped, as CSS drops a
rule it cannot read, and the drop is reported.

``!important`` follows CSS Cascade 4: presentation attributes < style sheet < inline ``style``
< style sheet ``!important`` < inline ``!important``; within the style sheet, specificity and
then source order decide. ``@import`` is never fetched and ``@media`` blocks are not applied
(both reported); ``@charset`` and ``@font-face`` have no effect on shapes and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

Declaration = tuple[str, str, bool]  # (property, value, important)

_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_IDENT = r"-?[_a-zA-Z\u00a0-\uffff][-_a-zA-Z0-9\u00a0-\uffff]*"
_SIMPLE_RE = re.compile(
    rf"(?P<universal>\*)|(?P<type>{_IDENT})|#(?P<id>-?[-_a-zA-Z0-9\u00a0-\uffff]+)|\.(?P<cls>{_IDENT})"
    rf"|\[\s*(?P<attr>{_IDENT}(?::{_IDENT})?)\s*(?:(?P<op>[~|^$*]?=)\s*(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<bare>[-_a-zA-Z0-9\u00a0-\uffff]+))\s*)?\]"
    rf"|::?(?P<pseudo>{_IDENT})(?:\((?P<argument>[^()]*)\))?"
)
_DYNAMIC = {"hover", "active", "focus", "visited", "link", "focus-within", "focus-visible", "target"}
_NTH_RE = re.compile(
    r"^\s*(?:(?P<odd>odd)|(?P<even>even)|(?P<a>[+-]?\d*)n\s*(?:(?P<sign>[+-])\s*(?P<b>\d+))?|(?P<only>[+-]?\d+))\s*$"
)


class UnsupportedSelector(ValueError):
    """A selector this module cannot read (its rule is dropped)."""


@dataclass
class Compound:
    """Simple selectors that must all match one element."""

    tag: str | None = None  # None: any element
    ids: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    attributes: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    tests: list[Callable] = field(default_factory=list)  # pseudo-classes: test(element, tree)
    specificity: tuple[int, int, int] = (0, 0, 0)
    position: int | None = None  # a child position (from 1) that :first-child / :nth-child(b) requires


@dataclass
class Selector:
    """Compounds from left to right, each with the combinator that joins it to the previous one."""

    parts: list[tuple[str, Compound]]  # combinator in (" ", ">", "+", "~"); the first is ""
    specificity: tuple[int, int, int]

    def key(self) -> tuple:
        """The most selective thing the rightmost compound needs, to find candidate rules quickly.

        In order: an id, a class, an attribute with an exact value, a fixed child position
        (``:first-child``, ``:nth-child(b)``), the element type, an attribute's presence, anything.
        """
        last = self.parts[-1][1]
        if last.ids:
            return ("id", last.ids[0])
        if last.classes:
            return ("class", last.classes[0])
        exact = [(name, value) for name, op, value in last.attributes if op == "="]
        if exact:
            return ("attr=", _local_attribute(exact[0][0]), exact[0][1])
        if last.position is not None:
            return ("position", last.position)
        if last.tag:
            return ("type", last.tag)
        if last.attributes:
            return ("attr", _local_attribute(last.attributes[0][0]))
        return ("any", "")


def _local_attribute(name: str) -> str:
    """An attribute's local name: ``xlink:href`` and ``{namespace}href`` are both ``href``."""
    return name.rsplit("}", 1)[-1].split(":", 1)[-1]


@dataclass
class Rule:
    selector: Selector
    declarations: list[Declaration]
    order: int


class Tree:
    """Parent and sibling lookups over an ElementTree, as selector matching needs them."""

    def __init__(self, root, local_name: Callable) -> None:
        self.root = root
        self.local_name = local_name
        self.parent = {}
        self.children = {}
        self.position = {root: 0}
        for parent in root.iter():
            children = list(parent)
            self.children[parent] = children
            for index, child in enumerate(children):
                self.parent[child] = parent
                self.position[child] = index

    def siblings(self, element) -> list:
        parent = self.parent.get(element)
        return [element] if parent is None else self.children[parent]


def _nth(argument: str | None):
    match = _NTH_RE.match(argument or "")
    if match is None:
        raise UnsupportedSelector(f":nth-child({argument})")
    if match.group("odd"):
        a, b = 2, 1
    elif match.group("even"):
        a, b = 2, 0
    elif match.group("only") is not None:
        a, b = 0, int(match.group("only"))
    else:
        text = match.group("a")
        a = -1 if text == "-" else 1 if text in ("", "+") else int(text)
        b = int(match.group("b") or 0) * (-1 if match.group("sign") == "-" else 1)

    def test(position: int) -> bool:  # position counts from 1
        if a == 0:
            return position == b
        return (position - b) % a == 0 and (position - b) // a >= 0

    return test


def _pseudo(name: str, argument: str | None) -> Callable:
    name = name.lower()
    if name in _DYNAMIC:
        return lambda element, tree: False
    if name == "first-child":
        return lambda element, tree: tree.siblings(element)[0] is element
    if name == "last-child":
        return lambda element, tree: tree.siblings(element)[-1] is element
    if name == "only-child":
        return lambda element, tree: len(tree.siblings(element)) == 1
    if name == "root":
        return lambda element, tree: element is tree.root
    if name == "nth-child":
        position_test = _nth(argument)
        return lambda element, tree: position_test(tree.position[element] + 1)
    if name == "not" and argument is not None:
        inner = parse_compound(argument.strip())
        return lambda element, tree: not compound_matches(inner, element, tree)
    raise UnsupportedSelector(f":{name}")


def _fixed_position(name: str, argument: str | None) -> int | None:
    """The one child position (from 1) a pseudo-class allows, if it allows exactly one."""
    name = name.lower()
    if name == "first-child":
        return 1
    if name == "nth-child":
        match = _NTH_RE.match(argument or "")
        if match is not None and match.group("only") is not None and int(match.group("only")) >= 1:
            return int(match.group("only"))
    return None


def parse_compound(text: str) -> Compound:
    """One compound selector such as ``rect.warm#a[x="1"]:first-child``."""
    compound, position = Compound(), 0
    ids = classes = types = 0
    while position < len(text):
        match = _SIMPLE_RE.match(text, position)
        if match is None:
            raise UnsupportedSelector(text)
        if match.group("type") is not None:
            if position:
                raise UnsupportedSelector(text)
            compound.tag, types = match.group("type"), types + 1
        elif match.group("universal") is not None:
            if position:
                raise UnsupportedSelector(text)
        elif match.group("id") is not None:
            compound.ids.append(match.group("id"))
            ids += 1
        elif match.group("cls") is not None:
            compound.classes.append(match.group("cls"))
            classes += 1
        elif match.group("attr") is not None:
            value = next((match.group(k) for k in ("dq", "sq", "bare") if match.group(k) is not None), None)
            compound.attributes.append((match.group("attr"), match.group("op"), value))
            classes += 1
        else:
            if text[match.start() : match.start() + 2] == "::":
                raise UnsupportedSelector(f"pseudo-element {match.group()}")
            compound.tests.append(_pseudo(match.group("pseudo"), match.group("argument")))
            fixed = _fixed_position(match.group("pseudo"), match.group("argument"))
            if fixed is not None:
                compound.position = fixed
            classes += 1
        position = match.end()
    compound.specificity = (ids, classes, types)
    return compound


def parse_selector(text: str) -> Selector:
    """One complex selector (no commas)."""
    tokens = _selector_tokens(text.strip())
    parts: list[tuple[str, Compound]] = []
    combinator = ""
    for token in tokens:
        if token is None or token == "":
            continue
        if token in (">", "+", "~"):
            if combinator not in ("", " ") or not parts:
                raise UnsupportedSelector(text)
            combinator = token
            continue
        parts.append((combinator if parts else "", parse_compound(token)))
        combinator = " "
    if not parts or combinator in (">", "+", "~"):
        raise UnsupportedSelector(text)
    specificity = tuple(sum(compound.specificity[i] for _, compound in parts) for i in range(3))
    return Selector(parts, specificity)  # type: ignore[arg-type]


def _selector_tokens(text: str) -> list[str]:
    """Compounds and combinators (``" "`` is dropped; ``>``, ``+``, ``~`` kept) outside brackets."""
    tokens, current, depth, quote = [], "", 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif depth == 0 and (char.isspace() or char in ">+~"):
            if current:
                tokens.append(current)
            current = ""
            if not char.isspace():
                tokens.append(char)
            continue
        current += char
    if current:
        tokens.append(current)
    return tokens


def compound_matches(compound: Compound, element, tree: Tree) -> bool:
    if compound.tag is not None and tree.local_name(element) != compound.tag:
        return False
    if any(element.get("id") != value for value in compound.ids):
        return False
    if compound.classes:
        classes = (element.get("class") or "").split()
        if any(name not in classes for name in compound.classes):
            return False
    for name, op, value in compound.attributes:
        actual = _attribute(element, name)
        if actual is None or not _attribute_test(actual, op, value):
            return False
    return all(test(element, tree) for test in compound.tests)


def _attribute(element, name: str) -> str | None:
    if ":" in name:  # e.g. xlink:href or xml:lang, whatever the prefix is bound to
        local = name.split(":", 1)[1]
        return next((value for key, value in element.attrib.items() if key.endswith("}" + local)), None)
    return element.get(name)


def _attribute_test(actual: str, op: str | None, value: str | None) -> bool:
    if op is None:
        return True
    if op == "=":
        return actual == value
    if op == "~=":
        return value in actual.split()
    if op == "|=":
        return actual == value or actual.startswith(value + "-")
    if not value:  # ^= $= *= with an empty value match nothing
        return False
    return {"^=": actual.startswith, "$=": actual.endswith, "*=": actual.__contains__}[op](value)


def selector_matches(selector: Selector, element, tree: Tree) -> bool:
    """Whether ``element`` matches, trying each ancestor or sibling a combinator allows."""

    def match_from(index: int, candidate) -> bool:
        combinator, compound = selector.parts[index]
        if not compound_matches(compound, candidate, tree):
            return False
        if index == 0:
            return True
        if combinator == ">":
            parent = tree.parent.get(candidate)
            return parent is not None and match_from(index - 1, parent)
        if combinator == " ":
            ancestor = tree.parent.get(candidate)
            while ancestor is not None:
                if match_from(index - 1, ancestor):
                    return True
                ancestor = tree.parent.get(ancestor)
            return False
        siblings = tree.siblings(candidate)
        position = tree.position[candidate]
        if combinator == "+":
            return position > 0 and match_from(index - 1, siblings[position - 1])
        return any(match_from(index - 1, sibling) for sibling in siblings[:position])

    return match_from(len(selector.parts) - 1, element)


def parse_declarations(text: str) -> list[Declaration]:
    """``name: value [!important]; ...`` (a ``style`` attribute or a rule's body)."""
    declarations = []
    for chunk in _split_outside_parentheses(text, ";"):
        name, colon, value = chunk.partition(":")
        name = name.strip().lower()
        if not colon or not re.fullmatch(r"-?[_a-z][-_a-z0-9]*", name):
            continue
        value = value.strip()
        important = False
        match = re.search(r"!\s*important\s*$", value, re.IGNORECASE)
        if match:
            value, important = value[: match.start()].strip(), True
        if value:
            declarations.append((name, value, important))
    return declarations


def _split_outside_parentheses(text: str, separator: str) -> list[str]:
    parts, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def parse_stylesheet(text: str, first_order: int, report: Callable[[str, str], None]) -> list[Rule]:
    """The rules of a style sheet, numbered from ``first_order``; ``report(feature, detail)``."""
    text = _COMMENT.sub(" ", text).replace("<!--", " ").replace("-->", " ")
    rules: list[Rule] = []
    position, order = 0, first_order
    while position < len(text):
        brace = text.find("{", position)
        semicolon = text.find(";", position)
        head_end = brace if brace >= 0 else len(text)
        head = text[position:head_end].strip()
        if head.startswith("@") and 0 <= semicolon < head_end:  # @import ...; @charset ...;
            statement = text[position:semicolon].strip()
            if not statement.lower().startswith("@charset"):
                report("css-at-rule", f"{statement.split()[0]} (never fetched or applied)")
            position = semicolon + 1
            continue
        if brace < 0:
            break
        close = _matching_brace(text, brace)
        body = text[brace + 1 : close]
        position = close + 1
        if head.startswith("@"):
            keyword = head.split()[0].lower() if head.split() else "@"
            if keyword not in ("@font-face", "@charset"):
                report("css-at-rule", f"{keyword} blocks (not applied)")
            continue
        try:
            selectors = [parse_selector(part) for part in head.split(",")]
        except UnsupportedSelector as exc:
            report("css-selector", f"{head.strip()!r} ({exc})")
            continue
        declarations = parse_declarations(body)
        for selector in selectors:
            rules.append(Rule(selector, declarations, order))
            order += 1
    return rules


def _matching_brace(text: str, opening: int) -> int:
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return len(text)


class StyleSheet:
    """All rules of a document, indexed by what their rightmost compound needs."""

    def __init__(self, rules: list[Rule]) -> None:
        self.by_key: dict[tuple, list[Rule]] = {}
        for rule in rules:
            self.by_key.setdefault(rule.selector.key(), []).append(rule)

    def matching(self, element, tree: Tree) -> list[Rule]:
        """Rules whose selector matches ``element``, in no particular order."""
        keys = [("any", ""), ("type", tree.local_name(element)), ("position", tree.position.get(element, 0) + 1)]
        if element.get("id"):
            keys.append(("id", element.get("id")))
        keys.extend(("class", name) for name in (element.get("class") or "").split())
        for name, value in element.attrib.items():
            local = _local_attribute(name)
            keys.extend((("attr", local), ("attr=", local, value)))
        found = []
        seen = set()
        for key in keys:
            for rule in self.by_key.get(key, ()):
                if id(rule) not in seen and selector_matches(rule.selector, element, tree):
                    seen.add(id(rule))
                    found.append(rule)
        return found
