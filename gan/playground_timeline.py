"""A Playground's timeline: a snapshot of the whole run every few steps, to rewind to, scrub through and fork from.

A snapshot is everything the next step depends on: G, D, the EMA G, both optimizers and the random stream
(gan.trainer.Trainer.state_dict), the live settings (learning rates, D steps per G step) and the step counters.
Restoring one and stepping on, with nothing changed, gives exactly the run that was there (same machine): the
random stream is part of it.

Memory is bounded per visitor (`budget_bytes`, TIMELINE_BYTES by default): a snapshot is taken every `every` G
steps, and when the snapshots together pass the budget the timeline keeps every other one and doubles `every`, so a
long run keeps its whole span, more coarsely. Step 0 and the latest snapshot always stay. At the Playground's
default sizes a snapshot is about 0.9 MB, a lesson's 0.27-2.0 MB (G and its EMA, D, and Adam's two moments of each;
measured after a step, once the moments exist). benchmarks/classroom.py measures 25 full timelines.

No Gradio and no training here: gan.playground takes the snapshots and restores them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from gan.errors import GanInputError

SNAPSHOT_EVERY = 25                 # G steps between snapshots at first (doubles as the budget fills)
TIMELINE_BYTES = 8 * 2 ** 20        # per visitor: 25 visitors keep at most 200 MB of snapshots


def tensor_bytes(obj) -> int:
    """Bytes held by the tensors in a nested dict / list (a state dict)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


@dataclass
class Snapshot:
    step: int                       # G updates so far
    d_steps: int
    trainer: dict                   # a deep copy of Trainer.state_dict()
    live: dict                      # the live settings at that moment (lr_g, lr_d, n_critic)
    diverged: str | None = None
    nbytes: int = field(default=0)

    def restored_state(self) -> dict:
        """A copy to load (loading must not alias the snapshot's tensors, or training would write into them)."""
        return copy.deepcopy(self.trainer)


class Timeline:
    """The snapshots of one run, oldest first, within a memory budget."""

    def __init__(self, every: int = SNAPSHOT_EVERY, budget_bytes: int = TIMELINE_BYTES):
        self.every = every
        self.budget_bytes = budget_bytes
        self.snapshots: list[Snapshot] = []

    @property
    def steps(self) -> list[int]:
        return [s.step for s in self.snapshots]

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.snapshots)

    @property
    def last_step(self) -> int:
        return self.snapshots[-1].step if self.snapshots else -1

    def due(self, step: int) -> bool:
        """Whether G step `step` should be kept: on the timeline's grid and newer than the latest snapshot."""
        return step % self.every == 0 and step > self.last_step

    def add(self, snapshot: Snapshot) -> None:
        snapshot.nbytes = tensor_bytes(snapshot.trainer)
        if self.snapshots and self.snapshots[-1].step == snapshot.step:
            self.snapshots[-1] = snapshot
        else:
            self.snapshots.append(snapshot)
        while self.nbytes > self.budget_bytes and len(self.snapshots) > 2:
            self._thin()

    def _thin(self) -> None:
        """Keep every other grid step (step 0 and the latest snapshot always), and snapshot half as often."""
        self.every *= 2
        last = self.snapshots[-1]
        kept = [s for s in self.snapshots[:-1] if s.step % self.every == 0]
        if len(kept) + 1 == len(self.snapshots):      # nothing on the old grid to drop: drop the oldest but step 0
            kept = kept[:1] + kept[2:]
        self.snapshots = kept + [last]

    def at(self, step) -> Snapshot:
        """The snapshot of G step `step`, or a message that says which steps the timeline holds."""
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step != step or not float(step).is_integer():
            raise GanInputError(f"rewind to which step? a whole number, not {step!r}")
        step = int(step)
        for s in self.snapshots:
            if s.step == step:
                return s
        if not self.snapshots or step > self.last_step:
            raise GanInputError(f"step {step} was never reached: this run's timeline goes up to step "
                                f"{max(self.last_step, 0)}")
        before = max((s.step for s in self.snapshots if s.step < step), default=0)
        after = min((s.step for s in self.snapshots if s.step > step), default=self.last_step)
        raise GanInputError(f"step {step} is not kept on this run's timeline (a snapshot every {self.every} steps, "
                            f"within {self.budget_bytes // 2 ** 20} MB): the nearest are steps {before} and {after}")

    def drop_after(self, step: int) -> None:
        """Forget the snapshots after `step`: the run forks from there."""
        self.snapshots = [s for s in self.snapshots if s.step <= step]
