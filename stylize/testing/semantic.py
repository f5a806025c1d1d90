"""Semantic check of the engine: optimise a picture towards a prompt with one CLIP, judge it with
another.

The picture is a *population* of soft shapes, one per image: a filled blob on white whose outline
is a polar radius ``r(theta) = r0 * exp(0.6 * tanh(sum_k a_k cos k theta + b_k sin k theta))`` (k = 1..6)
around a centre, in one colour. That is a smooth, low-dimensional parameterisation (14 numbers
per image) that can become a circle, a square-ish, a triangle-ish or a star-ish blob; it cannot
hide adversarial high-frequency texture, so what fools the trainer mostly also convinces a judge.

Why a population: from a grey or single random start the tiny test trainer's loss has basins of
the wrong colour (a green circle scores 0.6 for "a red circle" and the way to red passes through
worse greys), so plain gradient descent gets stuck. Each member starts from its own random
colour, all are optimised together through the engine's augmentations (one batched forward per
step), and the member with the lowest *trainer* loss, averaged over fresh augmentations, is
returned. The judge is never consulted while optimising or choosing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from stylize.engine import Augmenter, ClipEngine


class SoftShapes(nn.Module):
    """``population`` soft single-colour shapes on white.

    Args:
        population: number of independent pictures.
        size: picture side in pixels.
        harmonics: Fourier terms of the polar outline.
        generator: CPU generator for the random start (colours uniform in [0.05, 0.95]^3,
            small random outline terms; every shape starts as a centred disc).

    Shape:
        ``forward()`` -> (population, 3, size, size) in [0, 1].
    """

    def __init__(
        self, population: int = 12, size: int = 64, harmonics: int = 6, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.size = size
        self.centre = nn.Parameter(torch.zeros(population, 2))
        self.radius = nn.Parameter(torch.zeros(population))
        self.outline = nn.Parameter(torch.randn(population, 2, harmonics, generator=generator) * 0.05)
        colour = torch.rand(population, 3, generator=generator) * 0.9 + 0.05
        self.colour = nn.Parameter(torch.log(colour) - torch.log1p(-colour))
        self.register_buffer("orders", torch.arange(1, harmonics + 1, dtype=torch.float32), persistent=False)

    def forward(self) -> Tensor:
        n = self.size
        t = (torch.arange(n, dtype=torch.float32) + 0.5) / n * 2 - 1
        y, x = torch.meshgrid(t, t, indexing="ij")
        centre = 0.3 * torch.tanh(self.centre)  # stay inside the frame
        dx = x[None] - centre[:, 0, None, None]
        dy = y[None] - centre[:, 1, None, None]
        distance = torch.sqrt(dx * dx + dy * dy + 1e-8)
        angle = self.orders[None, :, None, None] * torch.atan2(dy, dx)[:, None]
        wobble = (
            self.outline[:, 0, :, None, None] * torch.cos(angle) + self.outline[:, 1, :, None, None] * torch.sin(angle)
        ).sum(1)
        radius = (0.25 + 0.4 * torch.sigmoid(self.radius))[:, None, None] * torch.exp(0.6 * torch.tanh(wobble))
        coverage = torch.sigmoid((radius - distance) * (n / 1.5))[:, None]  # ~1.5 px soft edge
        return 1 - coverage + coverage * torch.sigmoid(self.colour)[:, :, None, None]


@dataclass
class SemanticResult:
    """The chosen picture (1, 3, H, W), every member's final trainer loss and the chosen index."""

    image: Tensor
    losses: Tensor
    chosen: int


def optimise_towards(
    prompt: str,
    trainer: str,
    steps: int = 60,
    population: int = 12,
    copies: int = 4,
    lr: float = 0.1,
    seed: int = 0,
    select_copies: int = 16,
) -> SemanticResult:
    """Optimise :class:`SoftShapes` towards ``prompt`` with the ``trainer`` CLIP spec.

    Every step renders all members, applies the engine's ``clipdraw`` augmentations (``copies``
    per member) and takes one Adam step on the engine's loss. The member with the lowest trainer
    loss over ``select_copies`` fresh augmentations is returned.
    """
    generator = torch.Generator().manual_seed(seed)
    engine = ClipEngine([trainer], prompt, device="cpu")
    augment = Augmenter("clipdraw", copies=copies, seed=seed)
    shapes = SoftShapes(population, size=engine.clip_models[0].image_size[0], generator=generator)
    optimizer = torch.optim.Adam(shapes.parameters(), lr=lr)
    for _ in range(steps):
        loss = engine(augment(shapes())).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        pictures = shapes()
        augmented = Augmenter("clipdraw", copies=select_copies, seed=seed + 1)(pictures)  # copy-major
        losses = (1 - engine.score_texts(augmented, [prompt])[0, :, 0]).view(select_copies, population).mean(0)
    chosen = int(losses.argmin())
    return SemanticResult(pictures[chosen : chosen + 1].clone(), losses, chosen)
