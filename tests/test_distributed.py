"""DistributedDataParallel on 2 CPU processes (gloo): every rank holds identical weights after every step, 2 ranks
of batch B match 1 process of batch 2B, and torchrun runs the command line with a checkpoint that resumes under
another world size (the single-process legs run gan.train's main in this process)."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from gan.config import TrainConfig
from gan.trainer import Trainer
from tests.conftest import in_process

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(g_width=8, d_width=8, z_dim=16, device="cpu")
B = 16            # per-rank batch of the equivalence check (the 1-process run uses 2 * B)
STEPS = 3
# 2 ranks averaging two half-batch gradients vs one process on the whole batch differ only in float summation
# order; after three Adam steps (lr 1e-3) the weights were measured 1.5e-8 apart at most. The tolerance is 1e-6, a
# thousandth of one step's size; a rank missing the other's gradient is off by ~1e-3.
TOLERANCE = 1e-6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def state_vector(*modules) -> torch.Tensor:
    return torch.cat([t.detach().flatten().double() for m in modules
                      for t in list(m.parameters()) + list(m.buffers())])


def inject_batches(trainer, rank: int, world: int, per_rank: int) -> None:
    """Replace the trainer's sampling with a global batch drawn from a counter-seeded generator, of which rank r
    takes rows [r * per_rank, (r + 1) * per_rank): the same samples and noise, however they are split."""
    calls = [0]

    def draw():
        calls[0] += 1
        return torch.Generator().manual_seed(1000 + calls[0])

    def real_batch():
        idx = torch.randint(len(trainer.data), (world * per_rank,), generator=draw())
        return trainer.data.batch(idx[rank * per_rank:(rank + 1) * per_rank]), None

    def noise(n):
        assert n == per_rank
        z = torch.randn(world * per_rank, trainer.model_config.z_dim, generator=draw())
        return z[rank * per_rank:(rank + 1) * per_rank]

    trainer._real_batch, trainer._noise = real_batch, noise


def _identical_weights_report(ctx, world: int) -> dict:
    """Identical weights and buffers on every rank after every step: DCGAN with BatchNorm on sharded MNIST, and
    WGAN-GP (double backward through DDP, two D steps per G step) on 2-D points."""
    import torch.distributed as dist

    from gan import distributed as gd

    report = {}
    for name, kw in (("dcgan-bce", dict(dataset="mnist", loss="bce", batch_size=8)),
                     ("mlp-wgan-gp", dict(dataset="grid25", loss="wgan-gp", n_critic=2, batch_size=32))):
        t = Trainer(TrainConfig(**TINY, **kw))
        gd.setup_trainer(t, ctx)
        start = state_vector(t.G, t.D)
        diffs = []
        for _ in range(STEPS):
            gd.step(t, ctx)
            v = state_vector(t.G, t.D, t.G_ema)
            gathered = [torch.zeros_like(v) for _ in range(world)]
            dist.all_gather(gathered, v)
            diffs.append(max(float((g - gathered[0]).abs().max()) for g in gathered))
        t.flush()
        report[name] = {"diffs": diffs, "moved": float((state_vector(t.G, t.D) - start).abs().max()),
                        "shard": len(t.data)}
    return report


def _split_batch_weights(ctx, rank: int, world: int) -> dict:
    """The same global batch split over the ranks: a model without BatchNorm (mlp), unsharded data."""
    from gan import distributed as gd

    t = Trainer(TrainConfig(**TINY, dataset="grid25", loss="bce", batch_size=B))
    gd.setup_trainer(t, ctx, shard=False)
    inject_batches(t, rank, world, B)
    for _ in range(STEPS):
        gd.step(t, ctx)
    return {"G": state_vector(t.G), "D": state_vector(t.D)}


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from gan import distributed as gd

    ctx = gd.init_from_env("cpu")
    # The trainers live inside the helpers, so none outlives the process group (as in gan.train's main): one left
    # for interpreter shutdown aborts the process there, once in a few dozen runs.
    report = _identical_weights_report(ctx, world)
    split = _split_batch_weights(ctx, rank, world)
    if rank == 0:
        torch.save(split, Path(out) / "split.pt")
        (Path(out) / "report.json").write_text(json.dumps(report))
    ctx.barrier()  # leave together, as gan.train does
    ctx.close()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    return out


def test_ranks_hold_identical_weights_after_each_step(two_ranks):
    report = json.loads((two_ranks / "report.json").read_text())
    for name, r in report.items():
        assert r["diffs"] == [0.0] * STEPS, (name, r["diffs"])
        assert r["moved"] > 1e-4, name  # and the weights did train
    assert report["dcgan-bce"]["shard"] == 5000  # each rank draws from its half of the 10,000 digits


def test_two_ranks_match_one_process_with_the_global_batch(two_ranks):
    split = torch.load(two_ranks / "split.pt", weights_only=True)
    t = Trainer(TrainConfig(**TINY, dataset="grid25", loss="bce", batch_size=2 * B))
    start = state_vector(t.G)
    inject_batches(t, 0, 1, 2 * B)
    for _ in range(STEPS):
        t.step()
    for name, module in (("G", t.G), ("D", t.D)):
        diff = float((split[name] - state_vector(module)).abs().max())
        print(f"{name}: max |2 ranks - 1 process| = {diff:.2e}")
        assert diff < TOLERANCE, (name, diff)
    assert float((state_vector(t.G) - start).abs().max()) > 100 * TOLERANCE  # far above the tolerance


def test_torchrun_trains_and_resumes_under_another_world_size(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    common = ["--dataset", "grid25", "--device", "cpu", "--out", str(out), "--checkpoint-every", "2",
              "--log-every", "1", "--sample-every", "100", "--batch-size", "32"]

    def torchrun(steps, *extra):
        return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port",
                               str(free_port()), "-m", "gan.train", "--steps", str(steps), *common, *extra],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)

    def logged_steps():
        return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]

    def plain(steps):  # one process: this one, through the same main as `python -m gan.train`
        return in_process("gan.train", "--steps", steps, "--resume", *common)

    one = plain(2)  # 1 process, then 2 (rank 0 sends the checkpoint's state to rank 1), then 1 again
    assert one.returncode == 0, one.stderr[-3000:]
    two = torchrun(4, "--resume")
    assert two.returncode == 0, two.stderr[-3000:]
    assert "DistributedDataParallel: 2 processes (gloo)" in two.stderr and "resumed" in two.stderr
    assert logged_steps() == [1, 2, 3, 4]  # rank 0 alone logs
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 4
    one = plain(6)
    assert one.returncode == 0, one.stderr[-3000:]
    assert logged_steps() == [1, 2, 3, 4, 5, 6]
    assert (out / "generator.safetensors").is_file()
