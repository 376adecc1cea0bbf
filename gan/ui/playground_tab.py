"""The Playground tab: a 2-D GAN learning in front of you (after GAN Lab), and the guided lessons.

Every visitor has their own Playground (gan.playground_manager, kept in ctx.playgrounds: server state, on
purpose). A visitor is a browser: a random id issued on the first page load and kept in the browser
(gr.BrowserState), so a reload or a second tab shows the same Playground; each page load (Gradio session) is bound
to that id on load. An API client (gradio_client) is a visitor of its own, by its session. Training happens in the
session's background thread (never in an event handler): buttons only flip its flags or post a single step, and a
gr.Timer asks for the latest frame, sent only when it changed. Reloading or closing the page never stops or forks
the session; one no page polls for 60 s pauses itself.
Named endpoints: playground_play, playground_pause, playground_step, playground_reset (the form's settings),
playground_lesson (a lesson with its own settings), playground_use_drawing, playground_status, and (undocumented)
playground_frame (what the page's timer asks for).
"""
from __future__ import annotations

import dataclasses
import logging

import gradio as gr
import numpy as np

from gan import lessons
from gan.errors import GanInputError
from gan.losses import LOSSES
from gan.playground import LIVE_LABELS, PLAYGROUND_DATASETS, Playground, PlaygroundConfig
from gan.playground_manager import FRAME_S, Playgrounds, PlaygroundsBusy, PlaygroundSession

log = logging.getLogger(__name__)

TITLE = "Playground"
VIEW_SIZE = 480             # each view's width: 480 px on a 1400 px page, readable on a projector
DRAW_SIZE = 360             # the drawing canvas, in pixels
NO_LESSON = "(free play)"
UPLOADED, DRAWN = "uploaded CSV", "drawn by hand"
DATA_CHOICES = [*PLAYGROUND_DATASETS, UPLOADED, DRAWN]
VISITOR_KEY = "ganscope-visitor"   # the browser's localStorage key of its visitor id
CONTROLS_AT_ONCE = 8               # playground controls (of different visitors) handled at the same time
INTRO = ("Watch a GAN learn 2-D points. **Top left**: D's opinion of the plane (pale blue: real, darker sand: fake), "
         "the real points (blue dots), G's points (orange squares) and the arrows G's points are pushed along. "
         "**Top right**: G's noise grid carried through G. **Below**: losses, and modes covered / high-quality "
         "share / reverse KL. "
         "Pick a lesson, or set your own, and press **Play**. This Playground is yours: other visitors have their own.")
DRAW_HELP = ("**Your own data.** Paint where the points should be (the brush is ready), then press **Use my drawing**: "
             "the playground restarts on 2,000 points drawn from your strokes, with the settings below.")


def _frame(pg: Playground, figures: bool) -> tuple[np.ndarray, str]:
    """The page's one picture at VIEW_SIZE (read when drawn): D's view and G's manifold side by side, the curves
    under them (gan.playground.compose_frame: three abreast would be ~400 px each on a 1400 px page); the status."""
    snap = pg.snapshot(VIEW_SIZE, figures=figures, frame=True)
    return snap["frame"], snap["status"]


def playgrounds(ctx) -> Playgrounds:
    """The server's registry of Playgrounds (one per visitor), made on first use; no thread starts here."""
    return ctx.shared("playgrounds", lambda: Playgrounds(max_playing=ctx.max_playgrounds, frame_fn=_frame))


def _key(ctx, request) -> str:
    """The caller's Playground: its browser's visitor id (bound on page load), else its own Gradio session."""
    return playgrounds(ctx).visitor_for(getattr(request, "session_hash", None))


def session_for(ctx, request, create: bool = True) -> PlaygroundSession | None:
    """The caller's own Playground, created on its first call."""
    return playgrounds(ctx).session(_key(ctx, request), create=create)


# ------------------------------------------------------------------------------------------- hand drawing
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
    pts = np.stack([xs[pick], h - 1 - ys[pick]], 1).astype(np.float64) + rng.uniform(-0.5, 0.5, (n, 2))
    return pts



# ------------------------------------------------------------------------------------------------ the tab
def build(ctx, demo) -> None:
    build_playground_tab(ctx, demo)


def build_playground_tab(ctx, demo=None) -> None:
    """The tab's layout and events. Every handler acts on the caller's own Playground (session_for)."""
    first = lessons.get("Mode collapse")
    c = _form_values(first.playground)

    def status(request: gr.Request = None) -> dict:
        """Your Playground as JSON: step, D updates, losses, modes covered, frames per second, playing, lesson,
        and the latest message ("" when none)."""
        return session_for(ctx, request).status()

    def tick(last_id, request: gr.Request = None):
        """The page's timer: the latest frame, only when it changed since the page's last one. A page not yet
        bound to its browser's visitor id (its load still on the way) gets nothing, rather than a stray Playground
        of its own; a bound page whose Playground was dropped gets a fresh one."""
        key = _key(ctx, request)
        s = playgrounds(ctx).session(key, create=playgrounds(ctx).is_browser(key))
        if s is None:
            return gr.skip(), gr.skip(), last_id
        version, frame, text = s.view()
        if version == last_id:
            return gr.skip(), gr.skip(), last_id
        return frame, text, version

    def on_load(visitor, request: gr.Request = None):
        """A page opens: bind it to its browser's visitor id (a new one when it has none, or one not ours in
        form), then show that visitor's Playground (created here on a first visit)."""
        page = getattr(request, "session_hash", None)
        vid = playgrounds(ctx).bind(page, visitor) if page else playgrounds(ctx).issue(visitor)
        version, frame, text = session_for(ctx, request).view()
        return vid, frame, text, version

    def play(request: gr.Request = None):
        try:
            playgrounds(ctx).play(_key(ctx, request))
        except PlaygroundsBusy as e:
            gr.Warning(str(e))
        return status(request)

    def pause(request: gr.Request = None):
        session_for(ctx, request).pause()
        return status(request)

    def step(which: str, request):
        return _call(lambda: (session_for(ctx, request).single(which), status(request))[1])

    def step_both(request: gr.Request = None):
        return step("both", request)

    def step_d(request: gr.Request = None):
        return step("d", request)

    def step_g(request: gr.Request = None):
        return step("g", request)

    def pick_lesson(name: str = "Mode collapse", request: gr.Request = None):
        """Apply a lesson: a fresh run with the lesson's own settings, written back into the form. Wired to the
        dropdown's .change (a real new choice) and to Reset to lesson; never to .input, which Gradio 6 also fires
        when the dropdown merely loses focus (open it, press Escape, click elsewhere)."""
        hidden, shown = gr.update(visible=False), gr.update(visible=True)
        if not name or name == NO_LESSON:
            return ("", hidden, hidden) + tuple(gr.skip() for _ in FORM_KEYS) + (status(request),)
        lesson = _call(lambda: lessons.get(name))
        if lesson.playground is None:
            text = (f"**{name}**: {lesson.text}\n\nThis lesson trains on images: press **Start in the Train tab**"
                    " and watch the class-coverage monitor there.")
            return (text, shown, hidden) + tuple(gr.skip() for _ in FORM_KEYS) + (status(request),)
        session_for(ctx, request).reset(lesson.playground, lesson=name)
        values = _form_values(lesson.playground)
        return ((f"**{name}**: {lesson.text}", hidden, shown) + tuple(values[k] for k in FORM_KEYS)
                + (status(request),))

    def start_image_lesson(name):
        def act():
            lesson = lessons.get(name) if name and name != NO_LESSON else None
            if lesson is None or lesson.train is None:
                raise GanInputError("pick one of the image lessons (on MNIST) first")
            from gan.ui.train_tab import run_manager
            run = run_manager(ctx).start(lessons.train_config(name), name=_slug(name))
            return f"started run **{run.id}**: open the Train tab to watch it and its class-coverage monitor"
        return _call(act)

    def reset(dataset, upload, drawing, loss, optimizer, lr_g, lr_d, n_critic, batch_size, z_dim, z_dist,
              g_depth, g_width, d_depth, d_width, spectral_norm, seed, gp_lambda=None, lesson_name=None,
              request: gr.Request = None):
        """Reset with the form's settings (live changes included). Returns the status, and the lesson's text with
        a note when these settings are no longer the lesson's (its text may then not hold)."""
        def act():
            points, ds = None, dataset
            if dataset == UPLOADED:
                if not upload:
                    raise GanInputError("upload a CSV of x,y points first")
                from gan.data import read_points_csv
                points, ds = read_points_csv(upload), "drawn"
            elif dataset == DRAWN:
                points, ds = sketch_to_points(drawing), "drawn"
            cfg = PlaygroundConfig(
                dataset=ds, loss=loss, optimizer=optimizer, lr_g=_num(lr_g), lr_d=_num(lr_d),
                n_critic=_int(n_critic), batch_size=_int(batch_size), z_dim=_int(z_dim), z_dist=z_dist,
                g_depth=_int(g_depth), g_width=_int(g_width), d_depth=_int(d_depth), d_width=_int(d_width),
                spectral_norm=bool(spectral_norm), seed=_int(seed),
                gp_lambda=None if gp_lambda is None else _num(gp_lambda))
            session_for(ctx, request).reset(cfg, lesson=None, points=points)
            shown = {**_form_values(cfg), "dataset": dataset}
            return status(request), _lesson_note(lesson_name, shown)
        return _call(act)

    def use_drawing(request: gr.Request, drawing, *settings):
        """One press after drawing: the data becomes the drawn points and the run restarts on them. (The request
        comes first: Gradio fills in positional parameters only, and *settings keeps the API's argument names.)"""
        st, _ = reset(DRAWN, None, drawing, *settings, request=request)
        text = ("**Your drawing**: G learns the points you painted. Press **Play** (or draw again and press "
                "**Use my drawing**).")
        return st, DRAWN, text

    def loss_defaults(loss):
        from gan.trainer import resolve_config
        cfg = resolve_config(dataclasses.replace(PlaygroundConfig(loss=loss).train_config()))
        return cfg.optimizer, cfg.lr_g, cfg.lr_d, cfg.n_critic, cfg.gp_lambda

    def live(lr_g, lr_d, n_critic, request: gr.Request = None):
        def act():
            s = session_for(ctx, request)
            changed = s.set_hyperparameters(lr_g=_num(lr_g), lr_d=_num(lr_d), n_critic=_int(n_critic))
            return (("changed " + ", ".join(f"{LIVE_LABELS[k]} to {v:g}" for k, v in changed.items())
                     + f" at step {s.pg.step} (dashed line on the curves)") if changed else gr.skip())
        return _call(act)

    # ------------------------------------------------------------------------------------------ layout
    gr.Markdown(INTRO)
    with gr.Row():
        lesson_pick = gr.Dropdown([NO_LESSON, *lessons.LESSONS], value=first.name, label="Lesson",
                                  elem_id="pg-lesson", scale=2)
        with gr.Column(scale=3):
            lesson_text = gr.Markdown(f"**{first.name}**: {first.text}", elem_id="pg-lesson-text")
            image_btn = gr.Button("Start in the Train tab", size="sm", elem_id="pg-image-lesson", visible=False)
    with gr.Row():
        play_btn = gr.Button("Play", variant="primary", elem_id="pg-play")
        pause_btn = gr.Button("Pause", elem_id="pg-pause")
        step_d_btn = gr.Button("Step D", elem_id="pg-step-d")
        step_g_btn = gr.Button("Step G", elem_id="pg-step-g")
        step_btn = gr.Button("Step both", elem_id="pg-step")
        reset_lesson_btn = gr.Button("Reset to lesson", elem_id="pg-reset-lesson")
        reset_btn = gr.Button("Reset with my settings", variant="stop", elem_id="pg-reset")
    status_md = gr.Markdown("", elem_id="pg-status")
    view = gr.Image(label="D's view · G's manifold · curves", interactive=False, elem_id="pg-view",
                    show_label=True, format="png")
    with gr.Row():
        lr_g = gr.Number(c["lr_g"], label="lr G (live)", minimum=1e-6, maximum=1.0, elem_id="pg-lr-g")
        lr_d = gr.Number(c["lr_d"], label="lr D (live)", minimum=1e-6, maximum=1.0, elem_id="pg-lr-d")
        n_critic = gr.Number(c["n_critic"], label="D steps per G step (live)", precision=0, minimum=1, maximum=100)
        live_msg = gr.Markdown("")
    with gr.Row(equal_height=False):
        drawing = gr.ImageEditor(value=_blank_canvas(), label="Draw your points", type="numpy",
                                 canvas_size=(DRAW_SIZE, DRAW_SIZE), fixed_canvas=True, height=DRAW_SIZE + 70,
                                 width=DRAW_SIZE + 40, scale=0, min_width=DRAW_SIZE + 40,
                                 brush=gr.Brush(default_size=6, colors=["#000000"], color_mode="fixed"),
                                 layers=False, sources=(), transforms=(), buttons=[], elem_id="pg-drawing")
        with gr.Column():
            gr.Markdown(DRAW_HELP)
            use_drawing_btn = gr.Button("Use my drawing", elem_id="pg-use-drawing")
    with gr.Accordion("Data and model (press Reset with my settings to apply)", open=False):
        with gr.Row():
            dataset = gr.Dropdown(DATA_CHOICES, value=c["dataset"], label="Data", elem_id="pg-data")
            upload = gr.File(label="CSV of x,y points", file_types=[".csv"], type="filepath", height=90)
        with gr.Row():
            loss = gr.Dropdown(list(LOSSES), value=c["loss"], label="Loss")
            optimizer = gr.Dropdown(["adam", "rmsprop"], value=c["optimizer"], label="Optimizer")
            batch_size = gr.Number(c["batch_size"], label="batch size", precision=0, minimum=2, maximum=4096)
            seed = gr.Number(c["seed"], label="seed", precision=0, minimum=0)
            gp_lambda = gr.Number(c["gp_lambda"], label="gradient penalty weight (wgan-gp)", minimum=0,
                                  maximum=1000, elem_id="pg-gp-lambda")
        with gr.Row():
            z_dim = gr.Radio([1, 2], value=c["z_dim"], label="noise dimensions")
            z_dist = gr.Radio(["normal", "uniform"], value=c["z_dist"], label="noise")
            spectral_norm = gr.Checkbox(value=c["spectral_norm"], label="spectral norm on D")
        with gr.Row():
            g_depth = gr.Slider(1, 8, value=c["g_depth"], step=1, label="G hidden layers")
            g_width = gr.Slider(4, 512, value=c["g_width"], step=4, label="G width")
            d_depth = gr.Slider(1, 8, value=c["d_depth"], step=1, label="D hidden layers")
            d_width = gr.Slider(4, 512, value=c["d_width"], step=4, label="D width")
    status_json = gr.JSON(visible=False)
    last_frame = gr.State(-1)

    # ------------------------------------------------------------------------------------------ events
    form = {"dataset": dataset, "loss": loss, "optimizer": optimizer, "lr_g": lr_g, "lr_d": lr_d,
            "n_critic": n_critic, "batch_size": batch_size, "z_dim": z_dim, "z_dist": z_dist, "g_depth": g_depth,
            "g_width": g_width, "d_depth": d_depth, "d_width": d_width, "spectral_norm": spectral_norm,
            "seed": seed, "gp_lambda": gp_lambda}
    form_outputs = [form[k] for k in FORM_KEYS]
    # Each visitor's controls take its session's control lock, in the order they arrive; visitors do not wait for
    # each other (one server-wide slot once made a class queue behind each lesson reset).
    ctl = dict(concurrency_id="playground", concurrency_limit=CONTROLS_AT_ONCE, show_progress="hidden")
    play_btn.click(play, None, status_json, api_name="playground_play", **ctl)
    pause_btn.click(pause, None, status_json, api_name="playground_pause", **ctl)
    step_btn.click(step_both, None, status_json, api_name="playground_step", **ctl)
    step_d_btn.click(step_d, None, status_json, api_visibility="private", **ctl)
    step_g_btn.click(step_g, None, status_json, api_visibility="private", **ctl)
    settings = [loss, optimizer, lr_g, lr_d, n_critic, batch_size, z_dim, z_dist, g_depth, g_width, d_depth,
                d_width, spectral_norm, seed, gp_lambda]
    reset_btn.click(reset, [dataset, upload, drawing, *settings, lesson_pick], [status_json, lesson_text],
                    api_name="playground_reset", **ctl)
    use_drawing_btn.click(use_drawing, [drawing, *settings], [status_json, dataset, lesson_text],
                          api_name="playground_use_drawing", **ctl)
    lesson_outputs = [lesson_text, image_btn, reset_lesson_btn, *form_outputs, status_json]
    lesson_pick.change(pick_lesson, lesson_pick, lesson_outputs, api_name="playground_lesson", **ctl)
    reset_lesson_btn.click(pick_lesson, lesson_pick, lesson_outputs, api_visibility="private", **ctl)
    image_btn.click(start_image_lesson, lesson_pick, lesson_text, api_visibility="private")
    loss.input(loss_defaults, loss, [optimizer, lr_g, lr_d, n_critic, gp_lambda], api_visibility="private")
    gr.on([lr_g.submit, lr_d.submit, n_critic.submit, lr_g.blur, lr_d.blur, n_critic.blur], live,
          [lr_g, lr_d, n_critic], live_msg, api_visibility="private", trigger_mode="always_last", **ctl)
    gr.api(status, api_name="playground_status", concurrency_id="playground-status",
           concurrency_limit=CONTROLS_AT_ONCE)
    timer = gr.Timer(FRAME_S)
    # Undocumented but callable, so a script can fetch frames as a page does (benchmarks/classroom.py).
    timer.tick(tick, last_frame, [view, status_md, last_frame], show_progress="hidden",
               api_name="playground_frame", api_visibility="undocumented", concurrency_limit=None, queue=False)
    visitor = gr.BrowserState(None, storage_key=VISITOR_KEY)
    if demo is not None:
        demo.load(on_load, visitor, [visitor, view, status_md, last_frame], api_visibility="private")

FORM_KEYS = ("dataset", "loss", "optimizer", "lr_g", "lr_d", "n_critic", "batch_size", "z_dim", "z_dist", "g_depth",
             "g_width", "d_depth", "d_width", "spectral_norm", "seed", "gp_lambda")
FORM_LABELS = {"dataset": "Data", "loss": "Loss", "optimizer": "Optimizer", "lr_g": "lr G", "lr_d": "lr D",
               "n_critic": "D steps per G step", "batch_size": "batch size", "z_dim": "noise dimensions",
               "z_dist": "noise", "g_depth": "G hidden layers", "g_width": "G width", "d_depth": "D hidden layers",
               "d_width": "D width", "spectral_norm": "spectral norm on D", "seed": "seed",
               "gp_lambda": "gradient penalty weight"}


def _lesson_note(name: str | None, shown: dict):
    """The lesson's text after a reset with the form's settings: unchanged while they are the lesson's, else with
    a note naming what differs (so a changed learning rate does not leave a text that no longer holds)."""
    lesson = lessons.LESSONS.get(name) if name else None
    if lesson is None or lesson.playground is None:
        return gr.skip()
    own = _form_values(lesson.playground)
    keys = [k for k in FORM_KEYS if k != "gp_lambda" or own["loss"] == "wgan-gp"]  # the penalty's weight: WGAN-GP's
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
    from gan.trainer import resolve_config

    t = resolve_config(cfg.train_config())
    return {"dataset": cfg.dataset, "loss": cfg.loss, "optimizer": t.optimizer, "lr_g": t.lr_g, "lr_d": t.lr_d,
            "n_critic": t.n_critic, "batch_size": t.batch_size, "z_dim": cfg.z_dim, "z_dist": cfg.z_dist,
            "g_depth": cfg.g_depth, "g_width": cfg.g_width, "d_depth": cfg.d_depth, "d_width": cfg.d_width,
            "spectral_norm": cfg.spectral_norm, "seed": cfg.seed, "gp_lambda": t.gp_lambda}


def _slug(name: str) -> str:
    return "lesson-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


def _call(fn):
    try:
        return fn()
    except GanInputError as e:
        raise gr.Error(str(e), print_exception=False) from None


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise GanInputError(f"expected a number, got {v!r}") from None


def _int(v) -> int:
    x = _num(v)
    if not float(x).is_integer():
        raise GanInputError(f"expected a whole number, got {v!r}")
    return int(x)
