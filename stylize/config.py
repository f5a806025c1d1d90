"""Typed configs: dataclasses, named presets, TOML files and ``--set key=value`` overrides.

Each pipeline defines a config dataclass (fields may be nested dataclasses) and a dict of presets
(name -> overrides). :func:`resolve_config` composes, in order: the dataclass defaults, a preset,
a TOML file, then ``--set`` overrides. Unknown keys are an error naming the key; values are
checked against the field's type.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from stylize.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

T = TypeVar("T")


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file is an :class:`InputError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise InputError(f"config file {path} nests tables or arrays too deeply to read") from None


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value as a TOML value (``3``, ``0.5``, ``true``, ``[1, 2]``, ``"x"``);
    anything that is not valid TOML is taken as a plain string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text


def parse_set_items(items: Sequence[str]) -> dict[str, Any]:
    """``["lr=0.01", "render.size=128"]`` -> ``{"lr": 0.01, "render.size": 128}``."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set expects KEY=VALUE, got {item!r}")
        result[key.strip()] = parse_value(value.strip())
    return result


def flatten_keys(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"field": {"sigma": 5}}`` -> ``{"field.sigma": 5}`` (dotted keys, as ``--set`` takes them)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_keys(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a field annotation, converting only where it is lossless."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or (sys.version_info >= (3, 10) and origin is __import__("types").UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except InputError as exc:
                errors.append(str(exc))
        raise InputError(errors[0] if errors else f"config key {key!r}: bad value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise InputError(f"config key {key!r}: expected one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            if isinstance(value, str) and (args[:1] == (str,)):
                value = [value]
            else:
                raise InputError(f"config key {key!r}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [_coerce(v, item_type, key) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise InputError(f"config key {key!r}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise InputError(f"config key {key!r}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"config key {key!r}: expected a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise InputError(f"config key {key!r}: expected a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise InputError(f"config key {key!r}: expected a string, got {value!r}")
        return value
    return value


def apply_overrides(config: T, overrides: Mapping[str, Any]) -> T:
    """Return a copy of a config dataclass with dotted-key (or nested-dict) overrides applied.

    Raises:
        InputError: a key names no field (the message names the key), or a value has the wrong type.
    """
    flat = flatten_keys(overrides)
    result = config
    for key, value in flat.items():
        result = _set_path(result, key.split("."), value, key)
    return result


def _set_path(obj: Any, parts: list[str], value: Any, full_key: str) -> Any:
    if not dataclasses.is_dataclass(obj):
        raise InputError(f"unknown config key {full_key!r}")
    hints = typing.get_type_hints(type(obj))
    fields = {f.name for f in dataclasses.fields(obj)}
    head = parts[0].replace("-", "_")
    if len(parts) == 1 and head in getattr(type(obj), "LEGACY_KEYS", ()):
        return obj  # a key older versions wrote (e.g. in a run's config.toml): accepted, ignored
    if head not in fields:
        raise InputError(f"unknown config key {full_key!r} (known here: {', '.join(sorted(fields))})")
    current = getattr(obj, head)
    if len(parts) > 1:
        return dataclasses.replace(obj, **{head: _set_path(current, parts[1:], value, full_key)})
    if dataclasses.is_dataclass(current):
        raise InputError(f"config key {full_key!r} is a section; set one of its keys ({full_key}.KEY=VALUE)")
    return dataclasses.replace(obj, **{head: _coerce(value, hints[head], full_key)})


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain nested dicts (tuples become lists)."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        return value

    return convert(config)


_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _needs_escape(ch: str) -> bool:
    """Control characters (C0, DEL, C1) may not appear raw in a TOML basic string."""
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_TOML_ESCAPES.get(ch) or (f"\\u{ord(ch):04x}" if _needs_escape(ch) else ch) for ch in value) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Write nested dicts of scalars and lists as TOML (``None`` values are left out)."""
    lines: list[str] = []

    def emit(table: Mapping[str, Any], prefix: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping) and v is not None}
        tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
        if prefix and scalars:
            lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{key} = {_toml_value(value)}")
        if scalars:
            lines.append("")
        for key, value in tables.items():
            emit(value, f"{prefix}.{key}" if prefix else key)

    emit(data, "")
    return "\n".join(lines).rstrip() + "\n"


def resolve_config(
    cls: type[T],
    presets: Mapping[str, Mapping[str, Any]],
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """Compose a config: defaults <- preset <- TOML file <- overrides.

    A TOML file may itself name a ``preset``; an explicit ``preset`` argument wins over it.
    """
    file_data = dict(load_toml(config_file)) if config_file else {}
    name = preset or file_data.pop("preset", None)
    file_data.pop("preset", None)
    config = cls()
    if name is not None:
        if name not in presets:
            raise InputError(f"unknown preset {name!r}: expected one of {', '.join(presets)}")
        config = apply_overrides(config, presets[name])
    config = apply_overrides(config, file_data)
    return apply_overrides(config, overrides or {})


def absolute_path(value: str) -> str:
    """``value`` as an absolute path where it names an existing relative file or folder, else
    unchanged (an empty setting, a colour list, a missing file keep what the user wrote).

    Symbolic links are kept, not followed: the recorded name is the one the user gave."""
    if not isinstance(value, str) or not value or os.path.isabs(value) or not os.path.exists(value):
        return value
    return os.path.abspath(value)


def absolute_paths(config: T) -> T:
    """A copy of a run config whose path-valued settings are absolute (see :func:`absolute_path`):
    the keys its class lists in ``PATH_KEYS`` (a string or a list of strings each) and the local
    folders and weight files of its ``clip`` and ``judge`` specs.

    A run records its config in ``config.toml`` and its checkpoint; with absolute paths there,
    ``--resume``, ``stylize bake RUN`` and ``stylize apply RUN`` work from any directory.
    """
    from stylize.engine.specs import absolute_spec

    changes: dict[str, Any] = {}
    for key in getattr(config, "PATH_KEYS", ()):
        value = getattr(config, key)
        changes[key] = [absolute_path(v) for v in value] if isinstance(value, list) else absolute_path(value)
    for key in ("clip", "judge"):
        if isinstance(getattr(config, key, None), list):
            changes[key] = [absolute_spec(spec) for spec in getattr(config, key)]
    return dataclasses.replace(config, **changes) if changes else config


def check_seed(seed: Any, key: str = "seed") -> int:
    """A seed torch and NumPy can take: an integer in ``[0, 2**63)``, else :class:`InputError`."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"config key {key!r}: expected an integer from 0 to 2**63 - 1, got {seed!r}")
    return seed


def check_limits(values: Mapping[str, Any], limits: Mapping[str, tuple[float, float]]) -> None:
    """Each ``values[key]`` within its ``limits[key] = (low, high)`` (inclusive), else one line naming it.

    Upper bounds keep absurd sizes (``--set render_size=100000``) from allocating gigabytes before
    anything says no."""
    for key, (low, high) in limits.items():
        value = values[key]
        if not low <= value <= high:
            raise InputError(f"config key {key!r}: expected a value from {low:g} to {high:g}, got {value}")


def physical_memory_bytes() -> int | None:
    """This machine's RAM, or None where the OS does not say."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(estimate: float, what: str, setting: str) -> None:
    """Refuse a job whose estimated memory exceeds this machine's RAM, naming the setting to lower."""
    total = physical_memory_bytes()
    if total is not None and estimate > total:
        raise InputError(f"{what} would need about {estimate / 2**30:.0f} GiB, more than this machine's "
                         f"{total / 2**30:.0f} GiB: lower {setting}")  # fmt: skip
