"""python -m gan.generate: images, points or latent walks from a model file.

    python -m gan.generate weights/mnist-dcgan.safetensors --seeds 0-63 --out grid.png
    python -m gan.generate weights/mnist-dcgan.safetensors --interpolate 3,7,12 --frames 24 --mode slerp --out walk.gif
    python -m gan.generate weights/mnist-cond.safetensors --seeds 0-9 --class 7 --truncation 0.7 --out sevens.png

The output's suffix picks the format: .png/.jpg a grid (or, for a 2-D model, a scatter plot), .csv the 2-D
points, .gif/.mp4 an animation (with --interpolate).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from gan.cli import run_main
from gan.errors import GanInputError
from gan.latent import FRAME_LIMIT, INTERPOLATIONS, parse_seeds

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ANIMATION_SUFFIXES = (".gif", ".mp4")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan.generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a .safetensors model file")
    p.add_argument("--seeds", default="0-63", help="e.g. 0-63 or 1,5,9 (default: %(default)s)")
    p.add_argument("--interpolate", metavar="SEEDS", help="keyframe seeds for a latent walk, e.g. 3,7,12")
    p.add_argument("--frames", type=int, default=24,
                   help=f"frames of the walk, 2 to {FRAME_LIMIT} (default: %(default)s)")
    p.add_argument("--mode", default="slerp", choices=sorted(INTERPOLATIONS), help="interpolation (default: slerp)")
    p.add_argument("--loop", action="store_true", help="walk back to the first keyframe")
    p.add_argument("--fps", type=float, default=12, help="frames per second (default: %(default)s)")
    p.add_argument("--truncation", type=float, default=1.0, help="psi in (0, 1]; 1 = none")
    p.add_argument("--class", dest="label", type=int, help="class for conditional models (default: cycle classes)")
    p.add_argument("--nrow", type=int, help="images per grid row")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="output file: .png .jpg .csv .gif .mp4")
    return p


def main(argv: list[str] | None = None) -> int:
    from gan.render import check_fps, interpolation_frames
    from gan.pipeline import load_generator
    from gan import viz

    args = build_parser().parse_args(argv)
    out = Path(args.out)
    suffix = out.suffix.lower()
    pipe = load_generator(args.model, device=args.device)
    if args.interpolate:
        if suffix not in ANIMATION_SUFFIXES:
            raise GanInputError(f"an interpolation is written as .gif or .mp4, not {suffix or 'no suffix'!r}")
        fps = check_fps(args.fps)
        # The Interpolate tab's walk: on a conditional model the class blends along with z (gan.render.class_mix).
        keys = [(seed, args.label) for seed in parse_seeds(args.interpolate)]
        frames = interpolation_frames(pipe, keys, args.frames, args.mode, args.loop, args.truncation)
        (viz.save_gif if suffix == ".gif" else viz.save_mp4)(out, list(frames), fps=fps)
        print(f"wrote {len(frames)} frames to {out}")
        return 0

    seeds = parse_seeds(args.seeds)
    labels = args.label if args.label is not None else None
    if pipe.is_points:
        points = pipe(seeds=seeds, labels=labels, truncation=args.truncation)
        if suffix == ".csv":
            from gan.checkpoint import write_with
            write_with(out, lambda tmp: np.savetxt(tmp, points, delimiter=",", header="x,y", comments=""))
        elif suffix in IMAGE_SUFFIXES:
            viz.save_scatter(out, None, points)
        else:
            raise GanInputError(f"2-D points are written as .csv or .png, not {suffix or 'no suffix'!r}")
        print(f"wrote {len(points)} points to {out}")
        return 0
    if suffix not in IMAGE_SUFFIXES:
        raise GanInputError(f"a grid is written as .png or .jpg, not {suffix or 'no suffix'!r} "
                            "(use --interpolate for .gif/.mp4)")
    images = pipe.decode(pipe.latents(seeds, args.truncation), labels)
    viz.save_grid(out, images, args.nrow)
    print(f"wrote {len(seeds)} images to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
