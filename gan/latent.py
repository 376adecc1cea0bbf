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


# ------------------------------------------------------------------------------- latents that are not seeds
Z_FILE_MAX_BYTES = 1024 * 1024   # a z file holds at most 1,024 numbers (ModelConfig's z_dim limit) and a class


def _check_z_values(values, z_dim: int, what: str) -> torch.Tensor:
    """A flat sequence of z_dim finite numbers as a (1, z_dim) float32 tensor (finite in float32 too)."""
    import torch

    if not isinstance(values, (list, tuple)) or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                                     for v in values):
        raise GanInputError(f"{what}: z must be a list of {z_dim} numbers")
    if len(values) != z_dim:
        raise GanInputError(f"{what} holds {len(values)} numbers, but this model's z has {z_dim}")
    z = torch.tensor([float(v) for v in values], dtype=torch.float32).view(1, z_dim)
    if not torch.isfinite(z).all():
        raise GanInputError(f"{what}: z holds a value that is not a finite number (NaN, infinity or too large)")
    return z


def read_z_file(path, config) -> tuple[torch.Tensor, int | None]:
    """(z (1, z_dim) float32, class or None) from a z file as `python -m gan.project` writes it (a JSON object
    {"z": [...], "class": null or int, ...}; other keys are ignored), checked against the model's config: z's
    length, finite numbers, a class in range for a conditional model and none for an unconditional one. The UI
    reads bookmarks of projected latents with it."""
    import json
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise GanInputError(f"no such z file: {str(path)!r}")
    if p.stat().st_size > Z_FILE_MAX_BYTES:
        raise GanInputError(f"{p.name} is larger than {Z_FILE_MAX_BYTES // 1024} KB: not a z file")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise GanInputError(f"{p.name} is not valid JSON: a z file is {{\"z\": [...], \"class\": ...}}") from None
    if not isinstance(raw, dict) or "z" not in raw:
        raise GanInputError(f"{p.name} is not a z file: expected a JSON object with a \"z\" list")
    z = _check_z_values(raw["z"], config.z_dim, p.name)
    label = raw.get("class")
    if label is not None:
        if not config.conditional:
            raise GanInputError(f"{p.name} names class {label!r}, but this model is unconditional")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < config.n_classes:
            raise GanInputError(f"{p.name}: class must be a whole number from 0 to {config.n_classes - 1}, "
                                f"got {label!r}")
    return z, label


def encode_z(z) -> str:
    """A latent that is not a seed as a short text to share: its numbers as little-endian float16, base64url
    without padding (267 characters for z 100). float16 keeps about 3 significant digits, which draws the same
    image to within a grey level."""
    import base64

    import numpy as np
    import torch

    flat = torch.as_tensor(z).detach().to("cpu", torch.float32).reshape(-1).numpy()
    if flat.size == 0 or not np.isfinite(flat).all():
        raise GanInputError("only a latent of finite numbers can be shared")
    with np.errstate(over="ignore"):
        half = flat.astype("<f2")
    if not np.isfinite(half).all():
        raise GanInputError("the latent has a component beyond ±65,504, too large for a share code")
    return base64.urlsafe_b64encode(half.tobytes()).decode("ascii").rstrip("=")


def decode_z(text, z_dim: int) -> torch.Tensor:
    """The (1, z_dim) float32 latent of a share code made by encode_z; a GanInputError for a code that is not
    base64url, holds another number of values than z_dim, or a NaN or infinity."""
    import base64
    import binascii
    import re

    import numpy as np
    import torch

    if not isinstance(text, str) or not text.strip():
        raise GanInputError("a latent code is a text of letters, digits, - and _")
    code = text.strip()
    if len(code) > 8 * 1024 or not re.fullmatch(r"[A-Za-z0-9_-]+", code):
        raise GanInputError("a latent code is a text of letters, digits, - and _ (base64url)")
    try:
        raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
    except (binascii.Error, ValueError):
        raise GanInputError("the latent code is not valid base64url") from None
    if len(raw) % 2:
        raise GanInputError("the latent code is cut short (an odd number of bytes)")
    values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    if values.size != z_dim:
        raise GanInputError(f"the latent code holds {values.size} numbers, but this model's z has {z_dim}")
    if not np.isfinite(values).all():
        raise GanInputError("the latent code holds a value that is not a finite number")
    return torch.from_numpy(values.copy()).view(1, z_dim)


# ------------------------------------------------------------------------------------------ latent arithmetic
def latent_arithmetic(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """A − B + C on latents, each term one or more latents (n, z_dim) averaged first (Radford et al. 2016, §6.3:
    "smiling woman" − "neutral woman" + "neutral man" gave "smiling man" once each concept was the mean of three
    exemplars' z; one exemplar's z was too unstable). Computed as (mean(A) − mean(B)) + mean(C), so A − A + C is
    exactly C. Returns (1, z_dim) float32 on the CPU."""
    import torch

    means = []
    for name, t in (("A", a), ("B", b), ("C", c)):
        if not isinstance(t, torch.Tensor):
            raise GanInputError(f"term {name} must be a tensor of latents (n, z_dim), got {type(t).__name__}")
        if t.dim() == 1:
            t = t.unsqueeze(0)
        if t.dim() != 2:
            raise GanInputError(f"term {name} must be latents of shape (n, z_dim), got shape {tuple(t.shape)}")
        if t.shape[0] == 0 or t.shape[1] == 0:
            raise GanInputError(f"term {name} is empty: it needs at least one latent")
        t = t.detach().to("cpu", torch.float32)
        if not torch.isfinite(t).all():
            raise GanInputError(f"term {name} holds a value that is not a finite number")
        means.append(t.mean(0, keepdim=True))
    dims = [m.shape[1] for m in means]
    if len(set(dims)) > 1:
        raise GanInputError(f"the terms' latents differ in length (A {dims[0]}, B {dims[1]}, C {dims[2]}): "
                            "they must come from one model")
    return (means[0] - means[1]) + means[2]
