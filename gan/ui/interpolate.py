"""Interpolate tab: a walk through two or more keyframes (seed, and class for conditional models), linear or
spherical, looped or not. Shows the frames as a strip and plays them as an animated GIF; exports GIF and MP4."""
from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import gradio as gr

from gan.errors import GanInputError

TITLE = "Interpolate"
STRIP_FRAMES = 12          # frames shown in the strip (evenly spaced)
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
            strip = gr.Image(label="Frames", format="png", interactive=False, elem_id="interp-strip", height=110)
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
            return None, None, None, None, f"⚠ {e}"

    def refresh_models():
        cat.refresh()
        return gr.update(choices=_image_choices(cat))

    go.click(interpolate, [model, keyframes, mode, frames, loop, truncation, fps],
             [animation, strip, gif, mp4, message], api_name="interpolate", concurrency_id="models",
             concurrency_limit=2)
    demo.load(refresh_models, None, model, queue=False, api_visibility="private")


def _interpolate(ctx, model, keyframes, mode, frames, loop, truncation, fps):
    from gan import explore as ex
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
    n = len(out)
    pick = sorted({round(i * (n - 1) / (STRIP_FRAMES - 1)) for i in range(STRIP_FRAMES)}) if n > STRIP_FRAMES \
        else list(range(n))
    strip = ex.strip_array([out[i] for i in pick], centre=-1, cell=48)
    return str(gif_path), strip, str(gif_path), str(mp4_path), ""


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
