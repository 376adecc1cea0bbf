"""python -m gan.generate: images, points or latent walks from a model file.

    python -m gan.generate weights/mnist-dcgan.safetensors --seeds 0-63 --out grid.png
    python -m gan.generate weights/mnist-dcgan.safetensors --interpolate 3,7,12 --frames 24 --mode slerp --out walk.gif
    python -m gan.generate weights/mnist-cond.safetensors --seeds 0-9 --class 7 --truncation 0.7 --out sevens.png
    python -m gan.generate weights/mnist-dcgan.safetensors --z z.json --out closest.png   # a z file of gan.project

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
from gan.latent import FRAME_LIMIT, INTERPOLATIONS, parse_seeds, read_z_file, truncate

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ANIMATION_SUFFIXES = (".gif", ".mp4")
DEFAULT_SEEDS = "0-63"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan.generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a .safetensors model file")
    p.add_argument("--seeds", help=f"e.g. 0-63 or 1,5,9 (default: {DEFAULT_SEEDS})")
    p.add_argument("--z", metavar="FILE", help="draw the latent of a z file ({\"z\": [...], \"class\": ...}, as "
                   "python -m gan.project writes it) instead of seeds")
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
    if args.z is not None and (args.seeds is not None or args.interpolate):
        raise GanInputError("--z draws the latent of a z file: leave out --seeds and --interpolate")
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

    if args.z is not None:
        z, labels = _z_file_latent(pipe, args.z, args.label, args.truncation)
    else:
        z, labels = pipe.latents(parse_seeds(args.seeds or DEFAULT_SEEDS), args.truncation), args.label
    if pipe.is_points:
        points = pipe(z=z, labels=labels)
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
    images = pipe.decode(z, labels)
    viz.save_grid(out, images, args.nrow)
    print(f"wrote {len(z)} image{'' if len(z) == 1 else 's'} to {out}")
    return 0


def _z_file_latent(pipe, path: str, label: int | None, truncation: float):
    """(z, class) of a z file for this model. --class may name the class a file leaves open (or repeat the
    file's); a conditional model needs one from either."""
    z, file_label = read_z_file(path, pipe.config)
    if file_label is not None and label is not None and label != file_label:
        raise GanInputError(f"the z file is for class {file_label} but --class says {label}: give one")
    label = file_label if file_label is not None else label
    if pipe.config.conditional and label is None:
        raise GanInputError("this model is conditional and the z file names no class: add --class C")
    if label is not None and not pipe.config.conditional:
        raise GanInputError("--class is only for a conditional model; this model is unconditional")
    return (z if truncation == 1.0 else truncate(z, truncation)), label


if __name__ == "__main__":
    sys.exit(run_main(main))
