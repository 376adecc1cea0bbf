"""Generation speed on this machine: one image for the Explore view, batched images for grids, and interpolation
export to GIF.

    python benchmarks/generation.py --json                       # a fresh 28x28 DCGAN (the shipped models' shape)
    python benchmarks/generation.py --model runs/x/generator.safetensors --json

Every figure is a median over repeats after a warm-up (also p95 and the best for the single image: on a loaded
2-core machine the median of a 1-image forward is dominated by the intra-op threads waiting for each other, and the
best shows what the code costs by itself), timed in this one process:
  explore_ms        seed -> z -> G -> uint8 -> upscaled view, one image (the Explore handler's work; with
                    gan.render present, its own latent_for + render_image_view without the neighbours strip)
  decode_b1_ms      pipe.decode of one latent (the network alone)
  decode_b64_img_s  pipe.decode of 64 latents, images per second
  pipe_b64_img_s    pipe(seeds=range(64)) -> 64 PIL images (latents, network, conversion)
  grid_png_ms       64 seeds -> one PNG grid on disk (python -m gan.generate --seeds 0-63)
  gif_frames_s      a slerp walk through 3 keyframes, 48 frames, written as a GIF (frames per second)
The last line of stdout is one JSON object with these keys and the model's description.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gan.config import ModelConfig  # noqa: E402
from gan.latent import interpolation_path, seed_to_z  # noqa: E402
from gan.models import build_discriminator, build_generator  # noqa: E402
from gan.pipeline import load_generator, pipeline_from_modules, to_uint8  # noqa: E402
from gan.viz import save_gif, save_grid, upscale  # noqa: E402


def times_ms(fn, repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p95(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def explore_fn(pipe):
    """The Explore tab's work for one image: gan.render's own functions when they are there."""
    try:
        from gan.render import latent_for, render_image_view
    except ImportError:
        def view(seed=[0]):
            seed[0] += 1
            z = seed_to_z([seed[0]], pipe.config.z_dim, pipe.config.z_dist)
            return upscale(to_uint8(pipe.decode(z))[0], 336)

        return view, "seed_to_z + pipe.decode + to_uint8 + upscale"

    def view(seed=[0]):
        seed[0] += 1
        return render_image_view(pipe, latent_for(pipe, seed[0]), None, neighbours=False)

    return view, "gan.render.latent_for + render_image_view (no neighbours strip)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a generator .safetensors (default: a freshly initialised DCGAN)")
    p.add_argument("--image-size", type=int, default=28, help="for the fresh DCGAN (28, 32 or 64)")
    p.add_argument("--channels", type=int, default=1, help="for the fresh DCGAN")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model:
        pipe = load_generator(args.model)
        described = Path(args.model).name
    else:
        cfg = ModelConfig(arch="dcgan", image_size=args.image_size, channels=args.channels).validate()
        pipe = pipeline_from_modules(cfg, build_generator(cfg), build_discriminator(cfg), name="fresh")
        described = f"fresh dcgan {args.image_size}x{args.image_size}x{args.channels}, width 64"
    if pipe.is_points:
        print("this benchmark is for image models", file=sys.stderr)
        return 2
    n = args.repeats
    view, how = explore_fn(pipe)
    explore = times_ms(view, n)
    z1 = seed_to_z([1], pipe.config.z_dim, pipe.config.z_dist)
    z64 = seed_to_z(range(64), pipe.config.z_dim, pipe.config.z_dist)
    labels64 = list(range(64)) if pipe.config.conditional else None
    labels1 = [0] if pipe.config.conditional else None
    decode1 = times_ms(lambda: pipe.decode(z1, labels1), n)
    decode64 = times_ms(lambda: pipe.decode(z64, labels64), max(5, n // 5))
    pipe64 = times_ms(lambda: pipe(seeds=range(64), labels=labels64), max(5, n // 5))
    with tempfile.TemporaryDirectory() as tmp:
        grid = times_ms(lambda: save_grid(Path(tmp) / "grid.png", pipe.decode(z64, labels64)), max(5, n // 5))
        keys = pipe.latents([3, 7, 12])

        def gif():
            z = interpolation_path(keys, 48, "slerp")
            frames = to_uint8(pipe.decode(z, [0] * 48 if pipe.config.conditional else None))
            save_gif(Path(tmp) / "walk.gif", list(frames), fps=12, size=256)

        gifs = times_ms(gif, max(3, n // 10), warmup=1)
    med = statistics.median
    result = {
        "model": described, "device": "cpu", "threads": torch.get_num_threads(), "explore_how": how,
        "explore_ms": round(med(explore), 2), "explore_p95_ms": round(p95(explore), 2),
        "explore_min_ms": round(min(explore), 2),
        "decode_b1_ms": round(med(decode1), 2), "decode_b1_min_ms": round(min(decode1), 2),
        "decode_b64_img_s": round(64 / med(decode64) * 1000, 1),
        "pipe_b64_img_s": round(64 / med(pipe64) * 1000, 1),
        "grid_png_ms": round(med(grid), 1),
        "gif_frames_s": round(48 / med(gifs) * 1000, 1),
    }
    if not args.json:
        for k, v in result.items():
            print(f"{k:>18}: {v}")
    else:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
