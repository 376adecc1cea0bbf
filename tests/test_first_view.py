"""Explore opens on a clean sample by a stated rule (gan.first_view), and links that name a seed open that seed."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

from gan.catalog import Catalog
from gan.classifier import load_classifier
from gan.first_view import DEFAULT_MODELS, FIRST_SEEDS, default_model, first_view
from gan.pipeline import load_generator

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


def classifier_probs(pipe, label=None):
    model, _ = load_classifier(WEIGHTS / "classifier-mnist.safetensors")
    images = pipe.decode(pipe.latents(list(range(FIRST_SEEDS))), None if label is None else [label] * FIRST_SEEDS)
    return model.embed(images)[1]


def test_the_default_model_is_the_first_of_the_named_ones_that_is_there(tmp_path):
    assert DEFAULT_MODELS[0] == "emoji-cond"
    assert default_model(["mnist-dcgan", "ring8-gan", "emoji-cond"]) == "emoji-cond"
    assert default_model(["ring8-gan", "mnist-dcgan"]) == "mnist-dcgan"
    assert default_model(["ring8-gan"]) is None
    # the catalog falls back on an image model when none of them is there
    for name in ("ring8-gan", "mnist-cond"):
        (tmp_path / f"{name}.safetensors").write_bytes((WEIGHTS / f"{name}.safetensors").read_bytes())
    assert Catalog(tmp_path, None).default_name() == "mnist-cond"


def test_an_unconditional_model_opens_on_the_seed_its_classifier_is_surest_of():
    pipe = load_generator(WEIGHTS / "mnist-dcgan.safetensors")
    fv = first_view(pipe)
    top = classifier_probs(pipe).max(dim=1).values
    assert fv.label is None and 0 <= fv.seed < FIRST_SEEDS
    assert fv.confidence == torch.max(top).item() == top[fv.seed].item()
    assert fv.confidence > float(top.median()) and fv.confidence > 0.9      # a clean digit, not a 2-and-a-half-3
    assert fv.classifier == "classifier-mnist.safetensors"


def test_a_conditional_model_opens_on_a_clear_example_of_its_class():
    pipe = load_generator(WEIGHTS / "mnist-cond.safetensors")
    fv = first_view(pipe)
    probs = classifier_probs(pipe, fv.label)
    assert fv.label in range(10) and probs[fv.seed, fv.label].item() == fv.confidence > 0.95
    for c in range(10):     # no other (seed, class) pair is judged surer
        assert classifier_probs(pipe, c)[:, c].max().item() <= fv.confidence


def test_a_model_with_no_classifier_opens_on_seed_zero():
    fv = first_view(load_generator(WEIGHTS / "ring8-gan.safetensors"))
    assert (fv.seed, fv.label, fv.confidence, fv.classifier) == (0, None, None, None)


def test_explore_opens_on_the_clean_sample_and_a_link_on_what_it_names(tmp_path):
    from gan.ui import explore_tab
    from gan.ui.app import AppContext

    for name in ("mnist-dcgan", "mnist-cond"):
        (tmp_path / f"{name}.safetensors").write_bytes((WEIGHTS / f"{name}.safetensors").read_bytes())
    ctx = AppContext(Catalog(tmp_path, None))
    clean = first_view(load_generator(WEIGHTS / "mnist-dcgan.safetensors")).seed
    bare = SimpleNamespace(session_hash="first-bare", query_params={})
    assert explore_tab.on_load(ctx, bare)["seed"] == clean
    named = SimpleNamespace(session_hash="first-named", query_params={"model": "mnist-dcgan", "seed": "5"})
    assert explore_tab.on_load(ctx, named)["seed"] == 5
    # a conditional model named without a seed opens on its clean (seed, class) pair
    cond = first_view(load_generator(WEIGHTS / "mnist-cond.safetensors"))
    out = explore_tab.on_load(ctx, SimpleNamespace(session_hash="first-cond", query_params={"model": "mnist-cond"}))
    assert out["seed"] == cond.seed and out["cls"]["value"] == cond.label
    # a share link names its model, so it opens the same view whatever the default becomes
    link = explore_tab.on_share_link(ctx, "http://host/", bare)["link"]
    assert link.startswith("http://host/?model=mnist-dcgan&seed=") and f"seed={clean}&" in link
