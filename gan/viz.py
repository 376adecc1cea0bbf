"""Pictures without Gradio: image grids, 2-D scatter plots, upscaling, animated GIF / MP4 export.
Everything writes atomically, and draws with torchvision / PIL / numpy (fast enough for live views)."""
from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=8)
def label_font(size: int = 13):
    """PIL's own scalable font for captions and labels drawn into pictures (nothing read from the system), or its
    small bitmap font where Pillow has no FreeType."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()


def upscale(image: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour upscaling by a whole factor, so pixels stay crisp."""
    factor = max(1, size // image.shape[0])
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


# Colours that colour-blind viewers can tell apart: Okabe & Ito's palette ("Color Universal Design", 2008), as RGB.
# Every pair that must be told apart also differs in shape (or line style) and in lightness, never in hue alone:
# the old green-for-real / purple-for-fake and red-against-green curves looked the same under deuteranopia.
OKABE_ITO = {"black": (0, 0, 0), "orange": (230, 159, 0), "sky_blue": (86, 180, 233), "bluish_green": (0, 158, 115),
             "yellow": (240, 228, 66), "blue": (0, 114, 178), "vermillion": (213, 94, 0),
             "reddish_purple": (204, 121, 167)}
REAL_RGB = OKABE_ITO["blue"]              # real data: filled discs
FAKE_RGB = OKABE_ITO["vermillion"]        # generated points: hollow squares (blue / olive under deuteranopia)
SEED_RGB = OKABE_ITO["vermillion"]        # the seed's own point (a big disc ringed in black) and its strip frame
NEIGHBOUR_RGB = OKABE_ITO["black"]        # its neighbours along a direction: plus signs


def marker_mask(shape: str, size: int) -> np.ndarray:
    """A size x size boolean stamp: "disc" (filled), "square" (hollow: a 2-px edge from 6 px on) or "plus"
    (3 px thick from 9 px on; give it an odd size so it is symmetric)."""
    c = (size - 1) / 2
    yy, xx = np.mgrid[:size, :size]
    if shape == "disc":
        return np.hypot(yy - c, xx - c) <= size / 2
    if shape == "square":
        edge = 2 if size >= 6 else 1
        return ~((yy >= edge) & (yy < size - edge) & (xx >= edge) & (xx < size - edge))
    if shape == "plus":
        w = 3 if size >= 9 else 1
        lo = (size - w) // 2
        return ((yy >= lo) & (yy < lo + w)) | ((xx >= lo) & (xx < lo + w))
    raise ValueError(f"unknown marker {shape!r}")


def draw_markers(canvas: np.ndarray, px: np.ndarray, colour, shape: str = "disc", size: int = 5) -> None:
    """Stamp a marker at each (x, y) pixel position, in place, with numpy indexing (thousands per millisecond).
    Markers partly outside the canvas are cut at its edge."""
    if len(px) == 0:
        return
    h, w = canvas.shape[:2]
    oy, ox = np.nonzero(marker_mask(shape, size))
    off = (size - 1) // 2
    x = np.round(np.asarray(px)[:, 0]).astype(np.int64)[:, None] + (ox - off)[None, :]
    y = np.round(np.asarray(px)[:, 1]).astype(np.int64)[:, None] + (oy - off)[None, :]
    keep = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    canvas[y[keep], x[keep]] = colour


def marker_size(canvas_size: int) -> int:
    """Real points' disc diameter for a view of this size (5 px at 480 px); generated squares are 2 px larger."""
    return max(3, round(canvas_size / 96))


def to_pixels(points: np.ndarray, bounds: tuple[float, float, float, float], size: int) -> np.ndarray:
    """Data coordinates -> (x, y) pixels of a size x size view (y up in the data, down in the image)."""
    x0, x1, y0, y1 = bounds
    px = (points[:, 0] - x0) / (x1 - x0) * (size - 1)
    py = (y1 - points[:, 1]) / (y1 - y0) * (size - 1)
    return np.stack([px, py], 1)


def plot_bounds(points: np.ndarray, pad: float = 0.1, square: bool = False) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) around the middle 99% of `points` (a stray point does not shrink the plot), widened by
    `pad` of the range on each side; square: one range for both axes, centred (a plane whose distances read true,
    as the Playground's views need)."""
    pts = np.asarray(points, np.float64)
    lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
    if square:
        centre, half = (lo + hi) / 2, float(max(hi - lo)) / 2 * (1 + 2 * pad) + 0.05
        return (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)
    margin = pad * np.maximum(hi - lo, 1e-3)
    return (lo[0] - margin[0], hi[0] + margin[0], lo[1] - margin[1], hi[1] + margin[1])


def scatter_array(real: np.ndarray | None, fake: np.ndarray, size: int = 360,
                  bounds: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Real points (blue discs) and generated points (vermillion hollow squares) on a white canvas, drawn with
    numpy: fast enough to redraw ten times a second, and readable without telling colours apart."""
    if bounds is None:
        bounds = plot_bounds(fake if real is None else np.concatenate([real, fake]))
    canvas = np.full((size, size, 3), 255, np.uint8)
    d = marker_size(size)
    for points, colour, shape, s in ((real, REAL_RGB, "disc", d), (fake, FAKE_RGB, "square", d + 2)):
        if points is not None and len(points):
            draw_markers(canvas, to_pixels(np.asarray(points), bounds, size), colour, shape, s)
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


# The overlay chart's runs: Okabe & Ito's colours in an order where the first four differ from each other, and each
# from the next, in lightness as a deuteranope sees it too (yellow, faint on white, late), each paired with its own
# line style and marker, so runs stay apart even in grey print.
COMPARE_COLOURS = ("blue", "orange", "black", "bluish_green", "sky_blue", "vermillion", "yellow", "reddish_purple")
COMPARE_STYLES = ("-", "--", "-.", ":")
COMPARE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def compare_figure(lines: Sequence[dict], y_label: str, x_label: str = "step", log_y: bool = False,
                   title: str = ""):
    """Several runs' curves of one figure on one chart, each run its own colour, line style and marker, with a
    legend of run ids. `lines` are gan.run_compare.run_curve dicts ({"run_id", "x", "y", "floor"}); each distinct
    FD floor is drawn once as a grey dashed line. Without pyplot, like loss_figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.6), dpi=90, layout="constrained")
    ax = fig.subplots()
    drawn = 0
    for i, line in enumerate(lines):
        colour = tuple(c / 255 for c in OKABE_ITO[COMPARE_COLOURS[i % len(COMPARE_COLOURS)]])
        sparse = len(line["x"]) <= 40
        ax.plot(line["x"], line["y"], color=colour, linestyle=COMPARE_STYLES[i % len(COMPARE_STYLES)],
                marker=COMPARE_MARKERS[i % len(COMPARE_MARKERS)], markersize=5 if sparse else 4,
                markevery=None if sparse else max(1, len(line["x"]) // 12), linewidth=1.4, label=line["run_id"])
        drawn += bool(line["x"])
    floors = sorted({round(line["floor"], 4) for line in lines if line.get("floor")})
    for j, floor in enumerate(floors):
        ax.axhline(floor, color="grey", linestyle="--", linewidth=0.9,
                   label="real images (floor)" if j == 0 else None)
    if log_y and drawn:
        ax.set_yscale("log")
    ax.set(xlabel=x_label, ylabel=y_label)
    ax.set_title(title or f"{y_label[:1].upper()}{y_label[1:]} against the {x_label}", fontsize=9)
    ax.grid(alpha=0.3)
    if not drawn:
        ax.set(xticks=[], yticks=[])
        ax.text(0.5, 0.5, "no figures of this kind yet for the ticked runs", transform=ax.transAxes,
                ha="center", va="center", color="grey")
    if lines:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


# ------------------------------------------------------------------------------ a clickable grid of samples
GALLERY_CELL = 56                  # each gallery tile at least this many pixels a side (28 px x 2, nearest)
GALLERY_PAD = 2                    # white pixels between tiles (and around the grid)


def tile_layout(image_size: int, cell: int = GALLERY_CELL) -> int:
    """The tile side a grid of image_size images gets: the image upscaled by the smallest whole factor that
    reaches `cell` (28 -> 56, 32 -> 64, 64 -> 64), so small images are big enough to pick and pixels stay crisp."""
    return image_size * max(1, math.ceil(cell / image_size))


def tile_grid(images: torch.Tensor, columns: int = 8, cell: int = GALLERY_CELL, pad: int = GALLERY_PAD) -> np.ndarray:
    """[-1, 1] images (N, C, S, S) as one uint8 grid, `columns` tiles a row, each tile upscaled (nearest) to
    tile_layout(S, cell) and `pad` white pixels apart: the picture tile_at() reads clicks on."""
    side = tile_layout(images.shape[-1], cell)
    big = images.detach().float().cpu().repeat_interleave(side // images.shape[-1], dim=2) \
        .repeat_interleave(side // images.shape[-1], dim=3)
    return grid_array(big, nrow=columns, padding=pad)


def tile_at(x, y, n: int, image_size: int, columns: int = 8, cell: int = GALLERY_CELL,
            pad: int = GALLERY_PAD) -> int | None:
    """The index (row by row) of the tile of a tile_grid that pixel (x, y) falls on, or None for the white gaps
    between tiles and anything outside the grid."""
    try:
        x, y = int(x), int(y)
    except (TypeError, ValueError):
        return None
    step = tile_layout(image_size, cell) + pad
    col, row = (x - pad) // step, (y - pad) // step
    if x < pad or y < pad or (x - pad) % step >= step - pad or (y - pad) % step >= step - pad:
        return None
    index = row * columns + col
    return index if 0 <= col < columns and 0 <= index < n else None


def projection_figure(losses: Sequence[float], title: str = ""):
    """A projection's error against the optimisation step (the best start's pixel mean squared error, log scale),
    every axis labelled. Without pyplot, like loss_figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 2.6), dpi=90, layout="constrained")
    ax = fig.subplots()
    steps = list(range(1, len(losses) + 1))
    ax.plot(steps, list(losses), color=tuple(c / 255 for c in OKABE_ITO["blue"]), linewidth=1.4)
    if losses and min(losses) > 0:
        ax.set_yscale("log")
    ax.set(xlabel="optimisation step", ylabel="pixel error (MSE)")
    ax.set_title(title or "Projection: error against the step", fontsize=9)
    ax.grid(alpha=0.3)
    return fig
