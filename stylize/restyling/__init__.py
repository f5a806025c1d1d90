"""stylize.restyling: restyle existing pictures with CLIPstyler (a StyleNet per image and text).

- :mod:`stylize.restyling.config`: :class:`RestyleConfig`, its presets and checks (no torch).
- :mod:`stylize.restyling.templates`: the prompt-template sets (no torch).
- :mod:`stylize.restyling.stylenet`: the U-Net, ``net.pt`` saving and loading.
- :mod:`stylize.restyling.losses`: patch / global directional, content and TV losses.
- :mod:`stylize.restyling.restyler`: :class:`Restyler`, the run owner.
- :mod:`stylize.restyling.apply`: :func:`apply_stylenet`, a trained net on another picture.

The package is ``restyling`` (not ``restyle``) so that it does not shadow the
``stylize.restyle`` API function.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "RESTYLE_PRESETS": "config", "RestyleConfig": "config", "check_restyle_config": "config",
    "StyleNet": "stylenet", "load_stylenet": "stylenet", "save_stylenet": "stylenet", "stylize_image": "stylenet",
    "Restyler": "restyler", "RestyleResult": "restyler",
    "ApplyResult": "apply", "apply_stylenet": "apply",
}  # fmt: skip


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stylize.restyling' has no attribute {name!r}")
    return getattr(importlib.import_module(f"stylize.restyling.{module}"), name)


__all__ = sorted(_EXPORTS)
