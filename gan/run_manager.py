"""Background training runs for the app: start, pause, resume, single-step, stop, save, fork, and a live snapshot
that any number of viewers can poll.

A run is a thread that owns its TrainingSession. Buttons never touch the networks: they post commands that the
thread carries out between two steps, so a viewer can never catch the weights half-updated, and closing or
reloading a page never stops or forks a run. Everything a run does lands in runs/<id>/, so after a server restart
the runs are listed again and can be resumed from their last checkpoint.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import queue
import re
import shutil
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from gan.config import TrainConfig
from gan.errors import GanInputError, TrainingDiverged
from gan.metrics import QUALITY_EVERY, quality_monitor
from gan.rundir import TrainingSession, list_snapshots, read_metrics, saved_train_config
from gan.timeline import Timeline
from gan.run_files import CONFIG_FILE, METRICS_LOG, MODEL_FILE
from gan.trainer import resolve_config

log = logging.getLogger(__name__)

STATES = ("running", "paused", "stopped", "finished", "failed")
ACTIVE = ("running", "paused")
LIVE_REFRESH_S = 1.0      # how often viewers get new weights and a new grid while a run trains
HISTORY_LIMIT = 5000      # log entries kept in memory for the plots (the file keeps all)
RATE_WINDOW_S = 10.0      # seconds of training that images/s and the ETA are measured over
RATE_MIN_STEPS = 3        # fewer timed steps than this give no rate: one step's time says little
RATE_MAX_STEPS = 5000     # a fast model's window is cut to its latest steps, so the window stays small
CONTROLS = ("pause", "resume", "single_step", "stop", "save")


class RateWindow:
    """Images per second over the latest RATE_WINDOW_S seconds of training. Each step is timed on its own and only
    time spent stepping counts, so neither a pause nor the time between single Steps drags the rate down, and a
    resumed run's rate (and ETA) is right at once. On a GPU a step returns before its kernels end, but the waits
    land in the steps that read the losses back, all inside the window, so the sum of step times holds."""

    def __init__(self, seconds: float = RATE_WINDOW_S):
        self.seconds = seconds
        self.steps: deque[tuple[float, int]] = deque()   # (seconds, images) per step, oldest first
        self.time, self.images = 0.0, 0

    def add(self, seconds: float, images: int) -> None:
        self.steps.append((seconds, images))
        self.time += seconds
        self.images += images
        while len(self.steps) > RATE_MIN_STEPS and (
                self.time - self.steps[0][0] >= self.seconds or len(self.steps) > RATE_MAX_STEPS):
            old_s, old_n = self.steps.popleft()
            self.time -= old_s
            self.images -= old_n

    def rate(self) -> float | None:
        if len(self.steps) < RATE_MIN_STEPS or self.time <= 0:
            return None
        return self.images / self.time


@dataclass
class RunView:
    """What a viewer sees of a run at one moment: plain data, safe to hand to another thread."""

    run_id: str
    state: str
    step: int
    total_steps: int
    message: str = ""
    latest: dict = field(default_factory=dict)
    img_per_s: float | None = None
    eta_s: float | None = None
    device: str = ""
    settings: dict = field(default_factory=dict)
    changes: list = field(default_factory=list)
    quality: dict = field(default_factory=dict)
    growth: dict | None = None           # progan: {"resolution", "alpha", ...} while it grows
    quality_history: list = field(default_factory=list)  # every monitor reading of the run, oldest first

    def to_status(self) -> dict:
        """The `training_status` endpoint's JSON object."""
        losses = {k: self.latest[k] for k in ("loss_d", "loss_g", "d_real", "d_fake", "gp") if k in self.latest}
        return {"run_id": self.run_id, "state": self.state, "step": self.step, "total_steps": self.total_steps,
                "losses": losses, **losses, "img_per_s": self.img_per_s, "eta_s": self.eta_s, "device": self.device,
                "message": self.message, "settings": self.settings, "changes": self.changes,
                "quality": self.quality, "growth": self.growth, "quality_history": self.quality_history}


class Run:
    """One training run and its thread. Public methods are safe to call from any thread."""

    def __init__(self, run_id: str, folder: Path, cfg: TrainConfig | None = None,
                 quality_fn: Callable | None = None, quality_every: int = 0):
        self.id, self.folder = run_id, folder
        self.cfg = cfg or saved_train_config(folder) or TrainConfig()
        self.state = "stopped"
        self.message = ""
        self.session: TrainingSession | None = None
        self.thread: threading.Thread | None = None
        self.commands: "queue.Queue[tuple[Callable, Future]]" = queue.Queue()
        logged = read_metrics(folder)          # read once: the history, changes, monitor readings and ending
        self.history: list[dict] = [e for e in logged if "loss_d" in e][-HISTORY_LIMIT:]
        self.changes: list[dict] = [e for e in logged if e.get("event") == "change"]
        # The monitor's readings are logged with the run, so a restarted server still shows its history.
        self.quality_history: list[dict] = [_reading(e) for e in logged if e.get("event") == "quality"]
        self.step = max([e["step"] for e in logged if "step" in e] or [0])
        self.grid: np.ndarray | None = None
        self.grid_version = 0                  # bumped with every new grid, so viewers fetch only new ones
        self.live = None                       # GeneratorPipeline on a copy of the EMA generator
        self.quality: dict = dict(self.quality_history[-1]) if self.quality_history else {}
        self.quality_fn, self.quality_every = quality_fn, quality_every
        self._paused = threading.Event()
        self._stop = False
        self._single_steps = 0
        self.idle_rounds = 0                   # rounds of the paused loop that took no step: see _while_paused
        self.rate = RateWindow()               # images/s of recent training steps (not of paused time)
        self.timeline = Timeline(folder)       # its checkpoints, for time travel (pictures cached per snapshot)
        self._lock = threading.Lock()
        self.interrupted = False               # the server stopped while this run trained (or sat paused)
        if self.step >= self.cfg.steps and (folder / MODEL_FILE).is_file():
            self.state = "finished"
        else:
            self._read_ending(logged)

    # --------------------------------------------------------------------------------------- queries
    def _read_ending(self, logged: list[dict]) -> None:
        """How an unfinished run on disk ended, from its log: stopped by a user, failed (with its message), or
        neither, which means the server went away while it trained: interrupted, and Resume picks it up from its
        last checkpoint."""
        last = None
        for e in logged:
            if "loss_d" in e or e.get("event") in ("stopped", "failed"):
                last = e
        if last is None or self.step == 0:
            return
        if last.get("event") == "failed":
            self.state, self.message = "failed", last.get("message", "failed")
        elif last.get("event") != "stopped":
            saved = self.timeline.steps()
            self.interrupted = True
            self.message = (f"interrupted at step {self.step:,} of {self.cfg.steps:,} when the server stopped: "
                            f"press Resume to continue from its last checkpoint"
                            + (f" (step {saved[-1]:,})" if saved else ""))

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def busy(self) -> bool:
        """Whether the run's thread is still alive (a run that just stopped, finished or failed may be writing)."""
        return self.thread is not None and self.thread.is_alive()

    def view(self) -> RunView:
        with self._lock:
            latest = dict(self.history[-1]) if self.history else {}
            rate = self.rate.rate()
            eta = None
            if rate and self.state == "running":
                per_step = self.cfg.batch_size * self.cfg.n_critic if self.cfg.batch_size else None
                eta = round((self.cfg.steps - self.step) * per_step / rate, 1) if per_step else None
            rate = round(rate, 1) if rate else None
            device = str(self.session.trainer.device) if self.session else self.cfg.device
            progress = getattr(self.session.trainer, "progress_info", None) if self.session else None
            return RunView(self.id, self.state, self.step, self.cfg.steps, self.message, latest, rate, eta, device,
                           _settings(self.cfg), list(self.changes), dict(self.quality),
                           progress() if progress else None, [dict(q) for q in self.quality_history])

    def history_copy(self) -> list[dict]:
        with self._lock:
            return list(self.history)

    def _resumable(self) -> bool:
        return self.state in ("paused", "stopped", "failed") or (
            self.state == "finished" and self.step < self.cfg.steps)

    def actions(self) -> dict[str, bool]:
        """Which controls can act on the run now ({name: bool} for CONTROLS), by the rules the controls
        themselves check, so a page can offer just those. Resume here ignores the server's run capacity:
        RunManager.actions adds it."""
        with self._lock:
            state = self.state
            alive = self.thread is not None and self.thread.is_alive()
            return {"pause": state == "running", "resume": self._resumable(), "single_step": state == "paused",
                    "stop": state in ACTIVE, "save": alive or (self.folder / MODEL_FILE).is_file()}

    # -------------------------------------------------------------------------------------- controls
    def start(self, resume: bool) -> None:
        """Load the data and networks here, so bad settings are reported to the caller at once, then train in a
        thread of the run's own (restarting from the folder's checkpoint when resume is set)."""
        if self.thread is not None and self.thread.is_alive():
            raise GanInputError(f"run {self.id} is already {self.state}")
        self.session = s = TrainingSession(self.cfg, self.folder, resume=resume)
        with self._lock:
            self.cfg, self.step = s.cfg, s.step
            self.history = [e for e in self.history if e["step"] <= s.step]
            self.quality_history = [q for q in self.quality_history if q["step"] <= s.step]
            self._stop, self.message, self.state, self._single_steps = False, "", "running", 0
            self.interrupted = False
        self._paused.clear()
        self._refresh_live()  # viewers (the Explore tab's "live: <run>") get a model at once
        self.thread = threading.Thread(target=self._main, name=f"run-{self.id}", daemon=True)
        self.thread.start()

    def _wait(self, done: Callable[[], bool], timeout: float = 30.0) -> None:
        """Let the training thread finish its current step, so the caller's answer shows the new state."""
        end = time.monotonic() + timeout
        while not done() and time.monotonic() < end and self.thread is not None and self.thread.is_alive():
            time.sleep(0.01)

    def pause(self) -> str:
        if self.state != "running":
            raise GanInputError(f"run {self.id} is {self.state}: only a running run can be paused")
        self._paused.set()
        self._wait(lambda: self.state != "running")
        return "paused"

    def resume(self) -> str:
        if self.state == "paused":
            self._paused.clear()
            self._wait(lambda: self.state != "paused")
            return "resumed"
        if self._resumable():
            self.start(resume=True)
            return "resumed from the last checkpoint"
        raise GanInputError(f"run {self.id} is {self.state}: nothing to resume")

    def single_step(self) -> str:
        if self.state != "paused":
            raise GanInputError(f"run {self.id} is {self.state}: pause it first, then step")
        target = self.step + 1
        with self._lock:
            self._single_steps += 1
        self._wait(lambda: self.step >= target or self.state != "paused")
        return "one step"

    def stop(self) -> str:
        if not self.active:
            raise GanInputError(f"run {self.id} is already {self.state}")
        self._stop = True
        self._paused.clear()
        if self.thread is not None:
            self.thread.join(timeout=60)
        return "stopped"

    def call(self, fn: Callable[[TrainingSession], object], timeout: float = 60):
        """Run fn(session) on the training thread between two steps, and return its result."""
        if self.thread is None or not self.thread.is_alive() or self.session is None:
            raise GanInputError(f"run {self.id} is {self.state}: start or resume it first")
        fut: Future = Future()
        self.commands.put((fn, fut))
        return fut.result(timeout=timeout)

    def set_hyperparameters(self, **changes) -> dict:
        def apply(session: TrainingSession):
            changed = session.trainer.set_hyperparameters(**changes)
            if changed:
                session.log_event({"event": "change", **changed})
            return changed

        changed = self.call(apply)
        if changed:
            with self._lock:
                self.changes.append({"step": self.step, "event": "change", **changed})
                for k, v in changed.items():
                    setattr(self.cfg, k, v)
        return changed

    def save_model(self) -> Path:
        """Write generator.safetensors now (the EMA generator so far): it then appears among the models."""
        if self.thread is not None and self.thread.is_alive():
            return self.call(lambda s: s.finish())
        path = self.folder / MODEL_FILE
        if path.is_file():
            return path
        raise GanInputError(f"run {self.id} is not loaded: resume it to save a model")

    # ----------------------------------------------------------------------------------------- thread
    def _main(self) -> None:
        s = self.session
        last_refresh = time.monotonic()
        write_failed = False
        try:
            while True:
                self._run_commands()
                try:
                    if write_failed and not self._paused.is_set():
                        s.checkpoint_now()  # retry the write that failed before training on
                        write_failed = False
                    if self._stop:
                        s.checkpoint_now()
                        s.log_event({"event": "stopped"})  # so a restarted server knows it was not interrupted
                        self._set_state("stopped", f"stopped at step {s.step}; resume continues from here")
                        break
                    if s.done:
                        self._take(s.checkpoint_now())
                        s.finish()
                        self._set_state("finished", f"finished {s.step} steps; the model is in the Explore list")
                        break
                    if self._paused.is_set():
                        self._while_paused(s)
                        continue
                    if self.state != "running":
                        self._set_state("running", "")
                    self._advance()
                except OSError as e:
                    # Disk full or read-only: the weights stay in memory and the last checkpoint on disk is
                    # intact. Pause and say so; Resume retries the write first.
                    write_failed, self._stop = True, False
                    self._paused.set()
                    self._set_state("paused", f"could not write to {self.folder} ({e.strerror or e}): paused "
                                              "with nothing lost; free space or fix permissions, then resume")
                    continue
                if time.monotonic() - last_refresh > LIVE_REFRESH_S:
                    self._refresh_live()
                    last_refresh = time.monotonic()
        except TrainingDiverged as e:
            self._set_state("failed", f"{e}")
            _log_end(s, "failed", self.message)
        except Exception as e:  # a bug: keep the server up and the checkpoint intact, and say what happened
            log.exception("run %s crashed", self.id)
            self._set_state("failed", _message(e))
            _log_end(s, "failed", self.message)
        finally:
            self._fail_pending_commands()
            self._refresh_live()

    def _while_paused(self, s: TrainingSession) -> None:
        """One round of the paused loop: checkpoint on entry, take a single step when one was asked for, else idle.
        Idle rounds are counted in `idle_rounds`, so a caller can tell that the thread is parked without sleeping:
        once the count has gone up twice after reading the step, the thread has been round at least once with
        nothing to do, and a run that kept training (or took an extra step) would have shown it."""
        if self.state != "paused":
            self._take(s.checkpoint_now())
            self._set_state("paused", f"paused at step {s.step}")
            self._refresh_live()
        if self._single_steps:
            with self._lock:
                self._single_steps -= 1
            self._advance(single=True)
            self._refresh_live()
        else:
            with self._lock:
                self.idle_rounds += 1
            time.sleep(0.02)

    def _advance(self, single: bool = False) -> None:
        """One training step, timed for the rate. `single`: a Step pressed while paused, whose figures are read
        at once and whose message names the new step; step and message change together, so the caller of
        single_step (waiting for the step) answers with the message that goes with it."""
        s = self.session
        images = s.cfg.batch_size * s.cfg.n_critic
        start = time.perf_counter()
        entry = s.advance()
        if single:
            entry = s.trainer.flush() or entry
        seconds = time.perf_counter() - start
        with self._lock:
            self.rate.add(seconds, images)
        self._take(entry, s.step, f"took one step: paused at step {s.step}" if single else None)
        if self.quality_fn and self.quality_every and self.session.step % self.quality_every == 0:
            try:
                figures = self.quality_fn(self.session.trainer)
                if figures:
                    q = {"step": self.session.step, **figures}
                    self.session.log_event({"event": "quality", **figures})
                    with self._lock:
                        self.quality = q
                        self.quality_history.append(q)
            except Exception as e:  # the monitor must never kill a run
                log.warning("quality monitor failed: %s", e)

    def _take(self, entry: dict | None, step: int | None = None, message: str | None = None) -> None:
        """Record a log entry, and (when given) the run's step and message, all at once for viewers."""
        with self._lock:
            if entry is not None:
                if not self.history or entry["step"] > self.history[-1]["step"]:
                    self.history.append(entry)
                    del self.history[:-HISTORY_LIMIT]
                self.step = entry["step"]
            if step is not None:
                self.step = step
            if message is not None:
                self.message = message

    def _set_state(self, state: str, message: str) -> None:
        with self._lock:
            self.state, self.message = state, message

    def _pending_commands(self):
        while True:
            try:
                yield self.commands.get_nowait()
            except queue.Empty:
                return

    def _run_commands(self) -> None:
        for fn, fut in self._pending_commands():
            try:
                fut.set_result(fn(self.session))
            except Exception as e:
                fut.set_exception(e)

    def _fail_pending_commands(self) -> None:
        for _, fut in self._pending_commands():
            fut.set_exception(GanInputError(f"run {self.id} is {self.state}"))

    def _refresh_live(self) -> None:
        """Bring the viewers' pipeline up to date under its lock: the EMA generator's and D's weights (copies,
        so the trainer never waits on a viewer), a growing model's resolution and fade-in, and the provenance
        (step, wall time, device) the Explore tab shows; then redraw the fixed-noise grid."""
        if self.session is None:
            return
        from gan.pipeline import pipeline_from_modules
        from gan.viz import grid_array, scatter_array

        t = self.session.trainer
        if self.live is None:
            self.live = pipeline_from_modules(t.model_config, copy.deepcopy(t.G_ema),
                                              copy.deepcopy(t.D).requires_grad_(False), t.model_info(),
                                              f"live: {self.id}")
        else:
            self.live.load_weights_from(t.G_ema, t.D, t.model_info())
        with self.live.lock:
            t.set_progress(self.live.generator, self.live.discriminator)
        samples = t.sample_images(self.live.generator)
        if t.model_config.kind == "points":
            grid = scatter_array(t.data.points_in_data_units()[:1500], samples.cpu().numpy())
        else:
            grid = grid_array(samples)
        with self._lock:
            self.grid = grid
            self.grid_version += 1


class RunManager:
    """The module-level owner of all runs in a runs folder; one active run at a time unless max_active says more."""

    def __init__(self, runs_dir: str | Path = "runs", max_active: int = 1, quality_fn: Callable | None = None,
                 quality_every: int = QUALITY_EVERY):
        """`quality_fn(trainer) -> figures` is the mode-collapse monitor every run calls each `quality_every`
        steps (gan.metrics.quality_monitor unless given; quality_every=0 turns it off)."""
        self.runs_dir = Path(runs_dir)
        self.max_active = max(1, int(max_active))
        self.quality_fn, self.quality_every = quality_fn or quality_monitor, quality_every
        self.runs: dict[str, Run] = {}
        self.current: str | None = None
        self._lock = threading.Lock()
        self.rescan()
        # After a restart, the run the server was training is the one a visitor most likely wants: pick it, so the
        # Train tab shows it with its Resume button (and says why) instead of "no run yet".
        interrupted = [r for r in self.newest_first() if r.interrupted]
        self.current = interrupted[0].id if interrupted else None

    def newest_first(self) -> list[Run]:
        """Every run, the most recently started or resumed first (by its config file, written at each start)."""
        def created(run: Run) -> float:
            try:
                return (run.folder / CONFIG_FILE).stat().st_mtime
            except OSError:
                return 0.0
        return sorted(self.runs.values(), key=lambda r: (created(r), r.id), reverse=True)

    def rescan(self) -> list[str]:
        """Pick up runs on disk (after a restart, or written by the command line)."""
        if self.runs_dir.is_dir():
            for folder in sorted(self.runs_dir.iterdir()):
                if folder.is_dir() and (folder / CONFIG_FILE).is_file() and folder.name not in self.runs:
                    try:
                        self.runs[folder.name] = Run(folder.name, folder, None, self.quality_fn, self.quality_every)
                    except (ValueError, OSError, TypeError, KeyError) as e:
                        log.warning("skipping run folder %s: %s", folder, e)
        return list(self.runs)

    def get(self, run_id: str | None = None) -> Run:
        run_id = run_id or self.current
        if not run_id:
            raise GanInputError("no run yet: start one first")
        if run_id not in self.runs:
            self.rescan()
        if run_id not in self.runs:
            raise GanInputError(f"unknown run id {run_id!r}")
        return self.runs[run_id]

    def active_runs(self) -> list[Run]:
        return [r for r in self.runs.values() if r.active]

    def actions(self, run_id: str | None = None) -> dict[str, bool]:
        """Which controls can act now: "start" (a free run slot) and Run.actions of the run (`run_id`, else the
        current one; all False when there is none), where resuming a run that is not active also needs a slot."""
        free = len(self.active_runs()) < self.max_active
        try:
            run = self.get(run_id)
        except GanInputError:
            return {"start": free, **dict.fromkeys(CONTROLS, False)}
        acts = run.actions()
        if not run.active:
            acts["resume"] = acts["resume"] and free
        return {"start": free, **acts}

    def _check_capacity(self) -> None:
        busy = self.active_runs()
        if len(busy) >= self.max_active:
            names = ", ".join(f"{r.id} ({r.state})" for r in busy)
            raise GanInputError(f"a run is already active: {names}. Stop it first, or start the app with "
                                f"--max-runs {self.max_active + 1}")

    def start(self, cfg: TrainConfig, name: str | None = None) -> Run:
        with self._lock:
            self._check_capacity()
            resolved = resolve_config(cfg)  # refuses bad settings before anything is created
            run_id = self._new_id(name or f"{resolved.dataset}-{resolved.arch}-{resolved.loss}")
            run = Run(run_id, self.runs_dir / run_id, copy.deepcopy(cfg), self.quality_fn, self.quality_every)
            run.start(resume=False)  # raises on bad settings, before the run is listed
            self.runs[run_id] = run
            self.current = run_id
        return run

    def resume(self, run_id: str | None = None) -> str:
        run = self.get(run_id)
        with self._lock:
            if not run.active:
                self._check_capacity()
            self.current = run.id
            return run.resume()

    def fork(self, run_id: str, step: int, changes: dict | None = None) -> Run:
        """A new run from `run_id`'s snapshot at `step`: its G (and the EMA) start from the snapshot's EMA
        generator and its D from the snapshot's D; optimizers start afresh; the log up to `step` is carried over."""
        from gan import checkpoint as ckpt

        parent = self.get(run_id)
        snaps = dict(list_snapshots(parent.folder))
        if step not in snaps:
            raise GanInputError(f"run {run_id} has no checkpoint at step {step}; it has: {sorted(snaps) or 'none'}")
        cfg = copy.deepcopy(parent.cfg)
        for key, value in (changes or {}).items():
            if not hasattr(cfg, key):
                raise GanInputError(f"unknown setting {key!r}")
            setattr(cfg, key, value)
        with self._lock:
            if self.runs.get(parent.id) is not parent:
                raise GanInputError(f"run {parent.id} was deleted")
            self._check_capacity()
            run_id_new = self._new_id(f"{re.sub(r'-[0-9]{8}-[0-9]{6}.*$', '', parent.id)}-fork{step}")
            folder = self.runs_dir / run_id_new
            folder.mkdir(parents=True)
            # Build the forked state from the snapshot, then let the run resume from it like any checkpoint.
            session = TrainingSession(cfg, folder, resume=False)
            _, _, tensors = ckpt.read_model_file(snaps[step])
            t = session.trainer
            ckpt.load_into(t.G, tensors, "generator.", snaps[step].name)
            ckpt.load_into(t.G_ema, tensors, "generator.", snaps[step].name)
            ckpt.load_into(t.D, tensors, "discriminator.", snaps[step].name)
            t.step_count = step
            lines = [json.dumps(e) for e in read_metrics(parent.folder) if e.get("step", 0) <= step]
            ckpt.atomic_write_text(folder / METRICS_LOG, "".join(f"{line}\n" for line in lines))
            session.save_checkpoint()
            run = Run(run_id_new, folder, session.cfg, self.quality_fn, self.quality_every)
            self.runs[run_id_new] = run
            self.current = run_id_new
            run.start(resume=True)
        return run

    def stage_upload(self, upload: str | Path | None, kind: str) -> tuple[str, Path | None]:
        """An uploaded file ("zip" of images or "csv" of points) as a dataset name that outlives the upload:
        copied into runs/uploads/ under its content's hash (the web server deletes its own copy later), so a run
        on it can be resumed after a restart. Returns the dataset name and the copy when it is new (remove it if
        the run is then refused)."""
        suffix = {"zip": ".zip", "csv": ".csv"}[kind]
        what = "images" if kind == "zip" else "points"
        if not upload:
            raise GanInputError(f"choose a file to upload: a {suffix} of {what}")
        src = Path(upload)
        if src.suffix.lower() != suffix:
            raise GanInputError(f"an upload of {what} needs a {suffix} file, got {src.name!r}")
        folder = self.runs_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        dst = folder / f"{hashlib.sha256(src.read_bytes()).hexdigest()[:16]}{suffix}"
        created = None
        if not dst.exists():
            shutil.copyfile(src, dst)
            created = dst
        return f"{kind}:{dst}", created

    def deletable(self, run_id: str | None = None) -> bool:
        """Whether delete(run_id) would act now: the run exists and neither trains, sits paused, nor is still
        winding down (its thread writes its last log line after its state has changed)."""
        try:
            run = self.get(run_id)
        except GanInputError:
            return False
        return not run.active and not run.busy

    def delete(self, run_id: str | None) -> None:
        """Remove a run that is not active: its folder (config, log, checkpoints, model) and its place in the list.
        Under the manager's lock, so a resume or a fork of it cannot start halfway through."""
        with self._lock:
            run = self.get(run_id)
            if run.active or run.busy:
                raise GanInputError(f"run {run.id} is {run.state}: stop it before deleting it")
            try:
                shutil.rmtree(run.folder)
            except FileNotFoundError:
                pass  # already gone from the disk: just forget it
            except OSError as e:
                raise GanInputError(f"could not delete run {run.id} ({e.strerror or e}); check the permissions "
                                    f"of {run.folder}") from None
            del self.runs[run.id]
            if self.current == run.id:
                self.current = None

    def stop_all(self) -> None:
        for run in self.active_runs():
            try:
                run.stop()
            except GanInputError:
                pass

    def _new_id(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("._")[:60] or "run"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_id, n = f"{base}-{stamp}", 1
        while run_id in self.runs or (self.runs_dir / run_id).exists():
            n += 1
            run_id = f"{base}-{stamp}-{n}"
        return run_id


def _log_end(session, event: str, message: str) -> None:
    """Log how a run ended; a log that cannot be written (a full disk) must not hide the ending itself."""
    try:
        session.log_event({"event": event, "message": message})
    except OSError as e:
        log.warning("could not log the end of the run: %s", e)


def _reading(entry: dict) -> dict:
    """A monitor reading as logged in metrics.jsonl ({"step", "event": "quality", ...}), without its event tag."""
    return {k: v for k, v in entry.items() if k != "event"}


def _settings(cfg: TrainConfig) -> dict:
    keys = ("dataset", "arch", "loss", "batch_size", "lr_g", "lr_d", "beta1", "beta2", "n_critic", "ema", "seed",
            "conditional", "spectral_norm", "augment")
    return {k: getattr(cfg, k) for k in keys}


def _message(e: Exception) -> str:
    return str(e) if isinstance(e, (GanInputError, TrainingDiverged)) else f"{e.__class__.__name__}: {e}"
