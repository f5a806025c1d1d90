"""The mesh renderer protocol over NVIDIA kaolin's own DIB-R, for parity checks and CUDA users.

kaolin is optional and never imported at module load: it comes from NVIDIA's wheel index for a
fixed torch/CUDA pair (the PyPI ``kaolin`` is a placeholder that fails to import). Pick it with
``get_renderer("kaolin")`` (or ``--set renderer=kaolin``); everything else in the toolkit uses the pure-PyTorch renderer.
"""

from __future__ import annotations

import importlib.util

import torch

from stylize.errors import StylizeError
from stylize.mesh.camera import CameraViews
from stylize.mesh.renderer import MeshRendererBase, RenderResult, as_batched

__all__ = ["KaolinMeshRenderer", "kaolin_available"]

INSTALL_HINT = (
    "kaolin is not importable; install it from NVIDIA's wheel index matching your torch and CUDA, e.g. "
    "pip install kaolin -f https://nvidia-kaolin.s3.us-east-2.amazonaws.com/torch-<TORCH>_cu<CUDA>.html "
    "(or use the built-in renderer: --set renderer=torch)"
)


def kaolin_available() -> bool:
    """True when ``import kaolin`` succeeds (not just when a placeholder package is present)."""
    if importlib.util.find_spec("kaolin") is None:
        return False
    try:
        import kaolin.render.mesh  # noqa: F401
    except Exception:
        return False
    return True


def _import_kaolin():
    try:
        import kaolin
        import kaolin.render.mesh  # noqa: F401
    except Exception as exc:
        raise StylizeError(INSTALL_HINT) from exc
    return kaolin


class KaolinMeshRenderer(MeshRendererBase):
    """Same call contract as :class:`~stylize.mesh.raster.TorchMeshRenderer`, computed by kaolin.

    kaolin's rasterizer runs on CUDA only; the mask returned is kaolin's *soft* mask.

    Args:
        height: image height in pixels.
        width: image width in pixels (defaults to ``height``).
        fov: vertical field of view used when cameras come as bare transforms (radians).
    """

    name = "kaolin"

    def __init__(self, height: int = 224, width: int | None = None, fov: float = torch.pi / 3, **_unused):
        super().__init__(height, width, fov)
        self._kaolin = _import_kaolin()

    def forward(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        features: torch.Tensor,
        cameras: CameraViews | torch.Tensor,
        projection: torch.Tensor | None = None,
    ) -> RenderResult:
        kaolin = self._kaolin
        vertices, transform, projection = self.request(vertices, cameras, projection)
        batch = transform.shape[0]
        if vertices.shape[0] != batch:
            vertices = vertices.expand(batch, -1, -1)
        face_vertices_camera, face_vertices_image, normals = kaolin.render.mesh.prepare_vertices(
            vertices, faces, projection, camera_transform=transform
        )
        if features.dim() == 4:
            face_features = features
        else:
            per_vertex = as_batched("features", features, None)
            face_features = kaolin.ops.mesh.index_vertices_by_faces(per_vertex, faces)
        if face_features.shape[0] != batch:
            face_features = face_features.expand(batch, -1, -1, -1)
        image, mask, face_index = kaolin.render.mesh.dibr_rasterization(
            self.height, self.width, face_vertices_camera[..., 2], face_vertices_image, face_features, normals[..., 2]
        )
        return RenderResult(image, mask, face_index.long(), normals)
