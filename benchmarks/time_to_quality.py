"""Wall-clock seconds of training until a run reaches the quality target, ours vs the PyTorch DCGAN example's
recipe, same model (28x28 DCGAN, width 64), same loss (non-saturating BCE), same Adam (2e-4, beta1 0.5), same batch
(64), on the bundled MNIST digits, on this machine.

    python benchmarks/time_to_quality.py --json                     # each side stops at 20 minutes of training
    python benchmarks/time_to_quality.py --max-seconds 120 --json   # a quick look

Target (the quality issue's metrics, gan.metrics): 10/10 classes covered and a Fréchet distance (MNIST classifier
features, --n generated images vs the held-out test split) within 3x of the floor (a real split of the same size).

The two sides train in alternating chunks of --eval-every seconds (ours, recipe, ours, ...), so that load from other
processes on a shared machine hits both alike; after each chunk the side's generator is evaluated with the clock
stopped (measuring is not training): ours samples from its EMA generator, as it ships; the recipe from its G (the
example keeps no average), both in eval mode, from the same latents. A side stops when it reaches the target or
--max-seconds of training, and reports where it got to. The last line of stdout is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from gan import metrics  # noqa: E402
from gan.config import TrainConfig  # noqa: E402
from gan.pipeline import pipeline_from_modules  # noqa: E402
from gan.rundir import TrainingSession  # noqa: E402
from train_throughput import Recipe, recipe_dataset, write_mnist_idx  # noqa: E402


class Side:
    def __init__(self, name: str, step, generator, model_config, args):
        self.name, self._step, self.generator, self.model_config = name, step, generator, model_config
        self.args = args
        self.train_s, self.steps, self.history, self.reached_s = 0.0, 0, [], None

    @property
    def done(self) -> bool:
        return self.reached_s is not None or self.train_s >= self.args.max_seconds

    def train_chunk(self, seconds: float) -> None:
        end = time.perf_counter() + min(seconds, self.args.max_seconds - self.train_s)
        t0 = time.perf_counter()
        while time.perf_counter() < end:
            self._step()
            self.steps += 1
        self.train_s += time.perf_counter() - t0

    def evaluate(self) -> dict:
        module = self.generator()
        was_training = module.training
        pipe = pipeline_from_modules(self.model_config, module)  # eval mode
        try:
            samples, _ = metrics.generate(pipe, self.args.n, seed=0)
            m = metrics.image_metrics(samples, "mnist")
        finally:
            module.train(was_training)
        ratio = m["fd"] / m["fd_floor"]
        point = {"train_s": round(self.train_s, 1), "steps": self.steps, "fd": m["fd"], "fd_floor": m["fd_floor"],
                 "fd_ratio": round(ratio, 2), "classes_covered": m["classes_covered"]}
        self.history.append(point)
        if m["classes_covered"] >= 10 and ratio <= self.args.fd_factor and self.reached_s is None:
            self.reached_s = self.train_s
        return point

    def report(self) -> dict:
        last = self.history[-1] if self.history else {}
        return {"seconds_to_quality": None if self.reached_s is None else round(self.reached_s, 1),
                "reached": self.reached_s is not None, "train_s": round(self.train_s, 1), "steps": self.steps,
                "last": last, "history": self.history}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-seconds", type=float, default=1200.0, help="training time cap per side (default: 20 min)")
    p.add_argument("--eval-every", type=float, default=60.0, help="seconds of training between evaluations")
    p.add_argument("--n", type=int, default=2000, help="generated images per evaluation (floor at the same n)")
    p.add_argument("--fd-factor", type=float, default=3.0, help="target: fd <= factor x floor")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="ganscope-ttq-") as tmp:
        tmp = Path(tmp)
        cfg = TrainConfig(dataset="mnist", arch="dcgan", loss="bce", batch_size=args.batch_size, g_width=64,
                          d_width=64, z_dim=100, device="cpu", seed=args.seed, steps=10 ** 7)
        session = TrainingSession(cfg, tmp / "ours")
        mc = session.trainer.model_config
        write_mnist_idx(tmp / "idx")
        recipe = Recipe(recipe_dataset("mnist28", tmp / "idx", 28), mc, args.batch_size, torch.device("cpu"),
                        seed=args.seed)
        sides = [Side("ours", session.advance, lambda: session.trainer.G_ema, mc, args),
                 Side("recipe", recipe.step, lambda: recipe.netG, mc, args)]
        metrics.reference("mnist")  # build the classifier features once, outside every clock
        while not all(s.done for s in sides):
            for side in sides:
                if side.done:
                    continue
                side.train_chunk(args.eval_every)
                point = side.evaluate()
                print(f"# {side.name:>6}: {point}", flush=True)
        del recipe.batches
    ours, rec = (s.report() for s in sides)
    result = {"device": "cpu", "threads": torch.get_num_threads(), "max_seconds": args.max_seconds,
              "target": {"classes_covered": 10, "fd_within": args.fd_factor, "n": args.n},
              "ours": ours, "recipe": rec,
              "speedup": (round(rec["seconds_to_quality"] / ours["seconds_to_quality"], 2)
                          if ours["reached"] and rec["reached"] else None)}
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
