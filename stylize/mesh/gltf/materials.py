"""What a stylized glTF material keeps: the policy for the maps around a new base colour.

A scene bake replaces each material's base colour (and, with a normal-map source, its normal
map). The material's other maps were painted for the *old* picture, and some of them show it
through the new one: an emissive logo glows on whatever colour is under it, a roughness map with
the old lettering makes the letters shine. ``output.keep_maps`` (``--keep-maps``) says which
survive, among :data:`~stylize.mesh.config.KEEPABLE_MAPS`:

- ``auto`` (the default): keep ``occlusion`` (cavities darken any colour) and ``normal`` (the
  surface's small relief), drop ``emissive`` (texture, factor and strength: an old glow must not
  show through a new colour), and keep ``metallic_roughness`` only when its roughness (G) and
  metallic (B) channels do not follow the old base colour's picture (:func:`follows_picture`:
  correlation of either with the old base colour's luminance above :data:`PICTURE_CORRELATION`);
- ``all`` / ``none``, or a comma-separated list of names (``occlusion,normal,emissive``).

A ``KHR_materials_pbrSpecularGlossiness`` material is written as metallic-roughness
(:func:`as_metallic_roughness`): viewers that know the extension would show its
``diffuseTexture``, not the new base colour. Its diffuse alpha becomes the base colour's alpha,
its glossiness ``1 - roughness``, metallic 0; its ``specularGlossinessTexture`` is dropped (it
would need a bake of its own).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from stylize.mesh.config import KEEPABLE_MAPS, parse_keep_maps
from stylize.mesh.material import TEXTURE_SLOTS

__all__ = ["PICTURE_CORRELATION", "SPEC_GLOSS", "as_metallic_roughness", "follows_picture", "kept_maps", "drop_maps"]

logger = logging.getLogger(__name__)

SPEC_GLOSS = "KHR_materials_pbrSpecularGlossiness"
#: |Pearson correlation| between a roughness or metallic channel and the old base colour's
#: luminance above which the channel is taken to carry the old picture.
PICTURE_CORRELATION = 0.5
_COMPARE_SIZE = 64


def kept_maps(policy: Any, follows: Callable[[], bool]) -> set[str]:
    """The names of :data:`KEEPABLE_MAPS` a replaced material keeps under ``policy``;
    ``follows()`` says whether its metallic-roughness map carries the old picture (asked only
    for ``auto``)."""
    names = parse_keep_maps(policy)
    if names != "auto":
        return set(names)
    kept = {"occlusion", "normal"}
    if not follows():
        kept.add("metallic_roughness")
    return kept


def drop_maps(material: dict[str, Any], keep: set[str], replaced: set[str]) -> list[str]:
    """Remove from a glTF ``material`` the maps neither kept nor replaced; returns their names.
    Dropping ``emissive`` clears the glow too (factor and ``KHR_materials_emissive_strength``)."""
    dropped = []
    for name in KEEPABLE_MAPS:
        if name in keep or name in replaced:
            continue
        parent = material
        for key in TEXTURE_SLOTS[name].gltf[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        had = isinstance(parent, dict) and parent.pop(TEXTURE_SLOTS[name].gltf[-1], None) is not None
        if name == "emissive":
            glow = any(material.get("emissiveFactor", [0.0, 0.0, 0.0]))
            material.pop("emissiveFactor", None)
            extensions = material.get("extensions") or {}
            extensions.pop("KHR_materials_emissive_strength", None)
            if not extensions:
                material.pop("extensions", None)
            had = had or glow
        if had:
            dropped.append(name)
    return dropped


def as_metallic_roughness(material: dict[str, Any]) -> bool:
    """Rewrite a ``KHR_materials_pbrSpecularGlossiness`` material in place as metallic-roughness
    (module docstring); returns whether it was one."""
    extensions = material.get("extensions") or {}
    spec_gloss = extensions.pop(SPEC_GLOSS, None)
    if spec_gloss is None:
        return False
    if not extensions:
        material.pop("extensions", None)
    pbr = material.setdefault("pbrMetallicRoughness", {})
    alpha = float((spec_gloss.get("diffuseFactor") or [1.0, 1.0, 1.0, 1.0])[3])
    pbr.setdefault("baseColorFactor", [1.0, 1.0, 1.0, alpha])
    if "metallicRoughnessTexture" not in pbr:  # a fallback's map, if the file had one, stays whole
        pbr["metallicFactor"] = 0.0
        pbr["roughnessFactor"] = float(1.0 - float(spec_gloss.get("glossinessFactor", 1.0)))
    return True


def _pixels(raw: tuple[bytes, str | None] | None) -> np.ndarray | None:
    if raw is None:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw[0])) as image:
            small = image.convert("RGB").resize((_COMPARE_SIZE, _COMPARE_SIZE), Image.BILINEAR)
            return np.asarray(small, dtype=np.float64) / 255.0
    except (OSError, ValueError):
        return None


def follows_picture(base: tuple[bytes, str | None] | None, metallic_roughness: tuple[bytes, str | None] | None) -> bool:
    """Whether a metallic-roughness image's roughness (G) or metallic (B) channel follows the
    base-colour image's luminance (both encoded image bytes, compared at 64 px): the map then
    carries the old picture. False when either is missing or flat."""
    colour, packed = _pixels(base), _pixels(metallic_roughness)
    if colour is None or packed is None:
        return False
    luminance = (colour @ np.array([0.2126, 0.7152, 0.0722])).reshape(-1)
    for channel in (1, 2):
        values = packed[..., channel].reshape(-1)
        if values.std() < 1e-3 or luminance.std() < 1e-3:
            continue
        if abs(float(np.corrcoef(values, luminance)[0, 1])) > PICTURE_CORRELATION:
            return True
    return False
