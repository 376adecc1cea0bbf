"""Generator and discriminator networks of the `mlp` (Goodfellow et al. 2014) and `dcgan` (Radford et al. 2016)
families, and `build_generator` / `build_discriminator` for any family of the registry (gan.architectures;
`progan` is in gan/progan.py). Class conditioning (embedding in G, projection in D, Miyato & Koyama 2018, in
gan.layers) and spectral norm on D (torch's parametrization) are options of every family, which with the hinge
loss make the small BigGAN recipe. Two cures for mode collapse change D's shape, also in gan.layers: packing
(cfg.pack, PacGAN: D's input is `pack` samples concatenated, so its first layer is `pack` times as wide) and the
minibatch standard deviation (cfg.mbstd: one more feature or channel before D's last two layers, where Karras et al.
put it). Both leave a default model's layers and weight names as they were, so older files load unchanged.

Every discriminator returns raw scores (logits), shape (B,): the losses decide what to do with them.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gan.architectures import ARCHITECTURES, check_architecture
from gan.config import ModelConfig
from gan.layers import ClassProjection, ConditionedInput, MinibatchStd, as_packs, maybe_sn, score


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
    """Takes samples or packs of them (gan.layers.as_packs), flattened: (B, pack * out_dim) features in."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.pack, self.channels = cfg.pack, 2 if cfg.kind == "points" else cfg.channels
        layers, width_in = [], cfg.out_dim * cfg.pack
        for i in range(cfg.depth):
            if cfg.mbstd and i == cfg.depth - 1:  # before the last hidden layer and the head
                layers.append(MinibatchStd())
                width_in += 1
            layers += [maybe_sn(nn.Linear(width_in, cfg.d_width), cfg.spectral_norm), nn.LeakyReLU(0.2, inplace=True)]
            width_in = cfg.d_width
        self.body = nn.Sequential(*layers)
        self.head = maybe_sn(nn.Linear(width_in, 1), cfg.spectral_norm)
        self.project = ClassProjection(cfg.n_classes, width_in, cfg.spectral_norm) if cfg.conditional else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(as_packs(x, self.pack, self.channels).flatten(1))
        return score(self.head, self.project, h, labels)


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
    digit's overall shape. With spectral norm there is no BatchNorm (SNGAN).

    With d_head="conv" the head is the paper's instead: that base x base convolution goes straight to one score,
    without a bias, so at 64x64 this is exactly the PyTorch DCGAN example's discriminator before its sigmoid (the
    layout gan.convert maps that example's checkpoints onto).

    A packed D (cfg.pack > 1) takes pack * C channels, the pack's images side by side along the channels; with
    cfg.mbstd the map gets one more channel, the minibatch standard deviation, before the head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        sn, bn = cfg.spectral_norm, not cfg.spectral_norm
        base, n_down = _dcgan_plan(cfg.image_size)
        self.pack, self.channels = cfg.pack, cfg.channels
        ch = cfg.d_width
        layers = [maybe_sn(nn.Conv2d(cfg.channels * cfg.pack, ch, 4, 2, 1, bias=not bn), sn),
                  nn.LeakyReLU(0.2, True)]
        for _ in range(n_down - 1):
            layers.append(maybe_sn(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not bn), sn))
            if bn:
                layers.append(nn.BatchNorm2d(ch * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            ch *= 2
        if cfg.mbstd:  # last in the body, so the layers' names stay those of a D without it
            layers.append(MinibatchStd())
        self.body = nn.Sequential(*layers)  # (B, ch, base, base), or (B, ch + 1, base, base) with mbstd
        ch_in = ch + 1 if cfg.mbstd else ch
        if cfg.d_head == "conv":  # the paper's: the map straight to the score (B, 1); unconditional only
            self.features = nn.Identity()
            self.head = nn.Sequential(maybe_sn(nn.Conv2d(ch_in, 1, base, 1, 0, bias=False), sn), nn.Flatten())
        else:
            self.features = nn.Sequential(maybe_sn(nn.Conv2d(ch_in, ch, base, 1, 0), sn), nn.LeakyReLU(0.2, True),
                                          nn.Flatten())  # (B, ch)
            self.head = maybe_sn(nn.Linear(ch, 1), sn)
        self.project = ClassProjection(cfg.n_classes, ch, sn) if cfg.conditional else None
        self.apply(_dcgan_init)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(self.body(as_packs(x, self.pack, self.channels)))
        return score(self.head, self.project, h, labels)


def _dcgan_init(m: nn.Module) -> None:
    """N(0, 0.02) weights, as the DCGAN paper prescribes (spectral-normed layers keep their original init)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and not hasattr(m, "parametrizations"):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# -------------------------------------------------------------------------------------------- building
# The families (names, image sizes, preferred widths) are listed in gan.architectures, torch-free; the registry is
# named here too for callers that build and list in one place.
__all__ = ["ARCHITECTURES", "DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator",
           "build_discriminator", "build_generator"]


def build_generator(cfg: ModelConfig) -> nn.Module:
    return check_architecture(cfg.validate().arch).network("generator")(cfg)


def build_discriminator(cfg: ModelConfig) -> nn.Module:
    return check_architecture(cfg.validate().arch).network("discriminator")(cfg)
