"""A run's checkpoints as a timeline: which snapshot is nearest a step, and what the run's fixed latents looked like
there, as a grid (or, for 2-D data, a point cloud).

Time travel asks for the same few snapshots again and again (a slider dragged back and forth, an animation played
twice), so each snapshot's generator and picture are made once and kept, a bounded number of them, per run. One
snapshot file is a few hundred kilobytes and never changes once written (gan.rundir writes it atomically), so a
cached picture stays true; a run cut back on resume rewrites its later files, which changes their mtime and so their
cache key.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from gan.errors import FieldError, GanInputError

GRID_SAMPLES = 64        # the fixed latents shown at each checkpoint (seeds 0..63, as in the run's sample grid)
POINT_SAMPLES = 512
KEEP_PIPES = 4           # generators kept loaded (the slider usually moves between neighbours)
KEEP_PICTURES = 256      # pictures kept: about 180 KB each for a 28x28 grid
ANIMATION_FPS = (1, 12)  # the animation's checkpoints per second, lowest and highest


class Timeline:
    """The snapshots of one run folder (gan.rundir.list_snapshots), with cached generators and pictures.
    Thread-safe: any number of viewers may ask at once; each snapshot is decoded once."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._pipes: OrderedDict = OrderedDict()
        self._pictures: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def steps(self) -> list[int]:
        from gan.rundir import list_snapshots

        return [s for s, _ in list_snapshots(self.folder)]

    def nearest(self, step) -> tuple[int, Path]:
        """The snapshot closest to `step` (the later one on a tie), so a slider that moves in steps can land
        anywhere and still show a real checkpoint."""
        from gan.rundir import list_snapshots

        snaps = list_snapshots(self.folder)
        if not snaps:
            raise GanInputError("this run has no checkpoints yet: the first is saved after its first "
                                "checkpoint interval")
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step):
            raise FieldError("step", "must be a number", step)
        target = float(step)
        return min(snaps, key=lambda sp: (abs(sp[0] - target), -sp[0]))

    def pipe(self, path: Path):
        """The generator saved in one snapshot file, loaded once (the last KEEP_PIPES are kept)."""
        from gan.pipeline import load_generator

        key = _key(path)
        with self._lock:
            if key in self._pipes:
                self._pipes.move_to_end(key)
                return self._pipes[key]
        pipe = load_generator(path)
        with self._lock:
            self._pipes[key] = pipe
            while len(self._pipes) > KEEP_PIPES:
                self._pipes.popitem(last=False)
        return pipe

    def picture(self, step) -> tuple[int, np.ndarray]:
        """(the snapshot's step, an RGB uint8 picture of the fixed latents there): a grid of GRID_SAMPLES images,
        or POINT_SAMPLES points for a 2-D model. Made once per snapshot file."""
        at, path = self.nearest(step)
        key = _key(path)
        with self._lock:
            if key in self._pictures:
                self._pictures.move_to_end(key)
                return at, self._pictures[key]
        picture = _draw(self.pipe(path))
        with self._lock:
            self._pictures[key] = picture
            while len(self._pictures) > KEEP_PICTURES:
                self._pictures.popitem(last=False)
        return at, picture

    def one(self, step, seed: int, size: int = 224) -> tuple[int, np.ndarray | None]:
        """One seed's image at the snapshot nearest `step`, upscaled to `size` px (None for a 2-D model)."""
        from gan.latent import check_seed
        from gan.viz import upscale

        at, path = self.nearest(step)
        pipe = self.pipe(path)
        if pipe.is_points:
            return at, None
        return at, upscale(pipe(seeds=[check_seed(seed)], output_type="np")[0], size)

    def frames(self, every: int = 1) -> list[tuple[int, np.ndarray]]:
        """Every `every`-th snapshot's picture, oldest first, and always the last: an animation of the run."""
        steps = self.steps()
        if not steps:
            raise GanInputError("this run has no checkpoints yet")
        pick = steps[::max(1, int(every))]
        if pick[-1] != steps[-1]:
            pick.append(steps[-1])
        return [self.picture(s) for s in pick]


    def save_animation(self, path: Path, fps: float = 4, every: int = 1) -> list[int]:
        """An animated GIF of the run through its checkpoints (each frame captioned with its step), written
        atomically; returns the steps it shows."""
        from gan.viz import save_gif

        low, high = ANIMATION_FPS
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not low <= fps <= high:  # NaN fails too
            raise FieldError("fps", f"must be a number from {low} to {high}", fps)
        frames = self.frames(every)
        save_gif(path, [captioned(picture, f"step {step:,}") for step, picture in frames], fps=fps, size=None)
        return [step for step, _ in frames]


def captioned(picture: np.ndarray, text: str, band: int = 16) -> np.ndarray:
    """The picture (grey or RGB uint8) with `text` in a white band under it, so a frame says where it is."""
    from PIL import Image, ImageDraw

    rgb = picture if picture.ndim == 3 else np.stack([picture] * 3, axis=-1)
    out = Image.new("RGB", (rgb.shape[1], rgb.shape[0] + band), "white")
    out.paste(Image.fromarray(np.ascontiguousarray(rgb)), (0, 0))
    ImageDraw.Draw(out).text((4, rgb.shape[0] + 2), text, fill="black")
    return np.asarray(out)


def _key(path: Path) -> tuple:
    st = path.stat()
    return str(path), st.st_mtime_ns, st.st_size


def _draw(pipe) -> np.ndarray:
    import torch

    from gan.viz import grid_array, scatter_array

    with torch.inference_mode():
        if pipe.is_points:
            return scatter_array(None, pipe(seeds=range(POINT_SAMPLES)))
        return grid_array(pipe.decode(pipe.latents(range(GRID_SAMPLES))))
