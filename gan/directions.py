"""Discovered latent directions (GANSpace, Härkönen et al. 2020), for generators without a mapping network.

1. Sample n latents z (and classes, for a conditional G) with a fixed seed.
2. Record an early layer's activations y(z): the output of G's first non-linearity (DCGAN: the 7x7 or 4x4
   feature map after the first transposed convolution; MLP: the first hidden layer; ProGAN: the fully connected
   layer that makes the base-resolution feature map). A generator without such a module raises NoDirections.
3. PCA of the activations: the top k principal components and each sample's coordinates x_i on them.
4. Map the components back to latent space by linear regression, z_i ≈ U x_i (the BigGAN recipe of the paper),
   and normalise each direction to unit length, so a slider value is a distance in z's own units.

Deterministic for a given model (fixed seeds for the samples and for the randomised PCA). On the CPU a
28x28 DCGAN takes well under a second, so it is computed once per model on first use and cached by the catalog.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gan.errors import GanInputError
from gan.latent import sample_z

DEFAULT_K = 6
DEFAULT_SAMPLES = 1024


@dataclass
class Directions:
    vectors: torch.Tensor      # (k, z_dim) unit rows, float32 on the CPU; row 0 explains the most variance
    explained: list[float]     # fraction of the layer's activation variance along each component
    layer: str                 # the module whose activations were analysed

    @property
    def k(self) -> int:
        return int(self.vectors.shape[0])

    def offset(self, amounts) -> torch.Tensor:
        """Σ amount_i · direction_i as a (1, z_dim) latent offset; missing amounts count as 0."""
        a = torch.zeros(self.k)
        vals = [float(v or 0.0) for v in list(amounts)[: self.k]]
        a[: len(vals)] = torch.tensor(vals)
        return (a @ self.vectors).unsqueeze(0)


class NoDirections(GanInputError):
    """The generator has no layer this module can analyse, so it has no discovered directions. The model itself
    is fine: callers show it without direction sliders (the raw latent still works) and say why."""


class _Stop(Exception):
    """Raised by the hook once the early layer has run: the rest of the network is not needed."""


def early_layer(generator: nn.Module) -> tuple[str, nn.Module]:
    """G's first non-linearity (ReLU family), the 'early layer' GANSpace analyses for BigGAN-like models."""
    acts = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh)
    for name, module in generator.named_modules():
        if isinstance(module, acts):
            return name, module
    raise NoDirections("this generator has no activation layer to analyse")


def layer_activations(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None,
                      module: nn.Module) -> torch.Tensor:
    """(N, features) activations of `module` for latents z; stops the forward pass right after it."""
    store: dict[str, torch.Tensor] = {}

    def hook(_m, _inp, out):
        store["y"] = out.detach().flatten(1).float().clone()
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        generator(z, labels)
    except _Stop:
        pass
    finally:
        handle.remove()
    if "y" not in store:
        raise NoDirections("the analysed layer did not run")
    return store["y"]


@torch.inference_mode()
def compute_directions(pipe, k: int = DEFAULT_K, n: int = DEFAULT_SAMPLES, seed: int = 0) -> Directions:
    """The top-k GANSpace directions of a GeneratorPipeline's generator."""
    cfg = pipe.config
    g = torch.Generator().manual_seed(seed)
    z = sample_z(n, cfg.z_dim, cfg.z_dist, g)
    labels = None
    if cfg.conditional:
        labels = torch.randint(0, cfg.n_classes, (n,), generator=g).to(pipe.device)
    name, module = early_layer(pipe.generator)
    with pipe.lock:
        y = layer_activations(pipe.generator, z.to(pipe.device), labels, module).cpu().float()
    y = y - y.mean(0, keepdim=True)
    total = float((y * y).sum())
    k = max(1, min(k, cfg.z_dim, n - 1))
    if total <= 0:  # a dead layer (untrained or collapsed model): fall back to the latent axes
        return Directions(torch.eye(cfg.z_dim)[:k].float(), [0.0] * k, name)
    # Randomised PCA (Halko et al. 2011) with our own seeded start, so it is fast and deterministic: a few
    # rounds of subspace iteration, then an exact SVD of the small (n, k + 8) projection.
    q = min(k + 8, min(y.shape))
    basis = torch.randn(y.shape[1], q, generator=torch.Generator().manual_seed(seed + 1), dtype=y.dtype)
    for _ in range(4):
        basis, _ = torch.linalg.qr(y.T @ (y @ basis))
    u_s, s, _ = torch.linalg.svd(y @ basis, full_matrices=False)
    evals = (s[:k] ** 2)
    coords = u_s[:, :k] * s[:k]
    explained = (evals / total).tolist()
    # Regression back to latent space: z ≈ coords @ U, one row of U per component.
    zc = z - z.mean(0, keepdim=True)
    u = torch.linalg.lstsq(coords, zc).solution                   # (k, z_dim)
    u = u / u.norm(dim=1, keepdim=True).clamp(min=1e-12)
    # A fixed sign per direction (largest component positive), so labels stay stable across runs.
    idx = u.abs().argmax(dim=1)
    u = u * torch.sign(u[torch.arange(u.shape[0]), idx]).unsqueeze(1)
    return Directions(u.float().contiguous(), [float(e) for e in explained], name)
