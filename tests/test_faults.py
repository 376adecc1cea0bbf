"""kill -9 at random moments, many of them in the middle of a checkpoint write: every time, the run resumes from a
valid checkpoint, and its log has no holes or duplicates.

Each run is a real process killed with SIGKILL, as a user's `python -m gan.train` would be, but forked from a
multiprocessing fork server that has imported what a run imports once (and computed nothing, so it forks
cleanly): the time goes on the kills, not on importing torch twenty times."""
import json
import multiprocessing
import random
import signal
import time

import torch

import gan.train
from gan.cli import run_main
from tests.conftest import in_process

KILLS = 20
STEPS = 100_000  # the killed runs' total, never reached: each one dies mid-run, whatever the machine's speed
FINAL = 10   # the last resume runs this many steps past the last checkpoint, to its end


def test_kill_9_at_20_random_moments(tmp_path):
    out = tmp_path / "run"
    rng = random.Random(1234)
    # checkpoint every step: most moments fall inside or right around a checkpoint write
    args = ["--steps", str(STEPS), "--checkpoint-every", "1", "--log-every", "1", "--sample-every", "7",
            "--g-width", "4", "--d-width", "4", "--batch-size", "8", "--z-dim", "8", "--out", str(out), "--resume"]
    mp = multiprocessing.get_context("forkserver")
    # what a run imports, some of it lazily (Adam's first use imports torch._dynamo: 2 s), so that a child starts
    # training at once and the time goes on kills rather than imports
    mp.set_forkserver_preload(["gan.train", "gan.rundir", "gan.trainer", "gan.viz", "tqdm", "torch._dynamo",
                               "torchvision", "PIL.Image"])
    resumed_steps = []
    for kill in range(KILLS):
        log_file = out / "metrics.jsonl"
        before = len(log_file.read_text().splitlines()) if log_file.is_file() else 0
        p = mp.Process(target=run_main, args=(gan.train.main, args))  # what `python -m gan.train ...` runs
        p.start()
        deadline = time.time() + 120
        while time.time() < deadline and p.is_alive():  # wait until this process has trained a little
            if log_file.is_file() and len(log_file.read_text().splitlines()) > before + 1:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.4))  # a random moment of the run
        p.kill()
        p.join()
        assert p.exitcode == -signal.SIGKILL, (kill, p.exitcode)  # killed mid-run, not finished or failed
        # the checkpoint on disk is always whole and loadable
        state = torch.load(out / "checkpoint.pt", weights_only=True)
        resumed_steps.append(state["step"])
        assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())
    assert resumed_steps == sorted(resumed_steps) and resumed_steps[-1] < STEPS
    total = resumed_steps[-1] + FINAL
    finished = in_process("gan.train", *args[2:], "--steps", total)
    assert finished.returncode == 0, finished.stderr
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, total + 1)), "holes or duplicates in the log"
    assert not [p for p in out.rglob(".*.tmp*")], "temporary files left behind"
    assert (out / "generator.safetensors").is_file()
