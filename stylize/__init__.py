"""stylize: CLIP-guided mesh stylization and vector drawing.

The public API lives in :mod:`stylize.api` and is re-exported here lazily so that
``import stylize`` stays cheap (torch and open_clip load on first use).
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = (
    "draw", "paint", "restyle", "sketch", "apply_restyle", "score", "stylize_mesh", "evaluate_mesh", "mesh_config", "apply_field",
    "bake", "batch",
)  # fmt: skip


def __getattr__(name: str):
    if name in _API:
        from stylize import api

        return getattr(api, name)
    raise AttributeError(f"module 'stylize' has no attribute {name!r}")


__all__ = ["__version__", *_API]
