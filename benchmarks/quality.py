"""Quality at a fixed CPU step budget: each loss with the DCGAN on MNIST, and each loss on the 2-D mixtures, measured
with gan.metrics, the 2-D rows next to the figures the PacGAN paper published (Lin et al. 2018, Table 1).

    python benchmarks/quality.py                       # default budget: ~10-15 min on an idle 2-core CPU (estimated)
    python benchmarks/quality.py --steps 200 --steps-2d 1500     # what the README's table ran (a shared CPU)
    python benchmarks/quality.py --json                # the last line of stdout is one JSON object

Every run trains in this process with the engine's Trainer (the same code as `python -m gan.train`, the loss's
preset optimizer settings), then scores its EMA generator. A row is a single seeded run: read the figures as a
comparison at equal G steps, not as each loss's best.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gan import metrics  # noqa: E402
from gan.config import TrainConfig  # noqa: E402
from gan.pipeline import pipeline_from_modules  # noqa: E402
from gan.trainer import Trainer  # noqa: E402

LOSSES = ("bce", "lsgan", "hinge", "wgan-gp")
# PacGAN Table 1, 2D-grid (2,500 samples; modes with a high-quality sample; share within 3 sigma of a mode).
PUBLISHED_GRID25 = [("GAN (PacGAN paper)", 17.3, 0.948), ("PacGAN4 (PacGAN paper)", 24.8, 0.936),
                    ("VEEGAN (PacGAN paper)", 24.6, 0.40)]


def train(dataset: str, loss: str, steps: int, seed: int, **model) -> tuple[Trainer, float]:
    cfg = TrainConfig(dataset=dataset, loss=loss, steps=steps, seed=seed, device="cpu", log_every=10 ** 6,
                      **model)
    trainer = Trainer(cfg)
    t0 = time.perf_counter()
    for i in range(steps):
        trainer.step()
        if (i + 1) % 100 == 0:
            trainer.flush()  # the NaN guard
    trainer.flush()
    return trainer, time.perf_counter() - t0


def score(trainer: Trainer, dataset: str, n: int | None, seed: int) -> dict:
    pipe = pipeline_from_modules(trainer.model_config, trainer.G_ema, None, {"dataset": dataset})
    return metrics.evaluate(pipe, dataset, n=n, seed=seed)


def run(args) -> dict:
    rows = []
    for loss in args.losses:
        if args.steps <= 0:
            break
        trainer, wall = train("mnist", loss, args.steps, args.seed, arch="dcgan", g_width=args.width,
                              d_width=args.width)
        out = score(trainer, "mnist", args.n, args.seed)
        rows.append({"dataset": "mnist", "loss": loss, "steps": args.steps, "wall_s": round(wall, 1), **out})
        log(rows[-1])
    for dataset in ("ring8", "grid25"):
        for loss in args.losses:
            if args.steps_2d <= 0:
                break
            trainer, wall = train(dataset, loss, args.steps_2d, args.seed)
            out = score(trainer, dataset, None, args.seed)
            rows.append({"dataset": dataset, "loss": loss, "steps": args.steps_2d, "wall_s": round(wall, 1), **out})
            log(rows[-1])
    return {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "torch": torch.__version__,
            "width": args.width, "seed": args.seed, "rows": rows}


def log(row: dict) -> None:
    print(f"# {row['dataset']} / {row['loss']}: {row['steps']} steps in {row['wall_s']} s", file=sys.stderr,
          flush=True)


def machine() -> str:
    import os

    return f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.get_num_threads()} threads"


def table(result: dict) -> str:
    lines = [f"Quality at a fixed step budget ({result['date']}, {result['machine']}, seed {result['seed']})", "",
             "| data | loss | G steps | wall s | FD (floor) | classes | class KL | classifier score | precision | "
             "recall |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        if r["dataset"] == "mnist":
            lines.append(f"| mnist (dcgan, width {result['width']}) | {r['loss']} | {r['steps']} | {r['wall_s']} | "
                         f"{r['fd']:.2f} ({r['fd_floor']:.2f}) | {r['classes_covered']}/10 | {r['class_kl']:.3f} | "
                         f"{r['classifier_score']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} |")
    lines += ["", "| data | loss | G steps | wall s | modes covered | high quality | reverse KL |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        if r["dataset"] != "mnist":
            lines.append(f"| {r['dataset']} (mlp) | {r['loss']} | {r['steps']} | {r['wall_s']} | "
                         f"{r['modes_covered']}/{r['n_modes']} | {100 * r['high_quality']:.1f}% | "
                         f"{r['reverse_kl']:.3f} |")
        if r["dataset"] == "grid25" and r["loss"] == result["rows"][-1]["loss"]:
            for name, modes, hq in PUBLISHED_GRID25:
                lines.append(f"| grid25, published | {name} | | | {modes}/25 | {100 * hq:.1f}% | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1000, help="G steps per MNIST run (default: %(default)s)")
    p.add_argument("--steps-2d", type=int, default=1500, help="G steps per 2-D run (default: %(default)s)")
    p.add_argument("--width", type=int, default=32, help="DCGAN g/d width for MNIST (default: %(default)s)")
    p.add_argument("--n", type=int, default=1000, help="generated images scored per MNIST run")
    p.add_argument("--losses", nargs="+", default=list(LOSSES), choices=LOSSES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="also print the result as one JSON line, last")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = run(args)
    print(table(result))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
