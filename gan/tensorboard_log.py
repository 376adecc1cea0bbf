"""TensorBoard event files for one training run, in <run folder>/tensorboard/: `tensorboard --logdir runs` then
shows every run's curves side by side, as practitioners watch a GAN train.

TrainingSession (gan.rundir) owns one RunBoard and hands it what the run writes anyway:

    Loss/D  Loss/G  D/real  D/fake  Loss/GP (losses with a gradient penalty)  Speed/images_per_s   each log line
    samples                      each fixed-noise grid: the samples/step_*.png file itself, not drawn again
    Quality/FD  Quality/classes_covered  (2-D: Quality/modes_covered  Quality/high_quality)  monitor readings
    HParams dashboard            the run's settings, and its final figures, when the run finishes

The scalars of one log line go in one event (a single Summary with several values: a fifth of the cost of one
add_scalar each). A resumed run reopens the writer with purge_step = the checkpoint's step + 1, so TensorBoard drops
what the interrupted session wrote past the checkpoint (as metrics.jsonl is cut) and the curves go on without
duplicate steps. torch.utils.tensorboard is imported when the first event is written, not with this module, so
importing gan.rundir (and starting the app) costs nothing more when nothing is written.

Nothing here may stop a run: a writer that fails (a full disk, tensorboard not installed) logs one warning and is off
for the rest of the session, while training, checkpoints and metrics.jsonl go on.
"""
from __future__ import annotations

import logging
import weakref
from pathlib import Path

log = logging.getLogger(__name__)

SCALARS = {"loss_d": "Loss/D", "loss_g": "Loss/G", "d_real": "D/real", "d_fake": "D/fake", "gp": "Loss/GP",
           "img_per_s": "Speed/images_per_s"}          # a log entry's key (gan.trainer.Trainer.flush) -> its tag
QUALITY = {"fd": "Quality/FD", "classes_covered": "Quality/classes_covered", "modes_covered": "Quality/modes_covered",
           "high_quality": "Quality/high_quality"}    # a monitor reading's key (gan.metrics.MONITOR_KEYS) -> its tag
SAMPLES_TAG = "samples"
FLUSH_SECS = 10   # how stale a live `tensorboard --logdir runs` may be; the flush runs in the writer's own thread
# TrainConfig fields shown in the HParams dashboard (the loss's own numbers only where the loss uses them)
HPARAMS = ("dataset", "arch", "loss", "steps", "batch_size", "optimizer", "lr_g", "lr_d", "beta1", "beta2",
           "n_critic", "ema", "seed", "image_size", "z_dim", "z_dist", "g_width", "d_width", "depth", "conditional",
           "spectral_norm", "augment")
PNG_COLOURS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}   # PIL mode -> the image summary's colorspace


class RunBoard:
    """A SummaryWriter on one folder, opened on the first event and reopened (a new event file) after close().
    `purge_step`: the first step this session writes (a resumed run's checkpoint step + 1); TensorBoard discards
    events at or past it from earlier files."""

    def __init__(self, folder: str | Path, purge_step: int | None = None):
        self.folder = Path(folder)
        self.purge_step = purge_step
        self.failed = False
        self.tags: set[str] = set()   # the scalar tags written: the HParams dashboard's metrics
        self._writer = None
        self._finalizer = None

    # ------------------------------------------------------------------------------------------ events
    def log_entry(self, entry: dict) -> None:
        """One log line of gan.trainer.Trainer.flush ({"step", "loss_d", ...}) as scalars at its step."""
        self._scalars(entry["step"], {tag: entry[key] for key, tag in SCALARS.items() if key in entry})

    def quality(self, step: int, figures: dict) -> None:
        """One reading of the quality monitor (gan.metrics.quality_monitor's figures) as scalars."""
        self._scalars(step, {tag: figures[key] for key, tag in QUALITY.items() if figures.get(key) is not None})

    def image_file(self, tag: str, step: int, path: str | Path) -> None:
        """A PNG already written (a sample grid) as an image event: its bytes as they are, so TensorBoard shows
        exactly the file and the training thread encodes nothing again."""
        def summary():
            from PIL import Image
            from tensorboard.compat.proto.summary_pb2 import Summary

            data = Path(path).read_bytes()
            with Image.open(path) as img:   # reads the header only
                (width, height), colours = img.size, PNG_COLOURS.get(img.mode, 3)
            return Summary(value=[Summary.Value(tag=tag, image=Summary.Image(
                height=height, width=width, colorspace=colours, encoded_image_string=data))])

        self._write(f"the image {tag!r}", step, summary)

    def hparams(self, step: int, cfg) -> None:
        """The run's settings in the HParams dashboard, with the scalars written so far as its metrics (the
        dashboard shows each one's last value: the run's final figures)."""
        def summaries():
            from torch.utils.tensorboard.summary import hparams

            return hparams(hparam_values(cfg), dict.fromkeys(sorted(self.tags), 0.0))

        self._write("the hyperparameters", step, summaries)

    def _scalars(self, step: int, values: dict) -> None:
        if not values:
            return

        def summary():
            from tensorboard.compat.proto.summary_pb2 import Summary

            return Summary(value=[Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()])

        if self._write("scalars", step, summary):
            self.tags.update(values)

    # ------------------------------------------------------------------------------------------ writer
    def _write(self, what: str, step: int, make) -> bool:
        """Write make()'s summary (or summaries) at `step`; True when written. Any failure turns the board off."""
        if self.failed:
            return False
        try:
            made = make()
            writer = self._open()
            for summary in made if isinstance(made, tuple) else (made,):
                writer.file_writer.add_summary(summary, step)
            return True
        except Exception as e:  # a failing writer must never stop training
            self.failed = True
            log.warning("TensorBoard: could not write %s to %s (%s: %s); the run goes on without TensorBoard",
                        what, self.folder, e.__class__.__name__, e)
            self._close(quiet=True)
            return False

    def _open(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.folder), flush_secs=FLUSH_SECS, purge_step=self.purge_step)
            self.purge_step = None  # only the first file of a resumed session purges
            # A session dropped without close() (a crash, the interpreter exiting) still flushes its last events.
            self._finalizer = weakref.finalize(self, _close_writer, self._writer)
        return self._writer

    def flush(self) -> None:
        if self._writer is not None and not self.failed:
            try:
                self._writer.flush()
            except Exception as e:
                self.failed = True
                log.warning("TensorBoard: could not flush %s (%s); the run goes on without TensorBoard",
                            self.folder, e)
                self._close(quiet=True)

    def close(self) -> None:
        """Write everything out and close the event file (a stop, a pause, the end, a divergence). A later event
        opens a new file in the same folder, which TensorBoard reads as the same run."""
        self._close(quiet=False)

    def _close(self, quiet: bool) -> None:
        writer, finalizer, self._writer, self._finalizer = self._writer, self._finalizer, None, None
        if finalizer is not None:
            finalizer.detach()
        if writer is None:
            return
        try:
            writer.close()
        except Exception as e:
            if not quiet:
                self.failed = True
                log.warning("TensorBoard: could not close %s (%s); the run goes on without TensorBoard",
                            self.folder, e)


def _close_writer(writer) -> None:
    try:
        writer.close()
    except Exception:  # at interpreter exit or after a failure: nothing left to tell
        pass


def hparam_values(cfg) -> dict:
    """The HPARAMS of a resolved TrainConfig as TensorBoard takes them (numbers and strings; unset ones left out),
    plus the loss's own numbers where it uses them: gp_lambda (gradient penalty), clip (weight clipping)."""
    from gan.losses import LOSSES

    values = {name: getattr(cfg, name) for name in HPARAMS}
    loss = LOSSES.get(cfg.loss)
    if loss is not None and loss.gradient_penalty:
        values["gp_lambda"] = cfg.gp_lambda
    if loss is not None and loss.weight_clip:
        values["clip"] = cfg.clip
    values["augment"] = values["augment"] or "none"
    return {k: (str(v) if isinstance(v, bool) else v) for k, v in values.items() if v is not None}
