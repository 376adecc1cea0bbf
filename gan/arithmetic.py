"""Latent arithmetic as a picture: A − B + C (Radford et al. 2016, §6.3), each term a seed or the mean of several,
drawn as one row: A's image − B's image + C's image = the result's, each term's image drawn from its mean latent.

    row = arithmetic_row(pipe, "3, 7, 12", "5", "9")   # terms as the page's text boxes hold them
    row.image          # uint8 RGB: the four images (28 px -> 112 px, nearest) with -, +, = between, captioned
    row.z, row.label   # the result's latent (1, z_dim) and class, to open it in Explore or share it

A term's text is seeds separated by commas ("3" one seed, "3, 7, 12" the mean of three, "10-14" a range), each
optionally with a class after a colon for a conditional model ("3:5, 7" is seeds 3 and 7 as class 5; a term has
one class). Latents that are not seeds (a bookmark's raw z, a projection) come in as Term(z=...).

On a conditional model the class is not part of z: each term's image is drawn with its own class, and the result
with C's, because arithmetic on class inputs can leave the classes the model knows (A − B + C of one-hot classes
has negative weights), while z carries the style the arithmetic moves. So "thick 3 − thin 3 + thin 7" asks for a
thick 7. A term that names no class takes the `label` given (the page's class), else class 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan.errors import GanInputError
from gan.latent import check_seed, check_truncation, latent_arithmetic

TERM_SEED_LIMIT = 64       # seeds averaged in one term
CELL = 112                 # each image: 28 px x 4, nearest neighbour
NAMES = ("A", "B", "C")


@dataclass
class Term:
    """One term: its latents (n, z_dim), averaged into one, its class on a conditional model, and its caption."""

    z: torch.Tensor
    label: int | None = None
    name: str = ""


@dataclass
class Arithmetic:
    """A − B + C computed and drawn."""

    z: torch.Tensor                 # (1, z_dim): the result's latent
    label: int | None               # the class the result is drawn with (C's) on a conditional model
    terms: tuple                    # (A, B, C) as Terms
    images: torch.Tensor            # (4, C, H, W) in [-1, 1]: mean A, mean B, mean C, the result
    labels: list                    # the class each of the four was drawn with (None on an unconditional model)
    image: np.ndarray               # the row picture, uint8 RGB


def parse_term(pipe, text, what: str = "A", truncation: float = 1.0) -> Term:
    """A term from text: "3", "3, 7, 12", "10-14", each seed optionally with ":class" (one class per term), as
    truncated latents of this model. GanInputError lines name the term."""
    from gan.render import check_label

    if pipe.is_points:
        raise GanInputError("latent arithmetic is for image models; this is a 2-D model")
    truncation = check_truncation(truncation)
    text = "" if text is None else str(text)
    seeds: list[int] = []
    classes: set = set()
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        seed_text, colon, cls = part.partition(":")
        seed_text, cls = seed_text.strip(), cls.strip()
        lo, dash, hi = seed_text.partition("-")
        try:
            if dash and lo and hi:
                a, b = check_seed(lo.strip()), check_seed(hi.strip())
                if b < a:
                    raise GanInputError(f"term {what}: seed range {seed_text!r} runs backwards")
                if b - a >= TERM_SEED_LIMIT:
                    raise GanInputError(f"term {what}: a term averages at most {TERM_SEED_LIMIT} seeds")
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(check_seed(seed_text))
        except GanInputError as e:
            msg = str(e)
            raise GanInputError(msg if msg.startswith("term ") else f"term {what}: {msg}") from None
        if colon:
            if not pipe.config.conditional:
                raise GanInputError(f"term {what} names class {cls!r}, but this model is not class-conditional: "
                                    "write seeds only")
            try:
                classes.add(check_label(pipe, cls))
            except GanInputError as e:
                raise GanInputError(f"term {what}: {e}") from None
    if not seeds:
        raise GanInputError(f"term {what} is empty: write a seed (3) or several to average (3, 7, 12)")
    if len(seeds) > TERM_SEED_LIMIT:
        raise GanInputError(f"term {what}: a term averages at most {TERM_SEED_LIMIT} seeds, got {len(seeds)}")
    if len(classes) > 1:
        raise GanInputError(f"term {what} names classes {', '.join(map(str, sorted(classes)))}: a term has one class")
    listed = ",".join(map(str, seeds))
    name = f"seed {seeds[0]}" if len(seeds) == 1 else (f"mean {listed}" if len(listed) <= 12
                                                        else f"mean of {len(seeds)} seeds")
    return Term(pipe.latents(seeds, truncation), next(iter(classes)) if classes else None, name)


def _as_term(pipe, term, what: str, truncation: float) -> Term:
    if isinstance(term, Term):
        z = term.z
        if not isinstance(z, torch.Tensor) or z.dim() not in (1, 2):
            raise GanInputError(f"term {what}'s latents must be a tensor (n, z_dim)")
        if z.shape[-1] != pipe.config.z_dim:
            raise GanInputError(f"term {what}'s latent has {z.shape[-1]} numbers, but this model's z has "
                                f"{pipe.config.z_dim}")
        if term.label is None:
            return term
        if not pipe.config.conditional:
            raise GanInputError(f"term {what} has a class, but this model is not class-conditional")
        from gan.render import check_label

        try:
            return Term(z, check_label(pipe, term.label), term.name)
        except GanInputError as e:
            raise GanInputError(f"term {what}: {e}") from None
    return parse_term(pipe, term, what, truncation)


@torch.inference_mode()
def arithmetic_row(pipe, a, b, c, truncation: float = 1.0, label=None, cell: int = CELL) -> Arithmetic:
    """A − B + C for an image model: the terms (text as parse_term reads it, or Terms), their mean images and the
    result's, and the row picture. `truncation` applies to terms given as text (a Term's z is used as it is);
    `label` is the class of the terms that name none on a conditional model (0 when None)."""
    from gan.pipeline import to_uint8
    from gan.render import check_label

    if pipe.is_points:
        raise GanInputError("latent arithmetic is for image models; this is a 2-D model")
    if isinstance(cell, bool) or not isinstance(cell, int) or not 28 <= cell <= 512:
        raise GanInputError(f"cell must be a whole number of pixels from 28 to 512, got {cell!r}")
    terms = tuple(_as_term(pipe, t, w, truncation) for t, w in zip((a, b, c), NAMES))
    z = latent_arithmetic(*(t.z for t in terms))
    conditional = pipe.config.conditional
    default = check_label(pipe, label) if conditional else None
    labels = [t.label if t.label is not None else default for t in terms] if conditional else [None] * 3
    labels.append(labels[2])           # the result is drawn as C's class
    means = torch.cat([t.z.detach().to("cpu", torch.float32).reshape(-1, pipe.config.z_dim).mean(0, keepdim=True)
                       for t in terms] + [z])
    images = pipe.decode(means, labels if conditional else None).cpu()
    class_names = [str(n) for n in (pipe.info.get("class_names") or [])]

    def cls(i) -> str:
        if labels[i] is None:
            return ""
        name = class_names[labels[i]] if labels[i] < len(class_names) else str(labels[i])
        return f"class {name}" if len(name) <= 10 else name

    captions = [[n, t.name, cls(i)] for i, (n, t) in enumerate(zip(NAMES, terms))] + [["A - B + C", "", cls(3)]]
    image = row_image(to_uint8(images), "-+=", captions, cell)
    return Arithmetic(z, labels[3], terms, images, labels, image)


def row_image(tiles: np.ndarray, signs: str, captions: list, cell: int = CELL, pad: int = 6) -> np.ndarray:
    """uint8 images (N, H, W[, 3]) side by side on white, upscaled to `cell` (nearest), with a sign drawn between
    each pair ("-", "+", "=": drawn as bars, so no font needs the glyphs) and caption lines under each. RGB."""
    from PIL import Image, ImageDraw

    from gan.viz import label_font, upscale

    big = [upscale(t, cell) for t in tiles]
    h, w = big[0].shape[:2]
    gap = max(24, w // 3)
    lines = max(len(c) for c in captions)
    line_h = 16
    width = 2 * pad + len(big) * w + (len(big) - 1) * gap
    out = np.full((pad + h + pad + lines * line_h + pad, width, 3), 255, np.uint8)
    xs = [pad + i * (w + gap) for i in range(len(big))]
    for x, t in zip(xs, big):
        out[pad:pad + h, x:x + w] = t[..., None] if t.ndim == 2 else t
    im = Image.fromarray(out)
    draw = ImageDraw.Draw(im)
    font = label_font(13)
    bar, thick = gap // 2, max(2, gap // 10)
    cy = pad + h // 2
    for i, sign in enumerate(signs[:len(big) - 1]):
        cx = xs[i] + w + gap // 2
        horizontal = (cx - bar // 2, cy - thick // 2, cx + bar // 2, cy - thick // 2 + thick - 1)
        if sign == "=":
            for dy in (-thick, thick):
                draw.rectangle((horizontal[0], horizontal[1] + dy, horizontal[2], horizontal[3] + dy), fill=(0, 0, 0))
            continue
        draw.rectangle(horizontal, fill=(0, 0, 0))
        if sign == "+":
            draw.rectangle((cx - thick // 2, cy - bar // 2, cx - thick // 2 + thick - 1, cy + bar // 2), fill=(0, 0, 0))
    for x, caption in zip(xs, captions):
        for j, text in enumerate(caption):
            if not text:
                continue
            x0, _, x1, _ = draw.textbbox((0, 0), text, font=font)
            draw.text((x + (w - (x1 - x0)) // 2, pad + h + pad + j * line_h), text,
                      fill=(0, 0, 0) if j == 0 else (60, 60, 60), font=font)
    return np.asarray(im)
