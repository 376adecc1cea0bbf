"""Does bf16 autocast cost quality? The DCGAN on MNIST trained for a fixed number of steps in float32 and under bf16
autocast (--amp off / on), over several seeds, each run scored by FD in the MNIST classifier's features.

    python benchmarks/amp_quality.py                   # 3 seeds x 2 numerics x 600 steps: ~10 min on 2 cores
    python benchmarks/amp_quality.py --steps 300 --seeds 0 1 --json

GAN training is chaotic, so two seeds of the same numerics already differ; the question is whether bf16 moves a
run outside that seed-to-seed spread. The verdict: bf16 holds when |median FD bf16 - median FD float32| is at most
the float32 runs' range (max - min). The two numerics alternate run by run so that load on a shared machine hits
both alike; each row also gives the training time, so the table shows the speed bf16 buys at the same step count.
The last line of stdout (--json) is one JSON object: {"steps", "n", "runs": [{"seed", "amp", "fd", "fd_floor",
"classes_covered", "seconds"}], "median_fd": {"off", "on"}, "fp32_range", "holds"}.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from gan import metrics  # noqa: E402
from gan.pipeline import pipeline_from_modules  # noqa: E402
from quality import train  # noqa: E402


def train_and_score(seed: int, amp: str, steps: int, n: int) -> dict:
    trainer, seconds = train("mnist", "bce", steps, seed, arch="dcgan", amp=amp)  # benchmarks/quality.py's loop
    pipe = pipeline_from_modules(trainer.model_config, trainer.G_ema, None, {"dataset": "mnist"})
    figures = metrics.evaluate(pipe, "mnist", n=n, seed=seed)
    return {"seed": seed, "amp": amp, "bf16": trainer.amp, "fd": round(figures["fd"], 2),
            "fd_floor": round(figures["fd_floor"], 2), "classes_covered": figures["classes_covered"],
            "seconds": round(seconds, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n", type=int, default=2000, help="samples scored per run")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, DCGAN on MNIST, {args.steps} steps, "
          f"FD on {args.n} samples", flush=True)
    for amp in ("off", "on"):  # warm-up, not counted: the first run in a process pays for loading and kernel setup
        train_and_score(0, amp, 3, 100)
    runs = []
    for i, seed in enumerate(args.seeds):
        for amp in (("off", "on") if i % 2 == 0 else ("on", "off")):
            runs.append(train_and_score(seed, amp, args.steps, args.n))
            r = runs[-1]
            print(f"# seed {seed} amp {amp:<3} ({'bf16' if r['bf16'] else 'float32'}): FD {r['fd']:.2f} "
                  f"(floor {r['fd_floor']:.2f}), {r['classes_covered']} classes, {r['seconds']:.0f} s", flush=True)
    fd = {a: [r["fd"] for r in runs if r["amp"] == a] for a in ("off", "on")}
    median = {a: round(statistics.median(v), 2) for a, v in fd.items()}
    fp32_range = round(max(fd["off"]) - min(fd["off"]), 2)
    holds = abs(median["on"] - median["off"]) <= fp32_range
    time_ratio = (statistics.median(r["seconds"] for r in runs if r["amp"] == "off")
                  / statistics.median(r["seconds"] for r in runs if r["amp"] == "on"))
    print(f"median FD: float32 {median['off']:.2f} (range {min(fd['off']):.2f}-{max(fd['off']):.2f}), "
          f"bf16 {median['on']:.2f} (range {min(fd['on']):.2f}-{max(fd['on']):.2f}); bf16 within the float32 "
          f"seed-to-seed spread: {'yes' if holds else 'NO'}; bf16 trained {time_ratio:.2f}x as fast", flush=True)
    if args.json:
        print(json.dumps({"steps": args.steps, "n": args.n, "runs": runs, "median_fd": median,
                          "fp32_range": fp32_range, "holds": holds, "speedup": round(time_ratio, 3)}))
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
