"""Projection (GAN inversion): the latent z (and, for a conditional model, the class) whose image is closest to a
picture a user brings: a drawing, an upload, a photo of a digit.

    python -m gan.project weights/mnist-dcgan.safetensors my-digit.png --out z.json
    python -m gan.generate weights/mnist-dcgan.safetensors --z z.json --out closest.png

From Python (the UI calls the same): `result = project(pipe, image, progress=callback)`; `result.z`, `.class_label`,
`.loss`, `.losses` (the curve), `.target` (the picture as the model sees it) and `.image` (what the model draws).

How the picture is prepared (prepare_target), as a rule:
  1. Any file, PIL image or array (grey, RGB, RGBA; uint8, or float in [0, 1]) becomes grey or RGB, transparent
     pixels laid over white (a sketchpad's transparent background is white paper), upright, first frame.
  2. Polarity: the mean brightness of the picture's border (the outer 10% on each side) is compared with the mean
     border brightness of the model's training images (TRAINING_LOOKS: MNIST's is 0.000, black; Fashion-MNIST's
     0.114); when the two lie on opposite sides of mid-grey (0.5), the picture is inverted, so a dark drawing on
     white paper becomes MNIST's light strokes on black. A model whose training data is not listed there (a folder
     of images, CIFAR-10's photos) is never inverted.
  3. Framing: for MNIST models the drawing's bounding box (pixels 0.2 brighter than the border) is scaled to fit
     20 x 20 of the 28 x 28 frame and placed by its centre of mass, as MNIST's digits were made; for other models
     the picture is padded to a square with its border colour. Then it is resized with antialiasing to the model's
     size and brought to its channels (RGB to grey by luminance, grey to RGB by repetition), in [-1, 1].

How z is found (project): a pool of random latents from the seed (every class of a conditional model when no
class is given) is scored in one batch; the best few are optimised together with Adam on the pixel mean squared
error against the target, z kept on the sphere of radius sqrt(z_dim) where a Gaussian latent lives (a uniform
prior's box for a uniform z); after a quarter of the steps only the best of them go on. G stays fixed: a frozen
copy in eval mode, gradients only into z. The z with the lowest error seen is returned; the same seed gives the
same result on the same machine.
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import math
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from gan.cli import run_main
from gan.errors import FieldError, GanInputError
from gan.latent import check_seed, sample_z

STEPS_DEFAULT = 100
STEPS_LIMIT = 5000
STEPS_RULE = f"must be a whole number from 1 to {STEPS_LIMIT:,}"
POOL = 256            # random latents scored before any step (per class for a conditional model without a class)
STARTS = 16           # the best of the pool, optimised together
KEEP = 4              # how many of them go on after the first quarter of the steps
LR = 0.1              # Adam's step on z (z's norm is sqrt(z_dim) = 10 for z 100)
CLASS_STARTS = 16     # a conditional model without a class: the best start of each class, at most this many
PROGRESS_EVERY = 5    # steps between progress(step, total, loss) calls (and at the last step)

MIN_SIDE = 8          # pixels, each side: anything smaller holds no drawing
WORK_SIDE = 256       # larger pictures are first scaled down to this (keeps a 40-megapixel photo cheap)
BORDER = 0.10         # the ring whose brightness decides the polarity: the outer 10% of each side
INK = 0.2             # a pixel this much brighter than the border is part of the drawing (MNIST framing)
Z_FILE_KEYS = ("z", "class", "loss", "steps")


@dataclass(frozen=True)
class TrainingLook:
    """What a dataset's images look like, as far as preparing a picture goes. `border`: the mean brightness (0
    black, 1 white) of the outer 10% ring of its training images, measured on the data (2,000 training images).
    `digit_box`: MNIST's framing, the drawing's bounding box scaled to fit this share of the side (20 of 28) and
    centred by its centre of mass; None to pad to a square instead."""

    border: float
    digit_box: float | None = None


TRAINING_LOOKS = {
    "mnist": TrainingLook(0.0003, 20 / 28),
    "mnist-full": TrainingLook(0.0003, 20 / 28),
    "fashion-mnist": TrainingLook(0.114),
}


@dataclass
class Target:
    """A user's picture as the model sees it: (1, C, S, S) in [-1, 1], and what preparing it did."""

    tensor: torch.Tensor
    inverted: bool          # the polarity rule turned it over (a dark drawing on white for an MNIST model)
    framed: bool            # MNIST framing: cropped to the drawing, scaled to 20 x 20 and centred
    border: float           # the picture's own border brightness in [0, 1], before any inversion


@dataclass
class Projection:
    """What project() found. `z` (1, z_dim) float32 and `class_label` (int, or None for an unconditional model)
    draw `image` with pipe.decode(z, class_label); `loss` is its mean squared error against `target` on the
    [-1, 1] scale, the lowest seen; `losses` the best start's error at each step (the curve a UI can plot)."""

    z: torch.Tensor
    class_label: int | None
    loss: float
    steps: int
    losses: list = field(default_factory=list)
    target: torch.Tensor | None = None       # (1, C, S, S) in [-1, 1]
    image: torch.Tensor | None = None        # (1, C, S, S) in [-1, 1]
    inverted: bool = False
    framed: bool = False
    seconds: float = 0.0

    def to_json(self) -> dict:
        """The z file: {"z": [...], "class": int or null, "loss": float, "steps": int}."""
        return {"z": [float(v) for v in self.z.reshape(-1).tolist()], "class": self.class_label,
                "loss": float(self.loss), "steps": int(self.steps)}

    def pictures(self) -> tuple[np.ndarray, np.ndarray]:
        """(target, result) as uint8 (S, S) or (S, S, 3) arrays, side by side in a UI."""
        from gan.pipeline import to_uint8

        return to_uint8(self.target)[0], to_uint8(self.image)[0]


# --------------------------------------------------------------------------------------------- checks
def check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer, float)) or \
            not float(steps).is_integer() or not 1 <= steps <= STEPS_LIMIT:
        raise FieldError("steps", STEPS_RULE, steps)
    return int(steps)


def check_class(config, label) -> int | None:
    """A class for a conditional model (None: try every class), refused for an unconditional one."""
    if label is None or label == "":
        return None
    if not config.conditional:
        raise FieldError("class", "is only for a conditional model; this model is unconditional", label)
    rule = f"must be a whole number from 0 to {config.n_classes - 1}"
    if isinstance(label, bool) or not isinstance(label, (int, np.integer, float)) or not float(label).is_integer() \
            or not 0 <= label < config.n_classes:
        raise FieldError("class", rule, label)
    return int(label)


def max_pixels() -> int:
    """PIL's decompression-bomb limit (Image.MAX_IMAGE_PIXELS, about 89 megapixels): pictures above it are refused
    from their header, before any pixel is decoded."""
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or 89_478_485)


def _too_large(pixels: int | None) -> GanInputError:
    size = f" ({pixels:,} pixels)" if pixels else ""
    return GanInputError(f"the picture is too large to project{size}: at most {max_pixels():,} pixels "
                         "(PIL's decompression-bomb limit); scale it down first")


def _check_size(width: int, height: int) -> None:
    if width * height > max_pixels():
        raise _too_large(width * height)
    if min(width, height) < MIN_SIDE:
        raise GanInputError(f"the picture is {width} x {height} pixels: it needs at least {MIN_SIDE} pixels on "
                            "each side")


# ---------------------------------------------------------------------------------------- preparation
def read_picture(image):
    """Anything a user has (a path, file bytes, a PIL image, a numpy array) as a PIL image in mode L or RGB,
    transparency laid over white, at most WORK_SIDE pixels on its longer side; a GanInputError otherwise."""
    from PIL import Image, ImageOps

    from gan.uploads import WHITE, as_training_mode

    if isinstance(image, (str, Path)):
        p = Path(image)
        if not p.is_file():
            raise GanInputError(f"no such image file: {str(image)!r}")
        im = _open(p, p.name)
    elif isinstance(image, (bytes, bytearray)):
        im = _open(io.BytesIO(bytes(image)), "the upload")
    elif isinstance(image, Image.Image):
        _check_size(*image.size)
        im = image
    elif isinstance(image, np.ndarray):
        im = _array_to_pil(image)
    else:
        raise GanInputError(f"a picture to project is a file path, a PIL image or a numpy array, not "
                            f"{type(image).__name__}")
    im = as_training_mode(ImageOps.exif_transpose(im), WHITE)
    if max(im.size) > WORK_SIDE:
        im = im.copy()
        im.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    return im


def _open(source, name: str):
    """Image.open, its size checked from the header before the pixels are decoded, then decoded (first frame)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # the size is checked below, with a message that gives the limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
    except Image.DecompressionBombError as e:
        found = re.search(r"\((\d+) pixels\)", str(e))
        raise _too_large(int(found.group(1)) if found else None) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise GanInputError(f"{name} is not an image that can be read (PNG, JPEG, GIF, WebP, BMP, TIFF)") from None
    try:
        _check_size(*im.size)
        im.load()
    except GanInputError:
        im.close()
        raise
    except Exception as e:  # truncated, corrupt pixel data
        im.close()
        raise GanInputError(f"{name} could not be decoded ({e.__class__.__name__}: {e})") from None
    return im


def _array_to_pil(a: np.ndarray):
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) arrays, uint8 (or whole numbers 0..255, or bool) or float in
    [0, 1], as a PIL image of mode L, RGB or RGBA."""
    from PIL import Image

    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        raise GanInputError(f"an image array has shape (H, W), (H, W, 3) or (H, W, 4), got {tuple(a.shape)}")
    _check_size(a.shape[1], a.shape[0])
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise GanInputError("a float image array must hold finite values from 0 to 1")
        a = np.rint(a * 255).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise GanInputError("an integer image array must hold values from 0 to 255")
        a = a.astype(np.uint8)
    else:
        raise GanInputError(f"an image array holds numbers, not {a.dtype}")
    return Image.fromarray(np.ascontiguousarray(a))   # L, RGB or RGBA from the shape


def _grey(x: torch.Tensor) -> torch.Tensor:
    """(C, H, W) in [0, 1] -> (H, W) brightness (ITU-R 601 luminance for RGB, as PIL's convert("L"))."""
    if x.shape[0] == 1:
        return x[0]
    return 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]


def _ring(x: torch.Tensor) -> torch.Tensor:
    """The pixels of the outer ring (BORDER of each side, at least one pixel) of (C, H, W): (C, ring pixels)."""
    _, h, w = x.shape
    rh, rw = max(1, round(BORDER * h)), max(1, round(BORDER * w))
    ring = torch.ones(h, w, dtype=torch.bool)
    ring[rh:h - rh, rw:w - rw] = False
    return x[:, ring]


def border_brightness(x: torch.Tensor) -> torch.Tensor:
    """Each channel's mean over the outer ring of (C, H, W), in [0, 1]: (C,). The polarity rule compares it."""
    return _ring(x).mean(dim=1)


def background_colour(x: torch.Tensor) -> torch.Tensor:
    """Each channel's median over the outer ring: the paper's colour, which a stroke crossing the ring leaves be."""
    return _ring(x).median(dim=1).values


def _pad_square(x: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    c, h, w = x.shape
    side = max(h, w)
    out = colour.view(c, 1, 1).expand(c, side, side).clone()
    top, left = (side - h) // 2, (side - w) // 2
    out[:, top:top + h, left:left + w] = x
    return out


def _resize(x: torch.Tensor, side: int) -> torch.Tensor:
    return F.interpolate(x[None], size=(side, side), mode="bilinear", antialias=True, align_corners=False)[0]


def _mnist_frame(x: torch.Tensor, colour: torch.Tensor, side: int, box: float) -> torch.Tensor | None:
    """MNIST's framing: the drawing's bounding box fit into round(box * side) pixels (aspect kept), on a canvas of
    the border colour, shifted (whole pixels) so its centre of mass is the canvas's centre. None for a blank
    picture (nothing to frame)."""
    grey = _grey(x)
    ink = grey - float(_grey(colour.view(-1, 1, 1))) > INK
    rows, cols = torch.nonzero(ink.any(dim=1)).flatten(), torch.nonzero(ink.any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    crop = x[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    inner = max(1, round(box * side))
    digit = _resize(_pad_square(crop, colour), inner)                          # (C, inner, inner)
    weight = (_grey(digit) - float(_grey(colour.view(-1, 1, 1)))).clamp(min=0)
    total = float(weight.sum())
    idx = torch.arange(inner, dtype=torch.float32)
    cy = float((weight.sum(1) * idx).sum()) / total if total > 0 else (inner - 1) / 2
    cx = float((weight.sum(0) * idx).sum()) / total if total > 0 else (inner - 1) / 2
    top = min(max(round((side - 1) / 2 - cy), 0), side - inner)
    left = min(max(round((side - 1) / 2 - cx), 0), side - inner)
    out = colour.view(-1, 1, 1).expand(x.shape[0], side, side).clone()
    out[:, top:top + inner, left:left + inner] = digit
    return out


def prepare_target(image, config, dataset: str | None = None, frame: bool = True) -> Target:
    """A user's picture as the model sees it, by the rule in this module's docstring: (1, C, S, S) in [-1, 1].
    `dataset`: the name of the model's training data (pipe.info["dataset"]), for polarity and framing."""
    if config.kind != "image":
        raise GanInputError("this is a 2-D points model: only image models can project a picture")
    im = read_picture(image)
    x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)
    x = x[None] if x.ndim == 2 else x.permute(2, 0, 1)                     # (C, H, W) in [0, 1]
    border = float(_grey(border_brightness(x).view(-1, 1, 1)))
    look = TRAINING_LOOKS.get(dataset or "")
    inverted = look is not None and (border - 0.5) * (look.border - 0.5) < 0
    if inverted:
        x = 1.0 - x
    colour = background_colour(x)
    side = config.image_size
    framed = None
    if frame and look is not None and look.digit_box and tuple(x.shape[1:]) != (side, side):
        framed = _mnist_frame(x, colour, side, look.digit_box)
    x = framed if framed is not None else _resize(_pad_square(x, colour), side)
    if config.channels == 1 and x.shape[0] == 3:
        x = _grey(x)[None]
    elif config.channels == 3 and x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return Target(x.clamp(0, 1).mul(2).sub(1)[None].contiguous(), inverted, framed is not None, border)


# ------------------------------------------------------------------------------------------ projection
def _frozen_generator(pipe) -> torch.nn.Module:
    """A copy of G in eval mode with no gradients into its weights, taken under the pipeline's lock (a live
    model's weights may be swapped in by a trainer meanwhile)."""
    with pipe.lock:
        g = copy.deepcopy(pipe.generator)
    return g.eval().requires_grad_(False)


def _onto_prior(z: torch.Tensor, dist: str) -> torch.Tensor:
    """Back where the prior puts latents: the sphere of radius sqrt(z_dim) (Gaussian), or the box [-1, 1]."""
    if dist == "uniform":
        return z.clamp(-1, 1)
    return z * (math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True).clamp(min=1e-8))


def _errors(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (x - target).pow(2).flatten(1).mean(dim=1)                      # (B,)


def project(pipe, image, steps: int = STEPS_DEFAULT, class_label=None, progress: Callable | None = None,
            seed: int = 0, starts: int = STARTS, keep: int = KEEP, pool: int = POOL, lr: float = LR,
            frame: bool = True) -> Projection:
    """The z (and class) whose image is closest to `image` (see the module docstring for how). `progress(step,
    total, loss)` is called every PROGRESS_EVERY steps and at the last; an exception raised in it stops the
    projection (a UI's cancel button). `class_label`: a conditional model's class, or None to try every class."""
    t0 = time.perf_counter()
    if pipe.is_points:
        raise GanInputError("this is a 2-D points model: only image models can project a picture")
    cfg = pipe.config
    steps, label, seed = check_steps(steps), check_class(cfg, class_label), check_seed(seed)
    if not (isinstance(pool, int) and isinstance(starts, int) and isinstance(keep, int)
            and 1 <= keep <= starts <= pool <= 4096 and 0 < lr <= 10):
        raise GanInputError("projection settings: need 1 <= keep <= starts <= pool <= 4096 and 0 < lr <= 10")
    target = prepare_target(image, cfg, pipe.info.get("dataset"), frame)
    device = pipe.device
    goal = target.tensor.to(device)
    g = _frozen_generator(pipe)
    gen = torch.Generator().manual_seed(seed)

    # 1. Score a pool of random latents (for every class when the class is open) and start from the best.
    classes = [label] if label is not None else (list(range(cfg.n_classes)) if cfg.conditional else [None])
    per = pool if len(classes) == 1 else max(pool // len(classes), 16)
    z_pool = _onto_prior(sample_z(per * len(classes), cfg.z_dim, cfg.z_dist, gen), cfg.z_dist).to(device)
    y_pool = None if classes == [None] else \
        torch.tensor(classes, dtype=torch.long, device=device).repeat_interleave(per)
    with torch.no_grad():
        scores = torch.cat([_errors(g(z_pool[i:i + 512], None if y_pool is None else y_pool[i:i + 512]), goal)
                            for i in range(0, z_pool.shape[0], 512)])
    if len(classes) > 1:  # every class's best start (of the CLASS_STARTS classes that scored best)
        per_class = scores.view(len(classes), per)
        best_in = per_class.argmin(dim=1) + torch.arange(len(classes), device=device) * per
        order = best_in[per_class.min(dim=1).values.argsort()[:CLASS_STARTS]]
    else:
        order = scores.argsort()[:max(1, min(starts, scores.numel()))]
    z = z_pool[order].clone().requires_grad_(True)
    y = None if y_pool is None else y_pool[order]

    # 2. Adam on the starts together; after a quarter of the steps only the best `keep` go on.
    opt = torch.optim.Adam([z], lr=lr)
    prune_at = steps // 4 if z.shape[0] > keep else -1
    best_loss, best_z, best_y = math.inf, None, None
    losses: list[float] = []
    for step in range(1, steps + 1):
        if step == prune_at + 1:
            with torch.no_grad():
                top = _errors(g(z, y), goal).argsort()[:keep]
            z = z.detach()[top].clone().requires_grad_(True)
            y = None if y is None else y[top]
            opt = torch.optim.Adam([z], lr=lr)
        err = _errors(g(z, y), goal)
        i = int(err.argmin())
        losses.append(float(err.detach()[i]))
        if losses[-1] < best_loss:
            best_loss, best_z, best_y = losses[-1], z.detach()[i:i + 1].clone(), None if y is None else int(y[i])
        opt.zero_grad(set_to_none=True)
        err.sum().backward()
        opt.step()
        with torch.no_grad():
            z.copy_(_onto_prior(z, cfg.z_dist))
        if progress is not None and (step % PROGRESS_EVERY == 0 or step == steps):
            progress(step, steps, best_loss)
    with torch.no_grad():  # the last update's result, which no step has scored yet
        err = _errors(g(z, y), goal)
        i = int(err.argmin())
        if float(err[i]) < best_loss:
            best_z, best_y = z.detach()[i:i + 1].clone(), None if y is None else int(y[i])

    # 3. The result as pipe.decode draws it (what `python -m gan.generate --z` draws), and its error.
    best_z = best_z.float().cpu()
    image = pipe.decode(best_z, best_y)
    loss = float(_errors(image, goal)[0])
    return Projection(best_z, best_y, loss, steps, losses, target.tensor, image.cpu(), target.inverted,
                      target.framed, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan.project", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a .safetensors model file or a run folder")
    p.add_argument("image", help="the picture to project: PNG, JPEG, GIF, WebP, BMP, TIFF")
    p.add_argument("--steps", type=int, default=STEPS_DEFAULT,
                   help=f"optimisation steps, 1 to {STEPS_LIMIT:,} (default: %(default)s)")
    p.add_argument("--class", dest="label", type=int,
                   help="a conditional model's class (default: try every class and keep the best)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts (default: %(default)s)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="the z file to write (JSON), e.g. z.json")
    return p


def main(argv: list[str] | None = None) -> int:
    from gan.checkpoint import atomic_write_text
    from gan.pipeline import load_generator

    from gan.render import one_cpu_thread_here

    args = build_parser().parse_args(argv)
    check_steps(args.steps)
    # One OpenMP thread, as the app's handlers run it: a batch of 4 small images gains nothing from a team of
    # threads, which on a busy machine waits for cores (benchmarks/projection.py: median 1.1 s on one thread,
    # 5.7 s on the default two, on the shared 2-core machine).
    one_cpu_thread_here()
    pipe = load_generator(args.model, device=args.device)
    result = project(pipe, args.image, steps=args.steps, class_label=args.label, seed=args.seed)
    atomic_write_text(args.out, json.dumps(result.to_json()) + "\n")
    label = "" if result.class_label is None else f", class {result.class_label}"
    print(f"projected {Path(args.image).name}: loss {result.loss:.4f}{label}, {result.steps} steps in "
          f"{result.seconds:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
