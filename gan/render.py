"""What the Explore and Interpolate tabs compute, without Gradio: a latent from the widget values, the picture
for it (large image + neighbours strip + D's score, or a 2-D scatter), bookmarks, and interpolation frames.

The UI is a pure function of its widget values (StyleGAN3's visualizer: widgets write arguments, a renderer makes
pixels): every function here takes plain values and returns arrays, so the same views can be made from Python,
tested without a browser, and timed by benchmarks/ui_latency.py.
"""
from __future__ import annotations

import json
import math
import numbers
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan.errors import FieldError, GanInputError
from gan.latent import (check_amount, check_frames, check_mode, check_seed, check_truncation, interpolation_path,
                        interpolation_weights, sample_z, seed_to_z)
from gan.pipeline import to_uint8
from gan.viz import SEED_RGB, upscale

VIEW_SIZE = 336                    # the large image: 28 px x 12, nearest neighbour
STRIP_CELL = 84                    # each neighbour: 28 px x 3
CAPTION_HEIGHT = 18                # px under each strip tile for its value along the direction
NEIGHBOUR_OFFSETS = (-3, -2, -1, 0, 1, 2, 3)
NEIGHBOUR_STEP = 1.0               # z units between neighbours
CLOUD_SIZE = 512                   # generated points drawn for a 2-D model
BOOKMARK_MAX_BYTES = 64 * 1024
FPS_LIMIT = 60                     # frames per second of an exported walk: 1 to 60
BACKDROP_SEED = 12345              # the 2-D view's generated cloud: the same points on every page


def one_cpu_thread_here() -> None:
    """Run this thread's torch CPU ops on one OpenMP thread; other threads (a training run) keep theirs.

    The live views decode a handful of 28x28 images: a team of OpenMP threads costs more than it gains there, and
    on a busy machine the team waits for a core another process holds (measured on the shared 2-core box: batch
    of 1 in 1.5 ms on one thread, 70 ms on two). torch.set_num_threads() would change every new thread too, while
    OpenMP's own setting (omp_set_num_threads, which threadpoolctl calls in whichever OpenMP runtime torch loaded:
    libgomp, LLVM's libomp or Intel's) belongs to the calling thread only. Cheap once done: a pinned thread (or
    one torch already runs on one thread) returns at once, and Gradio reuses its worker threads."""
    if torch.get_num_threads() == 1:  # also sets up torch's threads in a new thread, before the limit is set
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="openmp")


@dataclass
class View:
    image: np.ndarray                 # uint8 (H, W) or (H, W, 3), already upscaled
    strip: np.ndarray | None          # uint8 neighbours strip, None for 2-D models
    score: float | None               # D's raw score for the image, None without a D
    active: int                       # index of the direction the strip walks along (-1: none)
    strip_values: tuple = ()          # the active direction's value at each strip tile (captioned under it)
    reference: ScoreReference | None = None  # what real data and the model's samples score (set by the caller)


def check_label(pipe, label) -> int | None:
    """A class index for a conditional model (None otherwise). Accepts an int, a numeric string or a class name."""
    cfg = pipe.config
    if not cfg.conditional:
        return None
    if label is None or label == "":
        return 0
    names = [str(n) for n in (pipe.info.get("class_names") or [])]
    if isinstance(label, str) and label in names:
        return names.index(label)
    try:
        value = float(label)
    except (TypeError, ValueError):
        raise GanInputError(f"unknown class {label!r}; choose a number in [0, {cfg.n_classes - 1}]") from None
    if not value.is_integer() or not 0 <= value < cfg.n_classes:
        raise GanInputError(f"class must be a whole number from 0 to {cfg.n_classes - 1}, got {label!r}")
    return int(value)


def check_z(pipe, z, what: str = "z") -> torch.Tensor:
    """A latent that is not a seed (a projection's, arithmetic's, a bookmark's), as a (1, z_dim) float32 CPU copy:
    z_dim finite numbers, from a list, an array or a tensor of any shape that holds that many."""
    n = pipe.config.z_dim
    if isinstance(z, torch.Tensor):
        t = z.detach().to("cpu", torch.float32).reshape(-1)
    elif isinstance(z, np.ndarray) and z.dtype.kind in "fiu":
        t = torch.from_numpy(np.asarray(z, np.float32).reshape(-1).copy())
    elif isinstance(z, (list, tuple)) and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in z):
        t = torch.tensor([float(v) for v in z], dtype=torch.float32)
    else:
        raise GanInputError(f"{what} must be a list of {n} numbers")
    if t.numel() != n:
        model = getattr(pipe, "name", "") or "this model"
        raise GanInputError(f"{what} holds {t.numel()} numbers, but {model}'s z has {n}")
    if not torch.isfinite(t).all():
        raise GanInputError(f"{what} holds a value that is not a finite number (NaN, infinity or too large)")
    return t.clone().view(1, n)


def latent_for(pipe, seed, truncation=1.0, basis=None, amounts=(), raw: dict | None = None,
               z=None) -> torch.Tensor:
    """(1, z_dim): the seed's z (or the latent `z` instead, when given: see check_z), with raw components
    overridden, truncated (ψ·z), then moved along the discovered directions by `amounts`."""
    z = check_z(pipe, z) if z is not None else seed_to_z([check_seed(seed)], pipe.config.z_dim,
                                                            pipe.config.z_dist)
    for i, v in (raw or {}).items():
        if 0 <= int(i) < z.shape[1]:
            z[0, int(i)] = check_amount(v, f"z[{int(i)}]")
    z = z * check_truncation(truncation)
    if basis is not None and amounts is not None:
        vals = check_amounts(amounts)
        if any(vals):
            z = z + basis.offset(vals)
    return z


def check_amounts(amounts) -> list[float]:
    """The directions' amounts, each checked (named "direction 1", "direction 2"... as the page labels them)."""
    return [check_amount(a, f"direction {i + 1}") for i, a in enumerate(amounts or ())]


def active_direction(amounts) -> int:
    """The direction with the largest |value| (the first one when all are 0)."""
    vals = [abs(float(a or 0.0)) for a in (amounts or ())]
    if not vals:
        return 0
    return int(np.argmax(vals))


def strip_array(images: np.ndarray, centre: int, cell: int = STRIP_CELL, pad: int = 4,
                captions: list[str] | None = None) -> np.ndarray:
    """Neighbours side by side on white, upscaled, the current one framed (SEED_RGB, the whole 4-px gap wide: a
    frame, not only a colour, marks it). RGB uint8. With captions
    (one per image), each is written under its tile, so the strip says which offset each tile is (also in a
    downloaded copy, where no page label is around it)."""
    tiles = [upscale(im, cell) for im in images]
    h, w = tiles[0].shape[:2]
    text_h = CAPTION_HEIGHT if captions else 0
    out = np.full((h + 2 * pad + text_h, len(tiles) * (w + pad) + pad, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        x = pad + i * (w + pad)
        if i == centre:
            out[:pad + h + pad, x - pad: x + w + pad] = SEED_RGB
        out[pad: pad + h, x: x + w] = t[..., None] if t.ndim == 2 else t
    if captions:
        _write_captions(out, captions, top=h + 2 * pad, width=w, pad=pad, highlight=centre)
    return out


def _write_captions(out: np.ndarray, captions: list[str], top: int, width: int, pad: int, highlight: int) -> None:
    """Draw each caption centred under its tile (in place); the framed tile's in SEED_RGB and underlined. PIL's
    built-in font, so nothing is read from the system."""
    from PIL import Image, ImageDraw

    from gan.viz import label_font

    im = Image.fromarray(out)
    draw = ImageDraw.Draw(im)
    font = label_font(13)
    for i, text in enumerate(captions):
        x0, _, x1, _ = draw.textbbox((0, 0), text, font=font)
        x = pad + i * (width + pad) + (width - (x1 - x0)) // 2
        draw.text((x, top), text, fill=SEED_RGB if i == highlight else (60, 60, 60), font=font)
        if i == highlight:
            _, _, _, y1 = draw.textbbox((x, top), text, font=font)
            draw.line((x, y1 + 1, x + (x1 - x0), y1 + 1), fill=SEED_RGB, width=1)
    out[...] = np.asarray(im)


def strip_caption(value: float) -> str:
    """A direction value as a tile's caption: at most 2 decimals, no trailing zeros, ASCII minus ('-0' is '0')."""
    text = f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@torch.inference_mode()
def render_image_view(pipe, z: torch.Tensor, label: int | None, basis=None, amounts=(), size: int = VIEW_SIZE,
                      neighbours: bool = True, step: float = NEIGHBOUR_STEP) -> View:
    """The large image for latent z (1, z_dim), its neighbours along the most active direction, and D's score."""
    if pipe.device.type == "cpu":
        one_cpu_thread_here()
    active = active_direction(amounts) if basis is not None else -1
    values: tuple = ()
    if neighbours and basis is not None:
        offsets = torch.tensor(NEIGHBOUR_OFFSETS, dtype=torch.float32).unsqueeze(1) * step
        batch = z + offsets * basis.vectors[active].unsqueeze(0)
        centre = NEIGHBOUR_OFFSETS.index(0)
        here = float(amounts[active] or 0.0) if active < len(amounts or ()) else 0.0
        values = tuple(here + o * step for o in NEIGHBOUR_OFFSETS)
    else:
        batch, centre = z, 0
    labels = None if label is None else [label] * batch.shape[0]
    out = pipe.decode(batch, labels)
    images = to_uint8(out)
    score = None
    if pipe.discriminator is not None:
        s = pipe.score(out[centre: centre + 1], None if label is None else [label])
        score = float(s[0]) if s is not None else None
    strip = None
    if batch.shape[0] > 1:
        strip = strip_array(images, centre, captions=[strip_caption(v) for v in values])
    return View(upscale(images[centre], size), strip, score, active, values)


# ------------------------------------------------------------------------------------------------ 2-D models
@dataclass
class PointsBackdrop:
    """What stays fixed while the sliders move on a 2-D model: real points, the cloud's latents, plot bounds."""

    real: np.ndarray | None
    cloud_z: torch.Tensor
    bounds: tuple[float, float, float, float]


def points_backdrop(pipe, dataset: str | None = None, n: int = CLOUD_SIZE) -> PointsBackdrop:
    """The real points (when the dataset is on this machine), n fixed latents for the generated cloud, and plot
    bounds with a quarter of the range to spare, so the cloud can move along a direction and stay in view."""
    from gan.viz import plot_bounds

    cfg = pipe.config
    cloud_z = sample_z(n, cfg.z_dim, cfg.z_dist, torch.Generator().manual_seed(BACKDROP_SEED))
    real = None
    if dataset:
        try:
            from gan.data import load_dataset

            real = load_dataset(dataset, split="all").points_in_data_units()[:1500]
        except Exception:  # a csv: dataset that moved, say; the plot works without the real points
            real = None
    labels = None if not cfg.conditional else [i % cfg.n_classes for i in range(n)]
    fake = pipe.decode(cloud_z, labels).cpu().numpy()
    pts = fake if real is None else np.concatenate([real, fake])
    return PointsBackdrop(real, cloud_z, plot_bounds(pts, pad=0.25))


@torch.inference_mode()
def render_points_view(pipe, z: torch.Tensor, label: int | None, backdrop: PointsBackdrop, truncation=1.0,
                       basis=None, amounts=(), size: int = VIEW_SIZE, step: float = NEIGHBOUR_STEP) -> View:
    """A 2-D model's view: real points (blue discs), the generated cloud moved by the same truncation and directions
    (vermillion hollow squares), the current seed's point (a big vermillion disc ringed in black) and its neighbours
    along the most active direction (black plus signs): shapes tell them apart as well as colours."""
    from gan.viz import NEIGHBOUR_RGB, draw_markers, marker_size, scatter_array, to_pixels

    cfg = pipe.config
    if pipe.device.type == "cpu":
        one_cpu_thread_here()
    offset = basis.offset(amounts) if basis is not None else 0
    cloud = backdrop.cloud_z * check_truncation(truncation) + offset
    active = active_direction(amounts) if basis is not None else -1
    extra = z
    if basis is not None:
        offs = torch.tensor(NEIGHBOUR_OFFSETS, dtype=torch.float32).unsqueeze(1) * step
        extra = z + offs * basis.vectors[active].unsqueeze(0)
    batch = torch.cat([cloud, extra])
    labels = None
    if cfg.conditional:
        labels = [i % cfg.n_classes for i in range(cloud.shape[0])] + [label or 0] * extra.shape[0]
    pts = pipe.decode(batch, labels).cpu().numpy()
    fake, mine = pts[: cloud.shape[0]], pts[cloud.shape[0]:]
    canvas = scatter_array(backdrop.real, fake, size=size, bounds=backdrop.bounds)
    centre = NEIGHBOUR_OFFSETS.index(0) if mine.shape[0] > 1 else 0
    px = to_pixels(mine, backdrop.bounds, size)
    d = marker_size(size)
    draw_markers(canvas, np.delete(px, centre, axis=0), NEIGHBOUR_RGB, "plus", 2 * d + 3)
    draw_markers(canvas, px[centre: centre + 1], (0, 0, 0), "disc", 3 * d + 3)
    draw_markers(canvas, px[centre: centre + 1], SEED_RGB, "disc", 3 * d - 1)
    score = None
    if pipe.discriminator is not None:
        std = torch.tensor(cfg.point_std, dtype=torch.float32)
        mean = torch.tensor(cfg.point_mean, dtype=torch.float32)
        x = (torch.from_numpy(mine[centre: centre + 1]).float() - mean) / std
        s = pipe.score(x, None if label is None else [label])
        score = float(s[0]) if s is not None else None
    return View(canvas, None, score, active)


@dataclass
class ScoreReference:
    """What D's score is for real data and for this generator's samples: the scale a single score is read on."""

    real_median: float
    real_low: float                   # 10th and 90th percentiles of real data's scores
    real_high: float
    fake_median: float                # this model's own samples (random seeds, no truncation)
    n: int
    real_what: str = "real test images"


# Datasets a reference can be drawn from without a download or a long decode: the bundled MNIST and emoji, the
# synthetic 2-D sets, a CSV of points (the 2-D plot reads it anyway) and Debian's Fashion-MNIST. Other data
# (torchvision downloads, image folders) is left alone: opening a model must never start a download.
def _local_dataset(name: str | None) -> bool:
    from gan import data

    if not name:
        return False
    if name == "fashion-mnist":
        return data.DEBIAN_FASHION_MNIST.is_dir()
    return name in ("mnist", "emoji") or data.is_points_dataset(name)


@torch.inference_mode()
def score_reference(pipe, dataset: str | None, n: int = 128) -> ScoreReference | None:
    """D's scores on n held-out real samples (the dataset's test split) and on n of the model's own samples, or
    None when the model has no D or its data is not on this machine. A WGAN critic's zero is arbitrary and a
    hinge D's scale is its own: a score only means something next to these."""
    if pipe.discriminator is None or not _local_dataset(dataset):
        return None
    from gan.data import load_dataset

    cfg = pipe.config
    if pipe.device.type == "cpu":
        one_cpu_thread_here()
    try:
        ds = load_dataset(dataset, split="test", image_size=None if pipe.is_points else cfg.image_size)
        idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:n]
        real_labels = ds.labels[idx].tolist() if cfg.conditional and ds.labels is not None else None
        real = pipe.score(ds.batch(idx), real_labels)
        fake_labels = [i % cfg.n_classes for i in range(len(idx))] if cfg.conditional else None
        out = pipe.decode(pipe.latents(list(range(len(idx)))), fake_labels)
        if pipe.is_points:  # D sees standardised points, as in training
            out = (out.cpu() - torch.tensor(cfg.point_mean)) / torch.tensor(cfg.point_std)
        fake = pipe.score(out, fake_labels)
    except Exception:  # data that does not fit this model (size, channels, classes): no reference, still a score
        return None
    if real is None or fake is None or not (np.isfinite(real).all() and np.isfinite(fake).all()):
        return None
    lo, mid, hi = np.percentile(real.reshape(-1), [10, 50, 90])
    return ScoreReference(float(mid), float(lo), float(hi), float(np.median(fake)), int(len(idx)),
                          "real points" if pipe.is_points else "real test images")


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-max(min(x, 50.0), -50.0)))


# What a score means, by the loss D was trained with (gan.losses), for the losses where it is not a probability's
# logit (bce, minimax: score_text turns those into the probability): a regression target for least squares, an
# unbounded score for the margin and Wasserstein losses.
SCORE_MEANING = {
    "lsgan": "least squares: D is trained to output 1 for real images and 0 for generated ones",
    "hinge": "hinge loss: an unbounded score, higher means more real to D; training pushes real images "
             "above +1 and generated ones below -1",
    "wgan": "a Wasserstein critic: an unbounded score, higher means more real to D; only differences between "
            "scores count, as its zero drifts during training",
    "wgan-gp": "a Wasserstein critic: an unbounded score, higher means more real to D; only differences between "
               "scores count, as its zero drifts during training",
}


def _signed(x: float) -> str:
    """+1.23 / -1.23, and +0.00 for a value that rounds to zero (not -0.00)."""
    text = f"{x:+.2f}"
    return "+0.00" if text == "-0.00" else text


def score_text(score: float | None, loss: str | None, reference: ScoreReference | None = None,
               subject: str = "image") -> str:
    """D's score in words, on the scale of the loss D was trained with: D's probability of 'real' (the sigmoid of
    the score) for bce / minimax, what the number means for the other losses, and, when there is a reference,
    what real test data and this model's own samples typically score. `subject`: "image" or "point"."""
    if score is None:
        return "This model file carries no discriminator, so there is no D score."
    from gan.losses import scores_are_probabilities

    prob = scores_are_probabilities(loss)
    if prob:
        text = (f"D's score: {_signed(score)}, so D's probability that this {subject} is real is "
                f"**{_sigmoid(score):.2f}** (the sigmoid of the score; loss {loss}).")
    elif loss in SCORE_MEANING:
        text = f"D's score: **{_signed(score)}**: {SCORE_MEANING[loss]} (loss {loss})."
    else:
        text = (f"D's score: **{_signed(score)}** (the file does not say which loss trained D; "
                "higher looks more real to it).")
    if reference is not None:
        r = reference

        def fmt(x: float) -> str:
            return _signed(x) + (f" (p {_sigmoid(x):.2f})" if prob else "")

        text += (f"  \nFor scale: {r.real_what} score {fmt(r.real_median)} typically (8 in 10 between "
                 f"{_signed(r.real_low)} and {_signed(r.real_high)}); this model's own samples {fmt(r.fake_median)}.")
    return text


# -------------------------------------------------------------------------------------------------- bookmarks
BOOKMARK_MAX_Z = 1024              # ModelConfig's largest z_dim


def make_bookmark(model: str, seed, truncation, label, amounts, raw: dict | None = None, z=None) -> dict:
    """A view as a bookmark (JSON-ready). `z`: the view's latent when it is not a seed's, kept whole (float32
    numbers written exactly), with `seed` the page's last seed."""
    mark = {"ganscope_bookmark": 1, "model": model, "seed": check_seed(seed),
            "truncation": check_truncation(truncation), "class": label,
            "directions": [round(float(a or 0.0), 4) for a in (amounts or ())],
            "raw": {str(k): round(float(v), 4) for k, v in (raw or {}).items()}}
    if z is not None:
        flat = torch.as_tensor(z, dtype=torch.float32).reshape(-1)
        if not torch.isfinite(flat).all():
            raise GanInputError("only a latent of finite numbers can be bookmarked")
        mark["z"] = [float(v) for v in flat.tolist()]
    return mark


def parse_bookmark(text: str | bytes) -> dict:
    """A bookmark JSON (as written by make_bookmark, or a z file from python -m gan.project: {"z": [...],
    "class": ...}) checked field by field; GanInputError if it is not one. "z" is None for a seed's view, else a
    list of finite numbers (its length is checked against the model by whoever draws it: check_z)."""
    if isinstance(text, bytes):
        if len(text) > BOOKMARK_MAX_BYTES:
            raise GanInputError("a bookmark is a small JSON file; this one is too large")
        text = text.decode("utf-8", errors="replace")
    if len(text) > BOOKMARK_MAX_BYTES:
        raise GanInputError("a bookmark is a small JSON file; this one is too large")
    try:
        raw = json.loads(text)
    except ValueError:
        raise GanInputError("the bookmark is not valid JSON") from None
    if not isinstance(raw, dict) or ("seed" not in raw and "z" not in raw):
        raise GanInputError("the bookmark has no seed (and no z): is it a GANscope bookmark?")
    dirs = raw.get("directions") or []
    if not isinstance(dirs, list) or len(dirs) > 64:
        raise GanInputError("the bookmark's directions must be a list of numbers")
    rawz = raw.get("raw") or {}
    if not isinstance(rawz, dict) or len(rawz) > 1024:
        raise GanInputError("the bookmark's raw components must be an object of index: value")
    z = raw.get("z")
    if z is not None and (not isinstance(z, list) or not 0 < len(z) <= BOOKMARK_MAX_Z or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) for v in z)):
        raise GanInputError(f"the bookmark's z must be a list of at most {BOOKMARK_MAX_Z} numbers")
    try:
        out = {"model": str(raw.get("model") or ""), "seed": check_seed(raw.get("seed", 0)),
               "truncation": check_truncation(raw.get("truncation", 1.0)), "class": raw.get("class"),
               "directions": [float(d) for d in dirs], "raw": {int(k): float(v) for k, v in rawz.items()},
               "z": None if z is None else [float(v) for v in z]}
    except (TypeError, ValueError) as e:
        raise GanInputError(f"the bookmark has a bad value ({e})") from None
    if not all(math.isfinite(v) for v in [*out["directions"], *out["raw"].values(), *(out["z"] or [])]):
        raise GanInputError("the bookmark holds a value that is not a finite number")
    return out


# ------------------------------------------------------------------------------------------------ share links
def _short(x: float) -> str:
    """A number as a link writes it: at most 6 significant digits, no trailing zeros, 0 for -0."""
    return f"{float(x) + 0.0:g}"


def share_query(model: str, seed, truncation, label, amounts=(), raw: dict | None = None, z=None) -> str:
    """The query string of a link to a view: model=&seed=&psi=[&class=][&d=1.5,0,-2][&r=3:0.25] for a seed's view
    (d: the directions to the last non-zero one, 2 decimals; r: the raw overrides as index:value), or
    model=&z=&psi=[&class=][&d=] for a latent that is not a seed, z as gan.latent.encode_z's short code with the
    raw overrides already in it. Every link names its model."""
    from urllib.parse import quote

    from gan.latent import encode_z

    parts = [("model", model or "")]
    if z is not None:
        flat = torch.as_tensor(z, dtype=torch.float32).reshape(-1).clone()
        for i, v in (raw or {}).items():
            if 0 <= int(i) < flat.numel():
                flat[int(i)] = check_amount(v, f"z[{int(i)}]")
        parts.append(("z", encode_z(flat)))
    else:
        parts.append(("seed", str(check_seed(seed))))
    parts.append(("psi", _short(check_truncation(truncation))))
    if label is not None and label != "":
        parts.append(("class", str(label)))
    d = [round(a, 2) for a in check_amounts(amounts)]
    while d and d[-1] == 0:
        d.pop()
    if d:
        parts.append(("d", ",".join(_short(a) for a in d)))
    if z is None and raw:
        parts.append(("r", ",".join(f"{int(i)}:{_short(round(check_amount(v, f'z[{int(i)}]'), 4))}"
                                    for i, v in sorted(raw.items(), key=lambda kv: int(kv[0])))))
    return "&".join(f"{k}={quote(v, safe=',:')}" for k, v in parts)


def parse_raw_overrides(text) -> dict[int, float]:
    """A link's r= parameter ("3:0.25,7:-1") as {index: value}, each value checked as a raw component."""
    out: dict[int, float] = {}
    for part in str(text or "").split(","):
        if not part.strip():
            continue
        index, colon, value = part.partition(":")
        try:
            i = int(index)
        except ValueError:
            i = -1
        if not colon or not 0 <= i < BOOKMARK_MAX_Z:
            raise GanInputError(f"a raw override is index:value, e.g. 3:0.25, not {part.strip()!r}")
        out[i] = check_amount(value, f"z[{i}]")
    if len(out) > BOOKMARK_MAX_Z:
        raise GanInputError("too many raw overrides")
    return out


# ---------------------------------------------------------------------------------------------- interpolation
def parse_keyframes(text: str) -> list[tuple[int, int | None]]:
    """'3, 7:5, 12' -> [(3, None), (7, 5), (12, None)]: seeds, each with an optional class after a colon."""
    keys: list[tuple[int, int | None]] = []
    for part in str(text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        seed, colon, cls = part.partition(":")
        try:
            s = check_seed(seed.strip())
            c = int(cls.strip()) if colon else None
        except ValueError as e:
            raise GanInputError(f"cannot read keyframe {part!r}: write seed or seed:class, e.g. 3, 7:5 ({e})") from None
        keys.append((s, c))
    if len(keys) < 2:
        raise GanInputError("an interpolation needs at least 2 keyframes, e.g. 3, 7, 12")
    if len(keys) > 64:
        raise GanInputError("at most 64 keyframes")
    return keys


def class_mix(key_labels: list[int], n_classes: int, frames: int, loop: bool = False) -> torch.Tensor:
    """(frames, n_classes) soft class weights along a walk: (1 - t) on a segment's start class and t on its end
    class, with the same (segment, t) as the latents, so class and z move together. A segment within one class is
    exactly one-hot there (the same picture as that integer label)."""
    seg, t = interpolation_weights(len(key_labels), frames, loop)
    keys = torch.tensor(key_labels, dtype=torch.long)
    start, end = keys[seg], keys[(seg + 1) % len(key_labels)]
    t = torch.where(start == end, torch.zeros_like(t), t)
    rows = torch.arange(frames)
    weights = torch.zeros(frames, n_classes)
    weights[rows, start] = 1 - t
    weights[rows, end] += t
    return weights


@torch.inference_mode()
def interpolation_frames(pipe, keys: list[tuple[int, int | None]], frames: int, mode: str = "slerp",
                         loop: bool = False, truncation: float = 1.0) -> list[np.ndarray]:
    """uint8 frames (native resolution) of a walk through the keyframes' latents. On a conditional model the class
    input is blended along with z: between keyframes of classes a and b, each frame mixes their class embeddings
    (see class_mix), so the digit morphs from one class into the other instead of jumping halfway."""
    if pipe.is_points:
        raise GanInputError("interpolation animations are for image models; this is a 2-D model")
    frames, mode, truncation = check_frames(frames), check_mode(mode), check_truncation(truncation)
    seeds = [s for s, _ in keys]
    z = interpolation_path(pipe.latents(seeds, truncation), frames, mode, bool(loop))
    labels = None
    if pipe.config.conditional:
        key_labels = [check_label(pipe, c if c is not None else s % pipe.config.n_classes) for s, c in keys]
        labels = class_mix(key_labels, pipe.config.n_classes, frames, bool(loop))
    out = []
    for i in range(0, frames, 64):  # bounded memory for long walks
        out.extend(to_uint8(pipe.decode(z[i: i + 64], None if labels is None else labels[i: i + 64])))
    return out


def check_fps(fps) -> float:
    """An animation's frames per second: a number from 1 to FPS_LIMIT. The error is a FieldError("fps"), so the
    command line names its flag (--fps) and a page its label (FieldError.worded)."""
    try:
        v = float(fps)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(fps, bool) or not 1 <= v <= FPS_LIMIT:  # also refuses NaN
        raise FieldError("fps", f"must be a number from 1 to {FPS_LIMIT}", fps)
    return v


@dataclass
class Walk:
    """A latent walk made into files: its frames (native resolution), the animated GIF and the MP4."""

    frames: list[np.ndarray]
    gif: Path
    mp4: Path
    note: str = ""                    # what was left out, said to the user (classes on an unconditional model)


def make_walk(pipe, keyframes: str, frames=24, mode="slerp", loop=False, truncation=1.0, fps=12, *,
              folder: Path, name: str = "walk") -> Walk:
    """The Interpolate tab's walk: every value checked first (so a bad one costs no decoding), the frames, and a
    GIF and an MP4 of them written to `folder`, named after the model `name` and the first keyframes."""
    frames, mode, truncation, fps = check_frames(frames), check_mode(mode), check_truncation(truncation), \
        check_fps(fps)
    keys = parse_keyframes(keyframes)
    out = interpolation_frames(pipe, keys, frames, mode, bool(loop), truncation)
    from gan import viz

    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{name}-{'-'.join(str(s) for s, _ in keys[:6])}")[:80]
    gif, mp4 = Path(folder) / f"{stem}.gif", Path(folder) / f"{stem}.mp4"
    size = max(96, min(256, pipe.config.image_size * 8))
    viz.save_gif(gif, out, fps=fps, size=size)
    viz.save_mp4(mp4, out, fps=fps, size=size)
    note = ""
    if not pipe.config.conditional and any(c is not None for _, c in keys):
        note = f"The classes after the colons were left out: {name} is not class-conditional."
    return Walk(out, gif, mp4, note)
