"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs"), small enough for a laptop CPU.

Training starts at a quarter of the final resolution and grows twice: 28x28 goes 7 -> 14 -> 28, 32x32 goes
8 -> 16 -> 32. Each new block is faded in: the output is (1 - alpha) * the upsampled output of the previous
resolution + alpha * the new block's, with alpha rising linearly from 0 to 1.

The schedule is a pure function of the training step (`set_progress(step, total_steps)`, which the Trainer calls
before every step), so a resumed run is at exactly the same resolution and alpha, and nothing about the schedule
is stored in the weights. A freshly built network (a loaded model file) is at full resolution with alpha = 1.

To stay model-agnostic for the rest of the engine, G always returns full-size images (a low-resolution stage is
upsampled with nearest neighbours, so the grids show the growth as big pixels), and D always takes full-size
images and average-pools them to its current resolution first: real batches are thus downsampled to the current
resolution by the model itself, and avg-pooling a nearest-upsampled image gives back exactly the low-resolution one.
Pixel norm in G and a minibatch standard-deviation channel in D are from the paper; the equalised learning rate is
left out (Adam's per-parameter scaling does most of its work at this size). Because D has that channel built in,
the --mbstd option (gan.layers.MinibatchStd, for mlp and dcgan) is refused for progan rather than added twice;
packing (PacGAN, --pack) works as for dcgan: D's from-RGB layers take the pack's images along the channels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan.config import ModelConfig
from gan.layers import ClassProjection, ConditionedInput, as_packs, maybe_sn, score

N_GROWTHS = 2          # two doublings: base -> 2 base -> 4 base = the image size
PHASES = 2 * N_GROWTHS + 1  # stable base, fade, stable, fade, stable


def schedule(step: int, total_steps: int) -> tuple[int, float]:
    """(stage, alpha) at a training step: the run is cut into PHASES equal parts: stable at the base resolution,
    then for each growth a fade-in (alpha 0 -> 1) and a stable part. Stage 0 is the base resolution."""
    if total_steps <= 0:
        return N_GROWTHS, 1.0
    frac = min(max(step / total_steps, 0.0), 1.0)
    phase = min(int(frac * PHASES), PHASES - 1)
    t = frac * PHASES - phase
    stage = (phase + 1) // 2
    alpha = t if phase % 2 == 1 else 1.0
    return stage, float(alpha)


class _Progressive(nn.Module):
    """The schedule state shared by G and D."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.base = cfg.image_size // 2 ** N_GROWTHS
        self.stage, self.alpha = N_GROWTHS, 1.0

    def set_progress(self, step: int, total_steps: int) -> None:
        self.stage, self.alpha = schedule(step, total_steps)

    @property
    def resolution(self) -> int:
        return self.base * 2 ** self.stage

    def progress_info(self) -> dict:
        return {"resolution": self.resolution, "alpha": round(self.alpha, 4), "stage": self.stage,
                "final_resolution": self.cfg.image_size}


def _pixel_norm(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def _widths(width: int) -> list[int]:
    return [width * 2, width, max(width // 2, 1)]  # channels at base, 2 base, 4 base (fewer as images grow)


class ProGANGenerator(_Progressive):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.input = ConditionedInput(cfg)
        ch = _widths(cfg.g_width)
        self.fc = nn.Linear(self.input.out_dim, ch[0] * self.base ** 2)  # (B, ch0, base, base)
        # The first non-linearity as a module (no weights, so files saved before it load the same): it is the
        # early layer gan.directions hooks to find GANSpace directions, as for DCGAN's first feature map.
        self.fc_act = nn.LeakyReLU(0.2)
        self.blocks = nn.ModuleList([nn.Conv2d(ch[0], ch[0], 3, 1, 1)])
        for i in range(1, N_GROWTHS + 1):  # each doubles the resolution
            self.blocks.append(nn.ModuleList([nn.Conv2d(ch[i - 1], ch[i], 3, 1, 1), nn.Conv2d(ch[i], ch[i], 3, 1, 1)]))
        self.to_rgb = nn.ModuleList([nn.Conv2d(c, cfg.channels, 1) for c in ch])

    def _block(self, i: int, h: torch.Tensor) -> torch.Tensor:
        if i == 0:
            return _pixel_norm(F.leaky_relu(self.blocks[0](h), 0.2))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        for conv in self.blocks[i]:
            h = _pixel_norm(F.leaky_relu(conv(h), 0.2))
        return h

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc_act(self.fc(_pixel_norm(self.input(z, labels))))
        h = _pixel_norm(h.view(h.shape[0], -1, self.base, self.base))
        h = self._block(0, h)
        prev = None
        for i in range(1, self.stage + 1):
            prev = h
            h = self._block(i, h)
        img = self.to_rgb[self.stage](h)
        if self.stage > 0 and self.alpha < 1.0:  # fade the new block in
            old = F.interpolate(self.to_rgb[self.stage - 1](prev), scale_factor=2, mode="nearest")
            img = old + self.alpha * (img - old)
        img = torch.tanh(img)  # (B, C, r, r)
        factor = self.cfg.image_size // self.resolution
        return img if factor == 1 else F.interpolate(img, scale_factor=factor, mode="nearest")


class ProGANDiscriminator(_Progressive):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        sn = cfg.spectral_norm
        ch = _widths(cfg.d_width)
        self.from_rgb = nn.ModuleList([maybe_sn(nn.Conv2d(cfg.channels * cfg.pack, c, 1), sn) for c in ch])
        self.blocks = nn.ModuleList([nn.Identity()])
        for i in range(1, N_GROWTHS + 1):  # each halves the resolution: ch[i] -> ch[i-1]
            self.blocks.append(nn.ModuleList([maybe_sn(nn.Conv2d(ch[i], ch[i], 3, 1, 1), sn),
                                              maybe_sn(nn.Conv2d(ch[i], ch[i - 1], 3, 1, 1), sn)]))
        self.head_conv = maybe_sn(nn.Conv2d(ch[0] + 1, ch[0], 3, 1, 1), sn)  # +1: minibatch stddev
        self.head_fc = maybe_sn(nn.Linear(ch[0] * self.base ** 2, ch[0]), sn)
        self.head = maybe_sn(nn.Linear(ch[0], 1), sn)
        self.project = ClassProjection(cfg.n_classes, ch[0], sn) if cfg.conditional else None

    def _block(self, i: int, h: torch.Tensor) -> torch.Tensor:
        for conv in self.blocks[i]:
            h = F.leaky_relu(conv(h), 0.2)
        return F.avg_pool2d(h, 2)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = as_packs(x, self.cfg.pack, self.cfg.channels)  # packs as they are; one sample as a pack of copies
        factor = x.shape[-1] // self.resolution
        if factor > 1:  # the image at the current resolution
            x = F.avg_pool2d(x, factor)
        h = F.leaky_relu(self.from_rgb[self.stage](x), 0.2)
        if self.stage > 0:
            h = self._block(self.stage, h)
            if self.alpha < 1.0:  # fade: blend with the previous resolution's path
                old = F.leaky_relu(self.from_rgb[self.stage - 1](F.avg_pool2d(x, 2)), 0.2)
                h = old + self.alpha * (h - old)
            for i in range(self.stage - 1, 0, -1):
                h = self._block(i, h)
        # (B, ch0, base, base) + the minibatch standard deviation as one more channel
        std = torch.sqrt(h.var(dim=0, unbiased=False) + 1e-8).mean().expand(h.shape[0], 1, *h.shape[2:])
        h = F.leaky_relu(self.head_conv(torch.cat([h, std], 1)), 0.2)
        h = F.leaky_relu(self.head_fc(h.flatten(1)), 0.2)
        return score(self.head, self.project, h, labels)
