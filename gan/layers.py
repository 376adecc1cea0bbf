"""Layers every model family shares: spectral norm as an option, the class embedding of a conditional G's input
and the projection discriminator's class term. A leaf module (torch and the config only), so gan.models and
gan.progan both build on it without importing each other.
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
