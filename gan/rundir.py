"""A training run tied to its folder: config.json, metrics.jsonl, samples/, checkpoint.pt, generator.safetensors.

The command line and the app's run manager both drive a run through this class, so a run started in the browser
can be resumed from the terminal and the other way round.

    run_dir/
      config.json            the TrainConfig (resolved) and the ModelConfig
      metrics.jsonl          one JSON object per logged step; cut back to the checkpoint's step on resume
      samples/step_000300.png  fixed-noise grids
      samples/real.png       training images as D sees them (the first n_samples; 2-D: the first points), once
      checkpoint.pt          full training state (torch.save, read with weights_only=True)
      checkpoints/step_000500.safetensors  the EMA generator (+ D) at each checkpoint: time travel and forks
      generator.safetensors  the EMA generator (+ D), written at the end and by save_model()
      tensorboard/           TensorBoard event files (gan.tensorboard_log; off with TrainConfig.tensorboard=False)
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from gan import checkpoint as ckpt
from gan.config import TrainConfig
from gan.errors import GanInputError, TrainingDiverged
from gan.run_files import (CHECKPOINT, CONFIG_FILE, METRICS_LOG, MODEL_FILE, REAL_SAMPLES, SAMPLES_DIR,
                           SNAPSHOTS_DIR, TENSORBOARD_DIR)
from gan.tensorboard_log import RunBoard
from gan.trainer import Trainer

log = logging.getLogger(__name__)


class TrainingSession:
    """Owns a Trainer and writes its run folder. `advance()` runs one step plus whatever log, sample or checkpoint
    is due at that step; `finish()` writes the final model. With out=None (dry runs, the other ranks of a
    distributed run) nothing is written, TensorBoard included."""

    def __init__(self, cfg: TrainConfig, out: str | Path | None, resume: bool = False, dataset=None,
                 changes: dict | None = None):
        """`changes` (resume only): live settings (gan.trainer.LIVE_SETTINGS) to change from the checkpoint on,
        logged as a change at that step like the Train tab's; every other setting is the run's own."""
        self.out = Path(out) if out else None
        if self.out is not None and self.out.exists() and not self.out.is_dir():
            raise GanInputError(f"--out {str(out)!r} exists and is not a folder")
        self.resumed_from = 0
        state = None
        if resume and self.out is not None and self.out.is_dir():
            ckpt.remove_stale_temporaries(self.out)
        if resume and self.out is not None and (self.out / CHECKPOINT).is_file():
            state = ckpt.load_training_state(self.out / CHECKPOINT)
            saved = saved_train_config(self.out)
            if saved is not None:  # the run's own settings win, except the total step count and device
                saved.steps, saved.device = cfg.steps, cfg.device
                cfg = saved
        elif not resume and self.out is not None and (self.out / CHECKPOINT).is_file():
            raise GanInputError(f"{self.out} already holds a run: add --resume to continue it, or pick another --out")
        self.trainer = Trainer(cfg, dataset=dataset)
        self.board: RunBoard | None = None  # TensorBoard
        if state is not None:
            self.trainer.load_state_dict(state)
            self.resumed_from = self.trainer.step_count
            self._cut_log(self.resumed_from)
            log.info("resumed %s at step %d", self.out, self.resumed_from)
            changed = self.trainer.set_hyperparameters(**(changes or {}))
            if changed:
                self.log_event({"event": "change", **changed})
                log.info("changed from step %d on: %s", self.resumed_from,
                         ", ".join(f"{k} = {v!r}" for k, v in changed.items()))
        if self.out is not None and self.trainer.cfg.tensorboard:
            # TensorBoard drops what an earlier session wrote past the step this one starts from (a resume's
            # checkpoint, or 0 in a folder whose first session died before its first checkpoint)
            self.board = RunBoard(self.out / TENSORBOARD_DIR, purge_step=self.step + 1)
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            ckpt.atomic_write_text(self.out / CONFIG_FILE, json.dumps(
                {"train": self.trainer.cfg.to_dict(), "model": json.loads(self.trainer.model_config.to_json())},
                indent=2))
            real = self.out / SAMPLES_DIR / REAL_SAMPLES
            if not real.is_file():  # a resumed run keeps the one it wrote when it started
                save_real_samples(self.trainer, real)
        self.last_entry: dict | None = None

    @property
    def cfg(self) -> TrainConfig:
        return self.trainer.cfg

    @property
    def step(self) -> int:
        return self.trainer.step_count

    @property
    def done(self) -> bool:
        return self.step >= self.cfg.steps

    # ------------------------------------------------------------------------------------------ stepping
    def advance(self) -> dict | None:
        """One training step, then the log line, sample grid and checkpoint due at this step. Returns the new
        log entry when one was written. TrainingDiverged propagates before anything is saved."""
        self.trainer.step()
        return self.housekeeping()

    def housekeeping(self) -> dict | None:
        step, cfg = self.step, self.cfg
        last = step >= cfg.steps
        entry = None
        checkpoint_due = step % cfg.checkpoint_every == 0 or last
        if step % cfg.log_every == 0 or checkpoint_due:
            entry = self._flush()  # raises on NaN before the checkpoint below
        if self.out is None:
            return entry
        if step % cfg.sample_every == 0 or last:
            path = self.out / SAMPLES_DIR / f"step_{step:06d}.png"
            self.trainer.save_samples(path)
            if self.board is not None:
                self.board.image_file("samples", step, path)
        if checkpoint_due:
            self.save_checkpoint()
        return entry

    def checkpoint_now(self) -> None:
        """Log and checkpoint at the current step, whatever the schedule: a graceful stop or a pause. The
        TensorBoard file is closed too (complete on disk); training on opens a new one."""
        self._flush()
        self.save_checkpoint()
        if self.board is not None:
            self.board.close()

    def _flush(self) -> dict | None:
        """The trainer's pending figures as a log line (metrics.jsonl and TensorBoard). On NaN/inf the TensorBoard
        file is closed before TrainingDiverged goes on up, so the curves up to the last good line are on disk."""
        try:
            entry = self.trainer.flush()
        except TrainingDiverged:
            if self.board is not None:
                self.board.close()
            raise
        if entry is not None:
            self.last_entry = entry
            self._append_log(entry)
            if self.board is not None:
                self.board.log_entry(entry)
        return entry

    def save_checkpoint(self) -> None:
        """The model snapshot first, then the resumable state: a crash between the two leaves a snapshot whose
        step the next resume simply writes again."""
        if self.out is not None:
            self.trainer.save_model(self.out / SNAPSHOTS_DIR / f"step_{self.step:06d}.safetensors")
            self.trainer.save_checkpoint(self.out / CHECKPOINT)

    def finish(self) -> Path | None:
        """The final EMA generator as generator.safetensors (also mid-run: the app's Save model). At the end of the
        run, the settings and final figures go to TensorBoard's HParams dashboard and its file is closed."""
        if self.out is None:
            return None
        path = self.out / MODEL_FILE
        self.trainer.save_model(path)
        if self.board is not None:
            if self.done:
                self.board.hparams(self.step, self.cfg)
                self.board.close()
            else:
                self.board.flush()
        return path

    def log_event(self, event: dict) -> None:
        """A non-step record (a live hyperparameter change, a pause, a quality reading, how the run ended):
        {"step": n, "event": ...}. A quality monitor reading goes to TensorBoard too; an ending closes its file."""
        self._append_log({"step": self.step, **event})
        if self.board is not None:
            if event.get("event") == "quality":
                self.board.quality(self.step, event)
            elif event.get("event") in ("stopped", "failed"):
                self.board.close()

    # ------------------------------------------------------------------------------------------ log file
    def _append_log(self, entry: dict) -> None:
        if self.out is None:
            return
        with open(self.out / METRICS_LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def _cut_log(self, step: int) -> None:
        """Drop log lines past the checkpoint's step (they will be written again) and any torn last line."""
        p = self.out / METRICS_LOG
        if not p.is_file():
            return
        kept = []
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("step", 0) <= step:
                kept.append(line)
        ckpt.atomic_write_text(p, "".join(f"{line}\n" for line in kept))


REAL_POINTS = 2000  # 2-D data: the real points drawn in real.png (as many as each samples/step_*.png shows)


@torch.no_grad()
def save_real_samples(trainer: Trainer, path: str | Path) -> None:
    """What D is trained on, as the PyTorch DCGAN example's real_samples.png: n_samples training images, evenly
    spaced through the dataset (a dataset stored sorted by class, as the bundled MNIST is, shows every class, not
    64 zeros), through the trainer's own batch path (gan.data.Dataset.batch, [-1, 1], no augmentation), drawn like
    the fixed-noise grids (same layout and size); for 2-D data REAL_POINTS points spaced the same way,
    standardised as D sees them, in the samples' scatter style. Fixed indices: the training RNG is not touched.
    Written atomically."""
    from gan.viz import save_grid, save_scatter

    data = trainer.data
    points = trainer.model_config.kind == "points"
    idx = spread_indices(len(data), REAL_POINTS if points else trainer.cfg.n_samples).to(data.data.device)
    if points:
        save_scatter(path, data.batch(idx).float().cpu().numpy(), np.empty((0, 2)))
    else:
        save_grid(path, data.batch(idx))


def spread_indices(n: int, k: int) -> torch.Tensor:
    """k indices evenly spaced over range(n) (all of them when k >= n), in order."""
    return torch.arange(n) if k >= n else torch.linspace(0, n - 1, k).round().long()


def read_metrics(run_dir: str | Path) -> list[dict]:
    p = Path(run_dir) / METRICS_LOG
    if not p.is_file():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def list_snapshots(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, file) of every checkpoint snapshot of a run, oldest first."""
    folder = Path(run_dir) / SNAPSHOTS_DIR
    found = []
    for p in folder.glob("step_*.safetensors") if folder.is_dir() else []:
        try:
            found.append((int(p.stem.split("_")[1]), p))
        except (IndexError, ValueError):
            continue
    return sorted(found)


def saved_train_config(run_dir: str | Path) -> TrainConfig | None:
    """The settings a run folder's config.json records; None when it has none. A damaged file is the user's to fix,
    so it is reported as input, not as a crash."""
    p = Path(run_dir) / CONFIG_FILE
    if not p.is_file():
        return None
    try:
        return TrainConfig.from_dict(json.loads(p.read_text())["train"])
    except (ValueError, KeyError, TypeError) as e:
        raise GanInputError(f"{p} does not hold a run's settings ({e.__class__.__name__}: {e}); "
                            "restore it or pick another --out") from None
