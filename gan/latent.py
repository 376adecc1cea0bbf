"""Latent vectors: seeds as addresses, truncation, and paths between latents; and the checks of every number a
view of latent space takes (seed, truncation, a direction's amount, a frame count), each with one limit.

A seed maps to z on the CPU with its own torch.Generator, independent of batch position and device, so a seed
shows the same image on a laptop and on a GPU server and can be shared as a number.

torch is imported inside the functions that use it: the app's pages import the limits and checks from here while
they are built, before any picture asks for torch.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable

from gan.errors import GanInputError

if TYPE_CHECKING:
    import torch

SEED_LIMIT = 2 ** 32
SEED_RULE = f"must be a whole number from 0 to {SEED_LIMIT - 1:,}"
AMOUNT_LIMIT = 5.0      # a discovered direction's amount and a raw latent component: within ±5 z units
FRAME_LIMIT = 600       # frames of a latent walk (the Interpolate tab, python -m gan.generate --interpolate)
FRAME_RULE = f"must be a whole number from 2 to {FRAME_LIMIT} (an animation needs at least 2 frames)"
MODES = ("slerp", "linear")   # the interpolations the page offers (INTERPOLATIONS also takes their aliases)


def check_seed(seed) -> int:
    """A seed as an int, or a GanInputError that says what a seed is (text, None, NaN, fractions refused)."""
    if seed is None or seed == "":
        raise GanInputError(f"type a seed: a seed {SEED_RULE}")
    if isinstance(seed, int) and not isinstance(seed, bool):
        value = seed
    else:
        as_float = _number(seed)
        value = int(as_float) if as_float is not None and as_float.is_integer() else None
    if value is None or not 0 <= value < SEED_LIMIT:
        raise GanInputError(f"a seed {SEED_RULE}, got {seed!r}")
    return value


def _number(value) -> float | None:
    """value as a finite float, or None for anything else (text, None, a bool, NaN, infinity, a list)."""
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def check_amount(value, what: str) -> float:
    """A direction's amount or a latent component (named `what` as the page labels it: "direction 2", "z[3]"):
    a number within ±AMOUNT_LIMIT. Further out the generator sees latents far from any it was trained on."""
    v = _number(value)
    if v is None or abs(v) > AMOUNT_LIMIT:
        raise GanInputError(f"{what} must be a number from -{AMOUNT_LIMIT:g} to {AMOUNT_LIMIT:g}, got {value!r}")
    return v


def check_frames(frames) -> int:
    """A walk's frame count as an int (a fraction is refused, not rounded)."""
    v = _number(frames)
    if v is None or not v.is_integer() or not 2 <= v <= FRAME_LIMIT:
        raise GanInputError(f"frames {FRAME_RULE}, got {frames!r}")
    return int(v)


def check_mode(mode) -> str:
    """An interpolation's name: slerp or linear (or one of their aliases in INTERPOLATIONS)."""
    if not isinstance(mode, str) or mode not in INTERPOLATIONS:
        raise GanInputError(f"interpolation must be slerp or linear, got {mode!r}")
    return mode


def sample_z(n: int, z_dim: int, dist: str = "normal", generator: torch.Generator | None = None,
             device: torch.device | str | None = None) -> torch.Tensor:
    """(n, z_dim) latents from the model's prior: standard normal, or uniform on [-1, 1]."""
    import torch

    if dist == "uniform":
        return torch.rand(n, z_dim, generator=generator, device=device) * 2 - 1
    return torch.randn(n, z_dim, generator=generator, device=device)


def seed_to_z(seeds: Iterable[int], z_dim: int, dist: str = "normal") -> torch.Tensor:
    """(N, z_dim) float32 on the CPU; the same seed always gives the same row."""
    import torch

    rows = [sample_z(1, z_dim, dist, torch.Generator().manual_seed(check_seed(seed)))[0] for seed in seeds]
    if not rows:
        raise GanInputError("no seeds given")
    return torch.stack(rows)


def check_truncation(psi) -> float:
    v = _number(psi)
    if v is None or not 0 < v <= 1:
        raise GanInputError(f"truncation must be a number above 0, at most 1 (1 = none), got {psi!r}")
    return v


def truncate(z: torch.Tensor, psi: float) -> torch.Tensor:
    """The truncation trick as a pull towards the latent mean (0): z' = psi * z. psi = 1 leaves z alone; smaller
    psi trades variety for typical, cleaner samples (BigGAN's trade-off, in StyleGAN's continuous form, so a
    slider moves the image smoothly)."""
    return z * check_truncation(psi)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GANs): stays at the norm a Gaussian latent has,
    where a straight line would cut through the low-density middle. Falls back to lerp for parallel vectors."""
    import torch

    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + eps, 1 - eps))
    so = torch.sin(omega)
    out = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return torch.where(so.abs() < 1e-4, lerp(a, b, t), out)


INTERPOLATIONS = {"linear": lerp, "lerp": lerp, "slerp": slerp, "spherical": slerp}


def interpolation_path(keyframes: torch.Tensor, frames: int, mode: str = "slerp", loop: bool = False) -> torch.Tensor:
    """(frames, D) latents visiting the keyframes (K, D) in order (and back to the first if loop), evenly in t."""
    import torch

    mode, frames = check_mode(mode), check_frames(frames)
    if keyframes.shape[0] < 2:
        raise GanInputError("an interpolation needs at least 2 keyframes")
    points = torch.cat([keyframes, keyframes[:1]]) if loop else keyframes
    seg, t = interpolation_weights(keyframes.shape[0], frames, loop)
    return INTERPOLATIONS[mode](points[seg], points[seg + 1], t.unsqueeze(1))


def interpolation_weights(n_keys: int, frames: int, loop: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(segment index, t) per frame. A loop's last frame stops one step short of the start, so the animation
    repeats seamlessly. Also used to blend class labels along the path."""
    import torch

    n_seg = n_keys if loop else n_keys - 1
    u = torch.arange(frames, dtype=torch.float32) * (n_seg / frames if loop else n_seg / (frames - 1))
    seg = u.floor().clamp(max=n_seg - 1).long()
    return seg, u - seg


def parse_seeds(text: str) -> list[int]:
    """'0-63', '1,5,9', '3,10-12' -> a list of seeds."""
    seeds: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        try:
            if dash:
                a, b = int(lo), int(hi)
                if b < a:
                    raise GanInputError(f"seed range {part!r} runs backwards")
                if b - a >= 10_000:
                    raise GanInputError(f"seed range {part!r} is longer than 10,000")
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise GanInputError(f"cannot read seeds {text!r}: use numbers, commas and ranges like 0-63") from None
    if not seeds:
        raise GanInputError("no seeds given")
    return [check_seed(s) for s in seeds]
