"""GAN losses, in a registry. Each takes D's raw scores (logits) and comes with the optimizer settings its paper
used, so `--loss wgan-gp` alone is a known-good recipe.

Names follow the papers: bce is the non-saturating GAN of Goodfellow et al. 2014, minimax the saturating one they
analyse, lsgan Mao et al. 2017, hinge Lim & Ye 2017 / Miyato et al. 2018, wgan Arjovsky et al. 2017 (weight clipping),
wgan-gp Gulrajani et al. 2017.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


@dataclass(frozen=True)
class Loss:
    d_loss: Callable[[Tensor, Tensor], Tensor]   # (scores on real, scores on fake) -> scalar
    g_loss: Callable[[Tensor], Tensor]           # scores on fake -> scalar
    preset: dict                                 # TrainConfig fields for images
    preset_2d: dict = field(default_factory=dict)  # overrides for 2-D point data
    gradient_penalty: bool = False
    weight_clip: bool = False
    summary: str = ""
    probability: bool = False    # D's score is the logit of "real" (bce, minimax): sigmoid(score) is a probability


def scores_are_probabilities(loss: str) -> bool:
    """Whether D's scores under `loss` read as probabilities after a sigmoid (a page says "D thinks 93% real")
    rather than as an unbounded critic value (WGAN, hinge, LSGAN)."""
    return loss in LOSSES and LOSSES[loss].probability


def _bce_d(real: Tensor, fake: Tensor) -> Tensor:
    # -log D(x) - log(1 - D(G(z))), written on logits for stability.
    return F.softplus(-real).mean() + F.softplus(fake).mean()


_ADAM_DCGAN = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, n_critic=1, batch_size=64)
# One set of 2-D defaults for bce, minimax, lsgan and hinge (with gan.trainer.POINTS_DEFAULTS: a 3 x 128 MLP, EMA
# 0.99), chosen on random mixtures (gan.mixtures, benchmarks/unseen_2d.py; README "2-D defaults on unseen data"):
# Adam's betas 0 / 0.9 (hinge with 0.5 / 0.999 covered no mode at all on three mixtures; bce with 0 / 0.9 went
# from 6% to 62% of a narrow spiral's modes), batch 512 (hinge on a 16-mode spiral: 88% of its modes against 62%
# at 256), learning rate 1e-3 for both (5e-4 and 2e-3, or D at 2e-3, all covered fewer modes in 3,000 steps).
_2D = dict(batch_size=512, lr_g=1e-3, lr_d=1e-3, beta1=0.0, beta2=0.9)
# WGAN-GP's: the same optimizer, a penalty weight of 1 and batch 256. The image preset's weight 10 (with betas
# 0.5 / 0.9) covered no mode of narrow-mode rings and grids; on three mixtures (sigma 1.2-9.2% of the modes'
# spacing), 3,000 steps, the WGAN-GP paper's 2-D settings at 5e-4 (weight 0.1, betas 0.5 / 0.9; at its 1e-4, 6-16%
# of a spiral's and a grid's modes) reached a median of 62% of the modes with 41% high quality, weight 1 at 1e-3
# with betas 0 / 0.9 79% and 43%, and with the 2-D EMA of 0.99 100% and 57%. Its 5 critic steps already make it
# 5x slower per G step, so the batch stays at 256.
_2D_WGAN_GP = dict(batch_size=256, lr_g=1e-3, lr_d=1e-3, beta1=0.0, beta2=0.9, gp_lambda=1.0)

LOSSES: dict[str, Loss] = {
    "bce": Loss(_bce_d, lambda fake: F.softplus(-fake).mean(), _ADAM_DCGAN, _2D,
                probability=True, summary="non-saturating GAN: G maximises log D(G(z))"),
    "minimax": Loss(_bce_d, lambda fake: -F.softplus(fake).mean(), _ADAM_DCGAN, _2D,
                    probability=True,
                    summary="the original minimax game: G minimises log(1 - D(G(z))), which saturates early"),
    "lsgan": Loss(lambda real, fake: 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean(),
                  lambda fake: 0.5 * ((fake - 1) ** 2).mean(), _ADAM_DCGAN, _2D,
                  summary="least squares: D regresses real to 1, fake to 0"),
    "hinge": Loss(lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
                  lambda fake: -fake.mean(),
                  dict(optimizer="adam", lr_g=1e-4, lr_d=4e-4, beta1=0.0, beta2=0.9, n_critic=1, batch_size=64),
                  _2D, summary="hinge loss with two time-scale learning rates (SAGAN / BigGAN)"),
    "wgan": Loss(lambda real, fake: fake.mean() - real.mean(), lambda fake: -fake.mean(),
                 dict(optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, n_critic=5, clip=0.01, batch_size=64),
                 dict(batch_size=256, lr_g=5e-4, lr_d=5e-4), weight_clip=True,
                 summary="Wasserstein critic kept Lipschitz by clipping its weights"),
    "wgan-gp": Loss(lambda real, fake: fake.mean() - real.mean(), lambda fake: -fake.mean(),
                    dict(optimizer="adam", lr_g=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9, n_critic=5, gp_lambda=10.0,
                         batch_size=64),
                    _2D_WGAN_GP, gradient_penalty=True,
                    summary="Wasserstein critic kept 1-Lipschitz by a gradient penalty"),
}


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] on random points between real and fake (WGAN-GP, eq. 3)."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, device=real.device, generator=generator, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
