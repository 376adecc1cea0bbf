"""A training run tied to its folder: config.json, metrics.jsonl, samples/, checkpoint.pt, generator.safetensors.

The command line and the app's run manager both drive a run through this class, so a run started in the browser
can be resumed from the terminal and the other way round.

    run_dir/
      config.json            the TrainConfig (resolved) and the ModelConfig
      metrics.jsonl          one JSON object per logged step; cut back to the checkpoint's step on resume
      samples/step_000300.png  fixed-noise grids
      checkpoint.pt          full training state (torch.save, read with weights_only=True)
      checkpoints/step_000500.safetensors  the EMA generator (+ D) at each checkpoint: time travel and forks
      generator.safetensors  the EMA generator (+ D), written at the end and by save_model()
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from gan import checkpoint as ckpt
from gan.config import TrainConfig
from gan.errors import GanInputError
from gan.run_files import CHECKPOINT, CONFIG_FILE, METRICS_LOG, MODEL_FILE, SAMPLES_DIR, SNAPSHOTS_DIR
from gan.trainer import Trainer

log = logging.getLogger(__name__)


class TrainingSession:
    """Owns a Trainer and writes its run folder. `advance()` runs one step plus whatever log, sample or checkpoint
    is due at that step; `finish()` writes the final model. With out=None (dry runs) nothing is written."""

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
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            ckpt.atomic_write_text(self.out / CONFIG_FILE, json.dumps(
                {"train": self.trainer.cfg.to_dict(), "model": json.loads(self.trainer.model_config.to_json())},
                indent=2))
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
            entry = self.trainer.flush()  # raises on NaN before the checkpoint below
            if entry is not None:
                self.last_entry = entry
                self._append_log(entry)
        if self.out is None:
            return entry
        if step % cfg.sample_every == 0 or last:
            self.trainer.save_samples(self.out / SAMPLES_DIR / f"step_{step:06d}.png")
        if checkpoint_due:
            self.save_checkpoint()
        return entry

    def checkpoint_now(self) -> None:
        """Log and checkpoint at the current step, whatever the schedule: a graceful stop or a pause."""
        entry = self.trainer.flush()
        if entry is not None:
            self.last_entry = entry
            self._append_log(entry)
        self.save_checkpoint()

    def save_checkpoint(self) -> None:
        """The model snapshot first, then the resumable state: a crash between the two leaves a snapshot whose
        step the next resume simply writes again."""
        if self.out is not None:
            self.trainer.save_model(self.out / SNAPSHOTS_DIR / f"step_{self.step:06d}.safetensors")
            self.trainer.save_checkpoint(self.out / CHECKPOINT)

    def finish(self) -> Path | None:
        """The final EMA generator as generator.safetensors."""
        if self.out is None:
            return None
        path = self.out / MODEL_FILE
        self.trainer.save_model(path)
        return path

    def log_event(self, event: dict) -> None:
        """A non-step record (a live hyperparameter change, a pause): {"step": n, "event": ...}."""
        self._append_log({"step": self.step, **event})

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
