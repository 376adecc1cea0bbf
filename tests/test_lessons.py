"""Each lesson shows what its text says, on any machine.

GAN training is chaotic: CPUs of different generations run different float kernels, so one seeded run reproduces on
one machine only (exactly, which test_lessons_are_reproducible checks). A lesson's outcome is therefore asserted on
the median of SEEDS, against the lesson's contrast run on the same seeds, with a clear margin, at the shortest
budget where the effect already shows on every seed we measured (seeds 0-4, 1 thread; figures in each test).
`benchmarks/lessons.py` prints the same figures at the lessons' own budgets, and the image lessons, whose effect
needs ~1,000 DCGAN steps per seed (minutes on a CPU), are measured there rather than here.
"""
import dataclasses
import math
import statistics

import numpy as np
import pytest
import torch

from gan import lessons
from gan.errors import GanInputError
from gan.playground import Playground

SEEDS = (0, 1, 2)


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


def _median_range(known, n: int = len(SEEDS)) -> tuple[float, float]:
    """(lowest, highest) the median of n values (n odd) can be when `known` are some of them, whatever the rest
    turn out to be; with all n known, (median, median). Of three, the median lies between any two of them."""
    v, m = sorted(known), n // 2
    missing = n - len(v)
    return (v[m - missing] if m >= missing else -math.inf), (v[m] if m < len(v) else math.inf)


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
    """Measured at 120 steps, seeds 0-4: the plain GAN (the lesson's settings with the non-saturating loss, one D
    step) covered 2, 9, 4, 4, 4 of 25 modes (reverse KL 0.69-1.43), WGAN-GP 22, 18, 21, 20, 17 (reverse KL
    0.02-0.07), its critic's slope at G's points 1.2-2.2. The gap holds on every seed.

    The asserts are on the medians over SEEDS. A WGAN-GP seed (5 critic steps with a double backward each) costs
    five times a plain one, so the WGAN-GP seeds run one by one and stop as soon as every assert holds for the
    worst median the seeds not yet run could give (_median_range): the outcome is the one all seeds give."""
    steps = 120
    name = "Wasserstein + gradient penalty"
    plain = [_trained(name, steps, s, loss="bce", n_critic=1, gp_lambda=None, beta2=0.999).figures() for s in SEEDS]
    plain_modes = _median(f["modes_covered"] for f in plain)
    plain_kl = _median(f["reverse_kl"] for f in plain)
    w, grads = [], []
    for seed in SEEDS:
        pg = _trained(name, steps, seed)
        w.append(pg.figures())
        grads.append(_critic_grad_norm(pg))
        modes = _median_range(f["modes_covered"] for f in w)[0]   # the lowest the median can still be
        kl = _median_range(f["reverse_kl"] for f in w)[1]         # the highest
        grad_lo, grad_hi = _median_range(grads)
        if modes >= max(15, plain_modes + 8) and kl < 0.15 and plain_kl > 3 * kl and 0.5 < grad_lo <= grad_hi < 4:
            break
    figures = (w, grads)
    assert modes >= 15, figures                                           # of 25
    assert modes >= plain_modes + 8, (figures, plain)
    assert kl < 0.15, figures                                             # spread evenly over the modes
    assert plain_kl > 3 * kl, (figures, plain)
    # the penalty's target is 1: the critic's slope at G's points stays of that order, so the arrows never vanish
    assert 0.5 < grad_lo and grad_hi < 4.0, figures


# The 2-D lessons whose claims the tests check at the lessons' own budgets; WGAN-GP's 1,500 steps of 5 critic updates
# (~40 s a seed) are left to benchmarks/lessons.py, and its test above asserts the gap at 120 steps.
AT_BUDGET = ["Mode collapse", "Cure: packing", "Spectral norm", "Discriminator too strong: vanishing gradients",
             "Learning rate too high: oscillation"]


@pytest.mark.parametrize("name", AT_BUDGET)
def test_each_lesson_shows_what_it_claims_at_its_budget_on_most_seeds(name):
    """The lesson's declared claims (gan.lessons) at its step budget hold on at least 2 of 3 seeds; the
    benchmark asks 4 of 5, with 1 and 2 threads. Measured figures are in the README's lessons table. The seeds run
    in turn and stop once two have held: the third cannot change the outcome then (a lesson at its budget is the
    suite's longest training, 1,500 steps)."""
    results = []
    for seed in SEEDS:
        held, figures, failed = lessons.check_claims(name, lessons.run_lesson(name, seed=seed))
        results.append((held, {c.figure: round(figures[c.figure], 4) for c in lessons.get(name).claims}))
        if sum(h for h, _ in results) >= 2:
            break
    assert sum(held for held, _ in results) >= 2, results


def test_spectral_norm_keeps_d_lipschitz():
    for m in lessons.playground_for("Spectral norm").trainer.D.modules():   # a property of the layer, any seed
        if isinstance(m, torch.nn.Linear):
            assert float(torch.linalg.matrix_norm(m.weight.detach(), ord=2)) == pytest.approx(1.0, abs=0.1)


def test_packing_is_the_only_change_between_collapse_and_its_cure():
    plain, cure = lessons.get("Mode collapse").playground, lessons.get("Cure: packing").playground
    differ = {f.name for f in dataclasses.fields(plain) if getattr(plain, f.name) != getattr(cure, f.name)}
    assert differ == {"pack"} and cure.pack == 2
    assert lessons.get("Cure: packing").steps == lessons.get("Mode collapse").steps


def test_claims_read_and_judge_as_written():
    c = lessons.Claim("modes_covered", "<=", 3)
    assert str(c) == "modes covered ≤ 3" and c.holds({"modes_covered": 3}) and not c.holds({"modes_covered": 4})
    assert lessons.Claim("reverse_kl", ">=", 1.0).holds({"reverse_kl": 2.08})
    assert [str(x) for x in lessons.failed_claims("Mode collapse", {"reverse_kl": 0.2, "modes_covered": 8})] == [
        "reverse KL ≥ 1", "modes covered ≤ 3"]


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


def test_a_playing_lesson_pauses_at_its_budget_and_says_what_to_look_at():
    """A student need not catch the moment: the session stops at exactly the lesson's step budget, once, with the
    lesson's "what to look at"; Play then goes on past it, and a run from the form (no lesson) never pauses so."""
    import time

    from gan.playground_manager import PlaygroundSession

    name = "Discriminator too strong: vanishing gradients"
    lesson = lessons.get(name)
    s = PlaygroundSession()
    try:
        s.reset(lesson.playground, lesson=name)
        s.play()
        end = time.monotonic() + 60
        while s.playing or not s.parked:
            assert time.monotonic() < end, "the lesson did not pause at its budget"
            time.sleep(0.02)
        assert s.pg.step == lesson.steps
        assert f"Paused at step {lesson.steps}, the end of this lesson." in s.status()["message"]
        assert lesson.look and lesson.look in s.status()["message"]
        s.play()                                            # goes on past the budget, no second pause
        end = time.monotonic() + 60
        while s.pg.step < lesson.steps + 20:
            assert time.monotonic() < end, "Play did not go on past the lesson's budget"
            time.sleep(0.02)
        assert s.playing
        s.pause()
        s.reset(dataclasses.replace(lesson.playground), lesson=None)   # the form's reset: no budget
        assert s.stop_at is None and s.status()["message"] == ""       # and no notice of the run before
    finally:
        s.close()


def test_every_2d_lesson_sets_all_its_settings_itself():
    """A lesson never takes the Playground's defaults: changing those cannot change what a lesson shows."""
    for lesson in lessons.LESSONS.values():
        if lesson.playground is not None:
            unset = [f.name for f in dataclasses.fields(lesson.playground) if getattr(lesson.playground, f.name) is None
                     and not (f.name == "gp_lambda" and lesson.playground.loss != "wgan-gp")]
            assert not unset, (lesson.name, unset)
            assert lesson.claims and lesson.look, lesson.name
