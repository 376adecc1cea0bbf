"""Guided lessons: seeded, reproducible setups that each make one of GAN training's classic problems (or its fix)
visible, with two or three sentences for the page. The tests (tests/test_lessons.py) check that each lesson shows
what its text says, at the step budget given here.

    from gan.lessons import LESSONS, run_lesson
    pg = run_lesson("Mode collapse")            # a Playground trained for the lesson's steps
    pg.figures()["modes_covered"]

2-D lessons run in the Playground (gan.playground); the image lessons are TrainConfigs for the Train tab's run
manager, judged by the class-coverage monitor of gan.metrics.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from gan.config import TrainConfig
from gan.errors import GanInputError
from gan.playground import Playground, PlaygroundConfig


@dataclass(frozen=True)
class Lesson:
    name: str
    text: str                                  # what to look at, in two or three sentences
    steps: int                                 # G updates after which the lesson shows what it says
    playground: PlaygroundConfig | None = None  # a 2-D lesson
    train: TrainConfig | None = None           # an image lesson (Train tab)
    compare_with: str | None = None            # the lesson it is the contrast of

    @property
    def kind(self) -> str:
        return "points" if self.playground is not None else "images"


_P = PlaygroundConfig
# The MNIST pair differs only in G's learning rate and Adam's beta1.
_MNIST_COLLAPSE = TrainConfig(dataset="mnist", arch="dcgan", loss="bce", lr_g=5e-3, lr_d=2e-4, beta1=0.9, g_width=32,
                              d_width=32, z_dim=64, batch_size=64, seed=0, steps=1000, sample_every=100,
                              checkpoint_every=250, log_every=10)


LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in [
    Lesson("Mode collapse",
           "A plain GAN (non-saturating loss) on 25 Gaussians. Watch the orange squares (G's points): instead of "
           "spreading over the grid they crowd into one part of it and leave whole rows or columns of modes empty, "
           "because G only has to fool the current D, not cover the data. G's grid of latents (the manifold view) "
           "folds onto the crowded part, and the modes-covered curve stays low.",
           steps=1500, playground=_P(dataset="grid25", loss="bce", seed=0)),
    Lesson("Wasserstein + gradient penalty",
           "The same data with a Wasserstein critic, trained 5 times per G step and kept close to 1-Lipschitz by a "
           "gradient penalty (Gulrajani et al. 2017, with the 0.1 weight their paper uses for 2-D data). The "
           "critic's slope stays near 1, so the arrows never vanish and keep pulling points towards modes nobody "
           "covers yet: by step 1500 nearly all 25 modes are covered, where the plain GAN holds fewer than 15.",
           steps=1500, playground=_P(dataset="grid25", loss="wgan-gp", gp_lambda=0.1, seed=0),
           compare_with="Mode collapse"),
    Lesson("Spectral norm",
           "Spectral normalisation divides each of D's weight matrices by its largest singular value (Miyato et al. "
           "2018), so D cannot become arbitrarily steep. With the hinge loss on the ring, D's heatmap stays smooth "
           "and G reaches all 8 modes within a few hundred steps, where the plain GAN is still stuck.",
           steps=250, playground=_P(dataset="ring8", loss="hinge", spectral_norm=True, seed=0),
           compare_with="Mode collapse"),
    Lesson("Discriminator too strong: vanishing gradients",
           "The original minimax loss, with a wide D trained 5 times per G step at a 100x learning rate. D soon "
           "tells real from fake with certainty, log(1 - D(G(z))) saturates, and the arrows G receives shrink to "
           "nothing: G stops learning. (The non-saturating loss of the other lessons exists to avoid this.)",
           steps=150, playground=_P(dataset="ring8", loss="minimax", lr_g=1e-4, lr_d=1e-2, n_critic=5,
                                    d_width=256, seed=0)),
    Lesson("Learning rate too high: oscillation",
           "Both learning rates at 0.01, ten times the usual. Each update overshoots: the points jump across the "
           "plane, D's heatmap flips colour, and the loss curves swing from step to step instead of settling. "
           "Lower the learning rates while it plays and watch it calm down.",
           steps=300, playground=_P(dataset="ring8", loss="bce", lr_g=1e-2, lr_d=1e-2, seed=0)),
    Lesson("Collapse on MNIST",
           "The same failure on images: a DCGAN whose generator learns 25 times faster than its discriminator, "
           "with heavy momentum (Adam beta1 = 0.9). G keeps jumping to whatever fools D right now, so at the same "
           "step budget the class-coverage monitor shows fewer digit classes, and a more uneven mix, than the fix.",
           steps=1000, train=_MNIST_COLLAPSE),
    Lesson("Collapse on MNIST: the fix",
           "The fix is the DCGAN paper's recipe: equal learning rates of 0.0002 for G and D and Adam's beta1 = 0.5. "
           "G and D improve in step, and at the same step budget the class-coverage monitor shows all ten digits "
           "in a more even mix.",
           steps=1000, train=dataclasses.replace(_MNIST_COLLAPSE, lr_g=2e-4, beta1=0.5),
           compare_with="Collapse on MNIST"),
]}


def get(name: str) -> Lesson:
    if name not in LESSONS:
        raise GanInputError(f"unknown lesson {name!r}; choose one of: {', '.join(LESSONS)}")
    return LESSONS[name]


def names(kind: str | None = None) -> list[str]:
    return [n for n, lesson in LESSONS.items() if kind is None or lesson.kind == kind]


def playground_for(name: str) -> Playground:
    """A fresh Playground set up for a 2-D lesson (step 0)."""
    lesson = get(name)
    if lesson.playground is None:
        raise GanInputError(f"{name!r} is an image lesson: run it in the Train tab")
    return Playground(lesson.playground)


def run_lesson(name: str, steps: int | None = None, every: int = 0) -> Playground:
    """Train a 2-D lesson for its step budget (or `steps`); every > 0 also records the figures every that many
    steps (the curves view)."""
    pg = playground_for(name)
    total = get(name).steps if steps is None else steps
    while pg.step < total:
        n = min(every or total, total - pg.step)
        pg.step_both(n)
        if every:
            pg.record_figures()
    return pg


def g_gradient_norm(pg: Playground) -> float:
    """Mean length of the gradient G's points receive (the arrows of the field view), in standardised units."""
    with pg.lock:
        with torch.no_grad():
            x = pg.trainer.G(pg.fixed_z)
        g = pg._g_gradients(x)
    return float(np.linalg.norm(g, axis=1).mean())


def train_config(name: str, steps: int | None = None) -> TrainConfig:
    """An image lesson's TrainConfig (a copy), optionally with another step budget."""
    lesson = get(name)
    if lesson.train is None:
        raise GanInputError(f"{name!r} is a 2-D lesson: open it in the Playground")
    cfg = dataclasses.replace(lesson.train)
    if steps is not None:
        cfg.steps = steps
    return cfg


def image_lesson_coverage(name: str, steps: int | None = None, n: int = 1000) -> dict:
    """Train an image lesson in memory for its budget, then the class-coverage figures of gan.metrics on n samples
    of G: classes_covered, class_histogram, class_kl."""
    from gan import metrics
    from gan.trainer import Trainer

    cfg = train_config(name, steps)
    t = Trainer(cfg)
    for _ in range(cfg.steps):
        t.step()
        if t.step_count % 50 == 0:
            t.flush()
    t.flush()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        t.G.eval()
        z = torch.randn(n, t.model_config.z_dim, generator=g)
        images = t.G(z)
    ref = metrics.reference(cfg.dataset)
    _, probs = ref.classifier.embed(metrics._fit(images, ref.image_size))
    return {"step": t.step_count, **metrics.class_figures(probs, ref.prior)}
