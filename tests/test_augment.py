"""DiffAugment (gan.augment): what D sees is a shifted, partly erased copy of the image, the same transform for
real and fake, and G's gradient still flows through it."""
import pytest
import torch

from gan.augment import cutout, diff_augment, parse_policy, translate
from gan.config import TrainConfig
from gan.data import load_dataset
from gan.errors import GanInputError
from gan.trainer import Trainer


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist", split="test").batch(torch.arange(32))


def shifts_of(images, out, most=4) -> set:
    """The (dy, dx) by which each output is its input shifted by whole pixels, -1 (black) filled in."""
    shifts = set()
    for src, dst in zip(images, out):
        found = [(dy, dx) for dy in range(-most, most + 1) for dx in range(-most, most + 1)
                 if torch.equal(torch.roll(torch.nn.functional.pad(src, (most,) * 4, value=-1), (dy, dx), (1, 2))
                                [:, most:most + 28, most:most + 28], dst)]
        assert found, "each output is its input shifted by whole pixels, with -1 (black) filled in"
        shifts.add(found[0])
    return shifts


def test_translation_moves_whole_images_by_at_most_an_eighth_and_fills_with_background(digits):
    out = translate(digits, torch.Generator().manual_seed(0))
    assert out.shape == digits.shape
    assert len(shifts_of(digits, out)) > 5     # each image gets its own shift


def test_the_classifier_trains_on_the_same_translation_by_up_to_two_pixels(digits):
    from gan.classifier import AUGMENT_SHIFT

    out = translate(digits, torch.Generator().manual_seed(3), ratio=AUGMENT_SHIFT / digits.shape[-1])
    steps = {abs(v) for shift in shifts_of(digits, out) for v in shift}
    assert AUGMENT_SHIFT == 2 and max(steps) == 2 and len(steps) > 1


def test_cutout_erases_one_square_of_half_the_side(digits):
    out = cutout(torch.ones_like(digits), torch.Generator().manual_seed(1))
    erased = (out == 0).flatten(1).sum(1)
    assert erased.max() <= 14 * 14 and erased.float().mean() > 60     # a half-side square, clipped at the border
    assert ((out == 0) | (out == 1)).all()


def test_gradient_flows_through_the_augmentation(digits):
    x = digits.clone().requires_grad_(True)
    diff_augment(x, ("translation", "cutout"), torch.Generator().manual_seed(2)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_policy_names_are_checked():
    assert parse_policy(" translation, cutout,translation") == ("translation", "cutout")
    assert parse_policy("") == () and parse_policy(None) == ()
    with pytest.raises(GanInputError, match="choose from"):
        parse_policy("color")


def test_an_augmented_run_trains_and_records_its_policy():
    t = Trainer(TrainConfig(dataset="mnist", augment="cutout,translation", g_width=8, d_width=8, batch_size=16,
                            z_dim=16))
    before = [p.detach().clone() for p in t.D.parameters()]
    for _ in range(3):
        t.step()
    assert t.flush()["loss_d"] > 0
    assert t.cfg.augment == "cutout,translation"
    assert any(not torch.equal(a, b) for a, b in zip(before, t.D.parameters()))
