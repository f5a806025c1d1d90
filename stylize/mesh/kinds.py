"""Field kinds: where a style field is evaluated, registered by name (the ``field.mode`` setting).

- ``vertex`` (Text2Mesh): at the vertices, interpolated across each triangle; bakes interpolate
  the vertices' values. Detail is bounded by the tessellation.
- ``surface``: at every covered pixel of a render (deferred, from the interpolated surface point)
  and every texel of a bake (an exact bake), with Text2Mesh's Fourier-feature MLP.
- ``texture``: evaluated where ``surface`` is, through a tri-plane encoding and a small MLP
  (:mod:`stylize.mesh.encoding`): the same per-point detail at a fraction of the cost.

A kind says where the field is evaluated (:meth:`FieldKind.render`, :meth:`FieldKind.texel_function`)
and which encoding its network uses (:attr:`FieldKind.encoding`); a new kind registers in
:data:`FIELD_KINDS`. This module imports no field code, so the field can ask it for its encoding.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from stylize.generation import Timer
from stylize.mesh.camera import CameraViews
from stylize.mesh.renderer import MeshRenderer
from stylize.mesh.shading import render_deferred, render_shaded
from stylize.registry import Registry

__all__ = ["FIELD_KINDS", "FieldKind", "SurfaceField", "TextureField", "VertexField", "get_field_kind"]


class FieldKind:
    """Where a field is evaluated: a registered strategy for renders and bakes.

    Attributes:
        name: the ``field.mode`` value.
        encoding: the network's input encoding (see :class:`~stylize.mesh.field.NeuralStyleField`).
        per_point: evaluated at every covered pixel of a render and every texel of a bake (an
            exact bake); else per vertex and interpolated (bakes interpolate the vertices' values).
    """

    name: ClassVar[str] = ""
    per_point: ClassVar[bool] = False
    #: the field network's input encoding: ``fourier`` (Text2Mesh) or ``triplane``.
    encoding: ClassVar[str] = "fourier"

    def render(self, styled: Any, renderer: MeshRenderer, views: CameraViews, background: float,
               displaced: Tensor, features: Tensor | None = None, timer: Timer | None = None,
               lights: Any = None) -> Tensor:  # fmt: skip
        """Shaded renders ``(B, 3, H, W)`` of ``styled`` (a :class:`~stylize.mesh.surface.StyledMesh`,
        which imports this module, so it is not named in the annotation) with its vertices at
        ``displaced``, under ``lights`` (the material's; None: its fixed light)."""
        raise NotImplementedError

    def texel_function(self, styled: Any):
        """What an exact bake evaluates per texel (``(P, D)`` interpolated attributes -> ``(P, C)``
        features), or None: the bake interpolates per-vertex features."""
        return None


class VertexField(FieldKind):
    """Text2Mesh: the field at the vertices, interpolated across each triangle."""

    name = "vertex"

    def render(self, styled, renderer, views, background, displaced, features=None, timer=None, lights=None):
        if features is None:
            features, _ = styled.vertex_features_and_displacement()
        return render_shaded(renderer, displaced, styled.faces, features, views, background, lights, styled.material,
                             styled.frame(displaced))  # fmt: skip


class SurfaceField(FieldKind):
    """The field at every covered pixel (deferred, from the interpolated surface point) and every
    texel of a bake: detail bounded by the image and texture size, not the tessellation."""

    name = "surface"
    per_point = True

    def render(self, styled, renderer, views, background, displaced, features=None, timer=None, lights=None):
        feature_fn = styled.features_at
        if timer is not None:

            def feature_fn(attributes: Tensor) -> Tensor:
                with timer("field"):
                    return styled.features_at(attributes)

        return render_deferred(renderer, displaced, styled.faces, styled.attributes(), feature_fn, views, background,
                               lights, styled.material, styled.frame(displaced))  # fmt: skip

    def texel_function(self, styled):
        return styled.features_at


class TextureField(SurfaceField):
    """Per point like ``surface``, with a tri-plane encoding and a small MLP: texture-resolution
    detail at about the cost of a vertex field (see :mod:`stylize.mesh.encoding`)."""

    name = "texture"
    encoding = "triplane"


#: Field kinds by ``field.mode``. Register new ones here.
FIELD_KINDS: Registry[type[FieldKind]] = Registry(
    "field kind", {"vertex": VertexField, "surface": SurfaceField, "texture": TextureField}
)


def get_field_kind(name: str) -> FieldKind:
    """The registered field kind ``name`` (an :class:`InputError` lists the others)."""
    return FIELD_KINDS.lookup(name, "field.mode")()
