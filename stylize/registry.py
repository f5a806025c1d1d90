"""Named components: one small registry per kind (renderers, losses, augmentations, executors, ...).

Every registry is a :class:`Registry`: a mapping from a name to a component (a class or a
factory), where an entry may also be given as a ``"module:attribute"`` string so that optional
backends (kaolin, diffvg, ray) are imported only when they are picked. There is one lookup verb,
:meth:`Registry.lookup`, and one error for an unknown name; :meth:`Registry.check` validates a
name from a config without importing anything, so configs fail before any model loads.

Example:
    >>> LOSSES = Registry("loss", {"cosine": cosine_loss})
    >>> LOSSES.lookup("cosine")
    >>> LOSSES.check("cosinus", "loss")   # InputError: config key 'loss': unknown loss 'cosinus' ...
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Generic, TypeVar

from stylize.errors import InputError

T = TypeVar("T")

__all__ = ["Registry", "check_names"]


class Registry(MutableMapping[str, T], Generic[T]):
    """A name -> component mapping with one lookup verb and one error message.

    Args:
        kind: what the entries are, for messages (``"mesh renderer"``).
        entries: initial entries; a ``str`` value ``"package.module:attribute"`` is imported on
            first lookup.
    """

    def __init__(self, kind: str, entries: Mapping[str, T | str] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = dict(entries or {})

    def check(self, name: Any, key: str | None = None) -> str:
        """Return ``name`` if it is registered, else raise :class:`InputError` naming ``key``."""
        if not isinstance(name, str) or name not in self._entries:
            where = f"config key {key!r}: " if key else ""
            raise InputError(f"{where}unknown {self.kind} {name!r}: expected a {self.kind} name among {', '.join(self._entries)}")
        return name

    def lookup(self, name: Any, key: str | None = None) -> T:
        """The component registered as ``name`` (imported on first use if given as a path)."""
        entry = self._entries[self.check(name, key)]
        if isinstance(entry, str) and ":" in entry:
            module_name, attribute = entry.split(":", 1)
            entry = getattr(importlib.import_module(module_name), attribute)
        return entry  # type: ignore[return-value]

    def register(self, name: str, component: T | str) -> None:
        """Add (or replace) an entry, e.g. a third-party backend."""
        self._entries[name] = component

    # MutableMapping: plain item access returns the entry as registered (paths stay strings).
    def __getitem__(self, name: str) -> T | str:
        return self._entries[name]

    def __setitem__(self, name: str, component: T | str) -> None:
        self.register(name, component)

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


def check_names(config: object, registries: Mapping[str, str], section: str = "") -> None:
    """Check each named config key against its registry, given as ``"module:NAME"`` so that the
    registry's module (and torch) is imported only when a config is checked, not when it is built.
    ``section`` prefixes the keys in messages (``"field."`` for a section's own check).

    Raises:
        InputError: ``config key 'renderer': unknown vector renderer 'x': expected one of ...``.
    """
    for key, where in registries.items():
        module_name, attribute = where.split(":")
        registry = getattr(importlib.import_module(module_name), attribute)
        value = config
        for part in key.split("."):
            value = getattr(value, part)
        registry.check(value, section + key)
