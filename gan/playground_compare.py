"""Two Playgrounds side by side: the same data and seed, one setting changed, stepping together.

    twin = twin_config(lesson_config, "pack", "2")    # "Mode collapse" against its cure, PacGAN
    frame = compare_frame(a, b, "pack 1", "pack 2")     # both fields, the changed setting named above each,
                                                        # and both runs' curves on one chart in two colours

The session (gan.playground_manager.PlaygroundSession.compare) owns the pair and steps both; this module says which
settings can differ, checks the value as the form's field would be, and draws the pair.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from gan.config import LIMITS, check_number, limit_rule
from gan.errors import GanInputError
from gan.playground import (FONT_PX, FRAME_GAP, LIVE_LABELS, OKABE_ITO, Playground, PlaygroundConfig, _font,
                            _panel)

# What a pair may differ in: every setting but the data and the seed, which the pair shares by design.
COMPARE_SETTINGS = tuple(f.name for f in dataclasses.fields(PlaygroundConfig) if f.name not in ("dataset", "seed"))
RUN_STYLES = {"A": (OKABE_ITO["blue"], "solid"), "B": (OKABE_ITO["vermillion"], "dashed")}


def twin_config(config: PlaygroundConfig, setting, value) -> PlaygroundConfig:
    """`config` with `setting` set to `value` (text as a form sends it, or a number); GanInputError for a setting
    that cannot differ, a value that is not one, or no change at all."""
    from gan.playground_handin import _typed

    if setting not in COMPARE_SETTINGS:
        raise GanInputError(f"compare which setting? one of {', '.join(COMPARE_SETTINGS)}, not {setting!r} "
                            "(the pair shares its data and seed)")
    text = str(value).strip() if isinstance(value, (str, bool, int, float)) else value
    typed = _typed(setting, text, getattr(config, setting), what="")
    if setting in LIMITS:
        try:
            typed = check_number(setting, typed)
        except GanInputError:
            raise GanInputError(f"{setting} {limit_rule(setting)}, not {value!r}") from None
    twin = dataclasses.replace(config, **{setting: typed})
    if twin == config:
        raise GanInputError(f"{setting} is already {value}: pick a value that differs")
    twin.train_config()         # the playground's own sizes (a FieldError names the field)
    return twin


def label(config: PlaygroundConfig, setting: str) -> str:
    """What names a run above its view: the changed setting and its value in this run (None: the loss's preset)."""
    value = getattr(config, setting)
    shown = LIVE_LABELS.get(setting, setting.replace("_", " "))
    return f"{shown} {'default' if value is None else value}"


def compare_frame(a: Playground, b: Playground, label_a: str, label_b: str, size: int = 400) -> tuple[np.ndarray, str]:
    """The pair's picture and status line: A's and B's fields side by side, each under its label, and one chart
    with both runs' D loss and reverse KL (or G loss, for data without modes) in two colours."""
    from PIL import Image, ImageDraw

    keys = ("loss_d", "reverse_kl" if a.has_modes else "loss_g")
    with a.lock, b.lock:
        views = [pg.render(size, views=("field",))["field"] for pg in (a, b)]
        figs = [pg.record_figures() for pg in (a, b)]
        series = [{run: _series(pg, key) for run, pg in zip("AB", (a, b))} for key in keys]
    head = FONT_PX + 10
    width = 2 * size + FRAME_GAP
    img = Image.new("RGB", (width, head + size + FRAME_GAP + 260), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, (view, name, key) in enumerate(zip(views, (label_a, label_b), "AB")):
        x = i * (size + FRAME_GAP)
        colour, _ = RUN_STYLES[key]
        draw.rectangle((x, 0, x + 14, head - 6), fill=colour)
        draw.text((x + 20, 2), f"{key}: {name}", fill=(30, 30, 30), font=_font())
        img.paste(Image.fromarray(view), (x, head))
    top = head + size + FRAME_GAP
    half = width // 2
    for box, pair, title in (((0, top, half, top + 260), series[0], "D loss"),
                             ((half, top, width, top + 260), series[1], "reverse KL" if a.has_modes else "G loss")):
        _panel(draw, box, {run: pts for run, pts in pair.items() if len(pts)}, title,
               styles=_styles(label_a, label_b))
    status = " · ".join(f"{k}: {n} · step {f['step']}" + (f", modes {f['modes_covered']}/{f['n_modes']}, reverse KL "
                                                         f"{f['reverse_kl']:.2f}" if "modes_covered" in f else "")
                        for k, n, f in zip("AB", (label_a, label_b), figs))
    return np.asarray(img), status


def _styles(label_a: str, label_b: str) -> dict:
    return {"A": (*RUN_STYLES["A"], f"A {label_a}"), "B": (*RUN_STYLES["B"], f"B {label_b}")}


def _series(pg: Playground, key: str) -> np.ndarray:
    """(step, value) of one curve of a run, under its lock."""
    pg._materialise()           # the losses recorded since, read off torch
    source = pg.figure_history if key == "reverse_kl" else pg.history
    pts = [(h["step"], h[key]) for h in source if key in h and math.isfinite(h[key])]
    return np.array(pts, np.float64).reshape(-1, 2)
