"""python -m gan.convert: a checkpoint of another project's GAN -> a GANscope model file.

    python -m gan.convert netG_epoch_24.pth --from pytorch-dcgan --out weights/my-dcgan.safetensors
    python -m gan.convert netG_epoch_24.pth --from pytorch-dcgan --netD netD_epoch_24.pth --out my-dcgan.safetensors

Why: a `.pth` holds weights but not the network they fit, and it is a pickle, which can run code when loaded the
usual way. Here it is read with torch.load(weights_only=True) only (tensors and plain containers; a file that needs
anything else is refused, never unpickled), its numbers are checked against the source's layout, and they are
written as safetensors with a ModelConfig, so the result rebuilds from the file alone like any GANscope generator
(gan.pipeline.load_generator, the Explore tab, gan.generate).

Each source layout is one function in CONVERTERS (`--from` lists them): it reads the sizes from the tensor shapes,
says which ModelConfig describes the network and where each tensor goes in GANscope's modules. The shared part
builds those modules from the config and loads the tensors into them strictly, so a file that does not fit is
refused before anything is written.
"""
from __future__ import annotations

import argparse
import pickle
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from gan.checkpoint import MAX_MODEL_FILE_BYTES, save_model_file
from gan.cli import run_main
from gan.config import ModelConfig
from gan.errors import GanInputError
from gan.models import build_discriminator, build_generator

State = dict[str, torch.Tensor]


@dataclass
class Converted:
    """What a converter makes of a source checkpoint: the config of the GANscope network that computes the same
    function, and the source's tensors under GANscope's names (D's only when the source's D was given)."""

    config: ModelConfig
    generator: State
    discriminator: State | None = None
    info: dict = field(default_factory=dict)   # provenance for the file's metadata (loss, source, file names)
    source_name: Callable[[str], str] = str    # a GANscope tensor name -> the source's, for messages


# ----------------------------------------------------------------------------------------- reading a .pth
def read_state_dict(path: str | Path) -> State:
    """The tensors of a `torch.save(module.state_dict())` file, loaded with weights_only=True; a GanInputError
    for anything else: no file, an empty one, one that needs arbitrary Python objects (refused unread: unpickling
    them could run code), a damaged one, or one that holds something other than named tensors."""
    p = Path(path)
    if not p.is_file():
        raise GanInputError(f"no such checkpoint: {str(path)!r}")
    size = p.stat().st_size
    if size == 0:
        raise GanInputError(f"{p.name} is empty (0 bytes): not a PyTorch checkpoint")
    if size > MAX_MODEL_FILE_BYTES:
        raise GanInputError(f"{p.name} is larger than {MAX_MODEL_FILE_BYTES // 2 ** 20} MB: not a DCGAN-sized "
                            "checkpoint")
    try:
        with warnings.catch_warnings():  # torch warns about a raw pickle's protocol on stderr: one line is ours
            warnings.simplefilter("ignore")
            state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # torch's weights-only unpickler met a name it does not allow (a class, a
        if "unsupported global" in str(e).lower():  # function): an object that would be called to be rebuilt
            raise GanInputError(f"{p.name} holds Python objects, not only tensors, and loading those could run "
                                "code: refused (save the network's state_dict() instead)") from None
        raise GanInputError(f"{p.name} is not a checkpoint torch.save wrote, and PyTorch's safe loader cannot "
                            "read it: refused") from None
    except Exception as e:  # a damaged zip, a truncated pickle, bytes that are neither: torch raises many types
        raise GanInputError(f"{p.name} is not a readable PyTorch checkpoint ({e.__class__.__name__})") from None
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise GanInputError(f"{p.name} is not a state dict (names -> tensors, as torch.save(net.state_dict()) "
                            "writes)")
    return dict(state)


def without_prefix(state: State, prefix: str = "module.") -> State:
    """The state with `prefix` taken off when every key has it: nn.DataParallel saves its module's keys so."""
    if all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_mapped(module: nn.Module, state: State, name: str, what: str,
                source_name: Callable[[str], str] = str) -> None:
    """Load `state` (GANscope names) into `module` strictly, with one line naming the first misfit by the
    source's name for it. A BatchNorm's num_batches_tracked, which PyTorch before 0.4 did not save and which no
    forward pass in eval mode reads, is taken from the module when missing."""
    own = module.state_dict()
    state = {**{k: v for k, v in own.items() if k.endswith("num_batches_tracked")}, **state}
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or extra:
        raise GanInputError(f"{name} does not fit {what}: " + (f"no {source_name(missing[0])}" if missing
                                                                else f"an unexpected {source_name(extra[0])}"))
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise GanInputError(f"{name} does not fit {what}: {source_name(k)} has shape {tuple(v.shape)}, "
                                f"expected {tuple(own[k].shape)}")
        if k.endswith("num_batches_tracked"):
            continue
        if not v.is_floating_point() or not torch.isfinite(v).all():
            raise GanInputError(f"{name}: {source_name(k)} is not finite floating-point weights")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


# --------------------------------------------------------------------------- the PyTorch DCGAN example
# pytorch/examples, dcgan/main.py: `main`, an nn.Sequential of 64x64 DCGAN layers; netG_epoch_N.pth and
# netD_epoch_N.pth are its torch.save(net.state_dict()). Index of each layer with tensors in `main`:
#   G: ConvT(nz, 8ngf, 4, 1, 0) 0, BN 1, ConvT 3, BN 4, ConvT 6, BN 7, ConvT 9, BN 10, ConvT(ngf, nc, 4, 2, 1) 12; Tanh
#   D: Conv(nc, ndf, 4, 2, 1) 0, Conv 2, BN 3, Conv 5, BN 6, Conv 8, BN 9, Conv(8ndf, 1, 4, 1, 0) 11; Sigmoid
# All convolutions are bias-free. GANscope's DCGANGenerator at 64x64 is that G layer for layer (`net` for `main`),
# and its DCGANDiscriminator with d_head="conv" is that D without the sigmoid (`body` for main.0-10, the last
# convolution its `head`): its score is the example's logit, which the bce loss reads as D's probability.
_MAIN = re.compile(r"main\.(\d+)\.(.+)")
_G_LAST, _D_LAST = 12, 11   # the index of each network's last convolution in `main`


def _main_layers(state: State, name: str, what: str) -> dict[int, dict[str, torch.Tensor]]:
    """{layer index: {tensor name: tensor}} of a `main.N.*` state (a DataParallel `module.` prefix taken off)."""
    layers: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in without_prefix(state).items():
        m = _MAIN.fullmatch(k)
        if m is None:
            raise GanInputError(f"{name} is not the PyTorch DCGAN example's {what}: it has {k!r}, not only "
                                "main.<layer>.<tensor> keys")
        layers.setdefault(int(m.group(1)), {})[m.group(2)] = v
    return layers


def _conv_weight(layers: dict, index: int, name: str, what: str) -> torch.Tensor:
    w = layers.get(index, {}).get("weight")
    if w is None or w.ndim != 4:
        raise GanInputError(f"{name} is not the PyTorch DCGAN example's 64x64 {what}: no 4-D main.{index}.weight")
    return w


def _pytorch_dcgan(g_state: State, d_state: State | None, g_name: str, d_name: str | None) -> Converted:
    g = _main_layers(g_state, g_name, "generator")
    if _D_LAST in g and _G_LAST not in g and 1 not in g:  # its layer 1 is a LeakyReLU, G's a BatchNorm
        raise GanInputError(f"{g_name} is the PyTorch DCGAN example's discriminator, not its generator: give it "
                            "with --netD, and the netG_epoch_N.pth as the checkpoint")
    nz, wide = _conv_weight(g, 0, g_name, "generator").shape[:2]
    ngf, nc = _conv_weight(g, _G_LAST, g_name, "generator").shape[:2]
    if wide != 8 * ngf:
        raise GanInputError(f"{g_name} is not the PyTorch DCGAN example's 64x64 generator: its first layer makes "
                            f"{wide} channels and its last takes {ngf}, not an eighth of them")
    config = ModelConfig(arch="dcgan", image_size=64, channels=int(nc), z_dim=int(nz), g_width=int(ngf),
                         d_width=64, d_head="conv")  # 64: the example's default ndf, when no D is given
    generator = {f"net.{i}.{t}": v for i, tensors in g.items() for t, v in tensors.items()}
    discriminator = None
    if d_state is not None:
        d = _main_layers(d_state, d_name, "discriminator")
        if _G_LAST in d:
            raise GanInputError(f"{d_name} is the PyTorch DCGAN example's generator, not its discriminator "
                                "(netD_epoch_N.pth)")
        ndf, d_nc = _conv_weight(d, 0, d_name, "discriminator").shape[:2]
        _conv_weight(d, _D_LAST, d_name, "discriminator")
        if d_nc != nc:
            raise GanInputError(f"{d_name} judges {d_nc}-channel images but {g_name} makes {nc}-channel ones: "
                                "not one model's pair")
        config.d_width = int(ndf)
        discriminator = {(f"head.0.{t}" if i == _D_LAST else f"body.{i}.{t}"): v
                         for i, tensors in d.items() for t, v in tensors.items()}
    return Converted(config, generator, discriminator, {"loss": "bce", "arch": "dcgan"}, _dcgan_source_name)


def _dcgan_source_name(key: str) -> str:
    """net.N.* (G) and body.N.* (D) are the example's main.N.*; D's head.0.* its main.11.*."""
    part, _, rest = key.partition(".")
    if part == "head":
        return f"main.{_D_LAST}.{rest.partition('.')[2]}"
    return f"main.{rest}" if part in ("net", "body") else key


CONVERTERS: dict[str, Callable[[State, State | None, str, str | None], Converted]] = {
    "pytorch-dcgan": _pytorch_dcgan,   # pytorch/examples dcgan/main.py: netG_epoch_N.pth (+ netD_epoch_N.pth)
}


# ------------------------------------------------------------------------------------------------ convert
def convert(source: str, generator_path: str | Path, out: str | Path,
            discriminator_path: str | Path | None = None) -> Converted:
    """Convert a `source` checkpoint (a key of CONVERTERS) of G (and D) into the model file `out`. Everything is
    checked before the one atomic write: on any GanInputError nothing is written."""
    if source not in CONVERTERS:
        raise GanInputError(f"unknown source layout {source!r}; choose one of: {', '.join(CONVERTERS)}")
    out = Path(out)
    if out.suffix != ".safetensors":
        raise GanInputError(f"the converted model is a .safetensors file, not {out.suffix or 'no suffix'!r}")
    g_name = Path(generator_path).name
    g_state = read_state_dict(generator_path)
    d_state = read_state_dict(discriminator_path) if discriminator_path is not None else None
    d_name = Path(discriminator_path).name if discriminator_path is not None else None
    result = CONVERTERS[source](g_state, d_state, g_name, d_name)
    try:
        config = result.config.validate()
    except GanInputError as e:
        raise GanInputError(f"{g_name}: {e}") from None
    generator = build_generator(config)
    load_mapped(generator, result.generator, g_name, f"the {source} generator with z {config.z_dim}, width "
                f"{config.g_width}, {config.channels} channels", result.source_name)
    discriminator = None
    if result.discriminator is not None:
        discriminator = build_discriminator(config)
        load_mapped(discriminator, result.discriminator, d_name, f"the {source} discriminator with width "
                    f"{config.d_width}, {config.channels} channels", result.source_name)
    files = {"generator": g_name, **({"discriminator": d_name} if d_name else {})}
    info = {**result.info, "converted_from": source, "source_files": files}
    save_model_file(out, config, generator.eval(), None if discriminator is None else discriminator.eval(), info)
    return Converted(config, result.generator, result.discriminator, info, result.source_name)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan.convert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("generator", help="the source's generator checkpoint, e.g. netG_epoch_24.pth")
    p.add_argument("--from", dest="source", required=True, choices=sorted(CONVERTERS),
                   help="the project whose layout the checkpoint has")
    p.add_argument("--netD", dest="discriminator", metavar="PATH",
                   help="its discriminator too (the Explore tab then shows D's score)")
    p.add_argument("--out", required=True, help="the model file to write (.safetensors)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    done = convert(args.source, args.generator, args.out, args.discriminator)
    c = done.config
    with_d = f", with its discriminator (width {c.d_width})" if done.discriminator is not None else ""
    print(f"wrote {args.out}: {c.arch} {c.image_size}x{c.image_size}, {c.channels} channel"
          f"{'s' if c.channels > 1 else ''}, z {c.z_dim}, width {c.g_width}{with_d}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
