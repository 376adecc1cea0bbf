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
import logging
import signal
import sys
import time
from pathlib import Path

from gan.cli import run_main
from gan.config import TrainConfig
from gan.data import DATASETS, PREFIXED
from gan.devices import DEVICE_CHOICES
from gan.losses import LOSSES
from gan.models import ARCHITECTURES

log = logging.getLogger("gan.train")


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m gan.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    datasets = ", ".join(list(DATASETS) + [f"{k}:PATH" for k in PREFIXED])
    p.add_argument("--dataset", default=d.dataset, help=f"one of: {datasets} (default: %(default)s)")
    p.add_argument("--arch", default=None, help=f"one of: {', '.join(ARCHITECTURES)} (default: dcgan for images, "
                                                "mlp for 2-D points)")
    p.add_argument("--loss", default=d.loss, help=f"one of: {', '.join(LOSSES)} (default: %(default)s)")
    p.add_argument("--steps", type=int, help=f"total training steps (G updates) (default: {d.steps}; with --resume, "
                                             "the run's own total)")
    p.add_argument("--out", default=None, help="run folder (default: runs/<dataset>-<arch>-<loss>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint; "
                                                         "starts fresh if there is none")
    p.add_argument("--dry-run", action="store_true", help="run one step of every phase and write nothing")
    p.add_argument("--device", default=d.device, choices=DEVICE_CHOICES)
    p.add_argument("--seed", type=int, default=d.seed)
    g = p.add_argument_group("schedule")
    g.add_argument("--sample-every", type=int, default=d.sample_every)
    g.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    g.add_argument("--log-every", type=int, default=d.log_every)
    g.add_argument("--n-samples", type=int, default=d.n_samples, help="images in the fixed-noise grid")
    h = p.add_argument_group("optimisation (unset: the loss's preset)")
    h.add_argument("--batch-size", type=int)
    h.add_argument("--lr-g", type=float)
    h.add_argument("--lr-d", type=float)
    h.add_argument("--beta1", type=float)
    h.add_argument("--beta2", type=float)
    h.add_argument("--optimizer", choices=("adam", "rmsprop"))
    h.add_argument("--n-critic", type=int, help="D updates per G update")
    h.add_argument("--gp-lambda", type=float, help="gradient penalty weight (wgan-gp)")
    h.add_argument("--clip", type=float, help="weight clipping bound (wgan)")
    h.add_argument("--ema", type=float, default=d.ema, help="EMA decay of G's weights; 0 turns it off")
    h.add_argument("--augment", metavar="POLICY",
                   help="DiffAugment for D on small datasets: translation, cutout or translation,cutout; "
                        "'' for none (default: none)")
    m = p.add_argument_group("model")
    m.add_argument("--image-size", type=int, help="resize images to this size (28, 32 or 64 for dcgan)")
    m.add_argument("--z-dim", type=int)
    m.add_argument("--z-dist", choices=("normal", "uniform"), default=d.z_dist)
    m.add_argument("--g-width", type=int)
    m.add_argument("--d-width", type=int)
    m.add_argument("--depth", type=int, help="hidden layers (mlp)")
    m.add_argument("--conditional", action="store_true", help="class-conditional G and projection D")
    m.add_argument("--spectral-norm", action="store_true", help="spectral norm on every layer of D")
    s = p.add_argument_group("speed (CUDA only; the CPU path stays float32)")
    s.add_argument("--no-amp", dest="amp", action="store_false", help="no bf16 autocast")
    s.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    s.add_argument("--compile", action="store_true", help="torch.compile G and D")
    p.add_argument("--data-root", help="where torchvision datasets are looked for and downloaded")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    fields = TrainConfig.__dataclass_fields__
    given = {k: v for k, v in vars(args).items() if k in fields}
    if given.get("steps") is None:
        given.pop("steps", None)
    cfg = TrainConfig(**given)
    cfg.augment = cfg.augment or ""
    return cfg


def resume_changes(args: argparse.Namespace) -> dict:
    """The live settings given on this command line: with --resume they change the run from its checkpoint on
    (e.g. add --augment or lower --lr-g for the rest of a run); every other setting stays the run's own."""
    from gan.trainer import LIVE_SETTINGS

    return {k: getattr(args, k) for k in LIVE_SETTINGS if getattr(args, k) is not None}


def default_out(cfg: TrainConfig) -> Path:
    name = "-".join(str(x) for x in (cfg.dataset.replace(":", "_").replace("/", "_"), cfg.arch or "auto", cfg.loss))
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def dry_run(cfg: TrainConfig) -> None:
    from gan.trainer import Trainer

    trainer = Trainer(cfg)
    trainer.d_step()
    trainer.g_step()
    trainer.step_count += 1
    trainer.ema_step()
    trainer.sample_images()
    trainer.pending.clear()
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
    log.info("training %s / %s on %s (%d samples) on %s -> %s", t.cfg.arch, t.cfg.loss, t.data.name, len(t.data),
             t.device, out)
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
