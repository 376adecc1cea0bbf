"""One inference entry point: `pipe = load_generator(path)`, then `pipe(seeds=[1, 2])` returns images.

Like diffusers' pipelines: a file in, pictures out, float32 on the CPU by default, and a concise error instead of
silently "fixing" bad input.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from gan.checkpoint import load_into, read_model_file
from gan.config import ModelConfig
from gan.devices import resolve_device
from gan.errors import GanInputError
from gan.latent import seed_to_z, truncate
from gan.models import build_discriminator, build_generator


@dataclass
class GeneratorPipeline:
    """A generator in eval mode, with its config, its provenance and, when the file carries one, its D."""

    config: ModelConfig
    generator: nn.Module
    discriminator: nn.Module | None = None
    info: dict = field(default_factory=dict)
    name: str = ""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_points(self) -> bool:
        return self.config.kind == "points"

    def load_weights_from(self, generator: nn.Module, discriminator: nn.Module | None = None,
                          info: dict | None = None) -> None:
        """Copy a trainer's current weights (and D's, when this pipeline carries one) and its provenance into this
        pipeline under its lock, so a viewer decoding at the same moment sees the old model or the new one, never
        half of each. `info` replaces the provenance as a new dict: a reader holding the old one keeps a whole one."""
        with self.lock:
            self.generator.load_state_dict(generator.state_dict())
            if self.discriminator is not None and discriminator is not None:
                self.discriminator.load_state_dict(discriminator.state_dict())
            if info is not None:
                self.info = dict(info)

    def latents(self, seeds: Sequence[int], truncation: float = 1.0) -> torch.Tensor:
        return truncate(seed_to_z(seeds, self.config.z_dim, self.config.z_dist), truncation)

    def labels_tensor(self, labels, n: int) -> torch.Tensor | None:
        """What G and D take as class input: None for an unconditional model; otherwise class indices (an int for
        all, a list, or None for 0, 1, 2, ... in turn) as a long tensor, or soft class weights (a 2-D float
        tensor or array, one row per sample) as a float tensor, to blend classes (see gan.layers.embed_classes)."""
        if not self.config.conditional:
            return None
        if isinstance(labels, (torch.Tensor, np.ndarray)) and labels.ndim == 2:
            return self.class_weights_tensor(labels, n)
        if labels is None:
            labels = [i % self.config.n_classes for i in range(n)]
        elif isinstance(labels, (int, np.integer)):
            labels = [int(labels)] * n
        labels = [int(c) for c in labels]
        if len(labels) != n:
            raise GanInputError(f"got {len(labels)} labels for {n} samples")
        if any(not 0 <= c < self.config.n_classes for c in labels):
            raise GanInputError(f"class labels must be in [0, {self.config.n_classes - 1}]")
        return torch.tensor(labels, dtype=torch.long, device=self.device)

    def class_weights_tensor(self, weights, n: int) -> torch.Tensor:
        """Soft class weights (n, n_classes) checked: finite, not negative, each row summing to 1, so every sample
        is a mix of the classes the model learned (the embeddings' convex hull), not a point far outside it."""
        k = self.config.n_classes
        w = torch.as_tensor(weights).detach().to("cpu", torch.float32)
        if tuple(w.shape) != (n, k):
            raise GanInputError(f"class weights must be one row of {k} numbers per sample ({n} rows), "
                                f"got shape {tuple(w.shape)}")
        if not torch.isfinite(w).all() or (w < 0).any():
            raise GanInputError("class weights must be finite and not negative")
        if not torch.allclose(w.sum(dim=1), torch.ones(n), atol=1e-4):
            raise GanInputError("each sample's class weights must sum to 1")
        return w.to(self.device)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """Raw generator output for latents z: images in [-1, 1] (N, C, H, W), or points in data units (N, 2)."""
        z = z.to(self.device, torch.float32)
        y = self.labels_tensor(labels, z.shape[0])
        with self.lock:  # a live model's weights may be swapped in by the trainer
            out = self.generator(z, y)
            if self.is_points:
                out = self.generator.to_data_units(out)
        return out.float()

    @torch.inference_mode()
    def score(self, images: torch.Tensor, labels=None) -> np.ndarray | None:
        """D's raw score for each image (higher: looks more real to D), or None if the file has no D. Each image is
        scored on its own, whatever else is in the batch: a packed D (PacGAN, config.pack > 1) judges a pack of
        config.pack copies of the image (gan.layers.as_packs), and a D with the minibatch std (config.mbstd), in
        eval mode here, takes for the spread of a batch its running mean from training (gan.layers.MinibatchStd)."""
        if self.discriminator is None:
            return None
        y = self.labels_tensor(labels, images.shape[0])
        with self.lock:
            return self.discriminator(images.to(self.device), y).float().cpu().numpy()

    def __call__(self, seeds: Sequence[int] | None = None, labels=None, truncation: float = 1.0,
                 z: torch.Tensor | None = None, output_type: str = "pil"):
        """Images for seeds (or explicit latents z): a list of PIL images (output_type="pil") or a uint8 array
        (N, H, W) / (N, H, W, 3) ("np"). A 2-D model returns an (N, 2) float array in the data's units."""
        if z is None:
            if seeds is None:
                raise GanInputError("give seeds or z")
            z = self.latents(list(seeds), truncation)
        elif truncation != 1.0:
            z = truncate(z, truncation)
        out = self.decode(z, labels)
        if self.is_points:
            return out.cpu().numpy()
        arr = to_uint8(out)
        if output_type == "np":
            return arr
        if output_type != "pil":
            raise GanInputError(f"output_type must be 'pil' or 'np', not {output_type!r}")
        from PIL import Image

        return [Image.fromarray(a) for a in arr]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] (N, C, H, W) -> uint8 (N, H, W) for grayscale or (N, H, W, 3) for colour."""
    x = ((images.detach().float().cpu() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
    x = x.permute(0, 2, 3, 1).numpy()
    return x[..., 0] if x.shape[-1] == 1 else x


def pipeline_from_modules(config: ModelConfig, generator: nn.Module, discriminator: nn.Module | None = None,
                          info: dict | None = None, name: str = "") -> GeneratorPipeline:
    """A pipeline around modules already built (a training run's copies of its EMA generator and D): they are put
    in eval mode and used as they are, on the device their weights are on."""
    generator.eval()
    if discriminator is not None:
        discriminator.eval()
    device = next(generator.parameters()).device
    return GeneratorPipeline(config, generator, discriminator, info or {}, name, device)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> GeneratorPipeline:
    """Rebuild the network described in the file's metadata and load its weights: no code outside the file names
    the architecture."""
    config, info, tensors = read_model_file(path)
    name = Path(path).name
    generator = build_generator(config)
    load_into(generator, tensors, "generator.", name)
    discriminator = None
    if any(k.startswith("discriminator.") for k in tensors):
        discriminator = build_discriminator(config)
        load_into(discriminator, tensors, "discriminator.", name)
    dev = resolve_device(device) if isinstance(device, str) else device
    generator.to(dev)
    if discriminator is not None:
        discriminator.to(dev)
    return pipeline_from_modules(config, generator, discriminator, info, Path(path).stem)
