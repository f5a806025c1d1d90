"""A style field on a mesh: its colours and displacement, and renders of it in either field mode.

:class:`StyledMesh` is what a Text2Mesh run optimises and what ``stylize apply`` evaluates: the
field, the mesh in the field's normalised frame, the base colours the field starts from and the
region mask. It renders itself the way its field's ``mode`` says:

- ``vertex``: colours at the vertices, interpolated over each triangle (Text2Mesh);
- ``surface``: deferred, the field evaluated at the interpolated surface point of every covered
  pixel (:func:`~stylize.mesh.shading.render_deferred`), so colour varies inside a triangle; the
  same function of a point colours every texel of an exact bake (:meth:`StyledMesh.colors_at`).

Displacement is per vertex in both modes: it moves geometry. Mask weights and base colours are
interpolated per pixel / texel in surface mode, so weight-0 regions keep their base colour.

The field predicts its material's features (:mod:`stylize.mesh.material`: the base colour first,
then any extra channels), and renders are shaded by that material. Field modes are *field kinds*
(:data:`stylize.mesh.kinds.FIELD_KINDS`): where the field is evaluated for a render and whether a
bake evaluates it per texel; a new kind registers there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from stylize.generation import Timer
from stylize.mesh.camera import CameraViews
from stylize.mesh.controls import GREY, compose
from stylize.mesh.field import NeuralStyleField
from stylize.mesh.geometry import vertex_normals
from stylize.mesh.kinds import FieldKind, get_field_kind
from stylize.mesh.material import Material
from stylize.mesh.pbr import tilt_tangents
from stylize.mesh.renderer import MeshRenderer
from stylize.mesh.seams import group_mean
from stylize.mesh.shading import render_shaded

__all__ = ["StyledMesh", "TextureSet"]


@dataclass
class TextureSet:
    """A mesh's base-colour textures, sampled per pixel or texel (not reduced to vertex colours).

    Attributes:
        images: per material, ``(H, W, 3)`` sRGB in ``[0, 1]`` already multiplied by its base
            colour factor (a 1 x 1 image for a factor-only material).
        vertex_material: ``(V,)`` each vertex's material index (vertices belong to one primitive,
            so the index interpolated over a face is exact).
        uv: ``(V, 2)`` glTF UVs (v down); values outside ``[0, 1]`` tile (REPEAT).
        transforms: per material, ``(2, 3)`` its texture's ``KHR_texture_transform`` (affine, so
            applied to the interpolated UVs exactly), or None for none at all.
    """

    images: list[Tensor]
    vertex_material: Tensor
    uv: Tensor
    transforms: list[Tensor] | None = None

    @classmethod
    def from_mesh(cls, mesh, device: torch.device | str = "cpu") -> TextureSet | None:
        """The textures of a loaded mesh (:class:`~stylize.mesh.io.LoadedMesh`), or None when it
        has no textured material with UVs."""
        import numpy as np

        materials = getattr(mesh, "materials", None) or []
        if mesh.uv is None or not any(m.base_color_texture is not None for m in materials):
            return None
        images = []
        for material in materials:
            factor = torch.tensor(material.base_color_factor[:3], dtype=torch.float32)
            if material.base_color_texture is not None:
                image = torch.from_numpy(np.array(material.base_color_texture[..., :3], dtype=np.float32)) / 255.0
            else:
                image = torch.ones(1, 1, 3)
            images.append((image * factor).to(device))
        vertex_material = torch.zeros(len(mesh.vertices), dtype=torch.float32)
        for part in mesh.parts:
            if part.material is not None:
                start, stop = part.vertex_range
                vertex_material[start:stop] = float(part.material)
        uv = np.nan_to_num(np.asarray(mesh.uv, dtype=np.float64))
        gltf = np.column_stack([uv[:, 0], 1.0 - uv[:, 1]])  # tiling is wrapped per sample, after interpolation
        transforms = None
        if any(getattr(m, "base_color_transform", None) is not None for m in materials):
            transforms = [torch.as_tensor((m.base_color_transform if m.base_color_transform is not None else np.eye(3))[:2],
                                          dtype=torch.float32, device=device) for m in materials]  # fmt: skip
        return cls(images, vertex_material.to(device), torch.as_tensor(gltf, dtype=torch.float32, device=device), transforms)

    def attributes(self) -> Tensor:
        """Per-vertex ``[u, v, material]`` ``(V, 3)`` to interpolate."""
        return torch.cat([self.uv, self.vertex_material[:, None]], dim=1)

    def sample(self, attributes: Tensor) -> Tensor:
        """sRGB colours ``(P, 3)`` at interpolated :meth:`attributes` ``(P, 3)``."""
        from stylize.mesh.shading import sample_texture_torch

        uv, material = attributes[:, :2], attributes[:, 2].round().long()
        colors = attributes.new_zeros(attributes.shape[0], 3)
        for index, image in enumerate(self.images):
            chosen = material == index
            if bool(chosen.any()):
                mine = uv[chosen]
                if self.transforms is not None:
                    matrix = self.transforms[index].to(attributes)
                    mine = mine @ matrix[:, :2].T + matrix[:, 2]
                mine = torch.where((mine < 0) | (mine > 1), mine - torch.floor(mine), mine)  # REPEAT, edges 0 and 1 kept
                colors[chosen] = sample_texture_torch(image.to(attributes), mine)
        return colors


@dataclass
class StyledMesh:
    """A field on a mesh (all tensors on one device, in the field's normalised frame).

    Attributes:
        field: the style field.
        vertices: ``(V, 3)`` undisplaced vertices (where the field is evaluated).
        faces: ``(F, 3)`` int64.
        normals: ``(V, 3)`` unit vertex normals (displacement direction).
        base_colors: ``(V, 3)`` sRGB the field starts from (``input_colours``) and masked-out
            vertices keep, or None (grey).
        weights: ``(V, 1)`` mask weights in ``[0, 1]``, or None (everywhere 1).
        textures: the input's base-colour textures: in surface mode the base colour of a pixel or
            texel is its texture's, sampled through the UVs, not the vertices' colours.
        weld: ``(V,)`` int64 position groups (:func:`~stylize.mesh.seams.position_groups`): copies
            of one position (UV seams, hard edges) move together, by their mean displacement
            along ``normals`` (welded normals, :func:`~stylize.mesh.seams.weld_surface`); None:
            every vertex moves alone.
    """

    field: NeuralStyleField
    vertices: Tensor
    faces: Tensor
    normals: Tensor
    base_colors: Tensor | None = None
    weights: Tensor | None = None
    textures: TextureSet | None = None
    weld: Tensor | None = None

    @property
    def kind(self) -> FieldKind:
        """The field's kind (its ``mode``), from :data:`FIELD_KINDS`."""
        return get_field_kind(self.field.config.mode)

    @property
    def surface(self) -> bool:
        """Whether the field is evaluated per surface point (pixels, texels), not per vertex."""
        return self.kind.per_point

    @property
    def material(self) -> Material:
        return self.field.material

    @property
    def tilt_tangents(self) -> Tensor:
        """``(V, 3)`` each vertex's tilt-frame tangent (:func:`~stylize.mesh.pbr.tilt_tangents` of
        the undisplaced normals): where a material's normal tilt is learned and baked from."""
        if getattr(self, "_tilt_tangents", None) is None:
            self._tilt_tangents = tilt_tangents(self.normals)
        return self._tilt_tangents

    def frame(self, displaced: Tensor) -> Tensor | None:
        """``(V, 6)`` the smooth normals of the ``displaced`` vertices and the tilt tangents, for a
        material that shades with them (:attr:`~stylize.mesh.material.Material.needs_frame`); else None."""
        if not self.material.needs_frame:
            return None
        return torch.cat([vertex_normals(displaced, self.faces), self.tilt_tangents.to(displaced)], dim=1)

    def _base_features(self, base_colors: Tensor | None, like: Tensor) -> Tensor | None:
        """What unstyled points keep: the base colour (grey without) and the extra channels'
        initial values; None for a diffuse material without base colours (grey, see compose)."""
        if not self.material.extra_channels:
            return base_colors
        base = like.new_full((like.shape[0], 3), GREY) if base_colors is None else base_colors.to(like)
        return self.material.neutral(base)

    # --- per vertex ------------------------------------------------------------------------------

    def vertex_features_and_displacement(self) -> tuple[Tensor, Tensor]:
        """The field at the vertices, blended by the mask: the material's features ``(V, C)``
        (colours first) and displacement ``(V, 1)``."""
        out = self.field(self.vertices, self.base_colors)
        features = out.features
        return compose(features, out.displacement, self._base_features(self.base_colors, features), self.weights)

    def vertex_colors_and_displacement(self) -> tuple[Tensor, Tensor]:
        """The field at the vertices, blended by the mask: colours ``(V, 3)``, displacement ``(V, 1)``."""
        features, displacement = self.vertex_features_and_displacement()
        return features[:, :3], displacement

    def displacement(self) -> Tensor:
        """Per-vertex displacement ``(V, 1)`` along the normals, blended by the mask (the colour
        head is not evaluated)."""
        displacement = self.field.displacement_at(self.vertices)
        if self.weights is None:
            return displacement
        return torch.where(self.weights == 0, torch.zeros_like(displacement), displacement * self.weights)

    def displaced(self, displacement: Tensor | None = None) -> Tensor:
        """Displaced vertices ``(V, 3)``: ``displacement`` ``(V, 1)`` (default: the field's) along the
        normals, the same for every copy of a position (``weld``)."""
        displacement = self.displacement() if displacement is None else displacement
        if self.weld is not None:
            displacement = group_mean(displacement, self.weld)
        return self.vertices + self.normals * displacement

    # --- per surface point (pixels, texels) ------------------------------------------------------

    def attributes(self) -> Tensor:
        """Per-vertex values interpolated to each surface point: ``[point (3), base colour (3)?, weight (1)?]``."""
        parts = [self.vertices]
        if self.textures is not None:
            parts.append(self.textures.attributes().to(self.vertices))
        elif self.base_colors is not None:
            parts.append(self.base_colors.to(self.vertices))
        if self.weights is not None:
            parts.append(self.weights.to(self.vertices))
        return torch.cat(parts, dim=1)

    def features_at(self, attributes: Tensor) -> Tensor:
        """The material's features ``(P, C)`` at surface points given by interpolated
        :meth:`attributes` ``(P, D)``, blended by the mask."""
        points = attributes[:, :3]
        if self.textures is not None:
            base = self.textures.sample(attributes[:, 3:6])
        else:
            base = attributes[:, 3:6] if self.base_colors is not None else None
        features = self.field.features_at(points, base)
        if self.weights is None:
            return features
        weights = attributes[:, -1:]
        base = features.new_full((features.shape[0], 3), GREY) if base is None else base
        base = self.material.neutral(base)
        return torch.where(weights == 0, base, base + weights * (features - base))

    def colors_at(self, attributes: Tensor) -> Tensor:
        """Colours ``(P, 3)`` at surface points given by interpolated :meth:`attributes` ``(P, D)``."""
        return self.features_at(attributes)[:, :3]

    def normals_at(self, attributes: Tensor) -> Tensor:
        """Tangent-space normals ``(P, 3)`` of the displaced surface at surface points given by
        interpolated :meth:`attributes` followed by the point's normal (3) and glTF tangent (4),
        ``(P, D + 7)``: what a normal map stores so
        that the undisplaced mesh shades like the displaced one.

        For a height ``h(p) = w d(p)`` along the normal ``n``, the displaced surface's normal is
        ``normalize(n - grad_s h)`` to first order, ``grad_s`` the gradient within the tangent
        plane (autograd through the field); it is written in the frame ``(T, B, n)`` with ``B =
        cross(n, T) * w_T`` (glTF's ``TANGENT`` convention).
        """
        return self._map_normals(attributes, attributes.shape[1] - 7, relief=True, tilt=None)

    def normal_map_texels(self, relief: bool, features: Tensor | None = None) -> tuple[Tensor, Any]:
        """What a bake's normal map evaluates: ``(attributes (V, E), evaluate)``, ``evaluate``
        taking the interpolated attributes followed by each texel's normal (3) and glTF tangent
        (4) and returning unit tangent-space normals ``(P, 3)``.

        The normal is the displaced surface's (``relief``: the displacement's gradient, as
        :meth:`normals_at`; else the interpolated normal of the baked, displaced mesh), tilted
        by the material (:meth:`~stylize.mesh.material.Material.perturb`, for a material with
        :attr:`~stylize.mesh.material.Material.normal_detail`) in the tilt frame the renders use
        (:attr:`tilt_tangents`, interpolated), then written in the texel's ``(T, B, n)``: the
        conversion from the tilt frame to the UV tangent space is exact. The tilt comes from the
        field per texel for a per-point kind, else from the vertices' ``features`` ``(V, C)``
        interpolated (default: the field at the vertices).
        """
        base = self.attributes()
        width = base.shape[1]
        parts = [base]
        tilt = None
        if self.material.normal_detail:
            parts.append(self.tilt_tangents.to(base))
            tilt = "point" if self.surface else "vertex"
            if tilt == "vertex":
                if features is None:
                    with torch.no_grad():
                        features, _ = self.vertex_features_and_displacement()
                parts.append(torch.as_tensor(features).to(base))

        def evaluate(values: Tensor) -> Tensor:
            return self._map_normals(values, width, relief, tilt)

        return torch.cat(parts, dim=1).detach(), evaluate

    def _map_normals(self, values: Tensor, width: int, relief: bool, tilt: str | None) -> Tensor:
        """Tangent-space normals ``(P, 3)`` of ``values`` ``(P, width [+ 3 + C] + 7)`` (see
        :meth:`normal_map_texels`)."""
        frame = values[:, -7:]
        normal = torch.nn.functional.normalize(frame[:, :3], dim=-1)
        tangent = frame[:, 3:6]
        tangent = torch.nn.functional.normalize(tangent - normal * (tangent * normal).sum(-1, keepdim=True), dim=-1)
        bitangent = torch.linalg.cross(normal, tangent) * torch.where(frame[:, 6:7] < 0, -1.0, 1.0)
        shading = normal
        if relief:
            with torch.enable_grad():
                points = values[:, :3].detach().requires_grad_(True)
                height = self.field.displacement_at(points)
                if self.weights is not None:
                    height = height * values[:, width - 1 : width]
                (gradient,) = torch.autograd.grad(height.sum(), points)
            in_plane = gradient - normal * (gradient * normal).sum(-1, keepdim=True)
            shading = torch.nn.functional.normalize(normal - in_plane, dim=-1)
        if tilt is not None:
            tilt_tangent = values[:, width : width + 3]
            if tilt == "point":
                with torch.no_grad():
                    features = self.features_at(values[:, :width])
            else:
                features = values[:, width + 3 : -7]
            shading = self.material.perturb(features, shading, tilt_tangent)
        return torch.stack([(shading * tangent).sum(-1), (shading * bitangent).sum(-1), (shading * normal).sum(-1)], dim=-1)

    # --- renders -------------------------------------------------------------------------------

    def render(
        self,
        renderer: MeshRenderer,
        views: CameraViews,
        background: float = 1.0,
        displaced: Tensor | None = None,
        colors: Tensor | None = None,
        timer: Timer | None = None,
        lights: Any = None,
    ) -> Tensor:
        """Shaded renders ``(B, 3, H, W)`` of the styled mesh in its field's mode.

        Args:
            displaced: the displaced vertices if the caller has them (else computed).
            colors: per-vertex features ``(V, C)`` to use in vertex mode if the caller has them.
            timer: charge the per-pixel field evaluation (surface mode) to its ``field`` phase.
            lights: the material's lights for this render (:meth:`Material.sample_lights`: one
                world-space draw for every view); None: its fixed light (previews, scores).
        """
        displaced = self.displaced() if displaced is None else displaced
        return self.kind.render(self, renderer, views, background, displaced, colors, timer, lights)

    def render_grey(
        self, renderer: MeshRenderer, views: CameraViews, grey: float, background: float = 1.0, displaced: Tensor | None = None
    ) -> Tensor:
        """The displaced shape in flat ``grey`` (Text2Mesh's geometry loss)."""
        displaced = self.displaced() if displaced is None else displaced
        return render_shaded(renderer, displaced, self.faces, torch.full_like(displaced, grey), views, background)
