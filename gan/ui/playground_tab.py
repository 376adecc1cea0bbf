"""The Playground tab: a 2-D GAN learning in front of you (after GAN Lab), and the guided lessons.

Every visitor has their own Playground (gan.playground_manager, kept in ctx.playgrounds: server state, on
purpose). A visitor is a browser: a random id issued on the first page load and kept in the browser
(gr.BrowserState), so a reload or a second tab shows the same Playground; each page load (Gradio session) is bound
to that id on load. An API client (gradio_client) is a visitor of its own, by its session. Training happens on the
manager's worker threads (never in an event handler): buttons only flip its flags or post a single step, and a
gr.Timer asks for the latest frame, sent only when it changed. Reloading or closing the page never stops or forks
the session; one no page polls for 60 s pauses itself.
Named endpoints: playground_play, playground_pause, playground_step, playground_reset (the form's settings),
playground_lesson (a lesson with its own settings), playground_use_drawing, playground_status, and (undocumented)
playground_frame (what the page's timer asks for).
The three cures for mode collapse (packing, minibatch std, R1: CURE_KEYS) reach playground_reset and
playground_use_drawing through a State that the button's click fills first (on_cures), not as inputs of their
own, so those endpoints take the arguments that scripts and raw HTTP callers send by position; an API caller's
Playground trains without them unless a lesson sets them.

Layout (the _layout_* functions) and wiring (_wire_*) are apart from the handlers (on_*): plain functions of the
app context and the values, wired with gan.ui.app.bind. The library checks every value (gan.playground's config,
gan.config.check_number); a handler shows what it says, naming fields by FIELD_LABELS.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace

import gradio as gr
import numpy as np

from gan import lessons
from gan.errors import GanInputError
from gan.losses import LOSSES
from gan.playground import LIVE_LABELS, POINT_CHOICES, VIEW_SIZE, PlaygroundConfig
from gan.playground_compare import COMPARE_SETTINGS
from gan.playground_manager import DEFAULT_LESSON, FRAME_S, PlaygroundManager, PlaygroundsBusy, PlaygroundSession
from gan.ui.app import AppContext, bind, call_library

TITLE = "Playground"
DRAW_SIZE = 360             # the drawing canvas, in pixels
NO_LESSON = "(free play)"
UPLOADED, DRAWN = "uploaded CSV", "drawn by hand"
DATA_CHOICES = [*POINT_CHOICES, UPLOADED, DRAWN]
VISITOR_KEY = "ganscope-visitor"   # the browser's localStorage key of its visitor id
CONTROLS_AT_ONCE = 8               # playground controls (of different visitors) handled at the same time
INTRO = ("Watch a GAN learn 2-D points. **Top left**: D's opinion of the plane (pale blue: real, darker sand: fake), "
         "the real points (blue dots), G's points (orange squares) and the arrows G's points are pushed along. "
         "**Top right**: G's noise grid carried through G. **Below**: losses, and modes covered / high-quality "
         "share / reverse KL. "
         "Pick a lesson, or set your own, and press **Play**. This Playground is yours: other visitors have their own.")
DRAW_HELP = ("**Your own data.** Paint where the points should be (the brush is ready), then press **Use my drawing**: "
             "the playground restarts on 2,000 points drawn from your strokes, with the settings below.")
__all__ = ["VIEW_SIZE", "build", "sketch_to_points"]   # VIEW_SIZE: gan.playground's, the page's view width

FORM_KEYS = ("dataset", "loss", "optimizer", "lr_g", "lr_d", "n_critic", "batch_size", "z_dim", "z_dist", "g_depth",
             "g_width", "d_depth", "d_width", "spectral_norm", "seed", "gp_lambda")
SETTINGS = FORM_KEYS[1:]    # what Reset and Use my drawing take after the data, in the API's order
CURE_KEYS = ("pack", "mbstd", "r1")   # PlaygroundConfig's cures for mode collapse (through a State, see above)
# The form's fields in a lesson's note ("You reset with your own settings (lr G 0.001)").
FORM_LABELS = {"dataset": "Data", "loss": "Loss", "optimizer": "Optimizer", "lr_g": "lr G", "lr_d": "lr D",
               "n_critic": "D steps per G step", "batch_size": "batch size", "z_dim": "noise dimensions",
               "z_dist": "noise", "g_depth": "G hidden layers", "g_width": "G width", "d_depth": "D hidden layers",
               "d_width": "D width", "spectral_norm": "spectral norm on D", "seed": "seed",
               "gp_lambda": "gradient penalty weight", "pack": "Packing (PacGAN): samples per D input",
               "mbstd": "Minibatch std in D", "r1": "R1 penalty (gamma)"}
# The library's field names (TrainConfig's, PlaygroundConfig's) as the page labels them, for its messages.
FIELD_LABELS = {**FORM_LABELS, "lr_g": "lr G (live)", "lr_d": "lr D (live)", "n_critic": "D steps per G step (live)",
                "gp_lambda": "gradient penalty weight (wgan-gp)"}


def _checked(fn):
    """fn(), with the library's refusal shown as a message naming the field as the page labels it."""
    return call_library(fn, FIELD_LABELS)


# ------------------------------------------------------------------------------------------- whose Playground
def playgrounds(ctx: AppContext) -> PlaygroundManager:
    """The server's Playgrounds (one per visitor), made on first use; no thread starts here."""
    return ctx.playgrounds


def _key(ctx: AppContext, request) -> str:
    """The caller's Playground: its browser's visitor id (bound on page load), else its own Gradio session."""
    return playgrounds(ctx).visitor_for(getattr(request, "session_hash", None))


def session_for(ctx: AppContext, request, create: bool = True) -> PlaygroundSession | None:
    """The caller's own Playground, created on its first call (cheap: its networks come with its first use)."""
    return playgrounds(ctx).session(_key(ctx, request), create=create)


# ------------------------------------------------------------------------------------------- handlers
def on_status(ctx: AppContext, request: gr.Request = None) -> dict:
    """Your Playground as JSON: step, D updates, losses, modes covered, frames per second, playing, lesson, and
    the latest message ("" when none)."""
    return session_for(ctx, request).status()


def on_tick(ctx: AppContext, last_id, request: gr.Request = None):
    """The page's timer: the latest frame, only when it changed since the page's last one. A page not yet bound
    to its browser's visitor id (its load still on the way) gets nothing, rather than a stray Playground of its
    own; a bound page whose Playground was dropped gets a fresh one. While paused, the timeline slider follows
    the run (its range and the step shown); while playing it is left alone (drag it to rewind)."""
    key = _key(ctx, request)
    s = playgrounds(ctx).session(key, create=playgrounds(ctx).is_browser(key))
    if s is None:
        return gr.skip(), gr.skip(), last_id, gr.skip()
    version, frame, text = s.view()
    if version == last_id:
        return gr.skip(), gr.skip(), last_id, gr.skip()
    slider = gr.skip()
    if not s.playing and s.built:
        info = s.pg.timeline_info()
        slider = gr.update(minimum=0, maximum=max(info["last"], 1), step=info["every"], value=info["at"])
    return frame, text, version, slider


def on_load(ctx: AppContext, visitor, request: gr.Request = None):
    """A page opens: bind it to its browser's visitor id (a new one when it has none, or one not ours in form),
    then show that visitor's Playground (created here on a first visit). A hand-in link (?pg_lesson=...&pg_step=)
    resets it to the link's run, plays it to the link's step (gan.playground_handin), and fills the lesson picker
    and the form with the link's lesson and settings."""
    from gan.playground_handin import has_handin, parse_handin

    page = getattr(request, "session_hash", None)
    vid = playgrounds(ctx).bind(page, visitor) if page else playgrounds(ctx).issue(visitor)
    query = dict(request.query_params) if request is not None else {}
    form = tuple(gr.skip() for _ in range(2 + len(FORM_KEYS) + len(CURE_KEYS)))
    h = _open_link(ctx, query, request) if has_handin(query) else None
    if h is not None:
        values = _form_values(h.config)
        text = f"**{h.lesson}**: {lessons.get(h.lesson).text}" if h.lesson else ""
        session_for(ctx, request).link_lesson = h.lesson or NO_LESSON   # the picker's change must not reset it
        form = (h.lesson or NO_LESSON, text, *(values[k] for k in (*FORM_KEYS, *CURE_KEYS)))
    version, frame, text = session_for(ctx, request).view()
    return (vid, frame, text, version, *form)


def on_open_handin(ctx: AppContext, query: str, request: gr.Request = None) -> dict:
    """A hand-in link's query (a dict, or the link as text) opened on your Playground: reset to its run, then
    played to its step. A link that cannot be used: a warning, and your Playground is unchanged."""
    from urllib.parse import parse_qsl, urlsplit

    if isinstance(query, str):
        text = query.strip()
        query = dict(parse_qsl(urlsplit(text).query if "://" in text or text.startswith("?") else text))
    _open_link(ctx, query, request)
    return on_status(ctx, request)


def on_play(ctx: AppContext, request: gr.Request = None) -> dict:
    """Play, unless the server's limit of Playgrounds playing is reached: then a warning, and the status says
    it too ("8 playgrounds are playing on this server; press Play again in a moment")."""
    try:
        playgrounds(ctx).play(_key(ctx, request))
    except PlaygroundsBusy as e:
        gr.Warning(str(e))
    return on_status(ctx, request)


def on_rewind(ctx: AppContext, step, request: gr.Request = None) -> dict:
    """Your Playground at a step of its timeline (a playing one pauses first); Play or Step goes on from there
    as a fork. A step not kept: a warning that names the nearest ones kept, and nothing changes."""
    try:
        return session_for(ctx, request).rewind(step)
    except GanInputError as e:
        gr.Warning(str(e))
        return {**on_status(ctx, request), "message": str(e)}


def on_export(ctx: AppContext, fmt, base="", request: gr.Request = None):
    """Hand in your run: `fmt` "gif" or "mp4" (the three views at every snapshot of the timeline), or "link" (an
    address that replays the lesson, settings, seed and live changes to this step). Returns (file or None,
    link, message)."""
    from gan.playground_handin import export_run
    from gan.ui.explore_tab import _link_base
    from gan.ui.app import clean_scratch

    s = session_for(ctx, request)
    try:
        if fmt == "link":
            query, note = s.handin_link()
            link = f"{_link_base(base)}?{query}"
            return None, link, note or "Open this link in any browser to see this run replayed to this step."
        scratch = ctx.scratch("playground")
        clean_scratch(scratch)
        import tempfile
        from pathlib import Path

        path = export_run(s.pg, fmt, Path(tempfile.mkdtemp(dir=scratch)), name=_slug(s.lesson or "playground"))
        return str(path), "", f"{path.name}: {len(s.pg.timeline.steps)} moments of the run, steps " \
                              f"{s.pg.timeline.steps[0]} to {s.pg.timeline.steps[-1]}."
    except GanInputError as e:
        return None, "", f"⚠ {e}"


def on_compare(ctx: AppContext, setting, value, request: gr.Request = None) -> dict:
    """A compare pair: your run from step 0 (A) beside the same data and seed with `setting` set to `value` (B),
    stepping together; a reset ends it. A setting that cannot differ or a bad value: a warning, nothing changes."""
    try:
        return session_for(ctx, request).compare(setting, value)
    except GanInputError as e:
        gr.Warning(str(e))
        return {**on_status(ctx, request), "message": str(e)}


def on_timeline(ctx: AppContext, request: gr.Request = None) -> dict:
    """Your Playground's timeline: the steps kept, every how many steps, and the memory they take."""
    return session_for(ctx, request).pg.timeline_info()


def on_pause(ctx: AppContext, request: gr.Request = None) -> dict:
    """Pause; the status comes once training has stopped, at the step the Playground stays at."""
    session_for(ctx, request).pause()
    return on_status(ctx, request)


def _step(ctx: AppContext, which: str, request) -> dict:
    return _checked(lambda: (session_for(ctx, request).single(which), on_status(ctx, request))[1])


def on_step(ctx: AppContext, request: gr.Request = None) -> dict:
    """One full iteration by hand (D's steps per G step, then one G update), playing or not."""
    return _step(ctx, "both", request)


def on_step_d(ctx: AppContext, request: gr.Request = None) -> dict:
    """One D update, G frozen."""
    return _step(ctx, "d", request)


def on_step_g(ctx: AppContext, request: gr.Request = None) -> dict:
    """One G update, D frozen."""
    return _step(ctx, "g", request)


def on_lesson(ctx: AppContext, name: str = DEFAULT_LESSON, request: gr.Request = None):
    """Apply a lesson: a fresh run with the lesson's own settings, written back into the form. Wired to the
    dropdown's .change (a real new choice) and to Reset to lesson; never to .input, which Gradio 6 also fires
    when the dropdown merely loses focus (open it, press Escape, click elsewhere)."""
    hidden, shown = gr.update(visible=False), gr.update(visible=True)
    keep_form = tuple(gr.skip() for _ in (*FORM_KEYS, *CURE_KEYS))
    if not name or name == NO_LESSON:
        return ("", hidden, hidden) + keep_form + (on_status(ctx, request),)
    lesson = _checked(lambda: lessons.get(name))
    if lesson.playground is None:
        text = (f"**{name}**: {lesson.text}\n\nThis lesson trains on images: press **Start in the Train tab**"
                " and watch the class-coverage monitor there.")
        return (text, shown, hidden) + keep_form + (on_status(ctx, request),)
    session_for(ctx, request).reset(lesson.playground, lesson=name)
    values = _form_values(lesson.playground)
    return ((f"**{name}**: {lesson.text}", hidden, shown) + tuple(values[k] for k in (*FORM_KEYS, *CURE_KEYS))
            + (on_status(ctx, request),))


def _open_link(ctx: AppContext, query: dict, request):
    """Reset the caller's Playground to a hand-in link's run and play it (gan.playground_handin); the Handin, or
    None after a warning that says why the link cannot be used (the Playground then is unchanged)."""
    from gan.playground_handin import parse_handin

    try:
        h = parse_handin(query)
        session_for(ctx, request).open_handin(query)
        playgrounds(ctx).play(_key(ctx, request))
    except PlaygroundsBusy as e:        # the run is set: Play replays it
        gr.Warning(f"The hand-in link: {e}")
    except GanInputError as e:
        gr.Warning(f"The hand-in link cannot be used: {e}")
        session_for(ctx, request)._set_notice(f"the hand-in link cannot be used: {e}")
        return None
    return h


def on_lesson_picked(ctx: AppContext, name: str = DEFAULT_LESSON, request: gr.Request = None):
    """The lesson picker's change: on_lesson, except when a hand-in link's page load set the picker to the
    link's lesson (that run is the link's, replaying: it is not reset)."""
    s = session_for(ctx, request)
    pending, s.link_lesson = s.link_lesson, None
    if pending is not None and pending == name:
        return tuple(gr.skip() for _ in range(3 + len(FORM_KEYS) + len(CURE_KEYS))) + (on_status(ctx, request),)
    return on_lesson(ctx, name, request)


def on_image_lesson(ctx: AppContext, name):
    """Start an image lesson as a training run (the Train tab shows it and its class-coverage monitor)."""
    def act():
        lesson = lessons.get(name) if name and name != NO_LESSON else None
        if lesson is None or lesson.train is None:
            raise GanInputError("pick one of the image lessons (on MNIST) first")
        run = ctx.runs.start(lessons.train_config(name), name=_slug(name))
        return f"started run **{run.id}**: open the Train tab to watch it and its class-coverage monitor"
    return _checked(act)


def on_reset(ctx: AppContext, dataset, upload, drawing, loss, optimizer, lr_g, lr_d, n_critic, batch_size, z_dim,
             z_dist, g_depth, g_width, d_depth, d_width, spectral_norm, seed, gp_lambda=None, lesson_name=None,
             cures=None, request: gr.Request = None):
    """Reset with the form's settings (live changes included), as typed: the library checks them. Returns the
    status, and the lesson's text with a note when these settings are no longer the lesson's (its text may then
    not hold). `upload` is the CSV (a path, or Gradio's file payload), `drawing` the canvas as an image, `cures`
    the page's {"pack", "mbstd", "r1"} (on_cures; None: off)."""
    values = dict(zip(SETTINGS, (loss, optimizer, lr_g, lr_d, n_critic, batch_size, z_dim, z_dist, g_depth,
                                 g_width, d_depth, d_width, spectral_norm, seed, gp_lambda)))
    values.update({k: v for k, v in (cures or {}).items() if k in CURE_KEYS})

    def act():
        points, ds = _own_points(dataset, upload, drawing)
        cfg = PlaygroundConfig(dataset=ds, **values)
        session_for(ctx, request).reset(cfg, lesson=None, points=points)   # checks every value first
        return on_status(ctx, request), _lesson_note(lesson_name, {**_form_values(cfg), "dataset": dataset})
    return _checked(act)


def on_use_drawing(ctx: AppContext, drawing, loss, optimizer, lr_g, lr_d, n_critic, batch_size, z_dim, z_dist,
                   g_depth, g_width, d_depth, d_width, spectral_norm, seed, gp_lambda=None, cures=None,
                   request: gr.Request = None):
    """One press after drawing: the data becomes the drawn points and the run restarts on them."""
    status, _ = on_reset(ctx, DRAWN, None, drawing, loss, optimizer, lr_g, lr_d, n_critic, batch_size, z_dim,
                         z_dist, g_depth, g_width, d_depth, d_width, spectral_norm, seed, gp_lambda,
                         cures=cures, request=request)
    text = ("**Your drawing**: G learns the points you painted. Press **Play** (or draw again and press "
            "**Use my drawing**).")
    return status, DRAWN, text


def on_cures(ctx: AppContext, pack=1, mbstd=False, r1=0.0) -> dict:
    """The cure fields, as typed, kept by a reset button's first step for the reset (the library checks them)."""
    return {"pack": pack, "mbstd": mbstd, "r1": r1}


def on_loss_defaults(ctx: AppContext, loss):
    """A newly picked loss's own optimizer, learning rates, D steps and penalty weight, into the form."""
    from gan.trainer import resolve_config

    cfg = _checked(lambda: resolve_config(PlaygroundConfig(loss=loss).train_config()))
    return cfg.optimizer, cfg.lr_g, cfg.lr_d, cfg.n_critic, cfg.gp_lambda


def on_live(ctx: AppContext, lr_g, lr_d, n_critic, request: gr.Request = None):
    """A live change of the learning rates or D's steps per G step: it holds from the next update on, and the
    curves mark the step where it came."""
    def act():
        s = session_for(ctx, request)
        changed = s.set_hyperparameters(lr_g=lr_g, lr_d=lr_d, n_critic=n_critic)
        return (("changed " + ", ".join(f"{LIVE_LABELS[k]} to {v:g}" for k, v in changed.items())
                 + f" at step {s.pg.step} (dashed line on the curves)") if changed else gr.skip())
    return _checked(act)


# ------------------------------------------------------------------------------------------- helpers
def _own_points(dataset, upload, drawing) -> tuple[np.ndarray | None, str]:
    """(points, dataset name) for the form's Data choice: an uploaded CSV or the drawing become points."""
    if dataset == UPLOADED:
        path = upload.get("path") if isinstance(upload, dict) else upload
        if not path:
            raise GanInputError("upload a CSV of x,y points first")
        from gan.uploads import read_points_csv
        return read_points_csv(path), "drawn"
    if dataset == DRAWN:
        return sketch_to_points(drawing), "drawn"
    return None, dataset


def sketch_to_points(editor_value, n: int = 2000, seed: int = 0) -> np.ndarray:
    """Points from a gr.ImageEditor drawing: every painted pixel is a place where data lives (y up)."""
    if editor_value is None:
        raise GanInputError("draw some points first")
    img = editor_value.get("composite") if isinstance(editor_value, dict) else editor_value
    if img is None:
        raise GanInputError("draw some points first")
    a = np.asarray(img)
    if a.ndim == 2:
        ink = a < 128
    elif a.shape[-1] == 4:
        ink = (a[..., 3] > 0) & (a[..., :3].mean(-1) < 200)
    else:
        ink = a[..., :3].mean(-1) < 200
    ys, xs = np.nonzero(ink)
    if len(xs) < 10:
        raise GanInputError("the drawing has too few painted pixels: draw a few strokes")
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(xs), n)
    h = a.shape[0]
    return np.stack([xs[pick], h - 1 - ys[pick]], 1).astype(np.float64) + rng.uniform(-0.5, 0.5, (n, 2))


def _lesson_note(name: str | None, shown: dict):
    """The lesson's text after a reset with the form's settings: unchanged while they are the lesson's, else with
    a note naming what differs (so a changed learning rate does not leave a text that no longer holds)."""
    lesson = lessons.LESSONS.get(name) if isinstance(name, str) else None
    if lesson is None or lesson.playground is None:
        return gr.skip()
    own = _form_values(lesson.playground)
    keys = [k for k in (*FORM_KEYS, *CURE_KEYS) if k != "gp_lambda" or own["loss"] == "wgan-gp"]  # the penalty's weight: WGAN-GP's
    differ = [f"{FORM_LABELS[k]} {shown[k]:g}" if isinstance(shown[k], float) else f"{FORM_LABELS[k]} {shown[k]}"
              for k in keys if _differs(shown[k], own[k])]
    text = f"**{name}**: {lesson.text}"
    if differ:
        text += (f"\n\n*You reset with your own settings ({'; '.join(differ)}), so the text above may not hold: "
                 "press **Reset to lesson** to restore the lesson's.*")
    return text


def _differs(a, b) -> bool:
    """Form values compared as the page shows them: a number typed as 0.001 equals the lesson's 1e-3."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) > 1e-12 * max(abs(float(a)), abs(float(b)), 1.0)
    return a != b


def _blank_canvas() -> dict:
    """A white background, so the editor opens with its brush ready (it picks the brush once it has an image)."""
    white = np.full((DRAW_SIZE, DRAW_SIZE, 3), 255, np.uint8)
    return {"background": white, "layers": [], "composite": white}


def _form_values(cfg: PlaygroundConfig) -> dict:
    """A config as the form shows it: every None filled with the loss's preset."""
    from gan.trainer import resolve_config

    t = resolve_config(cfg.train_config())
    return {"dataset": cfg.dataset, "loss": cfg.loss, "optimizer": t.optimizer, "lr_g": t.lr_g, "lr_d": t.lr_d,
            "n_critic": t.n_critic, "batch_size": t.batch_size, "z_dim": cfg.z_dim, "z_dist": cfg.z_dist,
            "g_depth": cfg.g_depth, "g_width": cfg.g_width, "d_depth": cfg.d_depth, "d_width": cfg.d_width,
            "spectral_norm": cfg.spectral_norm, "seed": cfg.seed, "gp_lambda": t.gp_lambda, "pack": t.pack,
            "mbstd": t.mbstd, "r1": t.r1}


def _slug(name: str) -> str:
    return "lesson-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


def with_preprocessed(handler, component: gr.components.Component, position: int):
    """handler, with its input at `position` run through the component's own preprocess. Events with a Slider
    input skip Gradio's preprocessing (preprocess=False: the library checks the raw numbers), but the drawing
    canvas sends only an id for the layers the browser uploaded to it, which the component alone can turn into
    an image."""
    @functools.wraps(handler)
    def wrapped(*values, **kwargs):
        values = list(values)
        raw = values[position]
        try:
            values[position] = component.preprocess(component.data_model.model_validate(raw)) if raw else None
        except (ValueError, TypeError, KeyError, OSError):   # not a drawing (a script's stray value): none
            values[position] = None
        return handler(*values, **kwargs)
    return wrapped


# ------------------------------------------------------------------------------------------- layout
def build(ctx: AppContext, demo: gr.Blocks) -> None:
    """The tab's layout and events. Every handler acts on the caller's own Playground (session_for)."""
    first = lessons.get(DEFAULT_LESSON)
    c = _form_values(first.playground)
    gr.Markdown(INTRO)
    w = SimpleNamespace(**vars(_layout_lesson(first)), **vars(_layout_controls()), **vars(_layout_live(c)),
                        **vars(_layout_drawing()), **vars(_layout_form(c)))
    w.status_json = gr.JSON(visible=False)
    w.last_frame = gr.State(-1)
    w.visitor = gr.BrowserState(None, storage_key=VISITOR_KEY)
    _wire_controls(ctx, w)
    _wire_form(ctx, w)
    _wire_frames(ctx, w, demo)


def build_playground_tab(ctx: AppContext, demo: gr.Blocks | None = None) -> None:
    build(ctx, demo)


def _layout_lesson(first) -> SimpleNamespace:
    with gr.Row():
        lesson_pick = gr.Dropdown([NO_LESSON, *lessons.LESSONS], value=first.name, label="Lesson",
                                  elem_id="pg-lesson", scale=2)
        with gr.Column(scale=3):
            lesson_text = gr.Markdown(f"**{first.name}**: {first.text}", elem_id="pg-lesson-text")
            image_btn = gr.Button("Start in the Train tab", size="sm", elem_id="pg-image-lesson", visible=False)
    return SimpleNamespace(lesson_pick=lesson_pick, lesson_text=lesson_text, image_btn=image_btn)


def _layout_controls() -> SimpleNamespace:
    with gr.Row():
        play = gr.Button("Play", variant="primary", elem_id="pg-play")
        pause = gr.Button("Pause", elem_id="pg-pause")
        step_d = gr.Button("Step D", elem_id="pg-step-d")
        step_g = gr.Button("Step G", elem_id="pg-step-g")
        step = gr.Button("Step both", elem_id="pg-step")
        reset_lesson = gr.Button("Reset to lesson", elem_id="pg-reset-lesson")
        reset = gr.Button("Reset with my settings", variant="stop", elem_id="pg-reset")
    status_md = gr.Markdown("", elem_id="pg-status")
    view = gr.Image(label="D's view · G's manifold · curves", interactive=False, elem_id="pg-view",
                    show_label=True, format="png")
    timeline = gr.Slider(0, 1, value=0, step=1, label="Timeline: rewind to step",
                         info="Drag back to see any kept moment; Play or Step goes on from there as a new branch. "
                              "It follows the run while paused.", elem_id="pg-timeline")
    with gr.Row():
        export_fmt = gr.Radio(["gif", "mp4", "link"], value="gif", label="Hand in", elem_id="pg-export-format",
                              info="the run over time as a GIF or an MP4, or a link that replays it to this step")
        export_btn = gr.Button("Export", elem_id="pg-export", scale=0)
        export_file = gr.File(label="Exported run", interactive=False, elem_id="pg-export-file", height=90)
        link_box = gr.Textbox(label="Hand-in link", elem_id="pg-link", buttons=["copy"], interactive=False)
    export_msg = gr.Markdown("", elem_id="pg-export-msg")
    with gr.Row():
        compare_setting = gr.Dropdown(list(COMPARE_SETTINGS), value="pack", label="Compare: the setting B changes",
                                      elem_id="pg-compare-setting", info="A is this run from step 0; a reset ends it")
        compare_value = gr.Textbox("2", label="B's value", elem_id="pg-compare-value")
        compare_btn = gr.Button("Compare side by side", elem_id="pg-compare", scale=0)
    return SimpleNamespace(compare_setting=compare_setting, compare_value=compare_value, compare_btn=compare_btn,
                           play_btn=play, pause_btn=pause, step_d_btn=step_d, step_g_btn=step_g, step_btn=step,
                           reset_lesson_btn=reset_lesson, reset_btn=reset, status_md=status_md, view=view,
                           timeline=timeline, export_fmt=export_fmt, export_btn=export_btn, export_file=export_file,
                           link_box=link_box, export_msg=export_msg)


def _layout_live(c: dict) -> SimpleNamespace:
    """The live fields: no precision or bounds of Gradio's own (they would round or refuse without the library's
    words); the ranges are said in info=."""
    with gr.Row():
        lr_g = gr.Number(c["lr_g"], label="lr G (live)", info="above 0, at most 1", elem_id="pg-lr-g")
        lr_d = gr.Number(c["lr_d"], label="lr D (live)", info="above 0, at most 1", elem_id="pg-lr-d")
        n_critic = gr.Number(c["n_critic"], label="D steps per G step (live)", info="a whole number, 1 to 100")
        live_msg = gr.Markdown("")
    return SimpleNamespace(lr_g=lr_g, lr_d=lr_d, n_critic=n_critic, live_msg=live_msg)


def _layout_drawing() -> SimpleNamespace:
    with gr.Row(equal_height=False):
        drawing = gr.ImageEditor(value=_blank_canvas(), label="Draw your points", type="numpy",
                                 canvas_size=(DRAW_SIZE, DRAW_SIZE), fixed_canvas=True, height=DRAW_SIZE + 70,
                                 width=DRAW_SIZE + 40, scale=0, min_width=DRAW_SIZE + 40,
                                 brush=gr.Brush(default_size=6, colors=["#000000"], color_mode="fixed"),
                                 layers=False, sources=(), transforms=(), buttons=[], elem_id="pg-drawing")
        with gr.Column():
            gr.Markdown(DRAW_HELP)
            use_drawing_btn = gr.Button("Use my drawing", elem_id="pg-use-drawing")
    return SimpleNamespace(drawing=drawing, use_drawing_btn=use_drawing_btn)


def _layout_form(c: dict) -> SimpleNamespace:
    with gr.Accordion("Data and model (press Reset with my settings to apply)", open=False):
        with gr.Row():
            dataset = gr.Dropdown(DATA_CHOICES, value=c["dataset"], label="Data", elem_id="pg-data")
            upload = gr.File(label="CSV of x,y points", file_types=[".csv"], type="filepath", height=90)
        with gr.Row():
            loss = gr.Dropdown(list(LOSSES), value=c["loss"], label="Loss")
            optimizer = gr.Dropdown(["adam", "rmsprop"], value=c["optimizer"], label="Optimizer")
            batch_size = gr.Number(c["batch_size"], label="batch size", info="a whole number, 2 to 4096")
            seed = gr.Number(c["seed"], label="seed", info="a whole number, 0 or more")
            gp_lambda = gr.Number(c["gp_lambda"], label="gradient penalty weight (wgan-gp)", info="0 to 1000",
                                  elem_id="pg-gp-lambda")
        with gr.Row():
            z_dim = gr.Radio([1, 2], value=c["z_dim"], label="noise dimensions")
            z_dist = gr.Radio(["normal", "uniform"], value=c["z_dist"], label="noise")
            spectral_norm = gr.Checkbox(value=c["spectral_norm"], label="spectral norm on D")
            pack = gr.Number(c["pack"], label=FORM_LABELS["pack"], info="a whole number, 1 to 16; divides the batch",
                             elem_id="pg-pack")
            mbstd = gr.Checkbox(value=c["mbstd"], label=FORM_LABELS["mbstd"], elem_id="pg-mbstd")
            r1 = gr.Number(c["r1"], label=FORM_LABELS["r1"], info="0 (off) to 1000", elem_id="pg-r1")
        with gr.Row():
            g_depth = gr.Slider(1, 8, value=c["g_depth"], step=1, label="G hidden layers")
            g_width = gr.Slider(4, 512, value=c["g_width"], step=4, label="G width")
            d_depth = gr.Slider(1, 8, value=c["d_depth"], step=1, label="D hidden layers")
            d_width = gr.Slider(4, 512, value=c["d_width"], step=4, label="D width")
    return SimpleNamespace(dataset=dataset, upload=upload, loss=loss, optimizer=optimizer, batch_size=batch_size,
                           seed=seed, gp_lambda=gp_lambda, z_dim=z_dim, z_dist=z_dist, spectral_norm=spectral_norm,
                           pack=pack, mbstd=mbstd, r1=r1, cures=gr.State({k: c[k] for k in CURE_KEYS}),
                           g_depth=g_depth, g_width=g_width, d_depth=d_depth, d_width=d_width)


# ------------------------------------------------------------------------------------------- wiring
# Each visitor's controls take its session's control lock, in the order they arrive; visitors do not wait for
# each other (one server-wide slot once made a class queue behind each lesson reset).
CONTROLS = dict(concurrency_id="playground", concurrency_limit=CONTROLS_AT_ONCE, show_progress="hidden")


def _wire_controls(ctx: AppContext, w: SimpleNamespace) -> None:
    """Play, Pause, the three steps, the lesson picker and its reset."""
    w.play_btn.click(bind(on_play, ctx), None, w.status_json, api_name="playground_play", **CONTROLS)
    w.pause_btn.click(bind(on_pause, ctx), None, w.status_json, api_name="playground_pause", **CONTROLS)
    w.step_btn.click(bind(on_step, ctx), None, w.status_json, api_name="playground_step", **CONTROLS)
    w.step_d_btn.click(bind(on_step_d, ctx), None, w.status_json, api_visibility="private", **CONTROLS)
    w.step_g_btn.click(bind(on_step_g, ctx), None, w.status_json, api_visibility="private", **CONTROLS)
    lesson_outputs = [w.lesson_text, w.image_btn, w.reset_lesson_btn,
                      *(getattr(w, k) for k in (*FORM_KEYS, *CURE_KEYS)), w.status_json]
    w.lesson_pick.change(bind(on_lesson_picked, ctx), w.lesson_pick, lesson_outputs, api_name="playground_lesson",
                         **CONTROLS)
    w.reset_lesson_btn.click(bind(on_lesson, ctx), w.lesson_pick, lesson_outputs, api_visibility="private",
                             **CONTROLS)
    w.image_btn.click(bind(on_image_lesson, ctx), w.lesson_pick, w.lesson_text, api_visibility="private")
    gr.api(bind(on_status, ctx), api_name="playground_status", concurrency_id="playground-status",
           concurrency_limit=CONTROLS_AT_ONCE)
    # .input: a drag (its last value, always_last), the keyboard's arrows and the number box; .release alone
    # misses the keyboard (../shared/GRADIO.md). Raw values: the slider's range is the page's, the library checks.
    w.timeline.input(bind(on_rewind, ctx), w.timeline, w.status_json, api_name="playground_rewind",
                     preprocess=False, trigger_mode="always_last", **CONTROLS)
    w.export_btn.click(bind(on_export, ctx), [w.export_fmt, w.link_box], [w.export_file, w.link_box, w.export_msg],
                       js="(fmt, link) => [fmt, window.location.origin + window.location.pathname]",
                       api_name="playground_export", **CONTROLS)
    w.compare_btn.click(bind(on_compare, ctx), [w.compare_setting, w.compare_value], w.status_json,
                        api_name="playground_compare", preprocess=False, **CONTROLS)
    gr.api(bind(on_timeline, ctx), api_name="playground_timeline", concurrency_id="playground-status",
           concurrency_limit=CONTROLS_AT_ONCE)
    gr.api(bind(on_open_handin, ctx), api_name="playground_open_link", concurrency_id="playground",
           concurrency_limit=CONTROLS_AT_ONCE)


def _wire_form(ctx: AppContext, w: SimpleNamespace) -> None:
    """The two resets from the form and the live fields. Events with Slider inputs take their values raw
    (preprocess=False): the library checks them, and the drawing is preprocessed by its own component."""
    settings = [getattr(w, k) for k in SETTINGS]
    # The cures go through w.cures (a State: not an argument of the endpoints), filled by the click's first step.
    keep_cures = dict(fn=bind(on_cures, ctx), inputs=[w.pack, w.mbstd, w.r1], outputs=w.cures, preprocess=False,
                      api_visibility="private", show_progress="hidden")
    reset = with_preprocessed(bind(on_reset, ctx), w.drawing, 2)
    w.reset_btn.click(**keep_cures).then(reset, [w.dataset, w.upload, w.drawing, *settings, w.lesson_pick, w.cures],
                                         [w.status_json, w.lesson_text], api_name="playground_reset",
                                         preprocess=False, **CONTROLS)
    use_drawing = with_preprocessed(bind(on_use_drawing, ctx), w.drawing, 0)
    w.use_drawing_btn.click(**keep_cures).then(use_drawing, [w.drawing, *settings, w.cures],
                                               [w.status_json, w.dataset, w.lesson_text],
                                               api_name="playground_use_drawing", preprocess=False, **CONTROLS)
    w.loss.input(bind(on_loss_defaults, ctx), w.loss, [w.optimizer, w.lr_g, w.lr_d, w.n_critic, w.gp_lambda],
                 api_visibility="private")
    gr.on([w.lr_g.submit, w.lr_d.submit, w.n_critic.submit, w.lr_g.blur, w.lr_d.blur, w.n_critic.blur],
          bind(on_live, ctx), [w.lr_g, w.lr_d, w.n_critic], w.live_msg, api_visibility="private",
          trigger_mode="always_last", **CONTROLS)


def _wire_frames(ctx: AppContext, w: SimpleNamespace, demo: gr.Blocks | None) -> None:
    """The page's timer asks for frames (sent only when they changed); a page load binds it to its visitor."""
    timer = gr.Timer(FRAME_S)
    # Undocumented but callable, so a script can fetch frames as a page does (benchmarks/classroom.py).
    timer.tick(bind(on_tick, ctx), w.last_frame, [w.view, w.status_md, w.last_frame, w.timeline],
               show_progress="hidden",
               api_name="playground_frame", api_visibility="undocumented", concurrency_limit=None, queue=False)
    if demo is not None:
        demo.load(bind(on_load, ctx), w.visitor, [w.visitor, w.view, w.status_md, w.last_frame, w.lesson_pick,
                                                   w.lesson_text, *(getattr(w, k) for k in (*FORM_KEYS, *CURE_KEYS))],
                  api_visibility="private")
