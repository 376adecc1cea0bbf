"""Layers every model family shares: spectral norm as an option, the class embedding of a conditional G's input,
the projection discriminator's class term, and D's two cures for mode collapse, packing (PacGAN) and the minibatch
standard deviation. A leaf module (torch and the config only), so gan.models and gan.progan both build on it
without importing each other.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from gan.config import ModelConfig
from gan.errors import GanInputError


def maybe_sn(module: nn.Module, on: bool) -> nn.Module:
    """The module under spectral norm (torch's parametrization) when `on`, else as it is: D's option (SNGAN)."""
    return _spectral_norm(module) if on else module


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
        self.embed = maybe_sn(nn.Embedding(n_classes, features), spectral_norm)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (embed_classes(self.embed, labels) * h).sum(dim=1)


def score(head: nn.Module, project: ClassProjection | None, h: torch.Tensor, labels: torch.Tensor | None
          ) -> torch.Tensor:
    """D's raw score (B,) from its features h: the linear head, plus the class term of a conditional D."""
    out = head(h).squeeze(1)
    return out if project is None else out + project(h, labels)


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


# ------------------------------------------------------------------------------- cures for mode collapse
def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """PacGAN's packing (Lin et al. 2018, "PacGAN: The power of two samples in generative adversarial networks"):
    a batch of B samples (B, C, ...) becomes B / pack inputs of D, (B / pack, pack * C, ...), each the
    concatenation of `pack` consecutive samples along the channels (images) or features (2-D points), as the paper
    does. D then judges a pack, all real or all fake: a G that makes the same few samples makes packs with
    repeats, which a real pack rarely has, so mode collapse costs G more than one sample at a time can show. The
    memory format (channels-last on CUDA) is kept."""
    if pack == 1:
        return x
    if x.shape[0] % pack:
        raise GanInputError(f"a batch of {x.shape[0]} samples does not split into packs of {pack}")
    packed = x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        packed = packed.contiguous(memory_format=torch.channels_last)
    return packed


def as_packs(x: torch.Tensor, pack: int, channels: int) -> torch.Tensor:
    """What a packed D takes, from what it is given: packs (B, pack * channels, ...) as they are (the trainer
    packs its batches with pack_samples), or single samples (B, channels, ...), each turned into a pack of `pack`
    copies of itself. That is how a packed D scores one sample (Explore's D score, the Playground's heatmap): its
    verdict on a pack that holds that sample only. A copy-only pack is what a fully collapsed G would make, so
    such a score reads on its own scale; compare it with other samples' scores, not with the training losses."""
    if pack == 1 or x.shape[1] == pack * channels:
        return x
    if x.shape[1] != channels:
        raise GanInputError(f"this D takes samples with {channels} channels (or packs of {pack} of them, "
                            f"{pack * channels} channels), not {x.shape[1]}")
    return x.repeat(1, pack, *([1] * (x.dim() - 2)))


def mbstd_group(n: int) -> int:
    """Samples per group of the minibatch standard deviation for a batch of n: 4, as in Karras et al., or 3 or 2
    when n does not divide by 4, else the whole batch (a batch of 1 has no spread: 1, which the config refuses
    for training)."""
    return next((g for g in (4, 3, 2) if n % g == 0), n)


class MinibatchStd(nn.Module):
    """The minibatch standard deviation (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality,
    Stability, and Variation", section 3): one more feature (MLP) or channel (conv nets), the standard deviation
    of each feature across a group of samples, averaged over the features (and positions), the same for every
    sample of the group. A D that sees how much a batch varies can tell a collapsed batch of fakes from a real
    one; inside a single sample it could not. Groups are strided as in the paper's code (sample i is grouped with
    i + B/g, i + 2B/g, ...), so neighbours in a batch need not be alike.

    In eval mode (a loaded model scoring one image, a viewer's copy) there may be no group at all, so the layer
    uses instead the running mean of the feature over what it saw in training (momentum 0.1, like BatchNorm's
    running statistics): a sample is then scored as though it came in a typical training batch, the same score
    whatever else is in the batch."""

    MOMENTUM = 0.1

    def __init__(self):
        super().__init__()
        self.register_buffer("running_std", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.training:
            g = mbstd_group(n)
            groups = x.float().reshape(g, n // g, *x.shape[1:])          # (g, B/g, C, ...)
            std = (groups.var(dim=0, unbiased=False) + 1e-8).sqrt()       # (B/g, C, ...)
            stat = std.flatten(1).mean(dim=1)                              # (B/g,) one value per group
            with torch.no_grad():
                self.running_std.lerp_(stat.mean().reshape(1), self.MOMENTUM)
            stat = stat.repeat(g)                                          # (B,) sample i: group i % (B/g)
        else:
            stat = self.running_std.expand(n)
        feature = stat.to(x.dtype).view(n, 1, *([1] * (x.dim() - 2))).expand(n, 1, *x.shape[2:])
        return torch.cat([x, feature], dim=1)                              # (B, C + 1, ...)
