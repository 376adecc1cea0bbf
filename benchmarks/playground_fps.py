"""Frames per second of the 2-D playground: a frame is k training steps plus every view (D heatmap with points and
arrows, G's manifold, curves) and the PacGAN figures (at most every 0.3 s), as the Playground tab's thread draws it.
The goal is at least 10 frames a second on a laptop CPU.

    python benchmarks/playground_fps.py [--seconds 5] [--threads 1] [--json]

Prints one line per setting, and the time split between training and drawing (the machine is shared: compare
lines from the same run)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure(loss: str, steps_per_frame: int, seconds: float) -> dict:
    from gan.playground import Playground, PlaygroundConfig

    pg = Playground(PlaygroundConfig(dataset="grid25", loss=loss))
    pg.step_both(steps_per_frame)
    pg.snapshot()  # warm-up
    frames, t_train, t_draw, figures_at = 0, 0.0, 0.0, 0.0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a = time.perf_counter()
        pg.step_both(steps_per_frame)
        b = time.perf_counter()
        fresh = b - figures_at >= 0.3   # as the Playground tab: mode figures at most every 0.3 s
        figures_at = b if fresh else figures_at
        pg.snapshot(480, figures=fresh, frame=True)   # as the tab draws it: 480 px views, stacked
        c = time.perf_counter()
        frames, t_train, t_draw = frames + 1, t_train + b - a, t_draw + c - b
    wall = time.perf_counter() - t0
    return {"loss": loss, "steps_per_frame": steps_per_frame, "fps": round(frames / wall, 1),
            "steps_per_s": round(frames * steps_per_frame / wall, 1),
            "train_ms_per_frame": round(1000 * t_train / frames, 1), "draw_ms_per_frame": round(1000 * t_draw / frames, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [measure(loss, k, args.seconds) for loss, k in (("bce", 1), ("bce", 5), ("wgan-gp", 1))]
    info = {"threads": torch.get_num_threads(), "cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]}
    if args.json:
        print(json.dumps({"machine": info, "rows": rows}))
        return
    print(f"torch threads {info['threads']}, {info['cpus']} CPUs, load average {info['load_avg_1min']:.1f}")
    for r in rows:
        print(f"{r['loss']:8s} {r['steps_per_frame']} step(s)/frame: {r['fps']:5.1f} frames/s "
              f"({r['steps_per_s']:.0f} steps/s; per frame {r['train_ms_per_frame']} ms training, "
              f"{r['draw_ms_per_frame']} ms drawing)")


if __name__ == "__main__":
    main()
