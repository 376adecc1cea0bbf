"""Scale-out with torch.distributed: `torchrun --nproc_per_node=N -m gan.train ...` trains with
DistributedDataParallel (NCCL on CUDA, gloo on CPU). Everything distributed lives here; the single-process path
never imports torch.distributed and is unchanged.

How a GAN step maps onto DDP:
  * G and D are each wrapped in DDP, and a small dispatcher decides per call which one a forward goes through.
    A forward that will be backpropagated into the module's own weights (grad enabled and its weights require
    grad) goes through the DDP wrapper, so its gradients are averaged over the ranks. The others use the bare
    module: G inside the D step (under no_grad) and D inside the G step (its weights frozen, it only carries the
    gradient back to G). DDP would otherwise wait for D gradients that never come and fail on the next step, and
    find_unused_parameters=True would all-reduce a D-sized bucket of zeros on every G step.
  * Each rank draws its own batches from its own shard of the data (samples rank, rank + N, ...), with its own
    random stream derived from (seed, rank, step), so the effective batch is N x --batch-size.
  * BatchNorm: on CUDA the layers become SyncBatchNorm (statistics of the global batch, as one process with the
    N-times batch would compute them). PyTorch's SyncBatchNorm has no CPU kernel, so on CPU each rank normalises
    over its own batch (ordinary DDP) and the running statistics are averaged over the ranks after every step;
    either way every rank holds identical weights and buffers after each step.
  * Rank 0 alone reads and writes the run folder (samples, logs, checkpoints); on --resume it sends the training
    state to the other ranks, so several nodes need no shared filesystem. A checkpoint holds the bare modules'
    state, so it resumes under any world size, and in a single process.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank if it is true on any rank (a stop request must stop all ranks at the same step)."""
        import torch.distributed as dist

        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def broadcast(self, obj):
        """Rank 0's value of a small picklable object, on every rank."""
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device if self.backend == "nccl" else None)
        return box[0]

    def close(self) -> None:
        """Tear the process group down. Call it once the trainers are gone: a DDP wrapper still alive (or waiting
        in a reference cycle) keeps gloo's threads until interpreter shutdown, where tearing them down aborts the
        process ("terminate called without an active exception") after the run itself has finished."""
        import gc

        import torch.distributed as dist

        gc.collect()  # free DDP wrappers caught in reference cycles while the group can still shut them down
        if dist.is_initialized():
            dist.destroy_process_group()


def launched_world_size() -> int:
    """The world size torchrun (or any launcher that sets WORLD_SIZE) asked for; 1 when run plainly."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def init_from_env(device: str = "auto") -> DistContext | None:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
    MASTER_PORT). Returns None for a single process: the ordinary, undistributed path."""
    if launched_world_size() <= 1:
        return None
    import torch.distributed as dist

    from gan.devices import resolve_device

    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, **({"device_id": dev} if dev.type == "cuda" else {}))
    return DistContext(rank, world, local, dev, backend)


def rank_seed(seed: int, rank: int, step: int) -> int:
    """The seed of one rank's random stream, from the run's seed, the rank and the step it (re)starts at."""
    return int(np.random.SeedSequence([int(seed), int(rank), int(step)]).generate_state(1, np.uint64)[0] >> 1)


class Dispatch:
    """Calls `ddp` for forwards that backpropagate into the module's own weights, `bare` for the others."""

    def __init__(self, module: nn.Module, ddp, bare):
        self.first = next(module.parameters())
        self.ddp, self.bare = ddp, bare

    def __call__(self, *args, **kwargs):
        through_ddp = torch.is_grad_enabled() and self.first.requires_grad
        return (self.ddp if through_ddp else self.bare)(*args, **kwargs)


def shard_dataset(data, rank: int, world_size: int) -> None:
    """Keep samples rank, rank + world_size, ... of the dataset (in place)."""
    data.data = data.data[rank::world_size].contiguous()
    if data.labels is not None:
        data.labels = data.labels[rank::world_size].contiguous()


def setup_trainer(trainer, ctx: DistContext, shard: bool = True) -> None:
    """Turn a freshly built (or resumed) Trainer into one rank of a DDP run. Call it on every rank, after any
    checkpoint was loaded: DDP then broadcasts rank 0's weights, so all ranks start identical."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    from gan.errors import GanInputError

    if shard:
        shard_dataset(trainer.data, ctx.rank, ctx.world_size)
        if trainer.cfg.batch_size > len(trainer.data):
            raise GanInputError(f"--batch-size {trainer.cfg.batch_size} is larger than one rank's shard of the data "
                                f"({len(trainer.data)} samples with {ctx.world_size} processes)")
    trainer.rng.manual_seed(rank_seed(trainer.cfg.seed, ctx.rank, trainer.step_count))
    trainer.dist = ctx
    sync_bn = ctx.device.type == "cuda"
    for name in ("G", "D"):
        module = getattr(trainer, name)
        if sync_bn:  # keeps the same Parameter and buffer objects, so the optimizers and state_dict keys hold
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
            setattr(trainer, name, module)
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        # A growing model (one with set_progress, e.g. progan) leaves the blocks of resolutions it has not reached
        # without gradients: DDP must look for unused parameters there; the fixed-shape families need not.
        growing = hasattr(module, "set_progress")
        ddp = DDP(module, device_ids=ids, forward_sync_buffers=False,  # buffers: see _sync_buffers
                  find_unused_parameters=growing)
        bare = torch.compile(module) if trainer.cfg.compile else module
        fn = Dispatch(module, torch.compile(ddp) if trainer.cfg.compile else ddp, bare)
        setattr(trainer, "g_step_fn" if name == "G" else "d_step_fn", fn)
        if name == "D":  # the gradient penalty's D: through DDP like the others, but never compiled
            trainer.d_penalty_fn = Dispatch(module, ddp, module)
    trainer._average_buffers = not sync_bn  # no SyncBatchNorm: average the statistics after each step
    _sync_buffers(trainer, ctx)  # DDP broadcast the weights; the BatchNorm statistics follow rank 0 here too


def _sync_buffers(trainer, ctx: DistContext, average: bool = False) -> None:
    import torch.distributed as dist

    for module in (trainer.G, trainer.D, trainer.G_ema):
        floats = [b for b in module.buffers() if b.is_floating_point()]
        if not floats:
            continue
        flat = torch.cat([b.detach().flatten() for b in floats])
        if average:
            dist.all_reduce(flat)
            flat /= ctx.world_size
        else:
            dist.broadcast(flat, 0)
        offset = 0
        for b in floats:
            b.copy_(flat[offset:offset + b.numel()].view_as(b))
            offset += b.numel()


def step(trainer, ctx: DistContext) -> None:
    """One training step on this rank; afterwards all ranks hold identical weights and buffers."""
    trainer.step()
    if getattr(trainer, "_average_buffers", False):
        with torch.no_grad():
            _sync_buffers(trainer, ctx, average=True)


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def open_session(cfg, out: Path, resume: bool, ctx: DistContext, changes: dict | None = None):
    """A TrainingSession on every rank. Rank 0 opens the run folder (checks, config.json, the checkpoint when
    resuming) and sends the resolved settings and the training state to the others, so nodes need no shared
    filesystem; the other ranks get no folder and write nothing."""
    import copy

    from gan.errors import GanInputError
    from gan.rundir import TrainingSession

    cfg = copy.deepcopy(cfg)
    cfg.device = str(ctx.device)  # cuda:<local rank> on a multi-GPU node
    if ctx.is_writer:
        try:
            session = TrainingSession(cfg, out, resume=resume, changes=changes)
        except BaseException as e:
            ctx.broadcast({"error": str(e) or e.__class__.__name__})  # the others give up instead of waiting
            raise
        state = _to_cpu(session.trainer.state_dict()) if session.resumed_from else None
        ctx.broadcast({"cfg": session.trainer.cfg, "state": state})
    else:
        sent = ctx.broadcast(None)
        if "error" in sent:
            raise GanInputError(f"rank 0 could not start the run: {sent['error']}")
        cfg = sent["cfg"]
        cfg.device = str(ctx.device)
        session = TrainingSession(cfg, None)
        if sent["state"] is not None:
            session.trainer.load_state_dict(sent["state"])
            session.resumed_from = session.trainer.step_count
    setup_trainer(session.trainer, ctx)
    return session


def advance(session, ctx: DistContext) -> dict | None:
    """TrainingSession.advance for one rank: the step, the buffer sync, then rank 0's log, samples, checkpoint."""
    step(session.trainer, ctx)
    return session.housekeeping()
