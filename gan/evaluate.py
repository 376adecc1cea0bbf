"""python -m gan.evaluate: the quality figures of a model file (see gan.metrics for what each one means).

    python -m gan.evaluate weights/mnist-dcgan.safetensors --dataset mnist --n 5000 --json
    python -m gan.evaluate weights/mnist-cond.safetensors --truncation 0.8
    python -m gan.evaluate weights/grid25-wgan-gp.safetensors          # 2-D: modes, high quality, reverse KL

--dataset defaults to the one the model was trained on. With --json, stdout carries exactly one JSON object and
nothing else (progress and notes go to stderr).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from gan.cli import run_main

log = logging.getLogger("gan.evaluate")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a .safetensors generator file")
    p.add_argument("--dataset", help="real data to compare with (default: the model's own, from its metadata)")
    p.add_argument("--n", type=int, help="generated samples (default: 5000 images, 2500 points as in PacGAN)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents drawn (default: %(default)s)")
    p.add_argument("--truncation", type=float, default=1.0, help="psi in (0, 1]; 1 = none")
    p.add_argument("--classifier", help="classifier file (default: weights/classifier-<dataset>.safetensors)")
    p.add_argument("--device", default="cpu", help="where the generator runs (default: cpu)")
    p.add_argument("--json", action="store_true", help="print one JSON object and nothing else on stdout")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from gan.errors import GanInputError
    from gan.latent import check_truncation
    from gan.metrics import evaluate
    from gan.pipeline import load_generator

    if not 0 <= args.seed < 2 ** 63:
        raise GanInputError(f"--seed must be in [0, 2**63), got {args.seed}")
    check_truncation(args.truncation)
    pipe = load_generator(args.model, device=args.device)
    figures = {"model": args.model, **evaluate(pipe, args.dataset, args.n, args.seed, args.truncation,
                                               args.classifier)}
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
