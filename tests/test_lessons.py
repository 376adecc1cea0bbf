"""Each lesson shows what its text says, at the lesson's seed and step budget (seeded CPU runs are reproducible)."""
import dataclasses

import numpy as np
import pytest
import torch

from gan import lessons
from gan.errors import GanInputError
from gan.playground import Playground


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


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The lessons were measured with one intra-op thread (also the fastest for these small nets on a shared CPU);
    float sums can differ in the last bits with another thread count."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def collapse(one_thread):
    return lessons.run_lesson("Mode collapse")


def test_every_lesson_has_text_and_a_setup():
    assert {"Mode collapse", "Wasserstein + gradient penalty", "Spectral norm",
            "Discriminator too strong: vanishing gradients", "Learning rate too high: oscillation",
            "Collapse on MNIST", "Collapse on MNIST: the fix"} <= set(lessons.LESSONS)
    for lesson in lessons.LESSONS.values():
        assert 2 <= lesson.text.count(". ") + 1 <= 5 and (lesson.playground is None) != (lesson.train is None)
    with pytest.raises(GanInputError):
        lessons.get("no such lesson")


def test_mode_collapse_covers_few_of_the_25_modes(collapse):
    f = collapse.figures()
    assert f["step"] == lessons.get("Mode collapse").steps
    assert f["modes_covered"] < 15
    assert f["reverse_kl"] > 0.3          # the samples crowd into some modes


def test_lessons_are_reproducible():
    a = lessons.run_lesson("Mode collapse", steps=20).generate()
    b = lessons.run_lesson("Mode collapse", steps=20).generate()
    np.testing.assert_array_equal(a, b)


def test_wgan_gp_covers_nearly_all_modes_with_a_critic_of_slope_one(collapse):
    name = "Wasserstein + gradient penalty"
    assert lessons.get(name).steps == lessons.get("Mode collapse").steps   # the same budget as the collapse
    pg = lessons.run_lesson(name)
    f = pg.figures()
    assert f["modes_covered"] >= 23                                       # of 25 (the bar)
    assert collapse.figures()["modes_covered"] < 15
    assert f["reverse_kl"] < 0.1                                          # spread evenly over the modes
    assert 0.5 < _critic_grad_norm(pg) < 2.0   # the penalty's target is 1: the arrows never vanish


def test_spectral_norm_keeps_d_lipschitz_and_covers_the_ring():
    name = "Spectral norm"
    pg = lessons.run_lesson(name)
    assert pg.figures()["modes_covered"] >= 7                       # of 8
    for m in pg.trainer.D.modules():
        if isinstance(m, torch.nn.Linear):
            assert float(torch.linalg.matrix_norm(m.weight.detach(), ord=2)) == pytest.approx(1.0, abs=0.1)
    plain = Playground(dataclasses.replace(lessons.get(name).playground, spectral_norm=False, loss="bce"))
    plain.step_both(lessons.get(name).steps)
    assert plain.figures()["modes_covered"] < pg.figures()["modes_covered"]


def test_a_too_strong_discriminator_leaves_g_without_gradient():
    name = "Discriminator too strong: vanishing gradients"
    pg = lessons.run_lesson(name)
    healthy = Playground(dataclasses.replace(lessons.get(name).playground, loss="bce", lr_g=1e-3, lr_d=1e-3,
                                             n_critic=1))
    healthy.step_both(lessons.get(name).steps)
    with torch.no_grad():
        d_fake = torch.sigmoid(pg.trainer.D(pg.trainer.G(pg.fixed_z))).mean()
    assert d_fake < 0.02                                              # D is certain
    assert lessons.g_gradient_norm(pg) < 0.1 * lessons.g_gradient_norm(healthy)


def test_a_too_high_learning_rate_makes_the_losses_swing():
    name = "Learning rate too high: oscillation"
    pg = lessons.run_lesson(name)
    calm = Playground(dataclasses.replace(lessons.get(name).playground, lr_g=1e-3, lr_d=1e-3))
    calm.step_both(lessons.get(name).steps)
    assert _loss_swing(pg) > 3 * _loss_swing(calm)


def test_mnist_collapse_covers_fewer_classes_than_the_fix():
    bad = lessons.image_lesson_coverage("Collapse on MNIST")
    good = lessons.image_lesson_coverage("Collapse on MNIST: the fix")
    assert bad["classes_covered"] < good["classes_covered"] == 10
    assert bad["class_kl"] > 2 * good["class_kl"]           # a far more uneven mix of digits
