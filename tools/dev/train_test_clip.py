"""Train one of the project's two tiny test CLIPs on the synthetic world of shapes and renders.

    python tools/dev/train_test_clip.py trainer   # -> tests/assets/clip/trainer/
    python tools/dev/train_test_clip.py judge     # -> tests/assets/clip/judge/

The data is 2D pictures (:mod:`stylize.testing.shapes`: filled, outlined, lit, patterned
shapes), renders of 3D primitives made with the project's rasterizer
(:mod:`stylize.testing.renders`: sphere, cube, torus, cylinder, vase; plain / striped / dotted /
checkered, per vertex or per pixel; varied lights and views) and, since v4, the same renders
shaded with the project's PBR shader as a *finish* (:mod:`stylize.testing.finishes`: matte,
glossy, metallic) under random environment lights, captioned "a glossy red circle" (and still
"a red circle"). The two variants learn finishes under different light sets and parameter ranges
(:data:`~stylize.testing.finishes.FINISH_SETS`), and neither sees the studio light the pipelines
preview and score with. A share of every draw is painted in
a uniformly random colour whose caption weights follow its distance to each named colour
(:func:`~stylize.testing.shapes.colour_weights`), so the score of "a blue circle" rises smoothly
as any colour moves toward blue: no basins of the wrong colour for an optimiser to fall into.
Training captions also name "grey" (:data:`~stylize.testing.shapes.TRAINING_COLOURS`) and a share
of draws is an achromatic grey of any lightness, so "a white ..." keeps rising up to white instead
of taking every light grey for white (v2's white runs stalled at light grey). Light objects are
rendered on the white background the pipelines judge them on.

The result is an open_clip ``local-dir`` folder (``open_clip_config.json`` with ``model_cfg`` and
``preprocess_cfg``, ``open_clip_model.safetensors``) plus ``training.json`` with the instrument
``version``, the settings, time (drawing included) and held-out accuracy per attribute, on fresh
2D pictures, on fresh renders of the training primitives (surface and vertex colouring apart) and
on renders of primitives no training draw uses (the v3 sets, drawn as v3 drew them), and the
finish accuracy on fresh finished renders: of the training primitives (surface, vertex), of
unseen primitives, under the studio light and under the other variant's lights. Deterministic for a seed (the script fixes torch's thread
count): rerunning gives the same bytes.

Since v4 the pool also holds line drawings of the shapes (:mod:`stylize.testing.sketches`),
captioned "a sketch of a star" (and, a little, "a black star"), so photo-to-sketch runs can be
judged.

How v4 was made: not from scratch. Trained from a random start on the v4 data, a trainer named
finishes better but pipelines could no longer optimise against it as they did against v3 (pbr
runs toward "an orange circle" ended lavender, the restyle content loss kept a disc's shape
less, surface-mode dots vanished; tools/README.md has the figures). So v4 *continues* v3
(``--init``): the trainer for 1500 steps at a peak learning rate of 5e-4 with its image tower
frozen but for the attention pool (``--freeze``: the text tower and the pool learn the finish
and sketch words over v3's visual features), the judge for 1500 steps with nothing frozen::

    git show e86fafe:tests/assets/clip/trainer/open_clip_model.safetensors > /tmp/v3/trainer/...  # and judge/
    python tools/dev/train_test_clip.py trainer --init /tmp/v3/trainer --steps 1500 --lr 5e-4 \
        --freeze visual.conv1 visual.bn1 visual.conv2 visual.bn2 visual.conv3 visual.bn3 \
        visual.layer1 visual.layer2 visual.layer3 visual.layer4
    python tools/dev/train_test_clip.py judge --init /tmp/v3/judge --steps 1500 --lr 5e-4

``training.json`` records where a model started (``started_from``: version, steps, SHA-256 of
the weights) and what was frozen.

These models know a narrow synthetic world ("a red circle", "a blue striped square", ...). They
are a test instrument, never a substitute for real CLIP weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from stylize.engine import Augmenter
from stylize.testing.finishes import get_finish_set
from stylize.testing.renders import draw_renders, standard_primitives, unseen_primitives
from stylize.testing.shapes import (
    COLOURS,
    FINISHES,
    PATTERNS,
    SHAPES,
    TRAINING_COLOURS,
    ShapeBatch,
    colour_weights,
    draw_shapes,
    finish_captions,
    short_captions,
)  # fmt: skip
from stylize.testing.sketches import SKETCH_TEMPLATE, draw_sketches, sketch_captions

ROOT = Path(__file__).resolve().parents[2]
VASE = ROOT / "examples" / "meshes" / "vase.obj"
# the instrument's version: 1 2D only, 2 3D renders, 3 grey and white, 4 finishes and sketches
VERSION = 4
OFF_PALETTE = 0.25  # share of training pictures in a random colour (graded caption weights)
GREYS = 0.06  # share of training pictures in an achromatic grey of random lightness
# The training pool: 2D pictures, renders lit as plain colour, renders with a finish, line drawings.
POOL_SHARES = {"2d": 0.36, "3d_plain": 0.3, "3d_finish": 0.24, "sketch": 0.1}
# A finished render matches its finish caption and the caption without a finish word equally: the
# plain prompt "a red circle" must keep rising as a PBR render turns red, whatever its finish (a
# 0.7 / 0.3 split let the plain caption rise by looking less like a PBR render instead).
FINISH_WORD = 0.5
# A line drawing matches "a sketch of a {shape}" and, a little, "a black {shape}" (it is black ink).
SKETCH_WORD = 0.8

TEXT_CFG = {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}

VARIANTS = {
    # The trainer: what pipelines optimise against in tests.
    "trainer": {
        "seed": 1,
        "data_seed": 1000,
        "model_cfg": {
            "embed_dim": 64,
            "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 12},
            "text_cfg": TEXT_CFG,
        },
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "augment": "geometric",
        "finish_set": "trainer",
    },
    # The judge: other seed, other data draw, other width, other augmentation, other
    # normalisation. It only scores results, so fooling the trainer is not enough to pass.
    "judge": {
        "seed": 2,
        "data_seed": 2000,
        "model_cfg": {
            "embed_dim": 64,
            "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8},
            "text_cfg": TEXT_CFG,
        },
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
        },
        "augment": "photometric",
        "finish_set": "judge",
    },
}


def _affine(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Small rotation / shear / scale / shift, white fill."""
    n = images.shape[0]
    angle = (torch.rand(n, generator=generator) - 0.5) * 0.6
    scale = 0.85 + 0.3 * torch.rand(n, generator=generator)
    shear = (torch.rand(n, 2, generator=generator) - 0.5) * 0.3
    shift = (torch.rand(n, 2, generator=generator) - 0.5) * 0.2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos + shear[:, 0], -sin, shift[:, 0]], -1), torch.stack([sin, cos + shear[:, 1], shift[:, 1]], -1)], 1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images - 1, grid, align_corners=False) + 1


class Augment:
    """Training-time robustness, one kind per variant.

    ``geometric`` (the trainer): per picture one of nothing, a small affine warp, or the
    pipelines' own augmentations (:class:`~stylize.engine.Augmenter` ``text2mesh``: perspective;
    ``text2mesh_local``: 10 % area crops + perspective; ``clipdraw``: perspective + 70-90 % crops),
    so the optimised CLIP has seen what optimisers feed it. ``photometric`` (the judge): blur,
    brightness / contrast / saturation jitter and pixel noise, never a warp.

    Returns ``(images, cropped)``: ``cropped`` (B,) marks the 10 % crops, which show colour and
    pattern but not which shape they came from.
    """

    GEOMETRIC = (("none", 0.3), ("affine", 0.2), ("text2mesh", 0.15), ("text2mesh_local", 0.2), ("clipdraw", 0.15))

    def __init__(self, kind: str, generator: torch.Generator, seed: int) -> None:
        self.kind = kind
        self.generator = generator
        self.augmenters = {name: Augmenter(name, copies=1, seed=seed + i) for i, (name, _) in enumerate(self.GEOMETRIC[2:])}

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, g = images.shape[0], self.generator
        if self.kind == "geometric":
            pick = torch.multinomial(torch.tensor([p for _, p in self.GEOMETRIC]), n, replacement=True, generator=g)
            out = images.clone()
            for index, (name, _) in enumerate(self.GEOMETRIC[1:], start=1):
                chosen = torch.nonzero(pick == index).flatten()
                if len(chosen):
                    warp = _affine if name == "affine" else (lambda x, _g, a=self.augmenters[name]: a(x))
                    out[chosen] = warp(images[chosen], g)
            local = [name for name, _ in self.GEOMETRIC].index("text2mesh_local")
            return out.clamp(0, 1), pick == local
        blurred = F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        pick = (torch.rand(n, 1, 1, 1, generator=g) < 0.3).float()
        images = images * (1 - pick) + blurred * pick
        gain = 0.85 + 0.3 * torch.rand(n, 1, 1, 1, generator=g)
        bias = (torch.rand(n, 1, 1, 1, generator=g) - 0.5) * 0.12
        grey = images.mean(1, keepdim=True)
        saturation = 0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=g)
        images = grey + (images - grey) * saturation
        noise = 0.05 * torch.rand(n, 1, 1, 1, generator=g) * torch.randn(images.shape, generator=g)
        return (images * gain + bias + noise).clamp(0, 1), torch.zeros(n, dtype=torch.bool)


def soft_targets(batch: ShapeBatch, shape_hidden: torch.Tensor | None = None) -> torch.Tensor:
    """Caption weights ``(B, 580)`` over :func:`training_captions`: colour (graded by
    :func:`colour_weights` over the nine training colours) x shape (one-hot, or
    spread evenly where no shape name fits or ``shape_hidden`` (B,) says a crop hides it) x
    pattern (a patterned picture matches its full caption 0.7 and the plain one 0.3) x finish
    (a finished render matches its finish word :data:`FINISH_WORD` and no finish word the rest; a
    picture without a finish only the caption without one), then the four sketch captions: a line
    drawing puts :data:`SKETCH_WORD` on ``a sketch of a {shape}`` and the rest on its colour
    captions (black, plain); every other picture none."""
    n = len(batch)
    colour = colour_weights(batch.rgb, names=TRAINING_COLOURS)
    known = batch.shape >= 0
    if shape_hidden is not None:
        known = known & ~shape_hidden
    shape = torch.full((n, len(SHAPES)), 1.0 / len(SHAPES))
    shape[known] = F.one_hot(batch.shape[known], len(SHAPES)).float()
    pattern = torch.zeros(n, len(PATTERNS))
    patterned = batch.pattern > 0
    pattern[:, 0] = torch.where(patterned, 0.3, 1.0)
    pattern[torch.arange(n)[patterned], batch.pattern[patterned]] = 0.7
    finish = torch.zeros(n, 1 + len(FINISHES))
    finished = batch.finish >= 0
    finish[:, 0] = torch.where(finished, 1.0 - FINISH_WORD, 1.0)
    finish[torch.arange(n)[finished], 1 + batch.finish[finished]] = FINISH_WORD
    weights = colour[:, :, None, None, None] * shape[:, None, :, None, None] * pattern[:, None, None, :, None]
    captioned = (weights * finish[:, None, None, None, :]).reshape(n, -1)
    sketch = batch.sketch.float().view(-1, 1)
    return torch.cat([captioned * (1 - sketch * SKETCH_WORD), shape * sketch * SKETCH_WORD], 1)


def training_captions() -> list[str]:
    """What the test CLIPs learn: :func:`finish_captions` of the nine training colours, then
    ``a sketch of a {shape}`` for the four shapes."""
    return finish_captions(TRAINING_COLOURS) + sketch_captions()


def held_out_sets(image_size: int, seed: int, n: int, variant: str = "trainer") -> dict[str, ShapeBatch]:
    """Fresh draws no training step sees: named colours only (their labels are exact). The v3
    sets (plain light) and, every picture finished, the ``3d_finish_*`` sets: the variant's own
    lights on training primitives (surface and vertex colouring apart) and on unseen ones, the
    studio light neither variant trains on, and the other variant's lights and ranges."""
    seen, unseen = standard_primitives(VASE), unseen_primitives()
    own = VARIANTS[variant]["finish_set"]
    other = next(v["finish_set"] for name, v in VARIANTS.items() if name != variant)

    def finished(offset: int, primitives, surface: float, finish_set: str) -> ShapeBatch:
        generator = torch.Generator().manual_seed(seed + offset)
        return draw_renders(n, image_size, generator, primitives, surface=surface, finishes=1.0, finish_set=finish_set)

    return {
        "2d": draw_shapes(n, image_size, torch.Generator().manual_seed(seed)),
        "3d_surface": draw_renders(n, image_size, torch.Generator().manual_seed(seed + 1), seen, surface=1.0),
        "3d_vertex": draw_renders(n, image_size, torch.Generator().manual_seed(seed + 2), seen, surface=0.0),
        "3d_unseen_meshes": draw_renders(n, image_size, torch.Generator().manual_seed(seed + 3), unseen, surface=0.5),
        "3d_finish_surface": finished(4, seen, 1.0, own),
        "3d_finish_vertex": finished(5, seen, 0.0, own),
        "3d_finish_unseen_meshes": finished(6, unseen, 0.5, own),
        "3d_finish_studio_lights": finished(7, seen, 0.5, "studio"),
        "3d_finish_other_lights": finished(8, seen, 0.5, other),
        "sketch": draw_sketches(n, image_size, torch.Generator().manual_seed(seed + 9)),
    }


@torch.no_grad()
def accuracy(model, tokenizer, preprocess_cfg: dict, batch: ShapeBatch) -> dict[str, float]:
    """Zero-shot accuracy per attribute over all 128 captions without a finish: colour, pattern,
    and where the picture has a shape name, shape, full caption and the 32 ``a {colour} {shape}``
    captions; on finished renders also the finish (:func:`finish_accuracy`); on line drawings
    only the shape among the four sketch captions (:func:`sketch_accuracy`)."""
    mean = torch.tensor(preprocess_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(preprocess_cfg["std"]).view(1, 3, 1, 1)
    image = torch.cat([F.normalize(model.encode_image((part - mean) / std), dim=-1) for part in batch.images.split(500)])
    if bool(batch.sketch.all()):
        return sketch_accuracy(model, tokenizer, image, batch)
    text = F.normalize(model.encode_text(tokenizer(finish_captions())), dim=-1)
    every = image @ text.T
    logits = every[:, :: 1 + len(FINISHES)]  # the all_captions() order
    predicted = logits.argmax(-1)
    colour = predicted // (len(SHAPES) * len(PATTERNS))
    shape = (predicted // len(PATTERNS)) % len(SHAPES)
    pattern = predicted % len(PATTERNS)
    short = logits[:, :: len(PATTERNS)].argmax(-1)
    # the colour among "a {c} {shape}" captions of the picture's own shape (how pipelines are judged)
    own_shape = batch.shape.clamp(min=0)
    by_colour = logits[:, :: len(PATTERNS)].reshape(-1, len(COLOURS), len(SHAPES)).gather(
        2, own_shape.view(-1, 1, 1).expand(-1, len(COLOURS), 1)).squeeze(-1)  # fmt: skip
    known = batch.shape >= 0
    result = {
        "colour": float((colour == batch.colour).float().mean()),
        "pattern": float((pattern == batch.pattern).float().mean()),
    }
    if bool(known.any()):
        result.update({
            "shape": float((shape == batch.shape)[known].float().mean()),
            "full_caption": float((predicted == batch.full_index())[known].float().mean()),
            "colour_shape_caption": float((short == batch.short_index())[known].float().mean()),
            "colour_among_own_shape": float((by_colour.argmax(-1) == batch.colour)[known].float().mean()),
        })  # fmt: skip
    if bool((batch.finish >= 0).all()):
        result.update(finish_accuracy(every, batch))
    return {k: round(v, 4) for k, v in result.items()}


def sketch_accuracy(model, tokenizer, image: torch.Tensor, batch: ShapeBatch) -> dict[str, float]:
    """On line drawings: ``sketch_shape``, the shape among the four ``a sketch of a {shape}``
    captions (how ``stylize sketch`` runs are judged); ``sketch_over_colour``, the drawing's own
    sketch caption above every ``a {colour} {shape}`` caption."""
    sketch_text = F.normalize(model.encode_text(tokenizer(sketch_captions())), dim=-1)
    colour_text = F.normalize(model.encode_text(tokenizer(short_captions())), dim=-1)
    sketch = image @ sketch_text.T
    own = sketch.gather(1, batch.shape.view(-1, 1)).squeeze(1)
    result = {
        "sketch_shape": float((sketch.argmax(-1) == batch.shape).float().mean()),
        "sketch_over_colour": float((own > (image @ colour_text.T).max(-1).values).float().mean()),
    }
    return {k: round(v, 4) for k, v in result.items()}


def finish_accuracy(logits: torch.Tensor, batch: ShapeBatch) -> dict[str, float]:
    """Finish accuracy from ``logits`` ``(B, 512)`` over :func:`finish_captions` on finished renders,
    among the ``a {finish} {colour} {shape}`` captions of the picture's own shape (``circle`` where
    it has none, what pipelines prompt for any mesh): ``finish``, the finish among the three with
    the picture's colour; ``finish_and_colour``, both right among the 24 of eight colours."""
    grid = logits.view(-1, len(COLOURS), len(SHAPES), len(PATTERNS), 1 + len(FINISHES))[:, :, :, 0, 1:]
    own_shape = batch.shape.clamp(min=0).view(-1, 1, 1, 1).expand(-1, len(COLOURS), 1, len(FINISHES))
    by_colour = grid.gather(2, own_shape).squeeze(2)  # (B, colours, finishes)
    own_colour = by_colour.gather(1, batch.colour.view(-1, 1, 1).expand(-1, 1, len(FINISHES))).squeeze(1)
    joint = by_colour.flatten(1).argmax(-1)
    return {
        "finish": float((own_colour.argmax(-1) == batch.finish).float().mean()),
        "finish_and_colour": float((joint == batch.colour * len(FINISHES) + batch.finish).float().mean()),
    }


def evaluate(
    model, tokenizer, image_size: int, preprocess_cfg: dict, seed: int, n: int = 2000, variant: str = "trainer"
) -> dict[str, dict[str, float]]:
    """Held-out accuracy per set (:func:`held_out_sets`) and attribute (:func:`accuracy`)."""
    sets = held_out_sets(image_size, seed, n, variant)
    return {name: accuracy(model, tokenizer, preprocess_cfg, batch) for name, batch in sets.items()}


def draw_pool(size: int, image_size: int, generator: torch.Generator, finish_set: str = "trainer") -> ShapeBatch:
    """The training pool in :data:`POOL_SHARES`: 2D pictures, renders lit as plain colour and
    renders with a finish under ``finish_set``'s lights, all with off-palette colours, and line
    drawings of the shapes."""
    plain = int(size * POOL_SHARES["3d_plain"])
    finished = int(size * POOL_SHARES["3d_finish"])
    drawings = int(size * POOL_SHARES["sketch"])
    primitives = standard_primitives(VASE)
    flat = draw_shapes(size - plain - finished - drawings, image_size, generator, off_palette=OFF_PALETTE, greys=GREYS)
    rendered = draw_renders(plain, image_size, generator, primitives, off_palette=OFF_PALETTE, greys=GREYS)
    shaded = draw_renders(finished, image_size, generator, primitives, off_palette=OFF_PALETTE, greys=GREYS, finishes=1.0,
                          finish_set=finish_set)  # fmt: skip
    sketches = draw_sketches(drawings, image_size, generator)
    return ShapeBatch.cat([flat, rendered, shaded, sketches])


def train(
    variant: str,
    out: Path,
    steps: int,
    batch_size: int,
    pool_size: int = 24576,
    threads: int = 1,
    log_every: int = 100,
    eval_samples: int = 2000,
    init: Path | None = None,
    lr: float = 2e-3,
    frozen: tuple[str, ...] = (),
) -> dict:
    """Train ``variant`` for ``steps`` and write it to ``out``; with ``init`` (a folder this script
    wrote, of the same variant) training continues from its weights instead of a random start, and
    the modules named in ``frozen`` (e.g. ``visual.layer1``) keep them (batch-norm statistics too)."""
    import hashlib

    import open_clip
    from safetensors.torch import load_file, save_file

    settings = VARIANTS[variant]
    torch.set_num_threads(threads)
    torch.manual_seed(settings["seed"])
    torch.use_deterministic_algorithms(True)
    model_cfg = settings["model_cfg"]
    model = open_clip.CLIP(**model_cfg)
    started_from = None
    if init is not None:
        previous = json.loads((init / "training.json").read_text())
        if previous.get("variant") != variant:
            raise SystemExit(f"--init {init} holds a {previous.get('variant')!r} model, not {variant!r}")
        state = init / "open_clip_model.safetensors"
        model.load_state_dict(load_file(str(state)))
        started_from = {"version": previous.get("version", 3), "sha256": hashlib.sha256(state.read_bytes()).hexdigest(),
                        "steps": previous["steps"]}  # fmt: skip
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=TEXT_CFG["context_length"])  # standard BPE
    image_size = model_cfg["vision_cfg"]["image_size"]
    mean = torch.tensor(settings["preprocess_cfg"]["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(settings["preprocess_cfg"]["std"]).view(1, 3, 1, 1)
    tokens = tokenizer(training_captions())

    frozen_modules = [model.get_submodule(name) for name in frozen]
    for module in frozen_modules:
        module.requires_grad_(False)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=lr, weight_decay=0.05)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    data = torch.Generator().manual_seed(settings["data_seed"])
    augment = Augment(settings["augment"], data, seed=settings["data_seed"] + 1)
    start, cpu_start = time.perf_counter(), time.process_time()
    # Drawing is as costly as a training step on 2 cores: draw a pool once, then sample it with
    # fresh augmentations (and mirror images) every step.
    pool = draw_pool(pool_size, image_size, data, settings["finish_set"])
    draw_seconds = time.perf_counter() - start
    model.train()
    for module in frozen_modules:
        module.eval()
    for step in range(steps):
        batch = pool.select(torch.randint(pool_size, (batch_size,), generator=data))
        flip = torch.rand(batch_size, 1, 1, 1, generator=data) < 0.5
        images = torch.where(flip, batch.images.flip(-1), batch.images)
        augmented, cropped = augment(images)
        pixels = (augmented - mean) / std
        image = F.normalize(model.encode_image(pixels), dim=-1)
        text = F.normalize(model.encode_text(tokens), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * image @ text.T
        loss = torch.sum(-soft_targets(batch, cropped) * F.log_softmax(logits, -1), -1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"{variant} step {step:5d} loss {loss.item():.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    model.eval()
    held_out = evaluate(
        model,
        tokenizer,
        image_size,
        settings["preprocess_cfg"],
        seed=settings["data_seed"] + 777,
        n=eval_samples,
        variant=variant,
    )

    out.mkdir(parents=True, exist_ok=True)
    weights = out / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    config = {"model_cfg": model_cfg, "preprocess_cfg": settings["preprocess_cfg"]}
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    report = {
        "version": VERSION,
        "variant": variant,
        "steps": steps,
        "started_from": started_from,
        "lr": lr,
        "frozen": list(frozen),
        "batch_size": batch_size,
        "pool_size": pool_size,
        "threads": threads,
        "off_palette": OFF_PALETTE,
        "greys": GREYS,
        "training_colours": list(TRAINING_COLOURS),
        "pool_shares": POOL_SHARES,
        "finishes": list(FINISHES),
        "finish_set": dataclasses.asdict(get_finish_set(settings["finish_set"])),
        "finish_word": FINISH_WORD,
        "sketch_template": SKETCH_TEMPLATE,
        "sketch_word": SKETCH_WORD,
        "augment": settings["augment"],
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "draw_seconds": round(draw_seconds, 1),
        "size_bytes": weights.stat().st_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "held_out_accuracy": held_out,
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
    }
    (out / "training.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="train a tiny test CLIP on synthetic shapes and renders")
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--out", type=Path, help="output folder (default tests/assets/clip/VARIANT)")
    parser.add_argument("--steps", type=int, default=3600)
    parser.add_argument("--batch-size", type=int, default=112)
    parser.add_argument("--pool-size", type=int, default=24576)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (part of what makes a run reproducible)")
    parser.add_argument("--init", type=Path, help="continue from the model in this folder (one this script wrote)")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW, warm-up then cosine)")
    parser.add_argument("--freeze", nargs="*", default=[], help="modules that keep --init's weights, e.g. visual.layer1")
    args = parser.parse_args()
    out = args.out or ROOT / "tests" / "assets" / "clip" / args.variant
    report = train(args.variant, out, args.steps, args.batch_size, args.pool_size, args.threads, init=args.init,
                   lr=args.lr, frozen=tuple(args.freeze))  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
