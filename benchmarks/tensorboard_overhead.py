"""What TensorBoard costs a training run: TrainingSession.advance() with and without its event files, in one process.

Two sessions of the same run (the 28x28 DCGAN on the bundled MNIST digits, bce, batch 64, the default schedule:
a log line every 10 steps, a sample grid every 250, a checkpoint every 500) train in lockstep, one writing
TensorBoard (the default), one with --no-tensorboard. Rounds interleave them (on, off; off, on; ...) so that load
from other processes hits both alike; both sessions are at the same steps in each round, so a round that holds a
sample grid or a checkpoint holds it for both. Figures:

  overhead        median over rounds of (time with / time without) - 1: the throughput cost (limit: 2%)
  overhead_total  total time with / total time without - 1, over all rounds
  direct          share of the TensorBoard run's time spent inside its RunBoard calls on the training thread
                  (building the events, queueing them, reading the grid PNG back); the writer's own thread and the
                  GIL it takes are in `overhead` only

    python benchmarks/tensorboard_overhead.py                       # about 3 minutes on a 2-core CPU
    python benchmarks/tensorboard_overhead.py --device cuda
    python benchmarks/tensorboard_overhead.py --rounds 2 --steps 10 --warmup 2   # a smoke run

The last line of stdout is one JSON object: {"device", "config", "batch_size", "rounds", "steps_per_round",
"off_img_s", "on_img_s", "overhead", "overhead_total", "direct", "limit", "within_limit", "event_files",
"scalar_events"}.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gan.config import TrainConfig  # noqa: E402
from gan.rundir import TrainingSession  # noqa: E402
from gan.run_files import TENSORBOARD_DIR  # noqa: E402

LIMIT = 0.02
# Steps per timed round, rounds, warm-up steps per way (the warm-up takes the first log line, which opens the event
# file). One CPU step of this network takes 80-120 ms on 2 quiet cores, so 12 rounds of 50 steps per way (1,220 steps
# in all, crossing two sample grids and a checkpoint) take 2-2.5 minutes; on CUDA a step takes a few milliseconds
# and a round is 50 log lines and two grids.
PLAN = {"cpu": dict(steps=50, rounds=12, warmup=10), "cuda": dict(steps=500, rounds=8, warmup=100)}
BOARD_CALLS = ("log_entry", "image_file", "quality", "hparams", "flush", "close")


class Timed:
    """Seconds spent in a RunBoard's calls on the training thread."""

    def __init__(self, board):
        self.seconds = 0.0
        for name in BOARD_CALLS:
            setattr(board, name, self._wrap(getattr(board, name)))

    def _wrap(self, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
        return timed


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_round(session: TrainingSession, steps: int, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        session.advance()
    sync(device)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, help="interleaved timed rounds per way (default: per device)")
    p.add_argument("--steps", type=int, help="steps per timed round (default: per device)")
    p.add_argument("--warmup", type=int, help="untimed steps per way first (default: per device)")
    p.add_argument("--amp", default="auto", choices=("auto", "on", "off"), help="as gan.train's --amp")
    p.add_argument("--compile", action="store_true", help="torch.compile G and D, as gan.train's --compile")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA GPU here", file=sys.stderr)
        return 2
    plan = PLAN[device.type]
    steps = args.steps or plan["steps"]
    rounds = args.rounds or plan["rounds"]
    warmup = plan["warmup"] if args.warmup is None else args.warmup
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, device {name}", flush=True)

    with tempfile.TemporaryDirectory(prefix="ganscope-tb-bench-") as tmp:
        base = dict(dataset="mnist", arch="dcgan", loss="bce", batch_size=args.batch_size, device=str(device),
                    amp=args.amp, compile=args.compile, steps=10 ** 7)
        ways = {"on": TrainingSession(TrainConfig(**base, tensorboard=True), Path(tmp) / "on"),
                "off": TrainingSession(TrainConfig(**base, tensorboard=False), Path(tmp) / "off")}
        timer = Timed(ways["on"].board)
        for session in ways.values():
            run_round(session, warmup, device)
        timer.seconds = 0.0
        seconds = {k: [] for k in ways}
        for r in range(rounds):
            for k in (("on", "off") if r % 2 == 0 else ("off", "on")):
                seconds[k].append(run_round(ways[k], steps, device))
            print(f"# round {r + 1} (steps {ways['on'].step - steps + 1}-{ways['on'].step}): "
                  f"on {seconds['on'][-1]:.3f} s, off {seconds['off'][-1]:.3f} s, "
                  f"ratio {seconds['on'][-1] / seconds['off'][-1]:.4f}", flush=True)
        for session in ways.values():
            session.checkpoint_now()  # closes the event file
        folder = Path(tmp) / "on" / TENSORBOARD_DIR
        event_files = sorted(folder.glob("events.out.tfevents.*"))
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        ea = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        ea.Reload()
        scalar_events = len(ea.Scalars("Loss/D"))

    images = args.batch_size * ways["on"].cfg.n_critic * steps
    ratios = [on / off for on, off in zip(seconds["on"], seconds["off"])]
    overhead = statistics.median(ratios) - 1
    result = {"device": name, "config": "mnist28-dcgan-bce", "batch_size": args.batch_size, "rounds": rounds,
              "steps_per_round": steps,
              "off_img_s": round(images * rounds / sum(seconds["off"]), 1),
              "on_img_s": round(images * rounds / sum(seconds["on"]), 1),
              "overhead": round(overhead, 4), "overhead_total": round(sum(seconds["on"]) / sum(seconds["off"]) - 1, 4),
              "direct": round(timer.seconds / sum(seconds["on"]), 5), "limit": LIMIT,
              "within_limit": overhead <= LIMIT, "event_files": len(event_files), "scalar_events": scalar_events}
    print(f"# TensorBoard on / off: median round ratio {1 + overhead:.4f} (limit {1 + LIMIT:.2f}), "
          f"total {1 + result['overhead_total']:.4f}; {100 * result['direct']:.3f}% of the time in its calls")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
