"""What each lesson shows at its own step budget, seed by seed: the figure its text talks about, next to the figure
of its contrast run on the same seed. GAN training is chaotic and float kernels differ between CPUs, so a lesson is
only as good as what it shows on most seeds; tests/test_lessons.py asserts the medians at shorter budgets, and the
image lessons (about 1,000 DCGAN steps a seed) are measured only here.

    python benchmarks/lessons.py [--seeds 0 1 2 3 4] [--threads 1 2] [--lessons "Mode collapse" ...] [--json]

One line per lesson, seed and thread count: the lesson's figure, its contrast's, and the seconds it took.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _points(name: str, seed: int) -> dict:
    """A 2-D lesson and its contrast: modes covered (or G's gradient, or the loss swing) for both."""
    import numpy as np

    from gan import lessons
    from gan.playground import Playground

    lesson = lessons.get(name)
    contrast = {"Mode collapse": dict(loss="wgan-gp", gp_lambda=0.1),
                "Wasserstein + gradient penalty": dict(loss="bce", gp_lambda=None),
                "Spectral norm": dict(spectral_norm=False, loss="bce"),
                "Discriminator too strong: vanishing gradients": dict(loss="bce", lr_g=1e-3, lr_d=1e-3, n_critic=1),
                "Learning rate too high: oscillation": dict(lr_g=1e-3, lr_d=1e-3)}[name]
    runs = []
    for changes in ({}, contrast):
        pg = Playground(dataclasses.replace(lesson.playground, seed=seed, **changes))
        pg.step_both(lesson.steps)
        runs.append(pg)
    if name.startswith("Discriminator"):
        return {"figure": "G's gradient", "lesson": lessons.g_gradient_norm(runs[0]),
                "contrast": lessons.g_gradient_norm(runs[1])}
    if name.startswith("Learning rate"):
        def swing(pg):
            pg._materialise()
            g = np.array([h["loss_g"] for h in pg.history if "loss_g" in h][-100:])
            return float(np.abs(np.diff(g)).mean())
        return {"figure": "G-loss swing", "lesson": swing(runs[0]), "contrast": swing(runs[1])}
    f = [pg.figures() for pg in runs]
    return {"figure": f"modes covered of {f[0]['n_modes']}", "lesson": f[0]["modes_covered"],
            "contrast": f[1]["modes_covered"], "reverse_kl": [round(x["reverse_kl"], 3) for x in f]}


def _images(name: str, seed: int) -> dict:
    """An image lesson and its contrast (compare_with, or the lesson that names it): classes covered."""
    from gan import lessons

    other = lessons.get(name).compare_with or next(n for n, le in lessons.LESSONS.items() if le.compare_with == name)
    figures = []
    for lesson_name in (name, other):
        cfg = lessons.train_config(lesson_name)
        cfg.seed = seed
        figures.append(_image_coverage(cfg))
    return {"figure": "classes covered of 10", "lesson": figures[0]["classes_covered"],
            "contrast": figures[1]["classes_covered"], "class_kl": [round(f["class_kl"], 3) for f in figures]}


def _image_coverage(cfg) -> dict:
    import torch

    from gan import metrics
    from gan.trainer import Trainer

    t = Trainer(cfg)
    for _ in range(cfg.steps):
        t.step()
        if t.step_count % 50 == 0:
            t.flush()
    with torch.no_grad():
        t.G.eval()
        z = torch.randn(1000, t.model_config.z_dim, generator=torch.Generator().manual_seed(0))
        images = t.G(z)
    ref = metrics.reference(cfg.dataset)
    _, probs = ref.classifier.embed(metrics._fit(images, ref.image_size))
    return metrics.class_figures(probs, ref.prior)


def main() -> None:
    from gan import lessons

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--lessons", nargs="+", default=list(lessons.LESSONS))
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    args = p.parse_args()

    import torch

    for name in args.lessons:
        lesson = lessons.get(name)
        for threads in args.threads:
            torch.set_num_threads(threads)
            for seed in args.seeds:
                t0 = time.perf_counter()
                row = (_points if lesson.kind == "points" else _images)(name, seed)
                row = {"lesson": name, "steps": lesson.steps, "seed": seed, "threads": threads, **row,
                       "seconds": round(time.perf_counter() - t0, 1)}
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    lesson_v, contrast_v = (f"{v:.4g}" if isinstance(v, float) else v
                                            for v in (row["lesson"], row["contrast"]))
                    print(f"{name:48s} seed {seed} threads {threads}  {row['figure']}: {lesson_v} "
                          f"(contrast {contrast_v})  {row['seconds']} s", flush=True)


if __name__ == "__main__":
    main()
