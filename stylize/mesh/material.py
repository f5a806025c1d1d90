"""Materials: what a style field predicts per surface point, how it is shaded, what it exports.

A material is a registered component (:data:`MATERIALS`, looked up by the run's ``material``
setting) with three parts:

- **channels** (:attr:`Material.channels`): the named values the field predicts besides the
  displacement, in order, each with its width: the field grows one head per channel and returns
  them concatenated as a feature vector ``(..., C)``; the first channel is always ``base_color``
  (sRGB in ``[0, 1]``, the colour masks, ``--input-colours`` and restyles start from);
- **shading** (:meth:`Material.shade`): per-pixel features, normals and view directions of a
  render -> the displayed colour ``(..., 3)`` in ``[0, 1]``, under the lighting the
  run gives it (Text2Mesh's fixed spherical-harmonic light for :class:`DiffuseMaterial`);
- **export** (:meth:`Material.export`): baked features ``(H, W, C)`` -> named maps, each written
  into the glTF slot and Blender input that :data:`TEXTURE_SLOTS` names for it.

The bakes, the glTF writers and the run folder iterate over what :meth:`Material.export` returns
(plus the displacement's ``normal`` map when one is asked for), so a new material registers here
and nothing downstream changes: ``MATERIALS.register("name", MyMaterial)``.

Example:
    >>> material = get_material("diffuse")
    >>> material.width, [c.name for c in material.channels]
    (3, ['base_color'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from stylize.mesh.lighting import TEXT2MESH_LIGHTS, spherical_harmonic_lighting
from stylize.registry import Registry

__all__ = [
    "BASE_COLOR", "Channel", "DiffuseMaterial", "MATERIALS", "Material", "TEXTURE_SLOTS", "TextureSlot",
    "encode_map", "get_material", "material_for",
]  # fmt: skip


@dataclass(frozen=True)
class TextureSlot:
    """Where one exported map goes.

    Attributes:
        name: the map's name (``textures/NAME.png`` in a run folder).
        gltf: the path of its texture info in a glTF material, e.g.
            ``("pbrMetallicRoughness", "baseColorTexture")``.
        blender: the Principled BSDF input(s) it drives, and through which node.
        color_space: ``sRGB`` (colour) or ``Non-Color`` (data: roughness, normals, ...), as glTF
            and Blender's image nodes read it.
        encoding: how float values become 8-bit texels: ``unit`` (``[0, 1]`` as is; base colour is
            kept sRGB-encoded throughout) or ``signed`` (``[-1, 1]`` as ``x / 2 + 0.5``: normals).
        neutral: the value of a texel nothing is baked into (and of the gutter before dilation).
        factor: the path of the glTF factor the texture multiplies, where its default is "off"
            (``emissiveFactor``, default black): cleared with the texture (:attr:`Material.clears`).
    """

    name: str
    gltf: tuple[str, ...]
    blender: str
    color_space: str
    encoding: str
    neutral: tuple[float, ...]
    factor: tuple[str, ...] = ()

    @property
    def image_name(self) -> str:
        """The map's name as glTF spells its slots (``base_color`` -> ``baseColor``), for image names."""
        first, *rest = self.name.split("_")
        return first + "".join(part.title() for part in rest)

    def clear(self, material: dict) -> None:
        """Remove this slot's texture (and :attr:`factor`) from a glTF ``material`` dict."""
        for path in (self.gltf, self.factor):
            parent = material
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            if path and isinstance(parent, dict):
                parent.pop(path[-1], None)

    def place(self, material: dict, info: dict) -> None:
        """Set the texture info ``info`` at this slot of a glTF ``material`` dict (parents created)."""
        parent = material
        for key in self.gltf[:-1]:
            parent = parent.setdefault(key, {})
        parent[self.gltf[-1]] = info


#: The one table from map names to glTF material slots and Blender's Principled BSDF inputs.
TEXTURE_SLOTS: Mapping[str, TextureSlot] = {
    slot.name: slot
    for slot in (
        TextureSlot("base_color", ("pbrMetallicRoughness", "baseColorTexture"), "Base Color", "sRGB", "unit",
                    (0.5, 0.5, 0.5)),
        # glTF packs roughness in G and metallic in B (R: occlusion when packed, else 1).
        TextureSlot("metallic_roughness", ("pbrMetallicRoughness", "metallicRoughnessTexture"),
                    "Roughness (G) and Metallic (B) through a Separate Color node", "Non-Color", "unit", (1.0, 0.5, 0.0)),
        TextureSlot("normal", ("normalTexture",), "Normal through a Normal Map node (tangent space, OpenGL +Y)",
                    "Non-Color", "signed", (0.0, 0.0, 1.0)),
        TextureSlot("occlusion", ("occlusionTexture",), "(none: Blender bakes occlusion into lighting)", "Non-Color",
                    "unit", (1.0, 1.0, 1.0)),
        TextureSlot("emissive", ("emissiveTexture",), "Emission Color", "sRGB", "unit", (0.0, 0.0, 0.0),
                    ("emissiveFactor",)),
    )
}  # fmt: skip


def encode_map(name: str, image: np.ndarray) -> np.ndarray:
    """A baked float map ``(H, W, C)`` as 8-bit texels by its slot's encoding (:data:`TEXTURE_SLOTS`).

    Shape:
        - image: ``(H, W, C)`` float; output ``(H, W, C)`` uint8.
    """
    slot = TEXTURE_SLOTS[name]
    values = np.asarray(image, dtype=np.float64)
    if slot.encoding == "signed":
        values = values * 0.5 + 0.5
    return (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class Channel:
    """One value a material needs the field to predict.

    Attributes:
        name: e.g. ``base_color``, ``roughness``.
        width: numbers per point.
        initial: where an untrained field starts (every head's last layer starts at zero, so the
            field outputs ``initial`` everywhere until it learns otherwise). None for
            ``base_color``, which starts grey or from the input's own colours.
    """

    name: str
    width: int
    initial: float | None = None


BASE_COLOR = Channel("base_color", 3)


class Material:
    """The material contract (see the module docstring); subclasses set :attr:`name` and
    :attr:`channels` and implement :meth:`shade` and :meth:`export`.

    Features are the channels concatenated in :attr:`channels` order, ``(..., C)``, ``C`` =
    :attr:`width`; ``base_color`` comes first.
    """

    name: ClassVar[str] = ""
    channels: ClassVar[tuple[Channel, ...]] = (BASE_COLOR,)
    #: shading wants directions towards the camera (``view_dirs``).
    needs_view_dirs: ClassVar[bool] = False
    #: shading wants each pixel's smooth normal and tilt tangent (``frame`` of the renders,
    #: ``tangents`` of :meth:`shade`) instead of the flat face normal.
    needs_frame: ClassVar[bool] = False
    #: the material perturbs normals (:meth:`perturb`): bakes write a ``normal`` map for it.
    normal_detail: ClassVar[bool] = False
    #: glTF slots an input's material loses when this material replaces it (e.g. ``emissive``).
    clears: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_config(cls, config: Any) -> Material:
        """The material for a run's config (a :class:`~stylize.mesh.config.Text2MeshConfig`);
        materials with settings read their section of it."""
        return cls()

    def options(self) -> dict[str, Any]:
        """The settings that rebuild this material (``cls(**options)``), kept in ``field.pt``."""
        return {}

    def sample_lights(self, generator: torch.Generator) -> Any:
        """The lights of one optimisation step (world space, the same for every view), drawn
        from ``generator``; None: the material's fixed light (no random numbers are drawn)."""
        return None

    def view_lights(self, lights: Any, world_to_camera: torch.Tensor) -> Any:
        """``lights`` as :meth:`shade` gets them for cameras with rotations ``(B, 3, 3)``
        (None: the material's fixed light). Text2Mesh's SH light is fixed to the camera, so the
        default passes it through."""
        return lights

    def perturb(self, features: torch.Tensor, normals: torch.Tensor, tangents: torch.Tensor) -> torch.Tensor:
        """Shading normals ``(..., 3)`` from unit ``normals`` and tilt ``tangents`` ``(..., 3)``
        given ``features`` ``(..., C)`` (only materials with :attr:`normal_detail` change them)."""
        return normals

    @property
    def width(self) -> int:
        """Numbers per point over all channels."""
        return sum(channel.width for channel in self.channels)

    @property
    def extra_channels(self) -> tuple[Channel, ...]:
        """The channels after ``base_color`` (the field's extra heads)."""
        return self.channels[1:]

    def split(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{channel name: (..., width)}`` views of ``features`` ``(..., C)``."""
        if features.shape[-1] != self.width:
            raise ValueError(f"expected {self.name} features of shape (..., {self.width}), got {tuple(features.shape)}")
        return dict(zip((c.name for c in self.channels), features.split([c.width for c in self.channels], dim=-1), strict=False))

    def neutral(self, base_color: torch.Tensor) -> torch.Tensor:
        """Features ``(..., C)`` of an unstyled point of colour ``base_color`` ``(..., 3)``: the
        extra channels at their initial values (what masked-out regions keep)."""
        parts = [base_color]
        for channel in self.extra_channels:
            parts.append(base_color.new_full((*base_color.shape[:-1], channel.width), float(channel.initial or 0.0)))
        return torch.cat(parts, dim=-1)

    def shade(self, features: torch.Tensor, normals: torch.Tensor, view_dirs: torch.Tensor | None = None,
              lights: Sequence[float] | torch.Tensor | None = None, **frame: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """Display colours ``(B, H, W, 3)`` in ``[0, 1]`` of per-pixel ``features`` ``(B, H, W, C)``
        with unit ``normals`` ``(B, H, W, 3)`` and directions to the camera ``(B, H, W, 3)``, all
        in camera space; ``lights`` as :meth:`view_lights` gives them. With :attr:`needs_frame`
        the normals are smooth and ``tangents=`` ``(B, H, W, 3)`` holds the tilt tangents."""
        raise NotImplementedError

    def export(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Baked ``features`` ``(H, W, C)`` -> ``{map name: (H, W, k) float}``, each map name a key
        of :data:`TEXTURE_SLOTS` (``base_color`` always present)."""
        raise NotImplementedError


class DiffuseMaterial(Material):
    """Text2Mesh's material: a base colour lit by spherical-harmonic light (kaolin's
    ``spherical_harmonic_lighting`` with the reference's coefficients), clamped to ``[0, 1]``.
    Exports the base colour only (the GLB's metallic factor 0, roughness factor 1)."""

    name = "diffuse"
    channels = (BASE_COLOR,)

    def shade(self, features, normals, view_dirs=None, lights=None, **frame):
        shade = spherical_harmonic_lighting(normals, TEXT2MESH_LIGHTS if lights is None else lights)
        return (features[..., :3] * shade.unsqueeze(-1)).clamp(0.0, 1.0)

    def export(self, features):
        return {"base_color": np.asarray(features)[..., :3]}


#: Materials by name (the ``material`` setting). Register new ones here.
MATERIALS: Registry[type[Material]] = Registry(
    "material", {"diffuse": DiffuseMaterial, "pbr": "stylize.mesh.pbr_material:PbrMaterial"}
)


def get_material(name: str | Material = "diffuse", **options: Any) -> Material:
    """The registered material ``name`` built with ``options`` (its :meth:`Material.options`), as
    a ready object (a :class:`Material` passes through).

    Raises:
        InputError: an unknown name, listing the registered ones.
    """
    if isinstance(name, Material):
        return name
    return MATERIALS.lookup(name, "material")(**options)


def material_for(config: Any) -> Material:
    """The material a run's config names, built from its settings (:meth:`Material.from_config`)."""
    return MATERIALS.lookup(config.material, "material").from_config(config)
