"""Our rasterizer against kaolin's where kaolin imports (CUDA machines with NVIDIA's wheel)."""

from __future__ import annotations

import pytest
import torch

from stylize.errors import StylizeError
from stylize.mesh.camera import sample_text2mesh_views
from stylize.mesh.geometry import make_icosphere
from stylize.mesh.kaolin_backend import kaolin_available
from stylize.mesh.renderer import get_renderer

needs_kaolin = pytest.mark.skipif(not kaolin_available(), reason="kaolin is not importable here")


@pytest.mark.skipif(kaolin_available(), reason="kaolin is installed")
def test_missing_kaolin_gives_install_hint():
    with pytest.raises(StylizeError, match="NVIDIA's wheel index"):
        get_renderer("kaolin")


@needs_kaolin
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="kaolin's rasterizer needs CUDA")
def test_parity_with_kaolin():
    vertices, faces = make_icosphere(3)
    vertices = torch.as_tensor(vertices, dtype=torch.float32, device="cuda")[None]
    faces = torch.as_tensor(faces, device="cuda")
    colours = torch.rand(1, vertices.shape[1], 3, device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    views = sample_text2mesh_views(5, generator=torch.Generator().manual_seed(0)).to("cuda")
    ours = get_renderer("torch", height=128)(vertices, faces, colours, views)
    theirs = get_renderer("kaolin", height=128)(vertices, faces, colours, views)
    agree = (ours.face_index == theirs.face_index).float().mean()
    assert agree > 0.995
    same = ours.face_index == theirs.face_index
    torch.testing.assert_close(ours.features[same], theirs.features[same], atol=1e-4, rtol=0)
