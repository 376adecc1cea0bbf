"""Interpolate tab: a walk through two or more keyframes (seed, and class for conditional models), linear or
spherical, looped or not; on a conditional model the classes blend along the way. Shows the frames as a strip
(captioned with how many it shows) and plays them as an animated GIF; exports GIF and MP4. The page opens on the
default walk, and the model list is read again whenever the tab is opened.

The walk itself, and every check of its values, is gan.render.make_walk; this module lays out the widgets, hands
them the raw values (preprocess=False) and shows what comes back, or the library's message.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from gan.errors import GanInputError
from gan.latent import FRAME_LIMIT, MODES
from gan.ui.app import bind, clean_scratch, said

TITLE = "Interpolate"
STRIP_MAX = 24             # the strip shows every frame up to this many, else every k-th frame (and says so)
STRIP_ROW = 12             # frames per row of the strip at most
STRIP_CELL = 64            # room for each frame in the strip: 28 px shows at 56, 32 px at 64 (whole factors)
NO_WALK = "Frames"         # the strip's label when there is no walk to count
LABELS = {"fps": "frames per second"}   # the library's FieldError names a setting; the page says its label
# The widgets' defaults (keyframes, mode, frames, loop, truncation, fps): the walk every page opens on
FIRST_WALK = ("0, 1, 2, 3", "slerp", 24, False, 1.0, 12)


# ------------------------------------------------------------------------------------------------- handlers
def on_interpolate(ctx, model: str | None = None, keyframes: str = "0, 1, 2, 3", mode: str = "slerp",
                   frames: int = 24, loop: bool = False, truncation: float = 1.0, fps: float = 12):
    """Frames through the keyframes' latents (model: None for the default image model). Returns the animated GIF
    (to show), a strip of frames, the GIF file, the MP4 file and a message (empty when all went well)."""
    try:
        return _walk(ctx, model, keyframes, mode, frames, loop, truncation, fps)
    except GanInputError as e:
        gr.Warning(said(e, LABELS))
        return _nothing(e)


def on_first_animation(ctx, model, keyframes, mode, frames, loop, truncation, fps):
    """On page load, the walk for the widgets' defaults, so the tab opens on an animation and its frames rather
    than four empty boxes. It is the same walk for every page that opens on a model, so it is made once per model
    (about 0.25 s of a core for 24 frames at 28x28, GIF and MP4) and shared: a classroom's 25 page loads do not
    each make it again. Only the defaults' walk is shared (a page that sends other values gets its own, so no
    client can fill the cache). A problem is only noted (no pop-up: the visitor has not asked for anything yet)."""
    values = (keyframes, mode, frames, loop, truncation, fps)
    try:
        return _walk(ctx, model, *values, shared=values == FIRST_WALK)
    except GanInputError as e:
        return _nothing(e)


def on_tab_open(ctx):
    """The tab is opened: list what is there now (a run started or finished on the Train tab, a live run),
    keeping the visitor's choice."""
    ctx.catalog.refresh()
    return gr.update(choices=_image_choices(ctx.catalog))


def on_page_load(ctx, current):
    """The page is loaded: list the models, and fall back to today's default if the one the page was built with
    is gone (the visitor has not chosen yet)."""
    cat = ctx.catalog
    cat.refresh()
    choices = _image_choices(cat)
    value = current if current in {name for _, name in choices} else _default_image_model(cat)
    return gr.update(choices=choices, value=value)


def on_caption(ctx, frames, message):
    """The strip's label, set after each walk (not returned with the strip, so the API's strip stays a plain
    image): how many of the frames it shows. No walk (a message starting with ⚠): the plain label."""
    if str(message or "").startswith("⚠"):
        return gr.update(label=NO_WALK)
    try:
        n = int(float(frames))
    except (TypeError, ValueError, OverflowError):
        return gr.update(label=NO_WALK)
    return gr.update(label=strip_frames(n)[1] if n >= 2 else NO_WALK)


# ------------------------------------------------------------------------------------------------- layout
def build(ctx, demo: gr.Blocks) -> None:
    """Lay out the tab and wire its events (the handlers above)."""
    default = _default_image_model(ctx.catalog)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            model = gr.Dropdown(_image_choices(ctx.catalog), value=default, label="Model", allow_custom_value=True,
                                elem_id="interp-model")
            keyframes = gr.Textbox(FIRST_WALK[0], label="Keyframes", elem_id="keyframes",
                                   info="seeds separated by commas; for a conditional model add a class after a "
                                        "colon, e.g. 3:1, 7:7, 12:4 (without one: seed mod the number of classes)")
            with gr.Row():
                mode = gr.Radio(list(MODES), value=FIRST_WALK[1], label="interpolation", elem_id="interp-mode")
                loop = gr.Checkbox(FIRST_WALK[3], label="loop back to the first keyframe", elem_id="interp-loop")
            frames = gr.Number(FIRST_WALK[2], label="frames", elem_id="interp-frames",
                               info=f"2 to {FRAME_LIMIT} frames in all")
            truncation = gr.Slider(0.01, 1.0, value=FIRST_WALK[4], step=0.01, label="truncation", elem_id="interp-psi")
            fps = gr.Slider(1, 30, value=FIRST_WALK[5], step=1, label="frames per second", elem_id="interp-fps")
            go = gr.Button("Make animation", variant="primary", elem_id="interp-go")
        with gr.Column(scale=3, min_width=360):
            animation = gr.Image(label="Animation", type="filepath", interactive=False, elem_id="interp-animation",
                                 height=300, buttons=["download"])
            message = gr.Markdown("", label="message", elem_id="interp-message")
            strip = gr.Image(label=NO_WALK, format="png", interactive=False, elem_id="interp-strip", height=160)
            with gr.Row():
                gif = gr.File(label="GIF", interactive=False, elem_id="interp-gif")
                mp4 = gr.File(label="MP4", interactive=False, elem_id="interp-mp4")

    inputs = [model, keyframes, mode, frames, loop, truncation, fps]
    outputs = [animation, strip, gif, mp4, message]
    # Raw values (preprocess=False): the library checks each one and says what is wrong (Gradio's Slider would
    # fail on text with a traceback, and its Radio and Number would round or refuse in words of its own).
    label_strip = dict(fn=bind(on_caption, ctx), inputs=[frames, message], outputs=strip, queue=False,
                       preprocess=False, show_progress="hidden", api_visibility="private")
    go.click(bind(on_interpolate, ctx), inputs, outputs, api_name="interpolate", concurrency_id="models",
             concurrency_limit=2, preprocess=False).then(**label_strip)
    # queued behind Explore's first picture (same concurrency id, whose limit is 1), so it never delays that one
    demo.load(bind(on_page_load, ctx), model, model, queue=False, api_visibility="private").then(
        bind(on_first_animation, ctx), inputs, outputs, api_visibility="private", show_progress="minimal",
        concurrency_id="models", concurrency_limit=2, preprocess=False).then(**label_strip)
    tab = ctx.tabs.get("interpolate")  # set by build_demo; absent when the tab is built on its own
    if tab is not None:
        tab.select(bind(on_tab_open, ctx), None, model, queue=False, show_progress="hidden",
                   api_visibility="private")


# ------------------------------------------------------------------------------------------------- helpers
def _walk(ctx, model, keyframes, mode, frames, loop, truncation, fps, shared: bool = False) -> tuple:
    """The five outputs of a walk on `model` (None: the default image model), in a fresh folder of this server's
    scratch space (files older than an hour are removed first). shared: made once per model, for every page that
    asks (the catalog's per-model cache, which a reloaded model file drops; a live run's model
    is always walked anew), in a scratch folder of its own that the hourly clean leaves alone, so the files it
    names stay."""
    from gan.render import make_walk

    entry = ctx.catalog.entry(model if model is not None else _default_image_model(ctx.catalog))

    def make(pipe, folder: Path) -> tuple:
        walk = make_walk(pipe, keyframes, frames, mode, loop, truncation, fps, folder=folder, name=entry.name)
        pick, _ = strip_frames(len(walk.frames))
        return str(walk.gif), _strip_rows([walk.frames[i] for i in pick]), str(walk.gif), str(walk.mp4), walk.note

    if shared and entry.source != "live":   # a live run's weights change under the same pipeline
        return ctx.catalog.cached(entry.name, "first walk",
                                  lambda pipe: make(pipe, Path(tempfile.mkdtemp(dir=ctx.scratch("first-walks")))))
    scratch = ctx.scratch("interpolate")
    clean_scratch(scratch)
    return make(ctx.catalog.get(entry.name), Path(tempfile.mkdtemp(dir=scratch)))


def _nothing(error: GanInputError) -> tuple:
    """The outputs for a walk that could not be made: empty boxes and the reason."""
    return None, None, None, None, f"⚠ {said(error, LABELS)}"


def strip_frames(n: int) -> tuple[list[int], str]:
    """Which of n frames the strip shows, and its caption: all of them up to STRIP_MAX, otherwise every k-th
    frame, with a caption that says so (a strip that skips frames without a word reads as the whole walk)."""
    if n <= STRIP_MAX:
        return list(range(n)), f"Frames: all {n}"
    step = math.ceil(n / STRIP_MAX)
    pick = list(range(0, n, step))
    return pick, f"Frames: {len(pick)} of {n}, every {_ordinal(step)}"


def _ordinal(k: int) -> str:
    """2 -> '2nd', 11 -> '11th', 23 -> '23rd'."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _strip_rows(images: list) -> np.ndarray:
    """The frames in rows of at most STRIP_ROW (rows as even as can be: 24 -> 2 x 12, 13 -> 7 + 6), on white."""
    from gan import render as ex

    n_rows = math.ceil(len(images) / STRIP_ROW)
    per_row = math.ceil(len(images) / n_rows)
    rows = [ex.strip_array(images[i: i + per_row], centre=-1, cell=STRIP_CELL)
            for i in range(0, len(images), per_row)]
    width = rows[0].shape[1]
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


def _image_choices(cat) -> list[tuple[str, str]]:
    return [(e.label, e.name) for e in cat.entries.values() if e.kind == "image"]


def _default_image_model(cat) -> str | None:
    """The catalog's default model if it makes images, else the first image model (None: there is none)."""
    name = cat.default_name()
    if name and cat.entries[name].kind == "image":
        return name
    choices = _image_choices(cat)
    return choices[0][1] if choices else None
