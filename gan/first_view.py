"""The view Explore opens on: which model, and which seed (and class) of it, chosen by rule rather than by hand.

The model: the first of DEFAULT_MODELS that is shipped (the colour emoji model, then the digits), so a first visit
shows what people expect of a GAN demo; without any of them, gan.catalog's fallback (the first image model).

The seed: of seeds 0 to FIRST_SEEDS - 1, the one whose image the model's own dataset classifier
(gan.metrics.CLASSIFIER_FOR, weights/classifier-<dataset>.safetensors) is surest of: the highest top-class
probability for an unconditional model; for a conditional model, the (seed, class) pair whose image gets the highest
probability of the class it was asked for, so the first image is a clear example of its own label. Ties go to the
lowest seed, then the lowest class. A model with no classifier for its data (2-D points, a dataset of your own)
opens on seed 0, class 0. The choice is computed once per model file (gan.catalog.Catalog.cached) and costs one
batch of FIRST_SEEDS x classes samples.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

DEFAULT_MODELS = ("emoji-cond", "mnist-dcgan")
FIRST_SEEDS = 64


@dataclass(frozen=True)
class FirstView:
    seed: int
    label: int | None           # None for an unconditional model
    confidence: float | None    # the classifier's probability for it; None when no classifier judged it
    classifier: str | None      # the classifier file's name that judged it


def default_model(names) -> str | None:
    """The first of DEFAULT_MODELS among `names`, or None (the catalog then falls back on its own rule)."""
    present = set(names)
    return next((n for n in DEFAULT_MODELS if n in present), None)


def _classifier_for(pipe):
    """(classifier, file name) for the pipeline's dataset, or None when there is none that fits its images."""
    from gan.classifier import load_classifier
    from gan.errors import GanInputError
    from gan.metrics import classifier_path

    dataset = str(pipe.info.get("dataset") or "")
    if pipe.is_points or not dataset:
        return None
    try:
        path = classifier_path(dataset)
        model, _ = load_classifier(path)
    except GanInputError:
        return None
    cfg = model.cfg
    if cfg.channels != pipe.config.channels:
        return None
    if pipe.config.conditional and cfg.n_classes != pipe.config.n_classes:
        return None
    return model, path.name


@torch.inference_mode()
def first_view(pipe) -> FirstView:
    """The seed (and class) to open `pipe` on, by the rule in the module docstring."""
    from gan.metrics import fit_to_classifier

    found = _classifier_for(pipe)
    conditional = bool(pipe.config.conditional)
    if found is None:
        return FirstView(0, 0 if conditional else None, None, None)
    classifier, name = found
    seeds = list(range(FIRST_SEEDS))
    z = pipe.latents(seeds)
    classes = range(pipe.config.n_classes) if conditional else [None]
    best = (-1.0, 0, None)
    for c in classes:
        images = pipe.decode(z, [c] * len(seeds) if c is not None else None).cpu()
        _, probs = classifier.embed(fit_to_classifier(images, classifier.cfg.image_size))
        score = probs[:, c] if c is not None else probs.max(dim=1).values
        i = int(score.argmax())             # argmax returns the first of equal maxima: the lowest seed
        if float(score[i]) > best[0]:
            best = (float(score[i]), seeds[i], c)
    return FirstView(best[1], best[2], best[0], name)
