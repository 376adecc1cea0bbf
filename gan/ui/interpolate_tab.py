"""Interpolate tab: a walk through two or more keyframes (seed, and class for conditional models), linear or
spherical, looped or not; on a conditional model the classes blend along the way. Shows the frames as a strip
(captioned with how many it shows) and plays them as an animated GIF; exports GIF and MP4. The page opens on the
default walk, and the model list is read again whenever the tab is opened."""
from __future__ import annotations

import math
import re
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np

from gan.errors import GanInputError

TITLE = "Interpolate"
STRIP_MAX = 24             # the strip shows every frame up to this many, else every k-th frame (and says so)
STRIP_ROW = 12             # frames per row of the strip at most
STRIP_CELL = 64            # room for each frame in the strip: 28 px shows at 56, 32 px at 64 (whole factors)
_TMP = Path(tempfile.mkdtemp(prefix="ganscope-interp-"))


def build(ctx, demo: gr.Blocks) -> None:
    cat = ctx.catalog
    default = _default_image_model(cat)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            model = gr.Dropdown(_image_choices(cat), value=default, label="Model", allow_custom_value=True,
                                elem_id="interp-model")
            keyframes = gr.Textbox("0, 1, 2, 3", label="Keyframes", elem_id="keyframes",
                                   info="seeds separated by commas; for a conditional model add a class after a "
                                        "colon, e.g. 3:1, 7:7, 12:4 (without one: seed mod the number of classes)")
            with gr.Row():
                mode = gr.Radio(["slerp", "linear"], value="slerp", label="interpolation", elem_id="interp-mode")
                loop = gr.Checkbox(False, label="loop back to the first keyframe", elem_id="interp-loop")
            frames = gr.Number(24, label="frames", precision=0, elem_id="interp-frames",
                               info="2 to 600 frames in all")
            truncation = gr.Slider(0.01, 1.0, value=1.0, step=0.01, label="truncation", elem_id="interp-psi")
            fps = gr.Slider(1, 30, value=12, step=1, label="frames per second", elem_id="interp-fps")
            go = gr.Button("Make animation", variant="primary", elem_id="interp-go")
        with gr.Column(scale=3, min_width=360):
            animation = gr.Image(label="Animation", type="filepath", interactive=False, elem_id="interp-animation",
                                 height=300, buttons=["download"])
            message = gr.Markdown("", label="message", elem_id="interp-message")
            strip = gr.Image(label="Frames", format="png", interactive=False, elem_id="interp-strip", height=160)
            with gr.Row():
                gif = gr.File(label="GIF", interactive=False, elem_id="interp-gif")
                mp4 = gr.File(label="MP4", interactive=False, elem_id="interp-mp4")

    def interpolate(model: str | None = default, keyframes: str = "0, 1, 2, 3", mode: str = "slerp",
                    frames: int = 24, loop: bool = False, truncation: float = 1.0, fps: float = 12):
        """Frames through the keyframes' latents. Returns the animated GIF (to show), a strip of frames, the GIF
        file, the MP4 file and a message (empty when all went well)."""
        try:
            return _interpolate(ctx, model, keyframes, mode, frames, loop, truncation, fps)
        except GanInputError as e:
            gr.Warning(str(e))
            return _nothing(e)

    def first_animation(model, keyframes, mode, frames, loop, truncation, fps):
        """On page load, the walk for the widgets' defaults, so the tab opens on an animation and its frames rather
        than four empty boxes (about 0.3 s on one core for 24 frames at 28x28). A problem is only noted (no pop-up:
        the visitor has not asked for anything yet)."""
        try:
            return _interpolate(ctx, model, keyframes, mode, frames, loop, truncation, fps)
        except GanInputError as e:
            return _nothing(e)

    def list_models():
        """The tab is opened: list what is there now (a run started or finished on the Train tab, a live run),
        keeping the visitor's choice."""
        cat.refresh()
        return gr.update(choices=_image_choices(cat))

    def list_models_on_load(current):
        """The page is loaded: list the models, and fall back to today's default if the one the page was built
        with is gone (the visitor has not chosen yet)."""
        cat.refresh()
        choices = _image_choices(cat)
        value = current if current in {name for _, name in choices} else _default_image_model(cat)
        return gr.update(choices=choices, value=value)

    def caption(frames, message):
        """The strip's label, set after each walk (not returned with the strip, so the API's strip stays a plain
        image): how many of the frames it shows."""
        try:
            n = int(frames)
        except (TypeError, ValueError):
            n = 0
        if n < 2 or str(message or "").startswith("⚠"):
            return gr.update(label="Frames")
        return gr.update(label=strip_frames(n)[1])

    inputs = [model, keyframes, mode, frames, loop, truncation, fps]
    outputs = [animation, strip, gif, mp4, message]
    # raw values (preprocess=False): a bad number was already refused, with its message, by the walk itself
    label_strip = dict(fn=caption, inputs=[frames, message], outputs=strip, queue=False, preprocess=False,
                       show_progress="hidden", api_visibility="private")
    go.click(interpolate, inputs, outputs, api_name="interpolate", concurrency_id="models",
             concurrency_limit=2).then(**label_strip)
    # queued behind Explore's first picture (same concurrency id, whose limit is 1), so it never delays that one
    demo.load(list_models_on_load, model, model, queue=False, api_visibility="private").then(
        first_animation, inputs, outputs, api_visibility="private", show_progress="minimal",
        concurrency_id="models", concurrency_limit=2).then(**label_strip)
    tab = ctx.tabs.get("interpolate")  # set by build_demo; absent when the tab is built on its own
    if tab is not None:
        tab.select(list_models, None, model, queue=False, show_progress="hidden", api_visibility="private")


def _interpolate(ctx, model, keyframes, mode, frames, loop, truncation, fps):
    from gan import render as ex
    from gan import viz

    try:
        n_frames = float(frames)
    except (TypeError, ValueError):
        n_frames = float("nan")
    if not (2 <= n_frames <= ex.FRAME_LIMIT) or not n_frames.is_integer():
        raise GanInputError(f"frames must be a whole number from 2 to {ex.FRAME_LIMIT}, got {frames!r}: "
                            "an animation needs at least 2 frames")
    frames = int(n_frames)
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise GanInputError(f"frames per second must be a number, got {fps!r}") from None
    if not 1 <= fps <= 60:
        raise GanInputError(f"frames per second must be between 1 and 60, got {fps}")
    if mode not in ("slerp", "linear"):
        raise GanInputError(f"interpolation must be slerp or linear, not {mode!r}")
    entry = ctx.catalog.entry(model)
    pipe = ctx.catalog.get(entry.name)
    keys = ex.parse_keyframes(keyframes)
    out = ex.interpolation_frames(pipe, keys, frames, mode, bool(loop), truncation)
    _clean_tmp()
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{entry.name}-{'-'.join(str(s) for s, _ in keys[:6])}")[:80]
    folder = Path(tempfile.mkdtemp(dir=_TMP))
    gif_path, mp4_path = folder / f"{stem}.gif", folder / f"{stem}.mp4"
    size = max(96, min(256, pipe.config.image_size * 8))
    viz.save_gif(gif_path, out, fps=fps, size=size)
    viz.save_mp4(mp4_path, out, fps=fps, size=size)
    note = ""
    if not pipe.config.conditional and any(c is not None for _, c in keys):
        note = f"The classes after the colons were left out: {entry.name} is not class-conditional."
    pick, _ = strip_frames(len(out))
    return str(gif_path), _strip_rows([out[i] for i in pick]), str(gif_path), str(mp4_path), note


def _nothing(error: Exception) -> tuple:
    """The outputs for a walk that could not be made: empty boxes and the reason."""
    return None, None, None, None, f"⚠ {error}"


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
    name = cat.default_name()
    if name and cat.entries[name].kind == "image":
        return name
    choices = _image_choices(cat)
    return choices[0][1] if choices else None


def _clean_tmp(max_age_s: float = 3600) -> None:
    import shutil

    now = time.time()
    for p in _TMP.glob("*"):
        try:
            if now - p.stat().st_mtime > max_age_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass
