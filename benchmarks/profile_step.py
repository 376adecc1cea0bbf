"""Where one training step's time goes: torch.profiler over a few steps of the engine, every operator's own time
attributed to the phase it ran in ((1) D step, (2) G step, (3) EMA) and to what it was doing there (batch sampling,
noise, forward, backward, optimizer), plus the operators that cost most.

    python benchmarks/profile_step.py                      # 28x28 DCGAN on MNIST, batch 64, CPU
    python benchmarks/profile_step.py --image-size 64 --steps 2
    python benchmarks/profile_step.py --device cuda

The phases are run exactly as Trainer.step runs them (d_step x n_critic, g_step, ema_step), each inside a
torch.profiler.record_function label; the last line of stdout is a JSON summary.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gan.config import TrainConfig  # noqa: E402
from gan.trainer import Trainer  # noqa: E402

PHASES = ("(1) D step", "(2) G step", "(3) EMA")
PARTS = ("data: real batch", "data: noise", "Optimizer.step#Adam.step", "Optimizer.zero_grad#Adam.zero_grad")


def labelled(label: str, fn):
    def wrapped(*a, **kw):
        with record_function(label):
            return fn(*a, **kw)
    return wrapped


def attribute(event) -> tuple[str, str]:
    """(phase, part) of one profiled operator, from the labels above it."""
    phase, part, backward = "other", None, False
    e = event
    while e is not None:
        name = e.name
        if name in PHASES:
            phase = name
            break
        if part is None and name in PARTS:
            part = name
        if name.startswith("autograd::engine::evaluate_function"):
            backward = True
        e = e.cpu_parent
    if phase == "(3) EMA":
        part = "lerp + copy"
    elif part is None:
        part = "backward" if backward else "forward + loss"
    part = {"Optimizer.step#Adam.step": "optimizer", "Optimizer.zero_grad#Adam.zero_grad": "optimizer"}.get(part, part)
    return phase, part


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image-size", type=int, default=28, choices=(28, 64))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="profiled steps (after 2 warm-up steps)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.image_size == 28:
            dataset, channels = "mnist", 1
        else:  # CIFAR-10-sized random RGB images, resized to 64 as the DCGAN example does
            import numpy as np
            from PIL import Image

            rng = np.random.default_rng(0)
            for i in range(256):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(Path(tmp) / f"{i}.png")
            dataset, channels = f"folder:{tmp}", 3
        t = Trainer(TrainConfig(dataset=dataset, arch="dcgan", loss="bce", image_size=args.image_size,
                                batch_size=args.batch_size, g_width=64, d_width=64, device=args.device))
    t._real_batch = labelled("data: real batch", t._real_batch)
    t._noise = labelled("data: noise", t._noise)

    def step():
        for _ in range(t.cfg.n_critic):
            with record_function("(1) D step"):
                t.d_step()
        with record_function("(2) G step"):
            t.g_step()
        t.step_count += 1
        with record_function("(3) EMA"):
            t.ema_step()

    for _ in range(2):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            step()
        if args.device == "cuda":
            torch.cuda.synchronize()
    table = defaultdict(float)
    ops = defaultdict(float)
    for e in prof.events():
        if e.device_type != torch.autograd.DeviceType.CPU:
            continue
        own = e.self_cpu_time_total
        if own <= 0 or e.name in PHASES or e.name in PARTS:
            continue
        table[attribute(e)] += own
        ops[e.name] += own
    total = sum(table.values())
    per_step = total / args.steps / 1000
    print(f"# {args.image_size}x{args.image_size}x{channels} DCGAN, batch {args.batch_size}, {args.device}, "
          f"{torch.get_num_threads()} threads: {per_step:.1f} ms of operator time per step")
    print(f"{'phase':<12} {'part':<18} {'ms/step':>9} {'share':>7}")
    summary = {}
    for (phase, part), us in sorted(table.items(), key=lambda kv: (kv[0][0], -kv[1])):
        print(f"{phase:<12} {part:<18} {us / args.steps / 1000:>9.2f} {us / total:>7.1%}")
        summary[f"{phase} / {part}"] = round(us / total, 4)
    print("# top operators (own time)")
    for name, us in sorted(ops.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {name:<40} {us / total:>7.1%}")
    if args.device == "cuda":
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=15))
    print(json.dumps({"image_size": args.image_size, "batch_size": args.batch_size, "device": args.device,
                      "threads": torch.get_num_threads(), "ms_per_step": round(per_step, 1), "shares": summary,
                      "top_ops": {n: round(us / total, 4) for n, us in sorted(ops.items(), key=lambda kv: -kv[1])[:8]}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
