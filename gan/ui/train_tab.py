"""The Train tab: choose data, architecture and loss, press Start, and watch the run learn.

Buttons only call the run manager (ctx.runs, gan.run_manager), which owns the training threads; the page polls a
snapshot with a gr.Timer, so reloading or closing it never stops a run, and any number of viewers see the same run.
Named API endpoints: start_training, training_status, pause_training, resume_training, step_training,
stop_training, save_training_model (each works with no arguments: the "DCGAN on MNIST" preset and the current run).
The "Compare runs" section at the bottom (gan.ui.runs_view) adds compare_runs and delete_run.
The three cures for mode collapse (packing, minibatch std, R1; CURE_FIELDS) reach start_training through a State
that the Start click fills first (on_cures), not as inputs of their own, so the endpoint's arguments stay the ones
scripts and raw HTTP callers send by position; an API caller gets them off (the command line and the library take
them as --pack, --mbstd, --r1).

Classroom mode (python app.py --classroom): only a browser that opened the teacher link (?teacher=TOKEN, kept in the
browser afterwards) controls the runs; everyone else watches. Every control's endpoint takes `teacher_token` as its
last argument and refuses without the right one; training_status stays open to all.

Layout (the _layout_* functions) and wiring (_wire_*) are apart from the handlers (on_*): plain functions of the
app context and the values, wired with gan.ui.app.bind. The library checks every value (gan.config.check_number,
gan.trainer.resolve_config, the run manager); a handler shows what it says, naming fields by FIELD_LABELS.
"""
from __future__ import annotations

import dataclasses
import logging
from types import SimpleNamespace

import gradio as gr

from gan.config import LIMITS, TRAIN_PRESETS, TrainConfig, check_number, limit_rule
from gan.data import DATASETS, POINT_DATASETS, is_points_dataset
from gan.errors import GanInputError
from gan.latent import SEED_RULE
from gan.losses import LOSSES
from gan.metrics import QUALITY_EVERY, QUALITY_SAMPLES
from gan.models import ARCHITECTURES
from gan.run_files import REAL_SAMPLES, SAMPLES_DIR
from gan.run_manager import CONTROLS
from gan.timeline import ANIMATION_FPS
from gan.ui.app import AppContext, bind, call_library
from gan.ui import runs_view
from gan.ui.train_state import classroom, figures, publish_live

log = logging.getLogger(__name__)

TITLE = "Train"
DEFAULT_PRESET = "DCGAN on MNIST"
UPLOAD_ZIP, UPLOAD_CSV = "uploaded zip of images", "uploaded CSV of points"
UPLOADS = {UPLOAD_ZIP: "zip", UPLOAD_CSV: "csv"}     # the upload choices, as gan.run_manager stages them
DATASET_CHOICES = ["mnist", "fashion-mnist", "emoji", *(name for name in DATASETS if name in POINT_DATASETS), *UPLOADS]
# The form, by TrainConfig field: its label (the page shows it, and its messages name the field the same way), in
# the order of the start_training endpoint's arguments. Defaults come from the preset, limits from gan.config.
CHOICE_FIELDS = {"dataset": "Dataset", "arch": "Architecture", "loss": "Loss", "conditional": "class-conditional",
                 "spectral_norm": "spectral norm on D"}
NUMBER_FIELDS = {"steps": "steps", "lr_g": "learning rate of G", "lr_d": "learning rate of D", "beta1": "Adam β1",
                 "beta2": "Adam β2", "batch_size": "batch size", "n_critic": "D steps per G step (n_critic)",
                 "ema": "EMA decay", "seed": "seed"}
NUMBER_ROWS = (("steps", "batch_size", "n_critic"), ("lr_g", "lr_d", "beta1", "beta2"), ("ema", "seed"))
LIVE_FIELDS = ("lr_g", "lr_d", "n_critic", "augment")   # "Change while it runs" (gan.trainer.LIVE_SETTINGS)
FIELD_LABELS = {**CHOICE_FIELDS, **NUMBER_FIELDS, "augment": "augment D's images", "device": "device",
                "step": "Step", "fps": "checkpoints per second"}
# The cures for mode collapse (gan.layers, gan.trainer): D's packing, its minibatch std, the R1 penalty.
CURE_FIELDS = {"pack": "Packing (PacGAN): samples per D input", "mbstd": "Minibatch std in D",
               "r1": "R1 penalty (gamma)"}
FIELD_LABELS.update(CURE_FIELDS)
PRESET_FIELDS = (*CHOICE_FIELDS, *NUMBER_FIELDS, "augment")   # what a preset fills in, in the form's order
_CONFIG_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
if not set(PRESET_FIELDS) | set(CURE_FIELDS) <= _CONFIG_FIELDS or not set(NUMBER_FIELDS) <= set(LIMITS):
    raise ImportError("the Train tab's fields must be TrainConfig fields with limits in gan.config.LIMITS")
# The form's augment box turns on the DiffAugment paper's policy for small datasets (gan.augment).
AUGMENT_POLICY = "translation,cutout"
# The line under the dataset when it is 2-D: what the form changed, and why (the library refuses the others).
POINTS_NOTE = "2-D points train with the MLP; DCGAN and ProGAN draw images"
POINTS_LINE = (f"{POINTS_NOTE}, so the Architecture is now **mlp**; class-conditional and augmentation are off, "
               "since they need images.")
MONITOR_TITLE = (f"Mode-collapse monitor (every {QUALITY_EVERY} steps, on {QUALITY_SAMPLES:,} samples of the EMA "
                 "generator)")
TIMELAPSE_FILE = "timelapse.gif"   # in the run's folder: the run through its checkpoints (Time travel's Play)
# Crisp pixels in every picture of the run (the browser scales them up).
CSS = """
#train-travel-grid img, #train-travel-one img, #train-travel-animation img { image-rendering: pixelated; }
#train-rights p { font-weight: 600; color: #1d4ed8; }
#train-dataset-note p { color: #1d4ed8; }
#train-real { height: 514px !important; }
#train-real img { padding-top: 32px; box-sizing: border-box; object-fit: contain; image-rendering: pixelated; }
"""
# Classroom mode: the line above the controls, the browser's key for the kept token, and the warning for a bad link.
STUDENT_LINE = ("Classroom mode: the teacher controls the runs; you can watch them, and your Playground and "
                "Explore are your own.")
TEACHER_LINE = ("Classroom mode: you are the teacher. This browser keeps the teacher link, so the runs are yours "
                "to start, pause, stop, fork and delete, even when you reopen the page without the link.")
WRONG_LINK = "The teacher token in this link is wrong: it gives no rights here."
TEACHER_STORAGE_KEY = "ganscope-teacher"
# After a right teacher link is kept, take the token out of the address bar (a projected screen would show it).
FORGET_LINK_JS = """(token) => {
    const url = new URL(window.location.href);
    if (token && url.searchParams.has("teacher")) {
        url.searchParams.delete("teacher");
        window.history.replaceState(window.history.state, "", url);
    }
    return [];
}"""


def library(fn):
    """fn() with the library's refusals as messages that name fields as this page labels them."""
    return call_library(fn, FIELD_LABELS)


def preset_values(name: str) -> dict:
    """Every field of the form for a preset: its choices plus the loss's paper settings."""
    from gan.trainer import resolve_config

    if name not in TRAIN_PRESETS:
        raise GanInputError(f"unknown preset {name!r}; choose one of: {', '.join(TRAIN_PRESETS)}")
    cfg = resolve_config(TrainConfig(**TRAIN_PRESETS[name]))
    return {**{k: getattr(cfg, k) for k in (*PRESET_FIELDS, *CURE_FIELDS)}, "augment": bool(cfg.augment)}


# ---------------------------------------------------------------------------------------------- handlers
def on_preset(ctx: AppContext, name):
    """A preset picked: fill the form with its choices and its loss's paper settings."""
    values = library(lambda: preset_values(name))
    return [values[k] for k in (*PRESET_FIELDS, *CURE_FIELDS)]


def on_dataset(ctx: AppContext, dataset, arch):
    """The dataset changed: show the upload box for the upload choices, and for 2-D points set what the library
    would refuse, visibly and with a line that says why (the Architecture to mlp, class-conditional and augmentation
    unticked and off). Image data turns the two boxes back on and keeps the Architecture as the user left it."""
    upload = gr.update(visible=dataset in UPLOADS)
    if not (dataset == UPLOAD_CSV or is_points_dataset(dataset or "")):
        return upload, gr.skip(), gr.update(interactive=True), gr.update(interactive=True), \
            gr.update(value="", visible=False)
    return upload, gr.update(value="mlp") if arch != "mlp" else gr.skip(), \
        gr.update(value=False, interactive=False), gr.update(value=False, interactive=False), \
        gr.update(value=POINTS_LINE, visible=True)


def on_start(ctx: AppContext, preset=DEFAULT_PRESET, dataset=None, upload=None, arch=None, loss=None,
             conditional=False, spectral_norm=False, steps=None, lr_g=None, lr_d=None, beta1=None, beta2=None,
             batch_size=None, n_critic=None, ema=None, seed=None, device="auto", augment=False,
             teacher_token="", cures=None):
    """Start a run with what the form says (the preset only fills the form). Gradio passes every value; an API
    caller that leaves one out gets the form's default (the "DCGAN on MNIST" preset). `cures`: the page's
    {"pack", "mbstd", "r1"} (on_cures; None or a key left out: off)."""
    classroom(ctx).check(teacher_token, "start a run")
    cures = {"pack": 1, "mbstd": False, "r1": 0.0, **(cures or {})}
    form = dict(dataset=dataset, arch=arch, loss=loss, conditional=bool(conditional),
                spectral_norm=bool(spectral_norm), steps=steps, lr_g=lr_g, lr_d=lr_d, beta1=beta1, beta2=beta2,
                batch_size=batch_size, n_critic=n_critic, ema=ema, seed=seed, device=device or "auto",
                pack=cures["pack"], mbstd=bool(cures["mbstd"]), r1=cures["r1"])
    run = library(lambda: _start_run(ctx, form, upload, augment))
    publish_live(ctx, run)
    return run.view().to_status(), gr.update(choices=_run_choices(ctx), value=run.id)


def _start_run(ctx: AppContext, form: dict, upload, augment):
    """The form's values as a TrainConfig, each number checked by the library (an empty field is refused, not
    taken for "the loss's preset" as None means in a TrainConfig); an upload is staged first and removed again if
    the run is refused."""
    numbers = {name: check_number(name, form[name]) for name in (*NUMBER_FIELDS, "pack", "r1")}
    cfg = TrainConfig(**{**form, **numbers}, augment=_augment_policy(augment), sample_every=250,
                      checkpoint_every=250, log_every=10)
    staged = None
    try:
        if form["dataset"] in UPLOADS:
            cfg.dataset, staged = ctx.runs.stage_upload(upload, UPLOADS[form["dataset"]])
        return ctx.runs.start(cfg)
    except GanInputError:
        if staged is not None:          # a refused upload is not kept in the runs folder
            staged.unlink(missing_ok=True)
        raise


def on_cures(ctx: AppContext, pack=1, mbstd=False, r1=0.0) -> dict:
    """The cure fields as the Start click's first step keeps them for start_training (checked there, with the
    rest of the form)."""
    return {"pack": pack, "mbstd": bool(mbstd), "r1": r1}


def on_status(ctx: AppContext, run_id: str = "") -> dict:
    """The run's state as JSON: step, total_steps, state, losses, images/s, ETA, device, message."""
    return library(lambda: ctx.runs.get(run_id or None).view().to_status())


def _control(ctx: AppContext, action: str, what: str, run_id, teacher_token) -> dict:
    """Pause, resume, single-step or stop the picked run (the current one when none is picked)."""
    classroom(ctx).check(teacher_token, what)

    def act():
        run = ctx.runs.get(run_id or None)
        if action == "resume":
            ctx.runs.resume(run.id)
            publish_live(ctx, run)
        else:
            getattr(run, action)()
        return run.view().to_status()
    return library(act)


def on_pause(ctx: AppContext, run_id: str = "", teacher_token: str = "") -> dict:
    """Pause the run between two steps (it checkpoints, so time travel can come back here)."""
    return _control(ctx, "pause", "pause a run", run_id, teacher_token)


def on_resume(ctx: AppContext, run_id: str = "", teacher_token: str = "") -> dict:
    """Resume a paused run, or a stopped one from its last checkpoint (a free run slot permitting)."""
    return _control(ctx, "resume", "resume a run", run_id, teacher_token)


def on_step(ctx: AppContext, run_id: str = "", teacher_token: str = "") -> dict:
    """One training step of a paused run."""
    return _control(ctx, "single_step", "step a run", run_id, teacher_token)


def on_stop(ctx: AppContext, run_id: str = "", teacher_token: str = "") -> dict:
    """Stop the run (it checkpoints; Resume continues it)."""
    return _control(ctx, "stop", "stop a run", run_id, teacher_token)


def on_apply(ctx: AppContext, run_id, lr_g, lr_d, n_critic, augment, teacher_token=""):
    """Change the live settings of a training run; says what changed."""
    classroom(ctx).check(teacher_token, "change a run's settings")

    def act():
        changed = ctx.runs.get(run_id or None).set_hyperparameters(**_live_settings(lr_g, lr_d, n_critic, augment))
        return ("changed " + ", ".join(f"{k} = {v}" for k, v in changed.items())) if changed else "no change"
    return library(act)


def on_live_values(ctx: AppContext, run_id):
    """The picked run's own live settings: Apply and Fork send all four, so the fields must start from the
    run's values (not the form's preset), or changing one would quietly change the others too."""
    try:
        settings = ctx.runs.get(run_id or None).view().settings
    except GanInputError:
        return [gr.skip()] * len(LIVE_FIELDS)
    return settings["lr_g"], settings["lr_d"], settings["n_critic"], bool(settings["augment"])


def on_save(ctx: AppContext, run_id: str = "", teacher_token: str = ""):
    """Write the run's generator as a model file, which the Explore tab then lists."""
    classroom(ctx).check(teacher_token, "save a run as a model")

    def act():
        path = ctx.runs.get(run_id or None).save_model()
        ctx.catalog.refresh()
        return f"saved {path}: pick it in the Explore tab's model list"
    return library(act)


def on_delete(ctx: AppContext, run_id, confirmed, teacher_token=""):
    """Delete the picked run (not while it trains or sits paused) once "yes, delete it" is ticked: its folder
    goes, and with it its place in the Run list and the Explore catalog."""
    classroom(ctx).check(teacher_token, "delete a run")

    def act():
        run = ctx.runs.get(run_id or None)
        if not confirmed:
            return gr.skip(), gr.skip(), (f"Tick **yes, delete it** first: deleting removes run {run.id}, its "
                                          "checkpoints and its model for good.")
        ctx.runs.delete(run.id)
        ctx.catalog.refresh()
        return _after_delete(ctx), False, f"Deleted run {run.id}, its checkpoints and its model."
    return library(act)


def on_snapshot(ctx: AppContext, run_id, seen, teacher_token=""):
    """What the timer shows: status line, loss curves, sample grid, quality monitor, checkpoint list, and
    which buttons can act. `seen` (per page) remembers what this page already has, so an unchanged picture
    is not sent again."""
    seen = dict(seen or {})
    try:
        run = ctx.runs.get(run_id or None)
    except GanInputError:
        # A picked run that is gone (deleted meanwhile, maybe by another page) leaves the list, and the page
        # moves on to the newest run left, as Delete run itself does (a tick sent before it may land after it).
        pick = _after_delete(ctx) if run_id else gr.update()
        return (_status_line(None), None, None, None, "", gr.update(), pick, {},
                *_buttons(ctx, None, teacher_token), None, {})
    view = run.view()
    plot = _plot(ctx, run, view, seen)
    quality, verdict = _quality(ctx, run, view, seen)
    grid = run.grid if _fresh(seen, "grid", (run.id, run.grid_version)) else gr.skip()
    travel = _travel(run, seen)
    choices = gr.update(choices=_run_choices(ctx), value=run.id) if run_id != run.id else gr.update()
    return (_status_line(view), plot, grid, quality, verdict, travel, choices, view.to_status(),
            *_buttons(ctx, run.id, teacher_token), _real_samples(run, seen), seen)


def _real_samples(run, seen):
    """The run's grid of real training images as D sees them (written as the run starts), when this page lacks it;
    None (an empty box) while the file does not exist."""
    path = run.folder / SAMPLES_DIR / REAL_SAMPLES
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    if not _fresh(seen, "real", (run.id, stamp)):
        return gr.skip()
    return str(path) if stamp is not None else None


def _fresh(seen: dict, kind: str, key) -> bool:
    """Whether this page lacks the `kind` picture drawn for `key` (and note that it will have it)."""
    if seen.get(kind) == key:
        return False
    seen[kind] = key
    return True


def _plot(ctx: AppContext, run, view, seen):
    """The loss curves (with the live changes marked), when they changed since this page last got them."""
    history = run.history_copy()
    key = (run.id, history[-1]["step"] if history else 0, len(view.changes))
    if not _fresh(seen, "plot", key):
        return gr.skip()
    from gan.viz import loss_figure
    return figures(ctx).get("plot", key, lambda: loss_figure(history, view.changes, run.id))


def _quality(ctx: AppContext, run, view, seen):
    """The monitor's chart and its verdict in words, when a new reading came since this page last got them."""
    key = (run.id, view.quality.get("step"))
    if not _fresh(seen, "quality", key):
        return gr.skip(), gr.skip()
    from gan.metrics import is_supported, monitor_verdict
    from gan.viz import coverage_figure
    verdict = monitor_verdict(view.quality) if view.quality else (
        f"The first reading comes at step {QUALITY_EVERY:,}." if is_supported(run.cfg.dataset) else
        "No monitor for this dataset (it exists for MNIST, Fashion-MNIST, ring8 and grid25).")
    chart = figures(ctx).get("quality", key, lambda: coverage_figure(view.quality_history, MONITOR_TITLE)) \
        if view.quality_history else None
    return chart, verdict


def _travel(run, seen):
    """The time-travel slider over the run's checkpoints, when they changed. A page's slider starts on the run's
    first checkpoint; later checkpoints only widen its range."""
    steps = run.timeline.steps()
    if not _fresh(seen, "travel", (run.id, tuple(steps))):
        return gr.skip()
    return _travel_slider(steps, start=bool(steps) and _fresh(seen, "travel_run", run.id))


def _buttons(ctx: AppContext, run_id, teacher_token) -> list:
    """Each control enabled only when it can act on the picked run as it is now (gan.run_manager's own rules),
    and, in classroom mode, only for the teacher: Start, Pause, Resume, Step, Stop, Save, Delete, Apply, Fork."""
    allowed = classroom(ctx).allows(teacher_token)
    acts = {**ctx.runs.actions(run_id or None), "delete": ctx.runs.deletable(run_id or None),
            "apply": True, "fork": True}
    return [gr.update(interactive=allowed and acts[k]) for k in ("start", *CONTROLS, "delete", "apply", "fork")]


def on_time_travel(ctx: AppContext, run_id, step, seed):
    """The run at the checkpoint nearest `step`: the fixed latents' grid and one seed's image."""
    def act():
        timeline = ctx.runs.get(run_id or None).timeline
        at, picture = timeline.picture(step)
        _, one = timeline.one(at, seed)
        return picture, one, f"checkpoint at step {at:,}"
    return library(act)


def on_play(ctx: AppContext, run_id, fps):
    """The run through all its checkpoints as an animated GIF (written into the run's folder)."""
    def act():
        run = ctx.runs.get(run_id or None)
        steps = run.timeline.save_animation(run.folder / TIMELAPSE_FILE, fps=fps)   # it checks fps
        return str(run.folder / TIMELAPSE_FILE), (f"{len(steps)} checkpoints, step {steps[0]:,} to "
                                                  f"{steps[-1]:,}, at {fps:g} per second")
    return library(act)


def on_fork(ctx: AppContext, run_id, step, lr_g, lr_d, n_critic, augment, teacher_token=""):
    """A new run from the checkpoint nearest `step`, with the "Change while it runs" fields as its settings."""
    classroom(ctx).check(teacher_token, "fork a run")

    def act():
        run = ctx.runs.get(run_id or None)
        at, _ = run.timeline.nearest(step)
        new = ctx.runs.fork(run.id, at, _live_settings(lr_g, lr_d, n_critic, augment))
        publish_live(ctx, new)
        return gr.update(choices=_run_choices(ctx), value=new.id), f"forked {run.id} at step {at:,} → {new.id}"
    return library(act)


def on_open_page(ctx: AppContext, run_id, seen, teacher_token=""):
    """A page opens: the status, buttons and Run list at once (not one tick later), and the live settings filled
    once. When the snapshot moves the pick to the current run, the pick's change event fills them; a page opened
    on the run already picked gets no change event, so they are filled here. Filling them twice would undo
    what a quick user typed in between."""
    shown = list(on_snapshot(ctx, run_id, seen, teacher_token))
    if shown[PICK] == gr.update():    # no run to move to: still list the runs there are
        shown[PICK] = gr.update(choices=_run_choices(ctx))
    try:
        same = ctx.runs.get(run_id or None).id == run_id
    except GanInputError:
        same = False
    return (*shown, *(on_live_values(ctx, run_id) if same else [gr.skip()] * len(LIVE_FIELDS)))


def on_remember_teacher(ctx: AppContext, kept, request: gr.Request = None):
    """Classroom mode, as a page opens: a right teacher link (?teacher=TOKEN) is kept in this browser, so a
    later visit without it is still the teacher's; a wrong one is said so and changes nothing (a kept token
    from an earlier server is dropped). Returns the kept token, the token this page sends with its controls,
    the line that says who controls the runs, and the upload box (the teacher's too)."""
    rights = classroom(ctx)
    given = dict(request.query_params).get("teacher") if request is not None else None
    note = ""
    if given is not None:
        if rights.allows(given):
            kept = given
        else:
            note = f"⚠ {WRONG_LINK}\n\n"
    if not rights.allows(kept):
        kept = ""
    teacher = bool(kept)
    return kept, kept, note + (TEACHER_LINE if teacher else STUDENT_LINE), gr.update(interactive=teacher)


# ------------------------------------------------------------------------------------------------ layout
def build(ctx: AppContext, demo: gr.Blocks) -> None:
    """Lay out the Train tab inside the current gr.Tab and wire its events. Makes nothing that lasts: the run
    manager (ctx.runs) is made by the first event that asks for it, so the Run list is filled as a page opens."""
    p = preset_values(DEFAULT_PRESET)
    teacher = classroom(ctx).on
    gr.Markdown("Pick a preset (or your own settings), press **Start**, and watch the GAN learn. The run keeps "
                "going if you reload or close the page; come back any time.")
    w = SimpleNamespace(
        # Classroom mode: why the controls are off (or that this browser is the teacher's), set as a page opens.
        rights_md=gr.Markdown(STUDENT_LINE if teacher else "", visible=teacher, elem_id="train-rights"),
        # The token this page sends with every control: the kept teacher token once the page has checked it.
        teacher_box=gr.Textbox("", visible=False, label="teacher token"))
    with gr.Row():
        with gr.Column(scale=2):
            _layout_form(w, p, teacher)
        with gr.Column(scale=1):
            _layout_controls(w, p, teacher)
    _layout_watch(w)
    _layout_travel(w, teacher)
    w.status_json = gr.JSON(label="Status (JSON)", visible=False)
    w.timer, w.seen = gr.Timer(1.0), gr.State({})
    _wire_form(ctx, w)
    watch = _watch(ctx, w)
    _wire_controls(ctx, w, watch)
    _wire_travel(ctx, w, watch)
    _wire_page(ctx, demo, w, watch)
    runs_view.build(ctx, demo, w)


def _number(name: str, value, **kwargs) -> gr.Number:
    """A number field of the form: its label, and its limits in words (the library checks them; Gradio's own
    minimum, maximum and precision would round or refuse with words of their own)."""
    return gr.Number(value, label=FIELD_LABELS[name], info=limit_rule(name).removeprefix("must be "), **kwargs)


def _layout_form(w: SimpleNamespace, p: dict, teacher: bool) -> None:
    """The settings of a new run: preset, data, architecture, loss, the boxes, and the hyperparameters."""
    w.preset = gr.Dropdown(list(TRAIN_PRESETS), value=DEFAULT_PRESET, label="Preset")
    with gr.Row():
        w.dataset = gr.Dropdown(DATASET_CHOICES, value=p["dataset"], label=FIELD_LABELS["dataset"])
        w.arch = gr.Dropdown(list(ARCHITECTURES), value=p["arch"], label=FIELD_LABELS["arch"])
        w.loss = gr.Dropdown(list(LOSSES), value=p["loss"], label=FIELD_LABELS["loss"])
    w.dataset_note = gr.Markdown("", visible=False, elem_id="train-dataset-note")
    # Shown only for the two upload choices, at Gradio's own height (a short box cut its text off).
    w.upload = gr.File(label="Upload (.zip of images or .csv of x,y points)", file_types=[".zip", ".csv"],
                       type="filepath", visible=False, elem_id="train-upload", interactive=not teacher)
    with gr.Row():
        w.conditional = gr.Checkbox(value=p["conditional"], label=FIELD_LABELS["conditional"],
                                    elem_id="train-conditional")
        w.spectral_norm = gr.Checkbox(value=p["spectral_norm"], label=FIELD_LABELS["spectral_norm"])
        w.augment = gr.Checkbox(value=p["augment"], label=f"{FIELD_LABELS['augment']} (DiffAugment, for small "
                                "datasets)", elem_id="train-augment")
    with gr.Row():  # cures for mode collapse, in D's shape and loss (off by default)
        w.pack = _number("pack", p["pack"], elem_id="train-pack")
        w.mbstd = gr.Checkbox(value=p["mbstd"], label=FIELD_LABELS["mbstd"], info="mlp and dcgan; progan has one",
                              elem_id="train-mbstd")
        w.r1 = _number("r1", p["r1"], elem_id="train-r1")
    w.cures = gr.State({"pack": p["pack"], "mbstd": p["mbstd"], "r1": p["r1"]})
    w.numbers = {}
    with gr.Accordion("Hyperparameters", open=False):
        for row in NUMBER_ROWS:
            with gr.Row():
                w.numbers.update({name: _number(name, p[name]) for name in row})
                if row is NUMBER_ROWS[-1]:
                    w.device = gr.Dropdown(["auto", "cpu", "cuda", "mps"], value="auto", label="device")


def _layout_controls(w: SimpleNamespace, p: dict, teacher: bool) -> None:
    """The Run list, the run's controls, Delete, the message line and "Change while it runs"."""
    w.run_pick = gr.Dropdown([], value="", label="Run", allow_custom_value=True, elem_id="train-run")
    # Enabled by the snapshot (on load, on every tick, after every press): none can act before it says so.
    with gr.Row():
        w.start_btn = gr.Button("Start", variant="primary", elem_id="train-start", interactive=not teacher)
        w.pause_btn = gr.Button("Pause", elem_id="train-pause", interactive=False)
        w.resume_btn = gr.Button("Resume", elem_id="train-resume", interactive=False)
    with gr.Row():
        w.step_btn = gr.Button("Step", elem_id="train-step", interactive=False)
        w.stop_btn = gr.Button("Stop", variant="stop", elem_id="train-stop", interactive=False)
        w.save_btn = gr.Button("Save as model", elem_id="train-save", interactive=False)
    with gr.Row(equal_height=True):
        w.delete_confirm = gr.Checkbox(False, label="yes, delete it", elem_id="train-delete-confirm")
        w.delete_btn = gr.Button("Delete run", elem_id="train-delete", interactive=False)
    w.action_msg = gr.Markdown("", elem_id="train-message")
    with gr.Accordion("Change while it runs", open=False):
        w.live = [_number("lr_g", p["lr_g"], elem_id="train-live-lr-g"),
                  _number("lr_d", p["lr_d"], elem_id="train-live-lr-d"),
                  _number("n_critic", p["n_critic"], elem_id="train-live-n-critic"),
                  gr.Checkbox(p["augment"], label=FIELD_LABELS["augment"], elem_id="train-live-augment")]
        w.apply_btn = gr.Button("Apply", elem_id="train-apply", interactive=not teacher)


def _layout_watch(w: SimpleNamespace) -> None:
    """What the run shows: the status line, the sample grid next to the real data, the losses and the
    mode-collapse monitor."""
    w.status_md = gr.Markdown(_status_line(None), elem_id="train-status")
    with gr.Row():
        w.grid_img = gr.Image(label="Samples from fixed noise (EMA generator)", elem_id="train-grid", height=300,
                              interactive=False)
        w.real_img = gr.Image(label="Real data as D sees it", elem_id="train-real", height=300, interactive=False)
    w.loss_plot = gr.Plot(label="Losses", elem_id="train-plot")
    # The figure carries the title itself: Gradio's label would sit over its first panel's title.
    w.quality_plot = gr.Plot(label=MONITOR_TITLE, show_label=False, elem_id="train-quality")
    w.quality_note = gr.Markdown("", elem_id="train-quality-note")


def _layout_travel(w: SimpleNamespace, teacher: bool) -> None:
    """Time travel: a step slider over the checkpoints, their pictures, the animation and Fork."""
    with gr.Accordion("Time travel: the run's checkpoints", open=False):
        with gr.Row():
            w.travel = gr.Slider(0, 1, value=0, step=1, label="Step (no checkpoints yet)", elem_id="train-travel")
            w.travel_seed = gr.Number(0, label="seed to follow", info=SEED_RULE.removeprefix("must be "),
                                      elem_id="train-travel-seed")
        w.travel_msg = gr.Markdown("", elem_id="train-travel-message")
        with gr.Row():
            w.travel_grid = gr.Image(label="Fixed latents at this checkpoint", height=260, interactive=False,
                                     elem_id="train-travel-grid")
            w.travel_one = gr.Image(label="This seed at this checkpoint", height=260, interactive=False,
                                    elem_id="train-travel-one")
            w.travel_anim = gr.Image(label="The run through its checkpoints", type="filepath", height=260,
                                     interactive=False, elem_id="train-travel-animation")
        with gr.Row():
            w.travel_fps = gr.Slider(*ANIMATION_FPS, value=4, step=1, label=FIELD_LABELS["fps"],
                                     elem_id="train-travel-fps")
            w.play_btn = gr.Button("Play through the checkpoints", elem_id="train-travel-play")
            w.fork_btn = gr.Button("Fork from here (with the live settings above)", elem_id="train-fork",
                                   interactive=not teacher)


# ------------------------------------------------------------------------------------------------ wiring
# The snapshot's outputs, in on_snapshot's order; PICK is the Run list's place among them.
WATCHED = ("status_md", "loss_plot", "grid_img", "quality_plot", "quality_note", "travel", "run_pick",
           "status_json", "start_btn", "pause_btn", "resume_btn", "step_btn", "stop_btn", "save_btn", "delete_btn",
           "apply_btn", "fork_btn", "real_img", "seen")
PICK = WATCHED.index("run_pick")


def _wire_form(ctx: AppContext, w: SimpleNamespace) -> None:
    """The preset fills the form; the dataset shows the upload box and, for 2-D points, sets what they need."""
    numbers = [w.numbers[name] for name in NUMBER_FIELDS]      # in the endpoint's order, not the layout's
    w.form = [w.preset, w.dataset, w.upload, w.arch, w.loss, w.conditional, w.spectral_norm, *numbers, w.device,
              w.augment]
    filled = [w.dataset, w.arch, w.loss, w.conditional, w.spectral_norm, *numbers, w.augment, w.pack, w.mbstd, w.r1]
    w.preset.change(bind(on_preset, ctx), w.preset, filled, api_visibility="private")
    w.dataset.change(bind(on_dataset, ctx), [w.dataset, w.arch],
                     [w.upload, w.arch, w.conditional, w.augment, w.dataset_note], show_progress="hidden",
                     api_visibility="private")


def _watch(ctx: AppContext, w: SimpleNamespace) -> dict:
    """The snapshot event's settings, for the timer, the Run list and after every press. Gradio keeps a hidden
    progress tracker's text ("processing | 0.7/0.9s") inside each output, where it reads as part of the status
    line: the watch's progress goes to the invisible JSON alone."""
    w.outputs = [getattr(w, name) for name in WATCHED]
    return dict(fn=bind(on_snapshot, ctx), inputs=[w.run_pick, w.seen, w.teacher_box], outputs=w.outputs,
                show_progress="hidden", show_progress_on=[w.status_json], api_visibility="private",
                concurrency_limit=None)


def _wire_controls(ctx: AppContext, w: SimpleNamespace, watch: dict) -> None:
    """Start and the run's controls (named endpoints, the teacher token last), Apply, Save and Delete; after
    each the page shows the new state (and buttons) at once."""
    token = w.teacher_box
    # The cures go through w.cures (a State: not an argument of the endpoint), filled by the click's first step.
    w.start_btn.click(bind(on_cures, ctx), [w.pack, w.mbstd, w.r1], w.cures, api_visibility="private",
                      show_progress="hidden").then(
        bind(on_start, ctx), [*w.form, token, w.cures], [w.status_json, w.run_pick], api_name="start_training",
        concurrency_id="train-control").then(**watch)
    for btn, fn, api in ((w.pause_btn, on_pause, "pause_training"), (w.resume_btn, on_resume, "resume_training"),
                         (w.step_btn, on_step, "step_training"), (w.stop_btn, on_stop, "stop_training")):
        btn.click(bind(fn, ctx), [w.run_pick, token], w.status_json, api_name=api, concurrency_id="train-control",
                  show_progress="hidden").then(**watch)
    gr.api(bind(on_status, ctx), api_name="training_status")
    w.apply_btn.click(bind(on_apply, ctx), [w.run_pick, *w.live, token], w.action_msg, api_visibility="private")
    w.run_pick.change(bind(on_live_values, ctx), w.run_pick, w.live, show_progress="hidden",
                      api_visibility="private")
    w.save_btn.click(bind(on_save, ctx), [w.run_pick, token], w.action_msg,
                     api_name="save_training_model").then(**watch)
    w.delete_btn.click(bind(on_delete, ctx), [w.run_pick, w.delete_confirm, token],
                       [w.run_pick, w.delete_confirm, w.action_msg], api_name="delete_picked_run",
                       api_visibility="private", concurrency_id="train-control").then(**watch)
    w.timer.tick(**watch)
    w.run_pick.change(**watch)


def _wire_travel(ctx: AppContext, w: SimpleNamespace, watch: dict) -> None:
    """Time travel's slider and seed, Play and Fork. Their inputs arrive raw (preprocess=False: a Slider's own
    preprocessing would round, or fail with a traceback on text) and the library checks them."""
    shown = [w.travel_grid, w.travel_one, w.travel_msg]
    travel = dict(fn=bind(on_time_travel, ctx), inputs=[w.run_pick, w.travel, w.travel_seed], outputs=shown,
                  api_visibility="private", preprocess=False)
    w.travel.input(**travel, trigger_mode="always_last", show_progress="hidden")
    w.travel_seed.submit(**travel)
    w.play_btn.click(bind(on_play, ctx), [w.run_pick, w.travel_fps], [w.travel_anim, w.travel_msg],
                     api_visibility="private", preprocess=False)
    w.fork_btn.click(bind(on_fork, ctx), [w.run_pick, w.travel, *w.live, w.teacher_box], [w.run_pick, w.action_msg],
                     api_visibility="private", preprocess=False)


def _wire_page(ctx: AppContext, demo: gr.Blocks, w: SimpleNamespace, watch: dict) -> None:
    """As a page opens: in classroom mode, keep a right teacher link in the browser first (and take it out of the
    address bar); then show the run at once."""
    page = dict(fn=bind(on_open_page, ctx), inputs=[w.run_pick, w.seen, w.teacher_box], outputs=w.outputs + w.live,
                show_progress="hidden", show_progress_on=[w.status_json], api_visibility="private")
    if not classroom(ctx).on:
        demo.load(**page)
        return
    kept = gr.BrowserState("", storage_key=TEACHER_STORAGE_KEY)
    demo.load(bind(on_remember_teacher, ctx), kept, [kept, w.teacher_box, w.rights_md, w.upload],
              show_progress="hidden", api_visibility="private").then(**page).then(
        None, w.teacher_box, None, js=FORGET_LINK_JS, api_visibility="private")


# ------------------------------------------------------------------------------------------------ helpers
def _status_line(view) -> str:
    """The run in one line: id, state, step, speed, ETA, device, growth; then its message."""
    if view is None:
        return "No run yet: pick a preset and press **Start**."
    parts = [f"**{view.run_id}** · {view.state}", f"step {view.step:,} / {view.total_steps:,}"]
    if view.img_per_s:
        parts.append(f"{view.img_per_s:,.0f} images/s")
    if view.eta_s is not None:
        parts.append(f"ETA {int(view.eta_s // 60)} min {int(view.eta_s % 60)} s")
    parts.append(f"device {view.device}")
    if view.growth:
        parts.append(f"growing: {view.growth['resolution']}x{view.growth['resolution']} px, "
                     f"fade-in α = {view.growth['alpha']:.2f}")
    line = " · ".join(parts)
    return line + (f"\n\n{view.message}" if view.message else "")


def _travel_slider(steps: list[int], start: bool):
    """The time-travel slider in steps, from the first checkpoint to the last. It moves one step at a time, since
    a pause or a stop checkpoints off the schedule, and the handler snaps any step to the nearest checkpoint;
    `start` also puts it on the first."""
    if not steps:
        return gr.update(minimum=0, maximum=1, value=0, step=1, label="Step (no checkpoints yet)")
    low, high = steps[0], max(steps[-1], steps[0] + 1)
    value = {"value": low} if start else {}
    return gr.update(minimum=low, maximum=high, step=1, **value,
                     label=f"Step ({len(steps)} checkpoints: {steps[0]:,} … {steps[-1]:,})")


def _run_choices(ctx: AppContext) -> list[str]:
    """The Run list, the newest run first."""
    ctx.runs.rescan()
    return [r.id for r in ctx.runs.newest_first()]


def _after_delete(ctx: AppContext):
    """The Run list once the picked run is gone: the runs left, the newest picked (none when none is left)."""
    left = _run_choices(ctx)
    return gr.update(choices=left, value=left[0] if left else "")


def _augment_policy(checked) -> str:
    """An augment box's value as TrainConfig.augment: the DiffAugment policy, or "" for none."""
    return AUGMENT_POLICY if checked else ""


def _live_settings(lr_g, lr_d, n_critic, augment) -> dict:
    """The "Change while it runs" fields as the settings Apply and Fork hand to the run, each number checked by
    the library (an empty field is refused: None would mean "no change")."""
    return {"lr_g": check_number("lr_g", lr_g), "lr_d": check_number("lr_d", lr_d),
            "n_critic": check_number("n_critic", n_critic), "augment": _augment_policy(augment)}
