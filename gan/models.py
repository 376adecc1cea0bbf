"""Generator and discriminator families, in a registry: `mlp` (Goodfellow et al. 2014), `dcgan`
(Radford et al. 2016) and `progan` (Karras et al. 2018, in gan/progan.py). Class conditioning (embedding in G, projection in D, Miyato & Koyama 2018) and spectral
norm on D (torch's parametrization) are options of every family, which with the hinge loss make the small BigGAN
recipe.

Every discriminator returns raw scores (logits), shape (B,): the losses decide what to do with them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from gan.config import IMAGE_SIZES, ModelConfig
from gan.errors import GanInputError


def _maybe_sn(module: nn.Module, on: bool) -> nn.Module:
    return _sn(module) if on else module


def embed_classes(embed: nn.Embedding, labels: torch.Tensor) -> torch.Tensor:
    """The class embedding of each sample. `labels` is either integer class indices (B,), looked up as before, or
    soft class weights, a float (B, n_classes) tensor, turned into the same mix of the embedding rows (w @ E).
    Why soft weights: a walk between keyframes of two classes can then blend the classes along with z (weights
    (1 - t, t) go along the straight line between the two embeddings) instead of jumping from one to the other.
    A one-hot row gives exactly the integer label's embedding."""
    if not labels.is_floating_point():
        return embed(labels)
    if labels.ndim != 2 or labels.shape[1] != embed.num_embeddings:
        raise GanInputError(f"class weights must have shape (batch, {embed.num_embeddings}), "
                            f"not {tuple(labels.shape)}")
    weight = embed.weight  # through spectral norm's parametrization when D has one, as embed(labels) would be
    return labels.to(weight.dtype) @ weight


class ClassProjection(nn.Module):
    """The projection discriminator's class term: <embed(y), h>, added to the unconditional score."""

    def __init__(self, n_classes: int, features: int, spectral_norm: bool):
        super().__init__()
        self.embed = _maybe_sn(nn.Embedding(n_classes, features), spectral_norm)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (embed_classes(self.embed, labels) * h).sum(dim=1)


class ConditionedInput(nn.Module):
    """G's input: z, with a learned class embedding concatenated for conditional models. The labels are class
    indices, or soft class weights (see embed_classes) to blend classes."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.n_classes, cfg.z_dim) if cfg.conditional else None
        self.out_dim = cfg.z_dim * (2 if cfg.conditional else 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return z
        if labels is None:
            raise GanInputError("this model is class-conditional: give a class label for each sample")
        return torch.cat([z, embed_classes(self.embed, labels)], dim=1)


# ----------------------------------------------------------------------------------------------- MLP
class MLPGenerator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.input = ConditionedInput(cfg)
        layers, width_in = [], self.input.out_dim
        for _ in range(cfg.depth):
            layers += [nn.Linear(width_in, cfg.g_width), nn.ReLU(inplace=True)]
            width_in = cfg.g_width
        layers.append(nn.Linear(width_in, cfg.out_dim))
        self.net = nn.Sequential(*layers)
        if cfg.kind == "points":
            # The net learns in standardised units; these buffers carry it back to the data's own units.
            self.register_buffer("out_mean", torch.tensor(cfg.point_mean, dtype=torch.float32))
            self.register_buffer("out_std", torch.tensor(cfg.point_std, dtype=torch.float32))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.net(self.input(z, labels))
        if self.cfg.kind == "points":
            return x  # standardised units; see to_data_units
        return torch.tanh(x).view(-1, self.cfg.channels, self.cfg.image_size, self.cfg.image_size)

    def to_data_units(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.out_std + self.out_mean


class MLPDiscriminator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        layers, width_in = [], cfg.out_dim
        for _ in range(cfg.depth):
            layers += [_maybe_sn(nn.Linear(width_in, cfg.d_width), cfg.spectral_norm), nn.LeakyReLU(0.2, inplace=True)]
            width_in = cfg.d_width
        self.body = nn.Sequential(*layers)
        self.head = _maybe_sn(nn.Linear(width_in, 1), cfg.spectral_norm)
        self.project = ClassProjection(cfg.n_classes, width_in, cfg.spectral_norm) if cfg.conditional else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x.flatten(1))
        out = self.head(h).squeeze(1)
        if self.project is not None:
            out = out + self.project(h, labels)
        return out


# ---------------------------------------------------------------------------------------------- DCGAN
def _dcgan_plan(image_size: int) -> tuple[int, int]:
    """(base resolution, number of 2x up/down-samplings): 28 = 7*2*2, 32 = 4*2^3, 64 = 4*2^4."""
    base = 7 if image_size == 28 else 4
    return base, int(round(math.log2(image_size // base)))


class DCGANGenerator(nn.Module):
    """z -> (width * 2^(n-1), base, base) -> ... -> (C, size, size). At 64x64 with width 64 this is exactly the
    PyTorch DCGAN example's generator (512 channels at 4x4)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.input = ConditionedInput(cfg)
        base, n_up = _dcgan_plan(cfg.image_size)
        ch = cfg.g_width * 2 ** (n_up - 1)
        layers = [  # (B, z, 1, 1) -> (B, ch, base, base)
            nn.ConvTranspose2d(self.input.out_dim, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n_up - 1):  # each doubles the resolution and halves the channels
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, cfg.channels, 4, 2, 1, bias=False), nn.Tanh()]  # (B, C, size, size)
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.input(z, labels)[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """(C, size, size) -> ... -> (width * 2^(n-1), base, base) -> a base x base convolution to a feature vector
    -> a linear score, plus the class projection for conditional models (Miyato & Koyama 2018). The DCGAN paper
    scores the map with that convolution directly; the extra nonlinear layer (the fully connected layer of the
    InfoGAN / TF-GAN MNIST discriminators) cut FD on MNIST from 27 to 20 at 3,000 steps, and pooling the map
    instead, as deep ResNet discriminators do, would leave this shallow D judging 10-pixel patches, blind to a
    digit's overall shape. With spectral norm there is no BatchNorm (SNGAN)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        sn, bn = cfg.spectral_norm, not cfg.spectral_norm
        base, n_down = _dcgan_plan(cfg.image_size)
        ch = cfg.d_width
        layers = [_maybe_sn(nn.Conv2d(cfg.channels, ch, 4, 2, 1, bias=not bn), sn), nn.LeakyReLU(0.2, True)]
        for _ in range(n_down - 1):
            layers.append(_maybe_sn(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not bn), sn))
            if bn:
                layers.append(nn.BatchNorm2d(ch * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            ch *= 2
        self.body = nn.Sequential(*layers)  # (B, ch, base, base)
        self.features = nn.Sequential(_maybe_sn(nn.Conv2d(ch, ch, base, 1, 0), sn), nn.LeakyReLU(0.2, True),
                                      nn.Flatten())  # (B, ch)
        self.head = _maybe_sn(nn.Linear(ch, 1), sn)
        self.project = ClassProjection(cfg.n_classes, ch, sn) if cfg.conditional else None
        self.apply(_dcgan_init)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(self.body(x))
        out = self.head(h).squeeze(1)
        if self.project is not None:
            out = out + self.project(h, labels)
        return out


def _dcgan_init(m: nn.Module) -> None:
    """N(0, 0.02) weights, as the DCGAN paper prescribes (spectral-normed layers keep their original init)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and not hasattr(m, "parametrizations"):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# -------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Architecture:
    generator: Callable[[ModelConfig], nn.Module]
    discriminator: Callable[[ModelConfig], nn.Module]
    image_sizes: tuple[int, ...] | None  # None: any size (within reason)
    defaults: dict                       # ModelConfig fields this family prefers

    def check_image_size(self, size) -> None:
        ok = isinstance(size, int) and not isinstance(size, bool) and (
            size in self.image_sizes if self.image_sizes else 4 <= size <= 64)
        if not ok:
            allowed = ", ".join(map(str, self.image_sizes)) if self.image_sizes else "4 to 64"
            raise GanInputError(f"this architecture makes images of {allowed} pixels, not {size!r}")


ARCHITECTURES: dict[str, Architecture] = {
    "mlp": Architecture(MLPGenerator, MLPDiscriminator, None, {"g_width": 256, "d_width": 256, "depth": 3}),
    "dcgan": Architecture(DCGANGenerator, DCGANDiscriminator, IMAGE_SIZES, {"g_width": 64, "d_width": 64}),
}


def _progan(part: str) -> Callable[[ModelConfig], nn.Module]:
    def build(cfg: ModelConfig) -> nn.Module:
        from gan import progan  # its own module (it imports pieces of this one)
        return getattr(progan, part)(cfg)
    return build


# Progressive growing (Karras et al. 2018): grows 7 -> 14 -> 28 or 8 -> 16 -> 32 on a step-driven schedule.
ARCHITECTURES["progan"] = Architecture(_progan("ProGANGenerator"), _progan("ProGANDiscriminator"), (28, 32),
                                       {"g_width": 32, "d_width": 32})


def build_generator(cfg: ModelConfig) -> nn.Module:
    return ARCHITECTURES[cfg.validate().arch].generator(cfg)


def build_discriminator(cfg: ModelConfig) -> nn.Module:
    return ARCHITECTURES[cfg.validate().arch].discriminator(cfg)
