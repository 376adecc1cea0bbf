"""Guided lessons: seeded, reproducible setups that each make one of GAN training's classic problems (or its fix)
visible, with two or three sentences for the page. Each lesson declares what it claims its views show at its step
budget, as checks of figures (Claim); the tests (tests/test_lessons.py) and benchmarks/lessons.py check those same
claims over several seeds, since one seeded run reproduces on one machine only. A 2-D lesson sets every setting
itself (data, model sizes, optimizer, learning rates, batch), never the Playground's defaults, so changing those
defaults cannot change what a lesson shows.

    from gan.lessons import LESSONS, run_lesson, check_claims
    pg = run_lesson("Mode collapse")            # a Playground trained for the lesson's steps
    check_claims("Mode collapse", pg)           # (held, figures, the claims that failed)

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


# What a claim can be about: a figure of a trained lesson (lesson_figures), with how the page words it.
FIGURES = {"modes_covered": "modes covered", "high_quality": "high-quality share", "reverse_kl": "reverse KL",
           "g_gradient": "length of G's arrows", "d_fake": "D's mean verdict on G's points",
           "g_loss_swing": "step-to-step swing of G's loss", "classes_covered": "digit classes covered",
           "class_kl": "class KL"}


@dataclass(frozen=True)
class Claim:
    """One figure's bound at the lesson's step budget: what its text promises the views show there."""

    figure: str         # a key of FIGURES
    op: str             # "<=" or ">="
    value: float

    def holds(self, figures: dict) -> bool:
        v = figures[self.figure]
        return v <= self.value if self.op == "<=" else v >= self.value

    def __str__(self) -> str:
        return f"{FIGURES[self.figure]} {'≤' if self.op == '<=' else '≥'} {self.value:g}"


@dataclass(frozen=True)
class Lesson:
    name: str
    text: str                                  # what to look at, in two or three sentences
    steps: int                                 # G updates after which the lesson shows what it says
    playground: PlaygroundConfig | None = None  # a 2-D lesson
    train: TrainConfig | None = None           # an image lesson (Train tab)
    compare_with: str | None = None            # the lesson it is the contrast of
    claims: tuple[Claim, ...] = ()             # what holds at `steps` on most seeds (tests, benchmarks/lessons.py)
    look: str = ""                             # shown when a 2-D lesson pauses itself at `steps`

    @property
    def kind(self) -> str:
        return "points" if self.playground is not None else "images"


def _lesson_2d(**settings) -> PlaygroundConfig:
    """A 2-D lesson's Playground, every setting given by the lesson (the penalty weight only for wgan-gp):
    a setting left to the Playground's defaults is refused at import, so the defaults can change freely."""
    fields = {f.name for f in dataclasses.fields(PlaygroundConfig)}
    optional = {"gp_lambda", "pack", "mbstd", "r1"}   # the cures are off unless a lesson is about them
    needed = fields - optional | ({"gp_lambda"} if settings.get("loss") == "wgan-gp" else set())
    missing = needed - set(settings)
    if missing:
        raise ImportError(f"a 2-D lesson must set {', '.join(sorted(missing))} itself")
    return PlaygroundConfig(**settings)


# The settings the 2-D lessons share: an MLP G and D of 3 hidden layers of 128, Adam at 1e-3 (beta1 0.5), batches
# of 256, 2-D Gaussian noise. Each lesson changes what it is about.
_BASE = dict(optimizer="adam", lr_g=1e-3, lr_d=1e-3, beta1=0.5, beta2=0.999, n_critic=1, batch_size=256, z_dim=2,
             z_dist="normal", g_depth=3, g_width=128, d_depth=3, d_width=128, spectral_norm=False, seed=0,
             ema=0.0)   # the views show G itself, so each of its steps is seen whole
# The collapse setting (after Metz et al. 2017's ring of 8): a G of 2 hidden layers of 128, a D of 1, batches of
# 512. A plain GAN's points gather near one or two modes at a time and move on, leaving the rest empty.
_COLLAPSE = dict(_BASE, dataset="ring8", loss="bce", batch_size=512, g_depth=2, d_depth=1)
# The MNIST pair differs only in G's learning rate and Adam's beta1.
_MNIST_COLLAPSE = TrainConfig(dataset="mnist", arch="dcgan", loss="bce", lr_g=5e-3, lr_d=2e-4, beta1=0.9, g_width=32,
                              d_width=32, z_dim=64, batch_size=64, seed=0, steps=1000, sample_every=100,
                              checkpoint_every=250, log_every=10)


LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in [
    Lesson("Mode collapse",
           "A plain GAN (non-saturating loss) on a ring of 8 Gaussians, with a small D. Watch the orange squares "
           "(G's points): instead of spreading round the ring they gather in one narrow streak near one or two "
           "modes, and when D learns to reject that spot they move on together to another, leaving the rest of "
           "the ring empty. "
           "G only has to fool the current D, not cover the data. The modes-covered curve stays near the bottom.",
           steps=1500, playground=_lesson_2d(**_COLLAPSE),
           claims=(Claim("reverse_kl", ">=", 1.0), Claim("modes_covered", "<=", 3)),
           look="G's points sit in one narrow streak near one or two of the 8 modes (reverse KL near log 8 = "
                "2.1: all nearest one mode); press Play and watch the streak move on instead of spreading."),
    Lesson("Cure: packing",
           "The same data, seed and model as Mode collapse, with one change: D judges its points in packs of 2, "
           "all real or all fake (PacGAN, Lin et al. 2018). A pack of two points from one clump looks unlike a "
           "pack of two real points, which rarely come from the same mode, so a collapsed G is easy to catch and "
           "spreading out pays: G's points reach round the ring (still loosely around each mode at this budget).",
           steps=1500, playground=_lesson_2d(**_COLLAPSE, pack=2),
           claims=(Claim("reverse_kl", "<=", 0.1),),
           look="G's points are spread evenly round the ring (reverse KL near 0, against about 1.4 to 2.1 without "
                "packing), if still loosely; compare the reverse-KL curve with Mode collapse's.",
           compare_with="Mode collapse"),
    Lesson("Wasserstein + gradient penalty",
           "25 Gaussians with a Wasserstein critic, trained 5 times per G step and kept close to 1-Lipschitz by a "
           "gradient penalty (Gulrajani et al. 2017, with the 0.1 weight their paper uses for 2-D data). The "
           "critic's slope stays near 1, so the arrows never vanish and keep pulling points towards modes nobody "
           "covers yet: by step 1500 nearly all 25 modes are covered.",
           steps=1500, playground=_lesson_2d(**dict(_BASE, dataset="grid25", loss="wgan-gp", beta2=0.9, n_critic=5,
                                                   gp_lambda=0.1)),
           claims=(Claim("modes_covered", ">=", 20), Claim("reverse_kl", "<=", 0.15)),
           look="The orange points cover nearly all 25 modes, spread evenly (low reverse KL), and the critic's "
                "arrows still point towards the data.",
           compare_with="Mode collapse"),
    Lesson("Spectral norm",
           "Spectral normalisation divides each of D's weight matrices by its largest singular value (Miyato et al. "
           "2018), so D cannot become arbitrarily steep. With the hinge loss on the ring, D's heatmap stays smooth "
           "and within a few hundred steps G's points spread evenly round the whole ring (still loosely: they "
           "tighten onto the modes later), where a plain GAN's gather in one place.",
           steps=250, playground=_lesson_2d(**dict(_BASE, dataset="ring8", loss="hinge", beta1=0.0, beta2=0.9,
                                                   spectral_norm=True)),
           claims=(Claim("reverse_kl", "<=", 0.1),),
           look="G's points are spread evenly round the ring, near all 8 modes (reverse KL close to 0), and D's "
                "heatmap is smooth, without sharp edges.",
           compare_with="Mode collapse"),
    Lesson("Discriminator too strong: vanishing gradients",
           "The original minimax loss, with a wide D trained 5 times per G step at a 100x learning rate. D soon "
           "tells real from fake with certainty, log(1 - D(G(z))) saturates, and the arrows G receives shrink to "
           "nothing: G stops learning. (The non-saturating loss of the other lessons exists to avoid this.)",
           steps=60, playground=_lesson_2d(**dict(_BASE, dataset="ring8", loss="minimax", lr_g=1e-4, lr_d=1e-2,
                                                  n_critic=5, d_width=256)),
           claims=(Claim("d_fake", "<=", 0.02), Claim("g_gradient", "<=", 0.001)),
           look="D's heatmap says 'fake' wherever G's points are, and the arrows on them have all but vanished: "
                "G gets no direction to move in."),
    Lesson("Learning rate too high: oscillation",
           "Both learning rates at 0.01, ten times the usual. Each update overshoots: the points jump across the "
           "plane, D's heatmap flips colour, and the loss curves swing from step to step instead of settling. "
           "Lower the learning rates while it plays and watch it calm down.",
           steps=300, playground=_lesson_2d(**dict(_BASE, dataset="ring8", loss="bce", lr_g=1e-2, lr_d=1e-2)),
           claims=(Claim("g_loss_swing", ">=", 0.2),),   # about 10x a run at 0.001
           look="The loss curves zig-zag from step to step; set both learning rates to 0.001 and press Play to "
                "watch them settle."),
    Lesson("Collapse on MNIST",
           "The same failure on images: a DCGAN whose generator learns 25 times faster than its discriminator, "
           "with heavy momentum (Adam beta1 = 0.9). G keeps jumping to whatever fools D right now, so at the same "
           "step budget the class-coverage monitor shows a far more uneven mix of digits than the fix: on most "
           "seeds nearly every sample reads as one class.",
           steps=1000, train=_MNIST_COLLAPSE, claims=(Claim("class_kl", ">=", 0.3),)),
    Lesson("Collapse on MNIST: the fix",
           "The fix is the DCGAN paper's recipe: equal learning rates of 0.0002 for G and D and Adam's beta1 = 0.5. "
           "G and D improve in step, and at the same step budget the class-coverage monitor shows all ten digits "
           "in a more even mix (on most seeds: an unlucky one can still collapse, which is why the recipe is a "
           "fix and not a guarantee).",
           steps=1000, train=dataclasses.replace(_MNIST_COLLAPSE, lr_g=2e-4, beta1=0.5),
           claims=(Claim("classes_covered", ">=", 10), Claim("class_kl", "<=", 0.25)),
           compare_with="Collapse on MNIST"),
]}


def get(name: str) -> Lesson:
    if name not in LESSONS:
        raise GanInputError(f"unknown lesson {name!r}; choose one of: {', '.join(LESSONS)}")
    return LESSONS[name]


def names(kind: str | None = None) -> list[str]:
    return [n for n, lesson in LESSONS.items() if kind is None or lesson.kind == kind]


def playground_for(name: str, seed: int | None = None) -> Playground:
    """A fresh Playground set up for a 2-D lesson (step 0), on its own seed or another."""
    lesson = get(name)
    if lesson.playground is None:
        raise GanInputError(f"{name!r} is an image lesson: run it in the Train tab")
    cfg = lesson.playground if seed is None else dataclasses.replace(lesson.playground, seed=seed)
    return Playground(cfg)


def run_lesson(name: str, steps: int | None = None, every: int = 0, seed: int | None = None) -> Playground:
    """Train a 2-D lesson for its step budget (or `steps`), on its seed or another; every > 0 also records the
    figures every that many steps (the curves view)."""
    pg = playground_for(name, seed)
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


def d_verdict(pg: Playground) -> float:
    """D's mean verdict on G's points: sigmoid(score) for the probability losses (bce, minimax), else the raw score."""
    from gan.losses import scores_are_probabilities

    with pg.lock, torch.no_grad():
        s = pg.trainer.D(pg.trainer.G(pg.fixed_z)).float()
    return float((torch.sigmoid(s) if scores_are_probabilities(pg.config.loss) else s).mean())


def g_loss_swing(pg: Playground, n: int = 100) -> float:
    """Mean change of G's loss from one step to the next over the last n steps (how much the curves swing)."""
    with pg.lock:
        pg._materialise()
        g = np.array([h["loss_g"] for h in pg.history if "loss_g" in h][-n:])
    return float(np.abs(np.diff(g)).mean()) if len(g) > 1 else 0.0


def lesson_figures(pg: Playground) -> dict:
    """Every figure a 2-D lesson's claims may be about (FIGURES), of its Playground as it is now."""
    f = pg.figures()
    out = {k: f[k] for k in ("modes_covered", "high_quality", "reverse_kl") if k in f}
    out.update(g_gradient=g_gradient_norm(pg), d_fake=d_verdict(pg), g_loss_swing=g_loss_swing(pg))
    return out


def failed_claims(name: str, figures: dict) -> list[Claim]:
    """The lesson's claims that these figures (lesson_figures or image_lesson_coverage) do not bear out."""
    return [c for c in get(name).claims if not c.holds(figures)]


def check_claims(name: str, pg: Playground) -> tuple[bool, dict, list[Claim]]:
    """(whether every claim holds, the figures, the claims that failed) for a 2-D lesson's Playground."""
    figures = lesson_figures(pg)
    failed = failed_claims(name, figures)
    return not failed, figures, failed


def train_config(name: str, steps: int | None = None) -> TrainConfig:
    """An image lesson's TrainConfig (a copy), optionally with another step budget."""
    lesson = get(name)
    if lesson.train is None:
        raise GanInputError(f"{name!r} is a 2-D lesson: open it in the Playground")
    cfg = dataclasses.replace(lesson.train)
    if steps is not None:
        cfg.steps = steps
    return cfg


def image_lesson_coverage(name: str, steps: int | None = None, n: int = 1000, seed: int | None = None) -> dict:
    """Train an image lesson in memory for its budget, then the class-coverage figures of gan.metrics on n samples
    of G: classes_covered, class_histogram, class_kl."""
    from gan import metrics
    from gan.trainer import Trainer

    cfg = train_config(name, steps)
    if seed is not None:
        cfg.seed = seed
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
    _, probs = ref.classifier.embed(metrics.fit_to_classifier(images, ref.image_size))
    return {"step": t.step_count, **metrics.class_figures(probs, ref.prior)}
