"""Paint as a type in the scene: linear and radial gradients, rendered, differentiated, written and read."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from stylize.vector.paint import Gradient, gradient_colors, pack_gradients
from stylize.vector.raster import render
from stylize.vector.scene import Scene, VectorPath, rect_contour
from stylize.vector.svg.write import svg_string

RED, GREEN, BLUE = (1.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0)


def _close(actual: torch.Tensor, expected) -> bool:
    return torch.allclose(actual, torch.tensor(expected, dtype=actual.dtype), atol=1e-6)


def _colors(gradient: Gradient, points) -> torch.Tensor:
    packed = pack_gradients([gradient], torch.float64)
    points = torch.as_tensor(points, dtype=torch.float64)
    return gradient_colors(packed, torch.zeros(points.shape[0], dtype=torch.long), points[:, 0], points[:, 1])


def test_linear_gradient_stops_spread_and_hard_steps():
    base = {"offsets": [0.0, 0.5, 1.0], "colors": [RED, GREEN, BLUE], "start": (10.0, 0.0), "end": (30.0, 0.0)}
    pad = _colors(Gradient("linear", **base), [[0, 5], [10, 5], [15, 9], [20, 0], [25, 3], [30, 1], [99, 0]])
    expected = [RED, RED, (0.5, 0.5, 0, 1), GREEN, (0, 0.5, 0.5, 1), BLUE, BLUE]
    assert _close(pad, expected)
    # t = 1.25 reflects to 0.75 and repeats to 0.25; t = -0.25 reflects to 0.25.
    reflect = _colors(Gradient("linear", **base, spread="reflect"), [[35, 0], [5, 0]])
    repeat = _colors(Gradient("linear", **base, spread="repeat"), [[35, 0]])
    assert _close(reflect, [[0, 0.5, 0.5, 1], [0.5, 0.5, 0, 1]]) and _close(repeat, [[0.5, 0.5, 0, 1]])
    step = Gradient("linear", [0.0, 0.4, 0.4, 1.0], [RED, RED, BLUE, BLUE], (0.0, 0.0), (10.0, 0.0))
    assert _close(_colors(step, [[3.9, 0], [4.1, 0]]), [RED, BLUE])
    # The transform places the gradient: rotated 90 degrees, the gradient runs along y.
    turned = Gradient("linear", [0.0, 1.0], [RED, BLUE], (0.0, 0.0), (10.0, 0.0), transform=(0, 1, -1, 0, 0, 0))
    assert _close(_colors(turned, [[3.0, 5.0]]), [[0.5, 0, 0.5, 1]])


def test_radial_gradient_focal_circle():
    centred = Gradient("radial", [0.0, 1.0], [RED, BLUE], start=(0.0, 0.0), end=(0.0, 0.0), end_radius=10.0)
    assert _close(_colors(centred, [[0, 0], [6, 8], [3, 4], [30, 0]]), [RED, BLUE, [0.5, 0, 0.5, 1], BLUE])
    # Focal point at (4, 0): towards +x the circle is 6 away, towards -x 14 away.
    focal = Gradient("radial", [0.0, 1.0], [RED, BLUE], start=(4.0, 0.0), end=(0.0, 0.0), end_radius=10.0)
    assert _close(_colors(focal, [[7, 0], [-3, 0]]), [[0.5, 0, 0.5, 1], [0.5, 0, 0.5, 1]])
    # A focal radius: t = 0 on the focal circle of radius 2, t = 1 on the circle of radius 10.
    ring = Gradient("radial", [0.0, 1.0], [RED, BLUE], start=(0.0, 0.0), end=(0.0, 0.0), start_radius=2.0, end_radius=10.0)
    assert _close(_colors(ring, [[2, 0], [0, 6], [1, 0]]), [RED, [0.5, 0, 0.5, 1], RED])


def _gradient_scene(requires_grad: bool = True) -> Scene:
    linear = Gradient("linear", [0.0, 0.45, 1.0], [RED, (0.2, 0.9, 0.3, 0.6), BLUE], (3.0, 2.0), (13.0, 9.0), spread="reflect")
    radial = Gradient("radial", [0.1, 0.9], [(1.0, 0.8, 0.0, 1.0), (0.1, 0.1, 0.5, 0.9)], (9.0, 8.0), (10.0, 9.0),
                      start_radius=0.5, end_radius=5.0, transform=(1.0, 0.2, 0.0, 0.9, 0.5, 0.0))  # fmt: skip
    paths = [
        VectorPath([rect_contour(1.5, 1.5, 12.0, 11.0)], True, stroke_color=None, fill_gradient=linear),
        VectorPath([rect_contour(5.2, 4.7, 8.0, 9.0)], True, stroke_width=1.5, stroke_gradient=radial, fill_color=(0, 0, 0, 0.3)),
    ]
    return Scene.from_paths(paths, dtype=torch.float64, requires_grad=requires_grad)


def test_gradients_are_differentiable_everywhere():
    scene = _gradient_scene()
    assert scene.num_gradients == 2 and len(scene.parameters()) == 7
    weights = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def loss(geometry, offsets, colors):
        moved = scene._replace(gradient_geometry=geometry, stop_offsets=offsets, stop_colors=colors)
        return (render(moved, 16, 16, pieces_per_segment=4) * weights).sum()

    inputs = (scene.gradient_geometry.detach().clone().requires_grad_(),
              scene.stop_offsets.detach().clone().requires_grad_(), scene.stop_colors.detach().clone().requires_grad_())  # fmt: skip
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-4)


def test_scene_api_carries_gradients():
    scene = _gradient_scene()
    big = scene.scaled(2.0)
    assert torch.allclose(big.gradient_transforms[:, :], scene.gradient_transforms * 2)
    small, large = render(scene.detach(), 16, 16), render(big.detach(), 32, 32)
    assert (small - large.reshape(16, 2, 16, 2, 3).mean((1, 3))).abs().mean() < 0.01
    copy = scene.detach().clone().to(dtype=torch.float32)
    assert copy.stop_colors.dtype == torch.float32 and copy.fill_gradient.tolist() == [0, -1]
    assert scene.path(1).stroke_gradient.kind == "radial" and scene.path(0).fill_gradient.spread == "reflect"
    groups = scene.param_groups()
    assert any(t is scene.gradient_geometry for t in groups["points"]) and any(t is scene.stop_colors for t in groups["colors"])
    with torch.no_grad():
        scene.stop_offsets.copy_(torch.tensor([0.6, 0.2, 1.4, 0.3, -0.2], dtype=torch.float64))
    scene.clamp_()
    assert scene.stop_offsets.tolist() == pytest.approx([0.6, 0.6, 1.0, 0.3, 0.3])
    plain = Scene.from_paths([VectorPath([rect_contour(1, 1, 4, 4)], True, fill_color=RED)])
    assert plain.num_gradients == 0 and len(plain.parameters()) == 4
    batch = render([_gradient_scene(False), plain.to(dtype=torch.float64)], 16, 16)
    assert torch.allclose(batch[0], render(_gradient_scene(False), 16, 16))


def test_svg_round_trip_and_resvg_agree(tmp_path):
    resvg = pytest.importorskip("resvg_py")
    from PIL import Image

    from stylize.vector.svg import read_svg

    scene = _gradient_scene(False).scaled(4.0)
    text = svg_string(scene, 64, 64)
    assert "<linearGradient" in text and "<radialGradient" in text and 'fr="0.5"' in text
    (tmp_path / "paint.svg").write_text(text)
    back = read_svg(tmp_path / "paint.svg").scene.to(dtype=torch.float64)
    for before, after in zip(scene.paths(), back.paths(), strict=True):
        for which in ("fill_gradient", "stroke_gradient"):
            one, two = getattr(before, which), getattr(after, which)
            assert (one is None) == (two is None)
            if one is not None:
                assert (one.kind, one.spread) == (two.kind, two.spread)
                used = 6 if one.kind == "radial" else 4  # a linear gradient has no radii
                assert one.geometry()[:used] == pytest.approx(two.geometry()[:used], abs=1e-5)
                assert one.transform == pytest.approx(two.transform, abs=1e-5)
                assert torch.allclose(one.stop_tensors()[1], two.stop_tensors()[1], atol=1 / 255)
    ours = render(scene, 64, 64)
    assert torch.allclose(ours, render(back, 64, 64), atol=2 / 255)
    png = resvg.svg_to_bytes(svg_string=text, background="#ffffff")
    reference = np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"), np.float64) / 255.0
    assert float(np.abs(ours.numpy() - reference).mean()) < 0.003


def test_average_color_is_the_stand_in():
    gradient = Gradient("linear", [0.0, 1.0], [RED, (0.0, 0.0, 1.0, 0.0)])
    assert gradient.average_color() == pytest.approx((1.0, 0.0, 0.0, 0.5))
    assert Gradient("radial", [0.3], [GREEN]).average_color() == pytest.approx(GREEN)
    with pytest.raises(ValueError, match="kind"):
        Gradient("conic", [0.0], [RED])
    assert math.isclose(Gradient("linear", [0, 1], [RED, GREEN]).scaled_alpha(0.5).stop_tensors()[1][1, 3].item(), 0.5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gradients_match_cpu():
    scene = _gradient_scene()
    cpu = render(scene, 16, 16)
    cpu.sum().backward()
    cpu_grads = [t.grad.clone() for t in scene.parameters()]
    gpu_scene = _gradient_scene().to("cuda").requires_grad_(True)
    gpu = render(gpu_scene, 16, 16)
    gpu.sum().backward()
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-6)
    for expected, tensor in zip(cpu_grads, gpu_scene.parameters(), strict=True):
        assert torch.allclose(expected, tensor.grad.cpu(), atol=1e-5)
