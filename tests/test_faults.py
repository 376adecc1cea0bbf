"""kill -9 at random moments, many of them in the middle of a checkpoint write: every time, the run resumes from a
valid checkpoint, and its log has no holes or duplicates."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
KILLS = 20
STEPS = 400


def test_kill_9_at_20_random_moments(tmp_path):
    out = tmp_path / "run"
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # checkpoint every step: most moments fall inside or right around a checkpoint write
    args = [sys.executable, "-m", "gan.train", "--steps", str(STEPS), "--checkpoint-every", "1", "--log-every", "1",
            "--sample-every", "7", "--g-width", "4", "--d-width", "4", "--batch-size", "8", "--z-dim", "8",
            "--out", str(out), "--resume"]
    resumed_steps = []
    for kill in range(KILLS):
        log_file = out / "metrics.jsonl"
        before = len(log_file.read_text().splitlines()) if log_file.is_file() else 0
        p = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None:  # wait until this process has trained a little
            if log_file.is_file() and len(log_file.read_text().splitlines()) > before + 1:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.4))
        p.send_signal(signal.SIGKILL)
        p.wait()
        # the checkpoint on disk is always whole and loadable
        state = torch.load(out / "checkpoint.pt", weights_only=True)
        resumed_steps.append(state["step"])
        assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())
    finished = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1)), "holes or duplicates in the log"
    assert resumed_steps == sorted(resumed_steps) and resumed_steps[-1] < STEPS
    assert not [p for p in out.rglob(".*.tmp*")], "temporary files left behind"
    assert (out / "generator.safetensors").is_file()
