"""Pictures without Gradio: image grids, 2-D scatter plots, upscaling, animated GIF / MP4 export.
Everything writes atomically, and draws with torchvision / PIL / numpy (fast enough for live views)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from gan.checkpoint import write_with


def grid_array(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """[-1, 1] images (N, C, H, W) -> one uint8 grid (H', W') or (H', W', 3), as square as possible."""
    from torchvision.utils import make_grid

    n = images.shape[0]
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, normalize=True,
                     value_range=(-1, 1), pad_value=1.0)
    arr = (grid * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return arr[..., 0] if images.shape[1] == 1 else arr


def save_grid(path: str | Path, images: torch.Tensor, nrow: int | None = None) -> None:
    from PIL import Image

    img = Image.fromarray(grid_array(images, nrow))
    write_with(path, lambda tmp: img.save(tmp, format="PNG"))


def upscale(image: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour upscaling by a whole factor, so pixels stay crisp."""
    factor = max(1, size // image.shape[0])
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def scatter_array(real: np.ndarray | None, fake: np.ndarray, size: int = 360,
                  bounds: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Real points (green) and generated points (purple) on a white canvas, drawn with numpy: fast enough to redraw
    ten times a second."""
    pts = fake if real is None else np.concatenate([real, fake])
    if bounds is None:
        lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
        pad = 0.1 * np.maximum(hi - lo, 1e-3)
        bounds = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    canvas = np.full((size, size, 3), 255, np.uint8)
    for points, colour in ((real, (60, 170, 90)), (fake, (120, 60, 200))):
        if points is None or len(points) == 0:
            continue
        x0, x1, y0, y1 = bounds
        px = ((points[:, 0] - x0) / (x1 - x0) * (size - 1)).round().astype(int)
        py = ((y1 - points[:, 1]) / (y1 - y0) * (size - 1)).round().astype(int)
        keep = (px >= 0) & (px < size) & (py >= 0) & (py < size)
        for dx in (0, 1):
            for dy in (0, 1):
                canvas[np.clip(py[keep] + dy, 0, size - 1), np.clip(px[keep] + dx, 0, size - 1)] = colour
    return canvas


def save_scatter(path: str | Path, real: np.ndarray | None, fake: np.ndarray) -> None:
    from PIL import Image

    img = Image.fromarray(scatter_array(real, fake))
    write_with(path, lambda tmp: img.save(tmp, format="PNG"))


def frames_to_uint8(frames: Sequence[np.ndarray], size: int | None = None) -> list[np.ndarray]:
    """Frames as RGB uint8 (H, W, 3), upscaled to about `size` pixels; video encoders want even sizes."""
    out = []
    for f in frames:
        f = upscale(f, size) if size else f
        if f.ndim == 2:
            f = np.stack([f] * 3, axis=-1)
        out.append(np.ascontiguousarray(f))
    return out


def save_gif(path: str | Path, frames: Sequence[np.ndarray], fps: float = 12, size: int | None = 256) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames_to_uint8(frames, size)]
    duration = int(round(1000 / fps))
    write_with(path, lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                               duration=duration, loop=0))


def save_mp4(path: str | Path, frames: Sequence[np.ndarray], fps: float = 12, size: int | None = 256) -> None:
    """H.264 through the ffmpeg binary that the imageio-ffmpeg wheel carries (no system ffmpeg needed)."""
    import imageio.v2 as imageio

    frames = frames_to_uint8(frames, size)

    def write(tmp):
        with imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                quality=8, macro_block_size=4) as w:
            for f in frames:
                w.append_data(f)

    write_with(path, write)


def loss_figure(history: Sequence[dict], changes: Sequence[dict] = (), title: str = ""):
    """D and G losses (left) and D(x), D(G(z)) (right) against the step, with a dashed marker at every live
    hyperparameter change. A matplotlib Figure built without pyplot (no global registry to leak in a server)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.0), dpi=90, layout="constrained")
    ax_loss, ax_d = fig.subplots(1, 2)
    steps = [e["step"] for e in history]
    for ax, keys in ((ax_loss, (("loss_d", "D loss"), ("loss_g", "G loss"))),
                     (ax_d, (("d_real", "D(x)"), ("d_fake", "D(G(z))")))):
        for key, label in keys:
            values = [e.get(key, float("nan")) for e in history]
            if values:
                ax.plot(steps, values, label=label, linewidth=1.2)
        for change in changes:
            ax.axvline(change["step"], color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if history:
            ax.legend(loc="best", fontsize=8)
    if changes:
        last = changes[-1]
        ax_loss.set_title("last change at step {}: {}".format(
            last["step"], ", ".join(f"{k}={v}" for k, v in last.items() if k not in ("step", "event"))), fontsize=8)
    ax_d.set_title(title, fontsize=8)
    return fig


def coverage_figure(history: Sequence[dict], title: str = ""):
    """The mode-collapse monitor over the run: classes (or modes) covered against the step, FD against the step on
    a log scale with the floor real images score, and the latest reading's histogram, every axis labelled."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.5, 3.0), dpi=90, layout="constrained")
    if title:
        fig.suptitle(title, fontsize=9)
    ax_cov, ax_fd, ax_hist = fig.subplots(1, 3, width_ratios=(1, 1, 1))
    history = [q for q in history if "step" in q]
    last = history[-1] if history else {}
    steps = [q["step"] for q in history]
    images = "classes_covered" in last
    key, what = ("classes_covered", "classes") if images else ("modes_covered", "modes")
    hist = last.get("class_histogram") or last.get("mode_histogram") or []
    k = len(hist) or last.get("n_modes") or 10
    ax_cov.plot(steps, [q.get(key, float("nan")) for q in history], marker="o", color="#7a4fc9", linewidth=1.2)
    ax_cov.axhline(k, color="grey", linestyle="--", linewidth=0.8, label=f"all {k}")
    ax_cov.set_ylim(0, k + 0.5)
    ax_cov.set(xlabel="step", ylabel=f"{what} covered", title=f"{what.capitalize()} covered (of {k})")
    ax_cov.legend(loc="lower right", fontsize=7)
    if images:
        ax_fd.plot(steps, [q.get("fd", float("nan")) for q in history], marker="o", color="#d9480f", linewidth=1.2,
                   label="generated")
        floors = [q.get("fd_floor") for q in history if q.get("fd_floor")]
        if floors:
            ax_fd.axhline(floors[-1], color="#2b8a3e", linestyle="--", linewidth=0.8, label="real images (floor)")
        ax_fd.set_yscale("log")
        ax_fd.set(xlabel="step", ylabel="FD (log scale, lower is better)", title="Fréchet distance to real images")
    else:
        ax_fd.plot(steps, [100 * q.get("high_quality", float("nan")) for q in history], marker="o",
                   color="#d9480f", linewidth=1.2, label="generated")
        ax_fd.set_ylim(0, 100)
        ax_fd.set(xlabel="step", ylabel="% of points near a mode", title="Points near a mode")
    ax_fd.legend(loc="best", fontsize=7)
    if hist:
        values = list(hist)
        if not images:
            total = sum(values) or 1
            values = [v / total for v in values]
        ax_hist.bar(range(len(values)), [100 * v for v in values], color="#7a4fc9")
        ax_hist.set_xticks(range(len(values)))
        ax_hist.tick_params(axis="x", labelsize=7)
    ax_hist.set(xlabel="class" if images else "mode", ylabel="% of samples" if images else "% of on-mode points",
                title=f"At step {last['step']:,}" if last else "no reading yet")
    for ax in (ax_cov, ax_fd, ax_hist):
        ax.grid(alpha=0.3)
        ax.title.set_fontsize(9)
    return fig
