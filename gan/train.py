"""python -m gan.train: train a GAN headless, with a tqdm bar, sample grids, atomic checkpoints and --resume.

    python -m gan.train --dataset mnist --arch dcgan --loss bce --steps 3000 --out runs/mnist-dcgan
    python -m gan.train --out runs/x --resume  # continue to the run's own total (or start, if no checkpoint)
    python -m gan.train --out runs/x --steps 8000 --resume --lr-g 1e-4   # continue with a live setting changed
    python -m gan.train --dataset grid25 --loss wgan-gp --steps 5000
    python -m gan.train --dry-run             # one step of every phase, nothing written
    torchrun --nproc_per_node=2 -m gan.train ...  # DistributedDataParallel (gloo on CPU, NCCL on CUDA)
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import time
import typing
from pathlib import Path

from gan.architectures import ARCHITECTURES
from gan.cli import run_main
from gan.config import TrainConfig
from gan.data import DATASETS, PREFIXED
from gan.devices import DEVICE_CHOICES
from gan.losses import LOSSES

log = logging.getLogger("gan.train")


# The option groups of --help, in order, with their titles (a field's "group" names one; None: the main list).
GROUPS = {"schedule": "schedule", "optimisation": "optimisation (unset: the loss's preset)", "model": "model",
          "speed": "speed"}


def build_parser() -> argparse.ArgumentParser:
    """The options: --out, --resume and --dry-run, then one per TrainConfig field (see add_setting)."""
    p = argparse.ArgumentParser(prog="python -m gan.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="run folder (default: runs/<dataset>-<arch>-<loss>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint; "
                                                         "starts fresh if there is none")
    p.add_argument("--dry-run", action="store_true", help="run one step of every phase and write nothing")
    groups = {None: p, **{key: p.add_argument_group(title) for key, title in GROUPS.items()}}
    names = {"datasets": ", ".join(list(DATASETS) + [f"{k}:PATH" for k in PREFIXED]),
             "archs": ", ".join(ARCHITECTURES), "losses": ", ".join(LOSSES)}
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        add_setting(groups[f.metadata["group"]], f, hints[f.name], names)
    groups["speed"].add_argument("--no-amp", dest="amp", action="store_const", const="off",
                                 help="the same as --amp off (the switch before --amp took a value)")
    return p


def add_setting(group, f: dataclasses.Field, hint, names: dict) -> None:
    """One option for a TrainConfig field: --batch-size for batch_size, its type from the annotation, its help and
    group from the field's metadata (gan.config.setting). A yes/no field is a switch: --conditional turns on what
    is off by default, --no-amp turns off what is on."""
    meta, flag = f.metadata, "--" + f.name.replace("_", "-")
    text = meta["help"].format(default=f.default, **names)
    kind = next(t for t in typing.get_args(hint) or (hint,) if t is not type(None))
    if kind is bool:
        if f.default:
            group.add_argument(f"--no-{flag[2:]}", dest=f.name, action="store_false", help=f"turn off: {text}")
        else:
            group.add_argument(flag, action="store_true", help=text)
        return
    choices = meta.get("choices") or (DEVICE_CHOICES if f.name == "device" else None)  # gan.devices has that list
    details = {"choices": choices, "metavar": meta.get("metavar")}
    group.add_argument(flag, type=None if kind is str else kind, default=None if meta.get("unset") else f.default,
                       help=text, **{k: v for k, v in details.items() if v is not None})


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the options ask for: an option left unset (None) keeps the field's default."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in given.items() if v is not None})


def resume_changes(args: argparse.Namespace) -> dict:
    """The live settings given on this command line: with --resume they change the run from its checkpoint on
    (e.g. add --augment or lower --lr-g for the rest of a run); every other setting stays the run's own."""
    from gan.trainer import LIVE_SETTINGS

    return {k: getattr(args, k) for k in LIVE_SETTINGS if getattr(args, k) is not None}


def default_out(cfg: TrainConfig) -> Path:
    name = "-".join(str(x) for x in (cfg.dataset.replace(":", "_").replace("/", "_"), cfg.arch or "auto", cfg.loss))
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def picked_for(kind: str) -> str:
    return "2-D point data" if kind == "points" else "images"


def dry_run(cfg: TrainConfig) -> None:
    from gan.trainer import Trainer

    trainer = Trainer(cfg)
    trainer.d_step()
    trainer.g_step()
    trainer.step_count += 1
    trainer.ema_step()
    trainer.sample_images()
    trainer.pending.clear()
    if cfg.arch is None:
        print(f"no --arch given: {trainer.cfg.arch}, the family for {picked_for(trainer.model_config.kind)}")
    print(f"dry run ok: {trainer.cfg.arch} / {trainer.cfg.loss} on {trainer.data.name} ({len(trainer.data)} samples, "
          f"{trainer.device}); one D step, one G step, one EMA update and one sample ran; nothing was written")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    if args.dry_run:
        dry_run(cfg)
        return 0
    from gan import distributed

    ctx = distributed.init_from_env(cfg.device)  # None unless launched by torchrun with several processes
    try:
        code = train(args, cfg, ctx)
        if ctx is not None:  # leave together: a rank that tears gloo down while rank 0 still writes can abort
            ctx.barrier()
        return code
    finally:
        if ctx is not None:
            ctx.close()


def train(args: argparse.Namespace, cfg: TrainConfig, ctx) -> int:
    from tqdm import tqdm

    from gan import distributed
    from gan.rundir import TrainingSession
    from gan.run_files import CHECKPOINT
    from gan.rundir import saved_train_config

    out = Path(args.out) if args.out else default_out(cfg)
    if ctx is not None:
        out = ctx.broadcast(out)  # rank 0's default folder name (its clock) for every rank
    if args.resume and args.steps is None and (out / CHECKPOINT).is_file():
        # `--resume` alone finishes the run it finds, to its own total; the default total would end it early (and a
        # growing model's fade-in schedule is a function of the total). Other ranks get rank 0's settings.
        saved = saved_train_config(out)
        if saved is not None:
            cfg.steps = saved.steps
    changes = resume_changes(args)
    if ctx is None:
        session = TrainingSession(cfg, out, resume=args.resume, changes=changes)
    else:
        session = distributed.open_session(cfg, out, args.resume, ctx, changes)
        if not ctx.is_writer:
            log.setLevel(logging.WARNING)
    t = session.trainer
    log.info("training %s / %s on %s (%d samples) on %s in %s -> %s", t.cfg.arch, t.cfg.loss, t.data.name,
             len(t.data), t.device, "bf16 autocast" if t.amp else "float32", out)
    if cfg.arch is None:
        log.info("no --arch given: %s, the family for %s", t.cfg.arch, picked_for(t.model_config.kind))
    if ctx is not None:
        log.info("DistributedDataParallel: %d processes (%s), %d samples per process and step, %d in all",
                 ctx.world_size, ctx.backend, t.cfg.batch_size, t.cfg.batch_size * ctx.world_size)
    if session.done:
        log.info("the run is already at step %d of %d", session.step, session.cfg.steps)
        session.finish()
        return 0

    stop = {"asked": False, "agreed": False}

    def ask_stop(signum, frame):
        if stop["asked"]:
            raise KeyboardInterrupt
        stop["asked"] = True
        log.info("stopping after this step (press Ctrl-C again to quit at once)")

    def stopping() -> bool:
        if ctx is None:
            return stop["asked"]
        if session.step % session.cfg.log_every == 0:  # all ranks agree, at the same step
            stop["agreed"] = ctx.any(stop["asked"])
        return stop["agreed"]

    previous = signal.signal(signal.SIGINT, ask_stop)
    try:
        with tqdm(total=session.cfg.steps, initial=session.step, unit="step", dynamic_ncols=True,
                  file=sys.stderr, disable=ctx is not None and not ctx.is_writer) as bar:
            while not session.done and not stopping():
                entry = session.advance() if ctx is None else distributed.advance(session, ctx)
                bar.update(1)
                if entry is not None:
                    bar.set_postfix(d=f"{entry['loss_d']:.3f}", g=f"{entry['loss_g']:.3f}",
                                    img_s=f"{entry['img_per_s']:.0f}", refresh=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    if stop["asked"] if ctx is None else stop["agreed"]:
        session.checkpoint_now()
        log.info("stopped at step %d; checkpoint saved. Continue with the same command and --resume", session.step)
        return 130
    path = session.finish()
    log.info("done: %d steps in %.0f s; model: %s", session.step, session.trainer.wall_time(), path)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
