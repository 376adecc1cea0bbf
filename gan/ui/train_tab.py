"""The Train tab: choose data, architecture and loss, press Start, and watch the run learn.

Buttons only call the run manager (gan.run_manager), which owns the training threads; the page polls a snapshot with a
gr.Timer, so reloading or closing it never stops a run, and any number of viewers see the same run.
Named API endpoints: start_training, training_status, pause_training, resume_training, step_training,
stop_training (each works with no arguments: the "DCGAN on MNIST" preset and the current run).

Classroom mode (python app.py --classroom): only a browser that opened the teacher link (?teacher=TOKEN, kept in the
browser afterwards) controls the runs; everyone else watches. Every control's endpoint takes `teacher_token` as its
last argument and refuses without the right one; training_status stays open to all.
"""
from __future__ import annotations

import logging
import secrets
import shutil
from pathlib import Path

import gradio as gr

from gan.config import TRAIN_PRESETS, TrainConfig, check_number
from gan.errors import FieldError, GanInputError
from gan.losses import LOSSES
from gan.models import ARCHITECTURES
from gan.run_manager import CONTROLS, RunManager

log = logging.getLogger(__name__)

DEFAULT_PRESET = "DCGAN on MNIST"
UPLOAD_ZIP, UPLOAD_CSV = "uploaded zip of images", "uploaded CSV of points"
DATASET_CHOICES = ["mnist", "fashion-mnist", "ring8", "grid25", "spiral", "moons", UPLOAD_ZIP, UPLOAD_CSV]
QUALITY_EVERY = 500      # steps between mode-collapse monitor updates
QUALITY_SAMPLES = 1000
MONITOR_TITLE = (f"Mode-collapse monitor (every {QUALITY_EVERY} steps, on {QUALITY_SAMPLES:,} samples of the EMA "
                 "generator)")
# Crisp pixels in every picture of the run (the browser scales them up).
CSS = """
#train-travel-grid img, #train-travel-one img, #train-travel-animation img { image-rendering: pixelated; }
#train-rights p { font-weight: 600; color: #1d4ed8; }
"""
HYPER_FIELDS = ("lr_g", "lr_d", "beta1", "beta2", "batch_size", "n_critic", "ema", "seed")
# The form's labels, by TrainConfig field: the page shows them, and its messages name the fields the same way.
FIELD_LABELS = {"steps": "steps", "batch_size": "batch size", "n_critic": "D steps per G step (n_critic)",
                "lr_g": "learning rate of G", "lr_d": "learning rate of D", "beta1": "Adam β1", "beta2": "Adam β2",
                "ema": "EMA decay", "seed": "seed"}
# The form's augment box turns on the DiffAugment paper's policy for small datasets (gan.augment).
AUGMENT_POLICY = "translation,cutout"
TIMELAPSE_FILE = "timelapse.gif"   # in the run's folder: the run through its checkpoints (Time travel's Play)
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


def preset_values(name: str) -> dict:
    """Every field of the form for a preset: its choices plus the loss's paper settings."""
    from gan.trainer import resolve_config

    if name not in TRAIN_PRESETS:
        raise GanInputError(f"unknown preset {name!r}; choose one of: {', '.join(TRAIN_PRESETS)}")
    cfg = resolve_config(TrainConfig(**TRAIN_PRESETS[name]))
    values = {k: getattr(cfg, k) for k in ("dataset", "arch", "loss", "conditional", "spectral_norm", "steps",
                                           *HYPER_FIELDS)}
    return {**values, "augment": bool(cfg.augment)}


def quality_monitor(trainer) -> dict:
    """The mode-collapse monitor the runs call every QUALITY_EVERY steps: class coverage and FD vs floor on a
    small sample of the EMA generator (or PacGAN's figures for 2-D data)."""
    from gan import metrics
    from gan.pipeline import GeneratorPipeline

    if not metrics.is_supported(trainer.cfg.dataset):
        return {}
    pipe = GeneratorPipeline(trainer.model_config, trainer.G_ema, None, trainer.model_info(), "monitor",
                             trainer.device)
    figures = metrics.evaluate(pipe, trainer.cfg.dataset, n=QUALITY_SAMPLES)
    keep = ("fd", "fd_floor", "classes_covered", "class_histogram", "class_kl", "modes_covered", "high_quality",
            "reverse_kl", "mode_histogram", "label_accuracy", "n_modes", "confidence")
    return {k: figures[k] for k in keep if k in figures}


def _status_line(view) -> str:
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


TITLE = "Train"


class Classroom:
    """Who may control the runs. Without a teacher token (no --classroom) everyone may, as a server's runs always
    could; with one, only a caller that presents it (compared in constant time)."""

    def __init__(self, token: str | None):
        if token is not None and not token:
            raise ValueError("the teacher token must not be empty")
        self.token = token

    @property
    def on(self) -> bool:
        return self.token is not None

    def allows(self, given) -> bool:
        if self.token is None:
            return True
        return isinstance(given, str) and secrets.compare_digest(given.encode(), self.token.encode())

    def check(self, given, what: str) -> None:
        """Refuse `what` ("stop a run") with a message that says why, unless the caller may control the runs."""
        if self.allows(given):
            return
        why = ("the teacher token is wrong" if given else
               "only the teacher controls the runs (open the teacher link printed where the server started)")
        raise gr.Error(f"Classroom mode: you cannot {what}: {why}. You can still watch the runs.",
                       title="Teacher only", print_exception=False)


def run_manager(ctx) -> RunManager:
    """The app's one RunManager (module-level life: it outlives pages and tabs), kept in the app context."""
    return ctx.shared("runs", lambda: RunManager(ctx.runs_dir or "runs", max_active=ctx.max_runs,
                                                 quality_fn=quality_monitor, quality_every=QUALITY_EVERY))


def build(ctx, demo) -> None:
    build_train_tab(run_manager(ctx), ctx.catalog, demo, teacher_token=ctx.teacher_token)


def build_train_tab(manager: RunManager, catalog=None, demo=None, teacher_token: str | None = None) -> None:
    """Lay out the Train tab inside the current gr.Tab and wire its events. `catalog` (optional) receives
    the live model of each run as "live: <run id>" for the Explore tab; `demo` (optional) is the page, for what it
    must show as soon as it opens; `teacher_token` (optional) turns on classroom mode: only its holder controls
    the runs."""
    p = preset_values(DEFAULT_PRESET)
    classroom = Classroom(teacher_token)

    def publish_live(run) -> None:
        """List the run's live model in the catalog while the run is active; once it stops, finishes or fails the
        catalog drops it (a finished run's file is listed as "run: <id>" instead)."""
        if catalog is not None and run is not None and run.live is not None:
            catalog.add_live(run.live.name, run.live, alive=lambda: run.active)

    # ------------------------------------------------------------------------------------ handlers
    def start_training(preset: str = DEFAULT_PRESET, dataset: str = p["dataset"], upload: str | None = None,
                       arch: str = p["arch"], loss: str = p["loss"], conditional: bool = p["conditional"],
                       spectral_norm: bool = p["spectral_norm"], steps: float = p["steps"],
                       lr_g: float = p["lr_g"], lr_d: float = p["lr_d"], beta1: float = p["beta1"],
                       beta2: float = p["beta2"], batch_size: float = p["batch_size"],
                       n_critic: float = p["n_critic"], ema: float = p["ema"], seed: float = p["seed"],
                       device: str = "auto", augment: bool = p["augment"], teacher_token: str = ""):
        classroom.check(teacher_token, "start a run")
        staged = None
        try:
            numbers = {name: check_number(name, value) for name, value in (
                ("steps", steps), ("lr_g", lr_g), ("lr_d", lr_d), ("beta1", beta1), ("beta2", beta2),
                ("batch_size", batch_size), ("n_critic", n_critic), ("ema", ema), ("seed", seed))}
            cfg = TrainConfig(dataset=dataset, arch=arch, loss=loss, conditional=bool(conditional),
                              spectral_norm=bool(spectral_norm), **numbers, device=device or "auto",
                              augment=_augment_policy(augment), sample_every=250, checkpoint_every=250, log_every=10)
            if loss not in LOSSES:
                raise GanInputError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
            if dataset in (UPLOAD_ZIP, UPLOAD_CSV):
                cfg.dataset, staged = _stage_upload(manager, dataset, upload)
            if cfg.dataset.startswith(("csv:",)) or cfg.dataset in ("ring8", "grid25", "spiral", "moons"):
                cfg.arch = "mlp" if arch == "dcgan" else arch
                cfg.conditional, cfg.augment = False, ""  # image-only choices
            run = manager.start(cfg)
        except GanInputError as e:
            if staged is not None:          # a refused upload is not kept in the runs folder
                staged.unlink(missing_ok=True)
            raise _refusal(e) from None
        publish_live(run)
        return run.view().to_status(), gr.update(choices=_run_choices(manager), value=run.id)

    def training_status(run_id: str = "") -> dict:
        """The run's state as JSON: step, total_steps, state, losses, images/s, ETA, device, message."""
        return _call(lambda: manager.get(run_id or None).view().to_status())

    def control(action: str):
        what = {"single_step": "step a run", "save": "save a run"}.get(action, f"{action} a run")

        def handler(run_id: str = "", teacher_token: str = "") -> dict:
            classroom.check(teacher_token, what)

            def act():
                run = manager.get(run_id or None)
                if action == "resume":
                    manager.resume(run.id)
                    publish_live(run)
                else:
                    getattr(run, action)()
                return run.view().to_status()
            return _call(act)
        handler.__name__ = f"{action}_training"
        return handler

    def apply_live(run_id, lr_g, lr_d, n_critic, augment, teacher_token=""):
        classroom.check(teacher_token, "change a run's settings")

        def act():
            changed = manager.get(run_id or None).set_hyperparameters(**_live_settings(lr_g, lr_d, n_critic, augment))
            return ("changed " + ", ".join(f"{k} = {v}" for k, v in changed.items())) if changed else "no change"
        return _call(act)

    def live_values(run_id):
        """The picked run's own live settings: Apply and Fork send all four, so the fields must start from the
        run's values (not the form's preset), or changing one would quietly change the others too."""
        try:
            settings = manager.get(run_id or None).view().settings
        except GanInputError:
            return [gr.skip()] * 4
        return settings["lr_g"], settings["lr_d"], settings["n_critic"], bool(settings["augment"])

    def save_model(run_id: str = "", teacher_token: str = ""):
        classroom.check(teacher_token, "save a run as a model")

        def act():
            run = manager.get(run_id or None)
            path = run.save_model()
            if catalog is not None:
                catalog.refresh()
            return f"saved {path}: pick it in the Explore tab's model list"
        return _call(act)

    def fill_preset(name):
        v = preset_values(name)
        return [v[k] for k in ("dataset", "arch", "loss", "conditional", "spectral_norm", "steps", *HYPER_FIELDS,
                               "augment")]

    figures: dict = {}  # the latest figure per kind, built once and shared by every viewer

    def figure(kind: str, key, make):
        if figures.get(kind, (None,))[0] != key:
            figures[kind] = (key, make())
        return figures[kind][1]

    def buttons(run_id, teacher_token) -> list:
        """Each control enabled only when it can act on the picked run as it is now (gan.run_manager' own rules), and,
        in classroom mode, only for the teacher: Start, Pause, Resume, Step, Stop, Save, Delete, Apply, Fork."""
        allowed = classroom.allows(teacher_token)
        acts = {**manager.actions(run_id or None), "delete": manager.deletable(run_id or None),
                "apply": True, "fork": True}
        return [gr.update(interactive=allowed and acts[k]) for k in ("start", *CONTROLS, "delete", "apply", "fork")]

    def delete_run(run_id, confirmed, teacher_token=""):
        """Delete the picked run (not while it trains or sits paused) once "yes, delete it" is ticked: its folder
        goes, and with it its place in the Run list and the Explore catalog."""
        classroom.check(teacher_token, "delete a run")

        def act():
            run = manager.get(run_id or None)
            if not confirmed:
                return gr.skip(), gr.skip(), (f"Tick **yes, delete it** first: deleting removes run {run.id}, its "
                                              "checkpoints and its model for good.")
            manager.delete(run.id)
            if catalog is not None:
                catalog.refresh()
            return _after_delete(manager), False, f"Deleted run {run.id}, its checkpoints and its model."
        return _call(act)

    def snapshot(run_id, seen, teacher_token=""):
        """What the timer shows: status line, loss curves, sample grid, quality monitor, checkpoint list, and
        which buttons can act. `seen` (per page) remembers what this page already has, so an unchanged picture
        is not sent again."""
        seen = dict(seen or {})
        try:
            run = manager.get(run_id or None)
        except GanInputError:
            # A picked run that is gone (deleted meanwhile, maybe by another page) leaves the list, and the page
            # moves on to the newest run left, as Delete run itself does (a tick sent before it may land after it).
            pick = _after_delete(manager) if run_id else gr.update()
            return (_status_line(None), None, None, None, "", gr.update(), pick, {},
                    *buttons(None, teacher_token), {})
        view = run.view()
        history = run.history_copy()

        def fresh(kind, key):
            if seen.get(kind) == key:
                return False
            seen[kind] = key
            return True

        plot_key = (run.id, history[-1]["step"] if history else 0, len(view.changes))
        plot = gr.skip()
        if fresh("plot", plot_key):
            from gan.viz import loss_figure
            plot = figure("plot", plot_key, lambda: loss_figure(history, view.changes, run.id))
        quality, verdict = gr.skip(), gr.skip()
        quality_key = (run.id, view.quality.get("step"))
        if fresh("quality", quality_key):
            from gan.metrics import monitor_verdict
            from gan.viz import coverage_figure
            verdict = monitor_verdict(view.quality) if view.quality else (
                f"The first reading comes at step {QUALITY_EVERY:,}." if metrics_for(run) else
                "No monitor for this dataset (it exists for MNIST, Fashion-MNIST, ring8 and grid25).")
            quality = figure("quality", quality_key, lambda: coverage_figure(view.quality_history, MONITOR_TITLE)) \
                if view.quality_history else None
        grid = run.grid if fresh("grid", (run.id, run.grid_version)) else gr.skip()
        steps = run.timeline.steps()
        travel = gr.skip()
        if fresh("travel", (run.id, tuple(steps))):
            # A page's slider starts on the run's first checkpoint; later checkpoints only widen its range.
            first = bool(steps) and fresh("travel_run", run.id)
            travel = _travel_slider(steps, start=first)
        choices = gr.update(choices=_run_choices(manager), value=run.id) if run_id != run.id else gr.update()
        return (_status_line(view), plot, grid, quality, verdict, travel, choices, view.to_status(),
                *buttons(run.id, teacher_token), seen)

    def time_travel(run_id, step, seed):
        """The run at the checkpoint nearest `step`: the fixed latents' grid and one seed's image."""
        def act():
            timeline = manager.get(run_id or None).timeline
            at, picture = timeline.picture(step)
            _, one = timeline.one(at, seed)
            return picture, one, f"checkpoint at step {at:,}"
        return _call(act)

    def play(run_id, fps):
        """The run through all its checkpoints as an animated GIF (written into the run's folder)."""
        def act():
            run = manager.get(run_id or None)
            # The slider's own range (1 to 12) is enforced by Gradio, for the page and for API callers alike.
            steps = run.timeline.save_animation(run.folder / TIMELAPSE_FILE, fps=float(fps))
            return str(run.folder / TIMELAPSE_FILE), (f"{len(steps)} checkpoints, step {steps[0]:,} to "
                                                      f"{steps[-1]:,}, at {float(fps):g} per second")
        return _call(act)

    def fork(run_id, step, lr_g, lr_d, n_critic, augment, teacher_token=""):
        classroom.check(teacher_token, "fork a run")

        def act():
            run = manager.get(run_id or None)
            at, _ = run.timeline.nearest(step)
            new = manager.fork(run.id, at, _live_settings(lr_g, lr_d, n_critic, augment))
            publish_live(new)
            return gr.update(choices=_run_choices(manager), value=new.id), f"forked {run.id} at step {at:,} → {new.id}"
        return _call(act)

    # ------------------------------------------------------------------------------------------ layout
    gr.Markdown("Pick a preset (or your own settings), press **Start**, and watch the GAN learn. The run keeps "
                "going if you reload or close the page; come back any time.")
    # Classroom mode: why the controls are off (or that this browser is the teacher's), set when the page opens.
    rights_md = gr.Markdown(STUDENT_LINE if classroom.on else "", visible=classroom.on, elem_id="train-rights")
    # The token this page sends with every control: the kept teacher token once the page has checked it, else "".
    teacher_box = gr.Textbox("", visible=False, label="teacher token")
    with gr.Row():
        with gr.Column(scale=2):
            preset = gr.Dropdown(list(TRAIN_PRESETS), value=DEFAULT_PRESET, label="Preset")
            with gr.Row():
                dataset = gr.Dropdown(DATASET_CHOICES, value=p["dataset"], label="Dataset")
                arch = gr.Dropdown(list(ARCHITECTURES), value=p["arch"], label="Architecture")
                loss = gr.Dropdown(list(LOSSES), value=p["loss"], label="Loss")
            # Shown only for the two upload choices, at Gradio's own height (a short box cut its text off).
            upload = gr.File(label="Upload (.zip of images or .csv of x,y points)", file_types=[".zip", ".csv"],
                             type="filepath", visible=False, elem_id="train-upload", interactive=not classroom.on)
            with gr.Row():
                conditional = gr.Checkbox(value=p["conditional"], label="class-conditional")
                spectral_norm = gr.Checkbox(value=p["spectral_norm"], label="spectral norm on D")
                augment = gr.Checkbox(value=p["augment"], label="augment D's images (DiffAugment, for small datasets)",
                                      elem_id="train-augment")
            with gr.Accordion("Hyperparameters", open=False):
                with gr.Row():
                    steps = gr.Number(p["steps"], label=FIELD_LABELS["steps"], precision=0)
                    batch_size = gr.Number(p["batch_size"], label=FIELD_LABELS["batch_size"], precision=0)
                    n_critic = gr.Number(p["n_critic"], label=FIELD_LABELS["n_critic"], precision=0)
                with gr.Row():
                    lr_g = gr.Number(p["lr_g"], label=FIELD_LABELS["lr_g"])
                    lr_d = gr.Number(p["lr_d"], label=FIELD_LABELS["lr_d"])
                    beta1 = gr.Number(p["beta1"], label=FIELD_LABELS["beta1"])
                    beta2 = gr.Number(p["beta2"], label=FIELD_LABELS["beta2"])
                with gr.Row():
                    ema = gr.Number(p["ema"], label=FIELD_LABELS["ema"])
                    seed = gr.Number(p["seed"], label=FIELD_LABELS["seed"], precision=0)
                    device = gr.Dropdown(["auto", "cpu", "cuda", "mps"], value="auto", label="device")
        with gr.Column(scale=1):
            run_pick = gr.Dropdown(_run_choices(manager), value=manager.current or "", label="Run", allow_custom_value=True,
                                   elem_id="train-run")
            # Enabled by the snapshot (on load, on every tick, after every press): none can act before it says so.
            with gr.Row():
                start_btn = gr.Button("Start", variant="primary", elem_id="train-start", interactive=not classroom.on)
                pause_btn = gr.Button("Pause", elem_id="train-pause", interactive=False)
                resume_btn = gr.Button("Resume", elem_id="train-resume", interactive=False)
            with gr.Row():
                step_btn = gr.Button("Step", elem_id="train-step", interactive=False)
                stop_btn = gr.Button("Stop", variant="stop", elem_id="train-stop", interactive=False)
                save_btn = gr.Button("Save as model", elem_id="train-save", interactive=False)
            with gr.Row(equal_height=True):
                delete_confirm = gr.Checkbox(False, label="yes, delete it", elem_id="train-delete-confirm")
                delete_btn = gr.Button("Delete run", elem_id="train-delete", interactive=False)
            action_msg = gr.Markdown("", elem_id="train-message")
            with gr.Accordion("Change while it runs", open=False):
                live_lr_g = gr.Number(p["lr_g"], label=FIELD_LABELS["lr_g"], elem_id="train-live-lr-g")
                live_lr_d = gr.Number(p["lr_d"], label=FIELD_LABELS["lr_d"], elem_id="train-live-lr-d")
                live_n_critic = gr.Number(p["n_critic"], label=FIELD_LABELS["n_critic"], precision=0,
                                          elem_id="train-live-n-critic")
                live_augment = gr.Checkbox(p["augment"], label="augment D's images", elem_id="train-live-augment")
                apply_btn = gr.Button("Apply", elem_id="train-apply", interactive=not classroom.on)
    status_md = gr.Markdown(_status_line(None), elem_id="train-status")
    with gr.Row():
        grid_img = gr.Image(label="Samples from fixed noise (EMA generator)", elem_id="train-grid", height=300,
                            interactive=False)
        loss_plot = gr.Plot(label="Losses", elem_id="train-plot")
    # The figure carries the title itself: Gradio's label would sit over its first panel's title.
    quality_plot = gr.Plot(label=MONITOR_TITLE, show_label=False, elem_id="train-quality")
    quality_note = gr.Markdown("", elem_id="train-quality-note")
    with gr.Accordion("Time travel: the run's checkpoints", open=False):
        with gr.Row():
            travel = gr.Slider(0, 1, value=0, step=1, label="Step (no checkpoints yet)", elem_id="train-travel")
            travel_seed = gr.Number(0, label="seed to follow", precision=0, elem_id="train-travel-seed")
        travel_msg = gr.Markdown("", elem_id="train-travel-message")
        with gr.Row():
            travel_grid = gr.Image(label="Fixed latents at this checkpoint", height=260, interactive=False,
                                   elem_id="train-travel-grid")
            travel_one = gr.Image(label="This seed at this checkpoint", height=260, interactive=False,
                                  elem_id="train-travel-one")
            travel_anim = gr.Image(label="The run through its checkpoints", type="filepath", height=260,
                                   interactive=False, elem_id="train-travel-animation")
        with gr.Row():
            travel_fps = gr.Slider(1, 12, value=4, step=1, label="checkpoints per second", elem_id="train-travel-fps")
            play_btn = gr.Button("Play through the checkpoints", elem_id="train-travel-play")
            fork_btn = gr.Button("Fork from here (with the live settings above)", elem_id="train-fork",
                                 interactive=not classroom.on)
    status_json = gr.JSON(label="Status (JSON)", visible=False)

    # ------------------------------------------------------------------------------------------- events
    form = [preset, dataset, upload, arch, loss, conditional, spectral_norm, steps, lr_g, lr_d, beta1, beta2,
            batch_size, n_critic, ema, seed, device, augment]
    dataset.change(lambda d: gr.update(visible=d in (UPLOAD_ZIP, UPLOAD_CSV)), dataset, upload,
                   show_progress="hidden", api_visibility="private")
    preset.change(fill_preset, preset, [dataset, arch, loss, conditional, spectral_norm, steps, lr_g, lr_d, beta1,
                                        beta2, batch_size, n_critic, ema, seed, augment], api_visibility="private")
    timer = gr.Timer(1.0)
    seen = gr.State({})
    outputs = [status_md, loss_plot, grid_img, quality_plot, quality_note, travel, run_pick, status_json,
               start_btn, pause_btn, resume_btn, step_btn, stop_btn, save_btn, delete_btn, apply_btn, fork_btn, seen]
    # Gradio keeps a hidden progress tracker's text ("processing | 0.7/0.9s") inside each output, where it reads
    # as part of the status line: the watch's progress goes to the invisible JSON alone.
    watch = dict(fn=snapshot, inputs=[run_pick, seen, teacher_box], outputs=outputs, show_progress="hidden",
                 show_progress_on=[status_json], api_visibility="private", concurrency_limit=None)
    start_btn.click(start_training, [*form, teacher_box], [status_json, run_pick], api_name="start_training",
                    concurrency_id="train-control").then(**watch)
    for btn, action in ((pause_btn, "pause"), (resume_btn, "resume"), (step_btn, "single_step"),
                        (stop_btn, "stop")):
        api = {"single_step": "step_training"}.get(action, f"{action}_training")
        btn.click(control(action), [run_pick, teacher_box], status_json, api_name=api, concurrency_id="train-control",
                  show_progress="hidden").then(**watch)  # the page shows the new state (and buttons) at once
    gr.api(training_status, api_name="training_status")
    live = [live_lr_g, live_lr_d, live_n_critic, live_augment]
    apply_btn.click(apply_live, [run_pick, *live, teacher_box], action_msg, api_visibility="private")
    run_pick.change(live_values, run_pick, live, show_progress="hidden", api_visibility="private")
    save_btn.click(save_model, [run_pick, teacher_box], action_msg, api_name="save_training_model").then(**watch)
    delete_btn.click(delete_run, [run_pick, delete_confirm, teacher_box], [run_pick, delete_confirm, action_msg],
                     api_visibility="private", concurrency_id="train-control").then(**watch)
    travel.input(time_travel, [run_pick, travel, travel_seed], [travel_grid, travel_one, travel_msg],
                 api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    play_btn.click(play, [run_pick, travel_fps], [travel_anim, travel_msg], api_visibility="private")
    travel_seed.submit(time_travel, [run_pick, travel, travel_seed], [travel_grid, travel_one, travel_msg],
                       api_visibility="private")
    fork_btn.click(fork, [run_pick, travel, *live, teacher_box], [run_pick, action_msg],
                   api_visibility="private")
    timer.tick(**watch)
    run_pick.change(**watch)

    def open_page(run_id, seen, teacher_token=""):
        """A page opens: the status and buttons at once (not one tick later), and the live settings filled once.
        When the snapshot moves the pick to the current run, the pick's change event fills them; a page opened on
        the run already picked gets no change event, so they are filled here. Filling them twice would undo
        what a quick user typed in between."""
        shown = snapshot(run_id, seen, teacher_token)
        try:
            same = manager.get(run_id or None).id == run_id
        except GanInputError:
            same = False
        return (*shown, *(live_values(run_id) if same else [gr.skip()] * 4))

    def remember_teacher(kept, request: gr.Request):
        """Classroom mode, as a page opens: a right teacher link (?teacher=TOKEN) is kept in this browser, so a
        later visit without it is still the teacher's; a wrong one is said so and changes nothing (a kept token
        from an earlier server is dropped). Returns the kept token, the token this page sends with its controls,
        the line that says who controls the runs, and the upload box (the teacher's too)."""
        given = dict(request.query_params).get("teacher") if request is not None else None
        note = ""
        if given is not None:
            if classroom.allows(given):
                kept = given
            else:
                note = f"⚠ {WRONG_LINK}\n\n"
        if not classroom.allows(kept):
            kept = ""
        teacher = bool(kept)
        return kept, kept, note + (TEACHER_LINE if teacher else STUDENT_LINE), gr.update(interactive=teacher)

    if demo is not None:
        page = dict(fn=open_page, inputs=[run_pick, seen, teacher_box], outputs=outputs + live,
                    show_progress="hidden", show_progress_on=[status_json], api_visibility="private")
        if classroom.on:
            kept = gr.BrowserState("", storage_key=TEACHER_STORAGE_KEY)
            demo.load(remember_teacher, kept, [kept, teacher_box, rights_md, upload], show_progress="hidden",
                      api_visibility="private").then(**page).then(None, teacher_box, None, js=FORGET_LINK_JS,
                                                                 api_visibility="private")
        else:
            demo.load(**page)


# ------------------------------------------------------------------------------------------------ helpers
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


def metrics_for(run) -> bool:
    """Whether the monitor has figures for the run's dataset."""
    from gan import metrics

    return metrics.is_supported(run.cfg.dataset)


def _run_choices(manager: RunManager) -> list[str]:
    """The Run list, the newest run first."""
    manager.rescan()
    return [r.id for r in manager.newest_first()]


def _after_delete(manager: RunManager):
    """The Run list once the picked run is gone: the runs left, the newest picked (none when none is left)."""
    left = _run_choices(manager)
    return gr.update(choices=left, value=left[0] if left else "")


def _call(fn):
    """Run a handler; a user's mistake becomes a message in the page (and an error for API clients)."""
    try:
        return fn()
    except GanInputError as e:
        raise _refusal(e) from None


def _refusal(e: GanInputError) -> gr.Error:
    """The library's message as the page shows it: a setting named as this page labels it (FIELD_LABELS), not as
    a flag, with a title that says what to do ("Check the form") for clients that show it (the page of Gradio
    6.31 still titles its toast "Error")."""
    if isinstance(e, FieldError) and e.field in FIELD_LABELS:
        return gr.Error(e.worded(FIELD_LABELS[e.field]), title="Check the form", print_exception=False)
    return gr.Error(str(e), title="Not possible", print_exception=False)


def _augment_policy(checked) -> str:
    """An augment box's value as TrainConfig.augment: the DiffAugment policy, or "" for none."""
    return AUGMENT_POLICY if checked else ""


def _live_settings(lr_g, lr_d, n_critic, augment) -> dict:
    """The "Change while it runs" fields as the settings Apply and Fork hand to the run (gan.trainer.LIVE_SETTINGS)."""
    return {"lr_g": check_number("lr_g", lr_g), "lr_d": check_number("lr_d", lr_d),
            "n_critic": check_number("n_critic", n_critic), "augment": _augment_policy(augment)}


def _stage_upload(manager: RunManager, kind: str, upload: str | None) -> tuple[str, Path | None]:
    """Copy an upload next to the runs (Gradio's temporary copy is deleted later), so the run can be resumed
    after a restart; the dataset name then points at that copy. Returns that name and the copy when it is new
    (the caller removes it if the run is refused)."""
    if not upload:
        raise GanInputError(f"choose a file to upload for '{kind}'")
    src = Path(upload)
    suffix = ".zip" if kind == UPLOAD_ZIP else ".csv"
    if src.suffix.lower() != suffix:
        raise GanInputError(f"'{kind}' needs a {suffix} file, got {src.name!r}")
    folder = manager.runs_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    import hashlib
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    dst = folder / f"{digest}{suffix}"
    created = None
    if not dst.exists():
        shutil.copyfile(src, dst)
        created = dst
    return f"{'zip' if suffix == '.zip' else 'csv'}:{dst}", created
