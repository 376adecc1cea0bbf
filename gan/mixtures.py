"""Random 2-D Gaussian mixtures drawn from a seed, for checking that the 2-D defaults work on data nobody tuned
them on (tests/test_mixtures.py draws from a fixed list of seeds, benchmarks/unseen_2d.py from fresh ones).

A mixture is a ring (6-16 modes on a circle), a grid (2x2 to 7x7) or a spiral (8-20 modes along an Archimedean
spiral), with equal weights or, half the time, unequal ones (each weight from 1 to 3 before normalising, so the
rarest mode has at least a third of the commonest one's share). Every mode has the same standard deviation sigma,
log-uniform from 1% to 10% of the distance from a mode to its nearest neighbour (the smallest such distance of the
mixture: a mode is never closer to another than that). The whole mixture is then scaled by 10^U(-2, 3) (0.01 to
1000) and shifted by up to 10 times that scale in each coordinate. The offset is relative to the scale because G's
points come back to data units in float32 (gan.models.MLPGenerator.to_data_units): a mixture 0.01 wide at 1000
would put sigma below float32's resolution there, so its figures would measure rounding, not the GAN.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gan.data import Dataset, _points
from gan.errors import GanInputError
from gan.metrics import MODE_SHARE, mode_figures

KINDS = ("ring", "grid", "spiral")
RING_MODES = (6, 16)         # modes on a ring, both ends included
GRID_SIDE = (2, 7)           # 2x2 to 7x7 modes
SPIRAL_MODES = (8, 20)
SIGMA_SHARE = (0.01, 0.10)   # sigma as a share of the nearest-neighbour distance between modes
WEIGHT_RANGE = (1.0, 3.0)    # unequal weights: each drawn from this range, then normalised
SCALE_LOG10 = (-2.0, 3.0)    # the mixture's size: 0.01 to 1000
OFFSET_SCALES = 10.0         # its centre: up to this many times its size from the origin, per coordinate
N_DATASET = 50_000           # samples in a mixture's training set (as gan.data's ring8 and grid25)
N_FIGURES = 2500             # samples of G the figures count (PacGAN's number)


@dataclass(frozen=True, eq=False)
class Mixture:
    """A 2-D Gaussian mixture: centres (K, 2), weights (K,) summing to 1, one standard deviation for every mode."""

    name: str
    modes: np.ndarray
    weights: np.ndarray
    mode_std: float
    kind: str = ""      # ring, grid or spiral

    @property
    def neighbour_distance(self) -> float:
        """The smallest distance between two modes (sigma is drawn as a share of it)."""
        return nearest_neighbour_distance(self.modes)

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """n exact samples (n, 2) and the mode each came from (n,), the same for the same seed."""
        rng = np.random.default_rng(seed)
        which = rng.choice(len(self.modes), size=n, p=self.weights)
        return self.modes[which] + rng.normal(0.0, self.mode_std, (n, 2)), which

    def dataset(self, n: int = N_DATASET, seed: int = 0) -> Dataset:
        """A training set of n samples, standardised as every point dataset is (gan.data._points), with the modes,
        sigma and labels the figures need."""
        points, which = self.sample(n, seed)
        return _points(self.name, points, which, self.modes, self.mode_std)

    def figures(self, points: np.ndarray) -> dict:
        """PacGAN's figures for points in data units, with this mixture's weights and the benchmarks' rule for a
        covered mode (gan.metrics.MODE_SHARE: a fifth of its expected share of samples within 3 sigma), plus the
        shares the goal is stated in."""
        f = mode_figures(points, self.modes, self.mode_std, weights=self.weights, min_share=MODE_SHARE)
        f["coverage"] = round(f["modes_covered"] / f["n_modes"], 4)
        return f


def nearest_neighbour_distance(modes: np.ndarray) -> float:
    d = np.linalg.norm(modes[:, None, :] - modes[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def _ring(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    k = int(rng.integers(RING_MODES[0], RING_MODES[1] + 1))
    angles = 2 * math.pi * np.arange(k) / k + rng.uniform(0, 2 * math.pi)
    return f"ring{k}", np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _grid(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    side = int(rng.integers(GRID_SIDE[0], GRID_SIDE[1] + 1))
    axis = np.arange(side, dtype=np.float64)
    return f"grid{side * side}", np.array([(x, y) for x in axis for y in axis])


def _spiral(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """Modes at equal arc length along r = b * theta, 1 to 2.5 turns; the arms lie 2 pi b apart and the modes
    along an arm at most 0.7 of that, so neighbours along the arm stay the nearest."""
    k = int(rng.integers(SPIRAL_MODES[0], SPIRAL_MODES[1] + 1))
    turns = rng.uniform(1.0, 2.5)
    theta = np.linspace(math.pi, math.pi + 2 * math.pi * turns, 4000)
    xy = np.stack([theta * np.cos(theta), theta * np.sin(theta)], axis=1)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    spacing = min(arc[-1] / (k - 1), 0.7 * 2 * math.pi)
    idx = np.searchsorted(arc, spacing * np.arange(k))
    return f"spiral{k}", xy[np.minimum(idx, len(xy) - 1)]


def draw_mixture(seed: int, kind: str | None = None) -> Mixture:
    """The mixture of a seed (kind: ring, grid or spiral; None draws it too)."""
    if kind is not None and kind not in KINDS:
        raise GanInputError(f"unknown mixture kind {kind!r}; choose one of: {', '.join(KINDS)}")
    rng = np.random.default_rng([seed, 17])
    kind = kind or KINDS[int(rng.integers(len(KINDS)))]
    name, modes = {"ring": _ring, "grid": _grid, "spiral": _spiral}[kind](rng)
    k = len(modes)
    unequal = bool(rng.random() < 0.5)
    weights = rng.uniform(*WEIGHT_RANGE, k) if unequal else np.ones(k)
    weights = weights / weights.sum()
    share = math.exp(rng.uniform(math.log(SIGMA_SHARE[0]), math.log(SIGMA_SHARE[1])))
    scale = 10 ** rng.uniform(*SCALE_LOG10)
    offset = rng.uniform(-OFFSET_SCALES, OFFSET_SCALES, 2) * scale
    modes = (modes / nearest_neighbour_distance(modes)) * scale + offset  # nearest neighbours now `scale` apart
    label = f"{name}{' unequal' if unequal else ''} sigma {100 * share:.1f}% x{scale:.3g} seed {seed}"
    return Mixture(label, modes, weights, share * scale, kind)


def train_figures(mixture: Mixture, loss: str, steps: int = 3000, seed: int = 0, **settings) -> dict:
    """Train `loss` at its 2-D defaults (gan.trainer.resolve_config: the loss's preset_2d and the points
    architecture; `settings` override TrainConfig fields) for `steps` G updates on the mixture, and return the
    figures of N_FIGURES samples of the generator the defaults sample from (the EMA G, which is G itself when
    ema is 0), computed in float64 data units."""
    import torch

    from gan.config import TrainConfig
    from gan.latent import seed_to_z
    from gan.trainer import Trainer

    cfg = TrainConfig(dataset=mixture.name, loss=loss, steps=steps, seed=seed, device="cpu", tensorboard=False,
                      **settings)
    trainer = Trainer(cfg, dataset=mixture.dataset(seed=seed))
    for _ in range(steps):
        trainer.step()
    G = trainer.G_ema
    z = seed_to_z(range(N_FIGURES), trainer.model_config.z_dim, trainer.model_config.z_dist)
    with torch.no_grad():
        x = G(z).double().numpy()
    points = x * np.array(trainer.data.point_std) + np.array(trainer.data.point_mean)
    return mixture.figures(points)
