"""The cures for mode collapse against PacGAN's Table 1 (Lin et al. 2018), on the paper's two 2-D mixtures.

    python benchmarks/mode_collapse.py [--seeds 0 1 2 3 4] [--steps 4000] [--datasets ring8 grid25]
                                       [--rows "GAN" "GAN + pack 2" ...] [--threads 1] [--json]
                                       [--results runs.jsonl]

With --results, each run is appended to that file as it ends, and the runs already in it (same dataset, row, seed,
steps) are not run again: 70 runs take about 40 minutes alone on a 2-core machine, so a long measurement can stop
and go on later.

ring8 (8 Gaussians on a circle, sigma 1% of its radius) and grid25 (a 5x5 grid, sigma 0.05 of a spacing of 2) are
gan.data's, as PacGAN (after VEEGAN) defines them. The architecture is the paper's as far as gan.models has it:
G 4 hidden layers of 400 units, D 3 hidden layers of 200, z 2-D Gaussian, Adam, minibatch 100 samples (a pack of N
makes 100 / N inputs of D, as in the paper). What differs, and why: D's hidden units are LeakyReLU, not
LinearMaxout with 5 pieces, and G has no batch norm (gan.models' MLPs have neither); each run is --steps G updates
(a CPU budget, about a hundredth of the paper's training), so the learning rate is 1e-3 (beta1 0.5), not 1e-4: at
1e-4 and 4,000 steps a plain GAN on ring8 had not yet reached a single mode (0 of 8 modes, 0% high quality, seed 0)
and PacGAN2 had 47% high-quality samples. WGAN-GP keeps its own paper's toy settings.

Figures on 2,500 samples of G (the paper's count), by gan.metrics.mode_figures: modes covered (a mode counts when
at least a fifth of its expected share of the samples is high quality near it, MODE_SHARE: stricter than a single
sample), high-quality share (within 3 sigma of a mode) and reverse KL of the nearest-mode histogram against the
uniform one. Each row is the mean over seeds, as the paper reports, with the median beside it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PAPER = dict(g_depth=4, g_width=400, d_depth=3, d_width=200, z_dim=2, batch_size=100, optimizer="adam",
             lr_g=1e-3, lr_d=1e-3, beta1=0.5, beta2=0.999, n_critic=1, ema=0.0)   # no EMA in PacGAN: G itself
ROWS = {
    "GAN": dict(loss="bce"),
    "GAN + pack 2": dict(loss="bce", pack=2),
    "GAN + pack 4": dict(loss="bce", pack=4),
    "GAN + mbstd": dict(loss="bce", mbstd=True),
    "GAN + R1": dict(loss="bce", r1=1.0),
    # The WGAN-GP paper's toy settings: lambda 0.1, 5 critic steps, Adam 1e-4 (0.5, 0.9).
    "WGAN-GP": dict(loss="wgan-gp", gp_lambda=0.1, n_critic=5, lr_g=1e-4, lr_d=1e-4, beta1=0.5, beta2=0.9),
    "hinge + SN": dict(loss="hinge", spectral_norm=True),
}
# PacGAN's Table 1: (modes, high quality %, reverse KL) with None where the paper gives no figure.
TABLE1 = {"ring8": {"GAN": (6.3, 98.2, 0.45), "PacGAN2": (7.9, 95.6, 0.07), "PacGAN4": (7.8, 95.9, None),
                    "VEEGAN": (8, 52.9, None)},
          "grid25": {"GAN": (17.3, 94.8, 0.70), "PacGAN2": (23.8, 91.3, None), "PacGAN4": (24.8, 93.6, 0.04),
                     "VEEGAN": (24.6, 40.0, None)}}
GOAL = {"ring8": (7.8, 95.9, 0.07), "grid25": (24.8, 93.6, 0.04)}   # PacGAN4's figures: the issue's goal
N_SAMPLES = 2500


def run(dataset: str, row: str, seed: int, steps: int) -> dict:
    """One training run of a row on a dataset; its figures at the end."""
    import numpy as np
    import torch

    from gan.metrics import MODE_SHARE, mode_figures
    from gan.playground import Playground, PlaygroundConfig

    cfg = PlaygroundConfig(dataset=dataset, seed=seed, **{**PAPER, **ROWS[row]})
    start = time.perf_counter()
    pg = Playground(cfg)
    pg.step_both(steps)
    z = torch.randn(N_SAMPLES, cfg.z_dim, generator=torch.Generator().manual_seed(10_000 + seed))
    data = pg.trainer.data
    f = mode_figures(np.asarray(pg.generate(z, data_units=True)), data.modes, data.mode_std, min_share=MODE_SHARE)
    return {"dataset": dataset, "row": row, "seed": seed, "steps": steps, "modes": f["modes_covered"],
            "n_modes": f["n_modes"], "high_quality": 100 * f["high_quality"], "reverse_kl": f["reverse_kl"],
            "seconds": round(time.perf_counter() - start, 1)}


def summarise(results: list[dict]) -> list[dict]:
    """Mean and median over seeds, per dataset and row, in the order run."""
    keys = list(dict.fromkeys((r["dataset"], r["row"]) for r in results))
    out = []
    for dataset, row in keys:
        rs = [r for r in results if (r["dataset"], r["row"]) == (dataset, row)]
        entry = {"dataset": dataset, "row": row, "seeds": len(rs)}
        for k in ("modes", "high_quality", "reverse_kl"):
            values = [r[k] for r in rs]
            entry[k] = round(statistics.fmean(values), 3)
            entry[f"{k}_median"] = round(statistics.median(values), 3)
        out.append(entry)
    return out


def table(summary: list[dict]) -> str:
    """A Markdown table per dataset, ours (mean over seeds, median in brackets) above the paper's rows."""
    lines = []
    for dataset in dict.fromkeys(s["dataset"] for s in summary):
        lines += [f"\n**{dataset}** (goal, PacGAN4: modes >= {GOAL[dataset][0]}, high quality >= "
                  f"{GOAL[dataset][1]}%, reverse KL <= {GOAL[dataset][2]})", "",
                  "| row | seeds | modes | high quality % | reverse KL |", "|---|---|---|---|---|"]
        for s in (s for s in summary if s["dataset"] == dataset):
            lines.append(f"| {s['row']} | {s['seeds']} | {s['modes']:.1f} ({s['modes_median']:g}) | "
                         f"{s['high_quality']:.1f} ({s['high_quality_median']:.1f}) | "
                         f"{s['reverse_kl']:.3f} ({s['reverse_kl_median']:.3f}) |")
        for name, (modes, hq, kl) in TABLE1[dataset].items():
            lines.append(f"| PacGAN Table 1: {name} | | {modes} | {hq} | {'' if kl is None else kl} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, default=4000, help="G updates per run (default: %(default)s)")
    p.add_argument("--datasets", nargs="+", default=["ring8", "grid25"], choices=["ring8", "grid25"])
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", action="store_true", help="print the per-run results and the summary as JSON")
    p.add_argument("--results", default=None, help="a JSON-lines file: append each run, skip the runs in it")
    p.add_argument("--report", action="store_true", help="with --results: print the table of the runs in the file "
                                                          "(of the seeds, rows and datasets asked for), run nothing")
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# mode_collapse: {args.steps} G steps, seeds {args.seeds}, {torch.get_num_threads()} threads",
          flush=True)
    done = {}
    if args.results and os.path.exists(args.results):
        with open(args.results) as f:
            for line in f:
                r = json.loads(line)
                done[(r["dataset"], r["row"], r["seed"], r["steps"])] = r
    results = []
    for dataset in args.datasets:
        for row in args.rows:
            for seed in args.seeds:
                r = done.get((dataset, row, seed, args.steps))
                if r is None and args.report:
                    continue
                if r is None:
                    r = run(dataset, row, seed, args.steps)
                    if args.results:
                        with open(args.results, "a") as f:
                            f.write(json.dumps(r) + "\n")
                results.append(r)
                print(f"{dataset:7s} {row:14s} seed {seed}: modes {r['modes']:2d}/{r['n_modes']}  "
                      f"HQ {r['high_quality']:5.1f}%  rKL {r['reverse_kl']:.3f}  ({r['seconds']} s)", flush=True)
    summary = summarise(results)
    print(table(summary))
    if args.json:
        print(json.dumps({"runs": results, "summary": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
