"""Projection (gan.project) on real digits: does the closest latent draw the same digit, and how long does it take.

    python benchmarks/projection.py                   # 100 test digits + 16 drawings, about 3 minutes on 2 cores
    python benchmarks/projection.py --n 30 --drawings 0

Real digits: `--n` digits of the bundled MNIST's test split (load_dataset("mnist", split="test"), evenly spaced),
each projected with the default settings into the shipped unconditional weights/mnist-dcgan.safetensors; the MNIST
classifier (weights/classifier-mnist.safetensors) then reads the projection's image. Figures:
  class_share       the share of results the classifier gives the target digit's class (goal: >= 0.90)
  target_class_share  the classifier's accuracy on the targets themselves (the ceiling of class_share)
  pixel_error       mean absolute pixel error between result and target, on [0, 1]
  median_s, max_s   wall time of one projection, model loaded (goal: median and max <= 3 s)
  ms_per_step       median_s / steps
Drawings: `--drawings` test digits made into what a sketchpad gives: dark strokes on a transparent 280 x 280 RGBA
canvas, scaled 3.5-7x and placed off centre; projected with MNIST framing (the default) and without it
(frame=False), to measure what the framing rule buys: drawing_class_share, drawing_class_share_unframed.

Threads: the app's request handlers run torch on one OpenMP thread (gan.render.one_cpu_thread_here), and so does
this benchmark, as a visitor of the app would get it; `--threads-check K` also times K projections with torch's
default thread count (the command line's), reported as default_threads_median_s.
The generator was trained on all 10,000 bundled digits (split "all"), so these test digits are ones it has seen;
the classifier was trained on the train split only. The last line of stdout is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gan.classifier import load_classifier  # noqa: E402
from gan.data import load_dataset  # noqa: E402
from gan.pipeline import load_generator  # noqa: E402
from gan.project import STEPS_DEFAULT, project  # noqa: E402

CANVAS = 280


def drawing(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 MNIST digit (light on black) as a sketchpad's RGBA array: black ink, alpha = the stroke, on a
    transparent canvas, scaled and placed at random."""
    size = int(rng.integers(100, 200))
    ink = F.interpolate(torch.from_numpy(digit).float()[None, None] / 255, size=(size, size), mode="bilinear",
                        align_corners=False)[0, 0].clamp(0, 1).numpy()
    top, left = (int(v) for v in rng.integers(0, CANVAS - size, 2))
    canvas = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    canvas[top:top + size, left:left + size, 3] = np.rint(ink * 255).astype(np.uint8)
    return canvas


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def classify(clf, image: torch.Tensor) -> int:
    return int(clf.embed(image)[1].argmax(1)[0])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100, help="real test digits to project (default: %(default)s)")
    p.add_argument("--drawings", type=int, default=16, help="sketch-like digits, framed and not (default: 16)")
    p.add_argument("--threads-check", type=int, default=2, help="projections timed with default threads too")
    p.add_argument("--steps", type=int, default=STEPS_DEFAULT)
    args = p.parse_args(argv)

    pipe = load_generator(ROOT / "weights" / "mnist-dcgan.safetensors")
    clf, _ = load_classifier(ROOT / "weights" / "classifier-mnist.safetensors")
    test = load_dataset("mnist", split="test")
    index = torch.linspace(0, len(test) - 1, args.n).round().long()
    digits, labels = test.data[index, 0].numpy(), test.labels[index].tolist()
    default_threads = torch.get_num_threads()

    from gan.render import one_cpu_thread_here

    one_cpu_thread_here()
    project(pipe, digits[0], steps=5)  # warm-up: the first backward pass in a process sets up its kernels

    hits, target_hits, errors, seconds = 0, 0, [], []
    for k, (digit, label) in enumerate(zip(digits, labels)):
        r = project(pipe, digit, steps=args.steps)
        seconds.append(r.seconds)
        hits += classify(clf, r.image) == label
        target_hits += classify(clf, r.target) == label
        errors.append(float(((r.image - r.target).abs() / 2).mean()))
        if (k + 1) % 20 == 0:
            print(f"{k + 1}/{args.n}: class {hits}/{k + 1}, error {statistics.mean(errors):.4f}, "
                  f"median {statistics.median(seconds):.2f} s", flush=True)

    rng = np.random.default_rng(0)
    framed_hits = unframed_hits = 0
    pick = torch.linspace(0, len(test) - 1, args.drawings + 2).round().long()[1:-1].tolist() if args.drawings else []
    for i in pick:
        sketch, label = drawing(test.data[i, 0].numpy(), rng), int(test.labels[i])
        framed_hits += classify(clf, project(pipe, sketch, steps=args.steps).image) == label
        unframed_hits += classify(clf, project(pipe, sketch, steps=args.steps, frame=False).image) == label
    if pick:
        print(f"drawings: class {framed_hits}/{len(pick)} framed, {unframed_hits}/{len(pick)} unframed", flush=True)

    threaded = []
    if args.threads_check:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=default_threads, user_api="openmp"):
            for digit in digits[:args.threads_check]:
                threaded.append(project(pipe, digit, steps=args.steps).seconds)

    median = statistics.median(seconds)
    result = {"benchmark": "projection", "model": "mnist-dcgan", "n": args.n, "steps": args.steps, "threads": 1,
              "class_share": round(hits / args.n, 3), "target_class_share": round(target_hits / args.n, 3),
              "pixel_error": round(statistics.mean(errors), 4), "median_s": round(median, 3),
              "max_s": round(max(seconds), 3), "ms_per_step": round(1000 * median / args.steps, 1),
              "drawings": len(pick),
              "drawing_class_share": round(framed_hits / len(pick), 3) if pick else None,
              "drawing_class_share_unframed": round(unframed_hits / len(pick), 3) if pick else None,
              "default_threads": default_threads,
              "default_threads_median_s": round(statistics.median(threaded), 3) if threaded else None,
              "goals_met": hits / args.n >= 0.9 and max(seconds) <= 3.0,
              "machine": cpu_name(), "torch": torch.__version__}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
