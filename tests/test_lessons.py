"""Each lesson shows what its text says, on any machine.

GAN training is chaotic: CPUs of different generations run different float kernels, so one seeded run reproduces on
one machine only (exactly, which test_lessons_are_reproducible checks). A lesson's outcome is therefore asserted on
the median of SEEDS, against the lesson's contrast run on the same seeds, with a clear margin, at the shortest
budget where the effect already shows on every seed we measured (seeds 0-4, 1 thread; figures in each test).
`benchmarks/lessons.py` prints the same figures at the lessons' own budgets, and the image lessons, whose effect
needs ~1,000 DCGAN steps per seed (minutes on a CPU), are measured there rather than here.
"""
import dataclasses
import statistics

import numpy as np
import pytest
import torch

from gan import lessons
from gan.errors import GanInputError
from gan.playground import Playground

SEEDS = (0, 1, 2)


def _loss_swing(pg: Playground, n: int = 100) -> float:
    """Mean change of G's loss from one step to the next over the last n steps."""
    pg._materialise()
    g = np.array([h["loss_g"] for h in pg.history if "loss_g" in h][-n:])
    return float(np.abs(np.diff(g)).mean())


def _critic_grad_norm(pg: Playground) -> float:
    """Mean |grad_x D| at generated points."""
    with torch.no_grad():
        x = pg.trainer.G(pg.fixed_z)
    x.requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(pg.trainer.D(x).sum(), x)
    return float(g.norm(dim=1).mean())


def _trained(name: str, steps: int, seed: int, **changes) -> Playground:
    """The lesson's Playground (or its contrast, with `changes`) on another seed, trained for `steps`."""
    pg = Playground(dataclasses.replace(lessons.get(name).playground, seed=seed, **changes))
    pg.step_both(steps)
    return pg


def _median(values) -> float:
    return statistics.median(values)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The Playground trains on one thread (gan.ui.playground_tab), and these small nets are fastest that way."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_every_lesson_has_text_and_a_setup():
    assert {"Mode collapse", "Wasserstein + gradient penalty", "Spectral norm",
            "Discriminator too strong: vanishing gradients", "Learning rate too high: oscillation",
            "Collapse on MNIST", "Collapse on MNIST: the fix"} <= set(lessons.LESSONS)
    for lesson in lessons.LESSONS.values():
        assert lesson.text.strip() and lesson.steps > 0
        assert (lesson.playground is None) != (lesson.train is None)
        if lesson.compare_with:
            assert lesson.compare_with in lessons.LESSONS
    with pytest.raises(GanInputError):
        lessons.get("no such lesson")


def test_lessons_are_reproducible():
    """Exact on one machine: the same lesson twice gives the same points."""
    a = lessons.run_lesson("Mode collapse", steps=20).generate()
    b = lessons.run_lesson("Mode collapse", steps=20).generate()
    np.testing.assert_array_equal(a, b)


def test_wgan_gp_covers_more_modes_than_the_collapsing_gan():
    """Measured at 120 steps, seeds 0-4: the plain GAN covered 2, 9, 4, 4, 4 of 25 modes (reverse KL 0.69-1.43),
    WGAN-GP 22, 18, 21, 20, 17 (reverse KL 0.02-0.07), its critic's slope at G's points 1.2-2.2. At the lessons'
    1,500 steps the plain GAN covers 11-22 depending on seed and CPU: the lesson's own claim is left to the lessons
    issue, and this test asserts the gap, which holds on every seed."""
    steps = 120
    plain = [_trained("Mode collapse", steps, s).figures() for s in SEEDS]
    wgan = [_trained("Wasserstein + gradient penalty", steps, s) for s in SEEDS]
    w = [pg.figures() for pg in wgan]
    assert _median(f["modes_covered"] for f in w) >= 15                       # of 25
    assert _median(f["modes_covered"] for f in w) >= _median(f["modes_covered"] for f in plain) + 8
    assert _median(f["reverse_kl"] for f in w) < 0.15                         # spread evenly over the modes
    assert _median(f["reverse_kl"] for f in plain) > 3 * _median(f["reverse_kl"] for f in w)
    # the penalty's target is 1: the critic's slope at G's points stays of that order, so the arrows never vanish
    assert 0.5 < _median(_critic_grad_norm(pg) for pg in wgan) < 4.0


def test_spectral_norm_keeps_d_lipschitz_and_covers_more_of_the_ring():
    """Measured at 100 steps, seeds 0-4: with spectral norm and hinge 6, 6, 7, 3, 7 of 8 modes; plain GAN 1, 2, 1,
    0, 0."""
    name, steps = "Spectral norm", 100
    sn = [_trained(name, steps, s) for s in SEEDS]
    plain = [_trained(name, steps, s, spectral_norm=False, loss="bce") for s in SEEDS]
    covered_sn = _median(pg.figures()["modes_covered"] for pg in sn)
    assert covered_sn >= 5                                                   # of 8
    assert covered_sn >= _median(pg.figures()["modes_covered"] for pg in plain) + 3
    for m in sn[0].trainer.D.modules():                                      # a property of the layer, any seed
        if isinstance(m, torch.nn.Linear):
            assert float(torch.linalg.matrix_norm(m.weight.detach(), ord=2)) == pytest.approx(1.0, abs=0.1)


def test_a_too_strong_discriminator_leaves_g_without_gradient():
    """Measured at 50 steps, seeds 0-4: D(G(z)) < 1e-4 and G's gradient < 1e-4 of a healthy run's, every seed."""
    name, steps = "Discriminator too strong: vanishing gradients", 50
    strong = [_trained(name, steps, s) for s in SEEDS]
    healthy = [_trained(name, steps, s, loss="bce", lr_g=1e-3, lr_d=1e-3, n_critic=1) for s in SEEDS]

    def d_fake(pg):
        with torch.no_grad():
            return float(torch.sigmoid(pg.trainer.D(pg.trainer.G(pg.fixed_z))).mean())

    assert _median(d_fake(pg) for pg in strong) < 0.02                       # D is certain
    ratios = [lessons.g_gradient_norm(a) / lessons.g_gradient_norm(b) for a, b in zip(strong, healthy)]
    assert _median(ratios) < 0.1


def test_a_too_high_learning_rate_makes_the_losses_swing():
    """Measured at 150 steps, seeds 0-4: G's loss swings 21, 21, 20, 6.5, 57 times as much as at lr 1e-3."""
    name, steps = "Learning rate too high: oscillation", 150
    ratios = [_loss_swing(_trained(name, steps, s)) / _loss_swing(_trained(name, steps, s, lr_g=1e-3, lr_d=1e-3))
              for s in SEEDS]
    assert _median(ratios) > 3


def test_the_mnist_pair_differs_only_in_gs_learning_rate_and_momentum():
    """The image lessons are a controlled contrast; their outcome is measured by benchmarks/lessons.py."""
    bad, good = lessons.train_config("Collapse on MNIST"), lessons.train_config("Collapse on MNIST: the fix")
    differ = {f.name for f in dataclasses.fields(bad) if getattr(bad, f.name) != getattr(good, f.name)}
    assert differ == {"lr_g", "beta1"}
    assert lessons.get("Collapse on MNIST: the fix").compare_with == "Collapse on MNIST"
    figures = lessons.image_lesson_coverage("Collapse on MNIST", steps=2, n=200)   # the monitor's path, end to end
    assert figures["step"] == 2 and 1 <= figures["classes_covered"] <= 10 and figures["class_kl"] >= 0
    with pytest.raises(GanInputError, match="2-D lesson"):
        lessons.train_config("Mode collapse")
