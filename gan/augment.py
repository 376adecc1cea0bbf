"""Differentiable augmentation for data-hungry discriminators (DiffAugment, Zhao et al. 2020).

A discriminator trained on a few thousand images memorises them, and G then chases the memory instead of the
data. DiffAugment applies the same random, differentiable transformations to every image D sees, real or fake,
in D's update and in G's, so D cannot memorise exact pixels while G's gradient still flows through the transform
(augmenting only the real images would teach G to draw the augmentations).

    --augment translation,cutout      # gan.train; TrainConfig(augment="translation,cutout")

All randomness comes from the trainer's checkpointed torch.Generator, so an augmented run still resumes exactly.
"""
from __future__ import annotations

import torch

from gan.errors import GanInputError

POLICIES = ("translation", "cutout")
TRANSLATION_RATIO = 1 / 8   # largest shift, as a share of the image side (the paper's value)
CUTOUT_RATIO = 1 / 2        # side of the erased square, as a share of the image side (the paper's value)


def parse_policy(text: str | None) -> tuple[str, ...]:
    """'translation,cutout' -> ('translation', 'cutout'); '' or None -> () (no augmentation)."""
    if text is None:
        return ()
    if not isinstance(text, str):
        raise GanInputError(f"--augment must be a comma-separated list of {', '.join(POLICIES)}, not {text!r}")
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise GanInputError(f"unknown augmentation {unknown[0]!r}; choose from: {', '.join(POLICIES)}")
    return tuple(dict.fromkeys(names))


def translate(x: torch.Tensor, generator: torch.Generator, ratio: float = TRANSLATION_RATIO,
              fill: float = -1.0) -> torch.Tensor:
    """Shift each image by a random whole number of pixels (up to ratio * side) in x and y, filling with the
    background value `fill` (-1: black in [-1, 1] images; DiffAugment's D sees real and fake shifted alike, so
    its fill needs no care). Indexing keeps it differentiable in x."""
    b, _, h, w = x.shape
    sy, sx = max(1, round(h * ratio)), max(1, round(w * ratio))
    dy = torch.randint(-sy, sy + 1, (b, 1), device=x.device, generator=generator)
    dx = torch.randint(-sx, sx + 1, (b, 1), device=x.device, generator=generator)
    padded = torch.nn.functional.pad(x, (sx, sx, sy, sy), value=fill)
    rows = torch.arange(h, device=x.device)[None, :] + sy - dy            # (B, H) rows of the padded image
    cols = torch.arange(w, device=x.device)[None, :] + sx - dx            # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.contiguous_format)


def cutout(x: torch.Tensor, generator: torch.Generator, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Set one random square (ratio * side, possibly overlapping the border) of each image to 0."""
    b, _, h, w = x.shape
    ch, cw = max(1, round(h * ratio)), max(1, round(w * ratio))
    cy = torch.randint(0, h + 1 - ch % 2, (b, 1, 1), device=x.device, generator=generator)
    cx = torch.randint(0, w + 1 - cw % 2, (b, 1, 1), device=x.device, generator=generator)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = ((ys - cy).abs() < ch / 2) & ((xs - cx).abs() < cw / 2)      # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_APPLY = {"translation": translate, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """Apply each transform of the policy, in order, with fresh randomness per image."""
    for name in policy:
        x = _APPLY[name](x, generator)
    return x
