"""Train one of the project's two tiny test CLIPs on the synthetic shapes world.

    python tools/train_test_clip.py trainer   # -> tests/assets/clip/trainer/
    python tools/train_test_clip.py judge     # -> tests/assets/clip/judge/

The result is an open_clip ``local-dir`` folder (``open_clip_config.json`` with ``model_cfg`` and
``preprocess_cfg``, ``open_clip_model.safetensors``) plus ``training.json`` with the settings,
time and held-out accuracy. Deterministic for a seed (the script fixes torch's thread count).

These models know a narrow synthetic world ("a red circle", "a blue striped square", ...). They
are a test instrument, never a substitute for real CLIP weights.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from stylize.testing.shapes import PATTERNS, SHAPES, ShapeBatch, all_captions, draw_shapes

ROOT = Path(__file__).resolve().parents[1]

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
    },
}


def augment(images: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Training-time robustness: geometric warps (trainer) or blur / colour noise (judge)."""
    n = images.shape[0]
    if kind == "geometric":
        # random affine: small shear/scale/translation, white fill as the optimisation-time augments
        angle = (torch.rand(n, generator=generator) - 0.5) * 0.6
        scale = 0.85 + 0.3 * torch.rand(n, generator=generator)
        shear = (torch.rand(n, 2, generator=generator) - 0.5) * 0.3
        shift = (torch.rand(n, 2, generator=generator) - 0.5) * 0.2
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack(
            [torch.stack([cos + shear[:, 0], -sin, shift[:, 0]], -1), torch.stack([sin, cos + shear[:, 1], shift[:, 1]], -1)], 1
        )
        apply = (torch.rand(n, generator=generator) < 0.5).view(-1, 1, 1)
        identity = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(n, 2, 3)
        grid = F.affine_grid(torch.where(apply, theta, identity), list(images.shape), align_corners=False)
        return F.grid_sample(images - 1, grid, align_corners=False) + 1
    # photometric: blur some, jitter brightness/contrast a little
    blurred = F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    pick = (torch.rand(n, 1, 1, 1, generator=generator) < 0.3).float()
    images = images * (1 - pick) + blurred * pick
    gain = 0.9 + 0.2 * torch.rand(n, 1, 1, 1, generator=generator)
    bias = (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.1
    return (images * gain + bias).clamp(0, 1)


def soft_targets(batch, num_captions: int) -> torch.Tensor:
    """Patterned pictures match their full caption (0.7) and the plain one (0.3)."""
    targets = torch.zeros(len(batch.colour), num_captions)
    full = batch.full_index()
    plain = (batch.colour * len(SHAPES) + batch.shape) * len(PATTERNS)
    patterned = batch.pattern > 0
    targets[torch.arange(len(full)), plain] = torch.where(patterned, 0.3, 1.0)
    targets[torch.arange(len(full))[patterned], full[patterned]] = 0.7
    return targets


@torch.no_grad()
def evaluate(model, tokenizer, image_size: int, preprocess_cfg: dict, seed: int, n: int = 2000) -> dict[str, float]:
    """Held-out accuracy on freshly drawn pictures (colour, shape, pattern, full caption)."""
    captions = all_captions()
    text = F.normalize(model.encode_text(tokenizer(captions)), dim=-1)
    batch = draw_shapes(n, image_size, torch.Generator().manual_seed(seed))
    mean = torch.tensor(preprocess_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(preprocess_cfg["std"]).view(1, 3, 1, 1)
    image = F.normalize(model.encode_image((batch.images - mean) / std), dim=-1)
    logits = image @ text.T
    predicted = logits.argmax(-1)
    colour = predicted // (len(SHAPES) * len(PATTERNS))
    shape = (predicted // len(PATTERNS)) % len(SHAPES)
    pattern = predicted % len(PATTERNS)
    # zero-shot over the 32 "a {colour} {shape}" captions only
    short = logits[:, :: len(PATTERNS)].argmax(-1)
    return {
        "colour": float((colour == batch.colour).float().mean()),
        "shape": float((shape == batch.shape).float().mean()),
        "pattern": float((pattern == batch.pattern).float().mean()),
        "full_caption": float((predicted == batch.full_index()).float().mean()),
        "colour_shape_caption": float((short == batch.short_index()).float().mean()),
    }


def train(
    variant: str,
    out: Path,
    steps: int,
    batch_size: int,
    pool_size: int = 12288,
    threads: int = 1,
    log_every: int = 100,
    eval_samples: int = 2000,
) -> dict:
    import open_clip
    from safetensors.torch import save_file

    settings = VARIANTS[variant]
    torch.set_num_threads(threads)
    torch.manual_seed(settings["seed"])
    torch.use_deterministic_algorithms(True)
    model_cfg = settings["model_cfg"]
    model = open_clip.CLIP(**model_cfg)
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=TEXT_CFG["context_length"])  # standard BPE
    image_size = model_cfg["vision_cfg"]["image_size"]
    mean = torch.tensor(settings["preprocess_cfg"]["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(settings["preprocess_cfg"]["std"]).view(1, 3, 1, 1)
    captions = all_captions()
    tokens = tokenizer(captions)

    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    data = torch.Generator().manual_seed(settings["data_seed"])
    start = time.perf_counter()
    # Drawing is as costly as a training step on 2 cores: draw a pool once, then sample it with
    # fresh augmentations (and mirror images) every step.
    pool = draw_shapes(pool_size, image_size, data)
    model.train()
    for step in range(steps):
        pick = torch.randint(pool_size, (batch_size,), generator=data)
        batch = ShapeBatch(pool.images[pick], pool.colour[pick], pool.shape[pick], pool.pattern[pick])
        flip = torch.rand(batch_size, 1, 1, 1, generator=data) < 0.5
        images = torch.where(flip, batch.images.flip(-1), batch.images)
        pixels = (augment(images, settings["augment"], data) - mean) / std
        image = F.normalize(model.encode_image(pixels), dim=-1)
        text = F.normalize(model.encode_text(tokens), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * image @ text.T
        loss = torch.sum(-soft_targets(batch, len(captions)) * F.log_softmax(logits, -1), -1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"{variant} step {step:5d} loss {loss.item():.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    seconds = time.perf_counter() - start
    model.eval()
    accuracy = evaluate(model, tokenizer, image_size, settings["preprocess_cfg"], seed=settings["data_seed"] + 777, n=eval_samples)

    out.mkdir(parents=True, exist_ok=True)
    weights = out / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    config = {"model_cfg": model_cfg, "preprocess_cfg": settings["preprocess_cfg"]}
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    report = {
        "variant": variant,
        "steps": steps,
        "batch_size": batch_size,
        "pool_size": pool_size,
        "threads": threads,
        "train_seconds": round(seconds, 1),
        "size_bytes": weights.stat().st_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "held_out_accuracy": accuracy,
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
    }
    (out / "training.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="train a tiny test CLIP on synthetic shapes")
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--out", type=Path, help="output folder (default tests/assets/clip/VARIANT)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=96)
    parser.add_argument("--pool-size", type=int, default=12288)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (part of what makes a run reproducible)")
    args = parser.parse_args()
    out = args.out or ROOT / "tests" / "assets" / "clip" / args.variant
    report = train(args.variant, out, args.steps, args.batch_size, args.pool_size, args.threads)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
