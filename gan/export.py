"""python -m gan.export: a generator as an ONNX graph, to run without GANscope or PyTorch (onnxruntime, a browser).

    python -m gan.export weights/mnist-dcgan.safetensors --out mnist-dcgan.onnx
    python -m gan.export weights/mnist-cond.safetensors --format onnx --out mnist-cond.onnx
    python -m gan.export runs/my-run --out g.onnx          # a run folder stands for its generator.safetensors

The graph is the pipeline's `decode`: input `z` (N, z_dim) float32 and, for a class-conditional model, `class`
(N,) int64; output `images` (N, C, H, W) in [-1, 1], or for a 2-D model `points` (N, 2) in the data's own units
(the un-standardising with point_mean / point_std is part of the graph). N is dynamic. Seeds and truncation stay
outside the graph: draw z from the model's z_dist (its config is in the ONNX metadata, `ganscope.model_config`)
and scale it yourself for truncation.

Exporter: torch.onnx's torch.export-based one (`dynamo=True`, the default since PyTorch 2.9; it needs onnxscript).
The older TorchScript exporter also handles every family here, but PyTorch marks it deprecated. Weights are kept
inside the one .onnx file (`external_data=False`): a generator file is at most 512 MB, far under protobuf's 2 GB,
and a separate .data file would be named after the temporary file that the atomic write renames.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from gan.checkpoint import write_with
from gan.cli import run_main
from gan.errors import GanInputError

FORMATS = ("onnx",)
DEFAULT_OPSET = 20            # torch.onnx's default opset in 2.14
OPSETS = range(18, 24)        # what the torch.export-based exporter writes natively (18) up to its newest (23)
EXAMPLE_BATCH = 2             # torch.export treats sizes 0 and 1 as constants; 2 leaves N free


class DecodeGraph(nn.Module):
    """What GeneratorPipeline.decode computes, as one module to trace: G, then, for a 2-D model, back from the
    standardised units G learned in to the data's units (MLPGenerator.to_data_units). Images are clipped to
    [-1, 1]: onnxruntime's Tanh overshoots by a float step (-1.0000001 seen on mnist-dcgan), and a consumer that
    maps [-1, 1] to 0..255 should be able to trust the range. Torch's tanh stays inside it, so nothing changes."""

    def __init__(self, generator: nn.Module, points: bool):
        super().__init__()
        self.generator = generator
        self.points = points

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.generator(z, labels)
        return self.generator.to_data_units(out) if self.points else out.clamp(-1.0, 1.0)


def check_export_target(out: str | Path, fmt: str = "onnx") -> Path:
    """The output path, once the format is one we write and the path's suffix says it: checked before a model
    is loaded, so a mistake costs nothing and leaves nothing behind."""
    if fmt not in FORMATS:
        raise GanInputError(f"unknown export format {fmt!r}: choose from {', '.join(FORMATS)}")
    out = Path(out)
    if out.suffix.lower() != f".{fmt}":
        given = f"not {out.suffix!r}" if out.suffix else f"and {out.name!r} has no suffix"
        raise GanInputError(f"an {fmt.upper()} export is written to a .{fmt} file, {given}")
    if out.is_dir():
        raise GanInputError(f"{str(out)!r} is a folder: give the .{fmt} file to write")
    return out


def check_opset(opset) -> int:
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in OPSETS:
        raise GanInputError(f"--opset must be a whole number from {OPSETS[0]} to {OPSETS[-1]}, got {opset!r}")
    return opset


def _check_packages() -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise GanInputError(f"ONNX export needs the {' and '.join(missing)} package(s): "
                            "pip install -r requirements.txt")


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter's optimizer passes log each step at INFO ("Removed 26 unused nodes"), and torch.onnx warns
    that a second input's batch axis shares the name N (it does: z and class have one batch). Neither is news to a
    user, so both are held back while the export runs; real warnings and errors still come through."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*axis name: .* will not be used", category=UserWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(model, out: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Write `model` (a GeneratorPipeline, or a model file / run folder to load on the CPU) to `out` as ONNX,
    atomically: a failure leaves no file, or the one that was there. Returns the path written.

    A pipeline of a live run is exported as it is at that moment (under its lock, so a trainer swapping weights in
    never gives half of each); a ProGAN mid-growth keeps its current resolution and fade, as its decode does."""
    from gan.pipeline import GeneratorPipeline, load_generator

    out = check_export_target(out, "onnx")
    opset = check_opset(opset)
    _check_packages()
    pipe = model if isinstance(model, GeneratorPipeline) else load_generator(model, device="cpu")
    cfg = pipe.config
    graph = DecodeGraph(pipe.generator, pipe.is_points).eval()
    gen = torch.Generator().manual_seed(0)
    args = [torch.randn(EXAMPLE_BATCH, cfg.z_dim, generator=gen).to(pipe.device)]
    names = ["z"]
    if cfg.conditional:  # two different classes, so nothing in the trace can treat the class as a constant
        args.append(torch.arange(EXAMPLE_BATCH, device=pipe.device) % cfg.n_classes)
        names.append("class")
    batch = torch.export.Dim("N")
    with pipe.lock, _quiet_exporter():
        program = torch.onnx.export(
            graph, tuple(args), dynamo=True, input_names=names,
            output_names=["points" if pipe.is_points else "images"],
            dynamic_shapes=tuple({0: batch} for _ in args), opset_version=opset, verbose=False)
    program.model.doc_string = f"GANscope generator {pipe.name}: {cfg.arch}, {cfg.kind}"
    program.model.metadata_props.update({
        "ganscope.model_config": cfg.to_json(), "ganscope.info": json.dumps(pipe.info, sort_keys=True)})
    write_with(out, lambda tmp: program.save(tmp, external_data=False))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a .safetensors model file, or a run folder (its generator.safetensors)")
    p.add_argument("--format", default="onnx", help=f"one of: {', '.join(FORMATS)} (default: %(default)s)")
    p.add_argument("--out", required=True, help="the file to write, e.g. g.onnx")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, {OPSETS[0]} to {OPSETS[-1]} (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = check_export_target(args.out, args.format)
    check_opset(args.opset)
    export_onnx(args.model, out, args.opset)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
