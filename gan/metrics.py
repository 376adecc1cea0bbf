"""Quality figures without the internet: a small classifier trained on the same data (gan.classifier) stands in
for Inception, and every figure comes with what real data scores, so the reader knows what "perfect" looks like.

Images (measured in the classifier's penultimate feature space and on its class probabilities):
  fd, fd_floor        Fréchet distance (Heusel et al. 2017) of generated vs the held-out test split, and the same
                      between a disjoint real split of the same size and the test split
  class_histogram     share of samples the classifier puts in each class
  classes_covered     classes with at least 1% of the samples; class_kl = KL(generated classes || real classes)
  classifier_score    exp E_x[KL(p(y|x) || p(y))] (the Inception Score's formula, at most the number of classes)
  confidence          mean max class probability
  precision, recall   k-NN manifolds in feature space, k = 3 (Kynkäänniemi et al. 2019)
  label_accuracy      conditional models: ask for class c, the classifier says c
  pairwise_rms        variety in pixels: mean RMS distance (pixels in [0, 1]) over all pairs of the first 64
                      samples; pairwise_rms_real the same for 64 real training images (a collapsed G is near 0)
2-D points (PacGAN's figures, Lin et al. 2018, after VEEGAN):
  modes_covered       modes with at least one high-quality sample
  high_quality        share of samples within 3 standard deviations of their nearest mode
  reverse_kl          KL(generated mode histogram || true mode weights), each sample assigned to its nearest mode

Reusable from code: `evaluate(pipe, dataset)` for a generator pipeline (a live one works: build it with
gan.pipeline.pipeline_from_modules), `image_metrics(images, dataset)` for a tensor of images in [-1, 1],
`point_metrics(points, dataset)` for (N, 2) points in data units. The classifier and the real features are cached
per dataset in memory, so calling these every few hundred training steps costs only the generated samples.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan.errors import GanInputError

log = logging.getLogger(__name__)

DEFAULT_N = 5000          # generated images per evaluation
DEFAULT_N_POINTS = 2500   # generated 2-D points (PacGAN samples 2,500)
K_NEAREST = 3             # precision / recall neighbourhood size
COVERED_SHARE = 0.01      # a class is covered with at least 1% of the samples
HQ_STDS = 3.0             # a 2-D sample is high quality within 3 sigma of a mode
MODE_SHARE = 0.2          # the benchmarks' covered mode: a fifth of its expected share of samples, high quality
MAX_FLOOR_SPLIT = 10_000  # real training images embedded for the floor
# Which classifier judges which dataset (both MNIST datasets are the same digits).
# The monitor's verdict (monitor_verdict). Class figures only mean something once the samples look like real
# images: before that the classifier files every blob under one class with full confidence, so its confidence
# cannot tell. Measured on the "DCGAN on MNIST" preset, seed 0, 1,000 samples of the EMA generator, floor 0.73:
# steps 100 / 250 / 500 / 750 / 1,000 gave 1 / 1 / 1 / 5 / 10 classes at FD 654 / 658 / 548 / 192 / 71 and
# confidence 0.9995 / 0.9997 / 0.9985 / 0.85 / 0.73.
IMMATURE_FD_RATIO = 100   # FD above this many times its floor: too early to read class coverage
COLLAPSE_SHARE = 0.7      # a mature generator covering fewer than this share of the classes (or modes) is collapsing
IMMATURE_HQ = 0.2         # 2-D: under this share of points near any mode, mode coverage is not yet meaningful
CLASSIFIER_FOR = {"mnist": "mnist", "mnist-full": "mnist", "fashion-mnist": "fashion-mnist", "emoji": "emoji"}
# The mode-collapse monitor a training run calls every QUALITY_EVERY steps (gan.run_manager runs it by default):
# few enough samples to cost a fraction of a second, enough to count classes and modes.
QUALITY_EVERY = 500
QUALITY_SAMPLES = 1000
MONITOR_KEYS = ("fd", "fd_floor", "classes_covered", "class_histogram", "class_kl", "modes_covered", "high_quality",
                "reverse_kl", "mode_histogram", "label_accuracy", "n_modes", "confidence")


# ---------------------------------------------------------------------------------------- plain functions
def frechet_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two feature sets (N, D), in float64.
    Tr((S_a S_b)^(1/2)) is computed as the sum of sqrt(eigenvalues) of S_a^(1/2) S_b S_a^(1/2), which is symmetric
    positive semi-definite, so no complex square roots appear (unlike scipy.linalg.sqrtm on a near-singular product)."""
    a, b = _f64(a), _f64(b)
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise GanInputError("the Fréchet distance needs at least 2 samples on each side")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root_a @ s_b @ root_a
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    fd = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_sqrt)
    return max(fd, 0.0)


def _f64(x) -> np.ndarray:
    return (x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64))


def _kth_radius(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row."""
    out = []
    for i in range(0, x.shape[0], chunk):
        d = torch.cdist(x[i:i + chunk], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # the 1st "neighbour" is the point itself, at 0
    return torch.cat(out)


def _inside(query: torch.Tensor, ref: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """For each query row: is it inside at least one ball (ref_i, radii_i)?"""
    out = []
    for i in range(0, query.shape[0], chunk):
        d = torch.cdist(query[i:i + chunk], ref)
        out.append((d <= radii[None]).any(dim=1))
    return torch.cat(out)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = K_NEAREST) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): precision is the share of fake samples inside the
    real manifold (the union of balls reaching each real sample's k-th nearest real neighbour), recall the share of
    real samples inside the fake manifold. Both sets should have the same size; the caller trims them."""
    real, fake = real.float().cpu(), fake.float().cpu()
    if min(real.shape[0], fake.shape[0]) <= k:
        raise GanInputError(f"precision / recall need more than k={k} samples on each side")
    precision = float(_inside(fake, real, _kth_radius(real, k)).float().mean())
    recall = float(_inside(real, fake, _kth_radius(fake, k)).float().mean())
    return precision, recall


def class_figures(probs: torch.Tensor, real_prior: torch.Tensor) -> dict:
    """Mode-collapse figures from class probabilities (N, K) and the real class distribution (K,)."""
    probs = probs.double().cpu()
    k = probs.shape[1]
    hist = torch.bincount(probs.argmax(1), minlength=k).double() / probs.shape[0]
    prior = real_prior.double().cpu().clamp_min(1e-12)
    nz = hist > 0
    class_kl = float((hist[nz] * (hist[nz] / prior[nz]).log()).sum())
    marginal = probs.mean(0).clamp_min(1e-12)
    p = probs.clamp_min(1e-12)
    score = float(torch.exp((probs * (p.log() - marginal.log()[None])).sum(1).mean()))
    return {"class_histogram": [round(float(h), 4) for h in hist],
            "classes_covered": int((hist >= COVERED_SHARE).sum()),
            "class_kl": round(max(class_kl, 0.0), 5),
            "classifier_score": round(score, 4),
            "confidence": round(float(probs.max(1).values.mean()), 4)}


def mode_figures(points: np.ndarray, modes: np.ndarray, mode_std: float, weights: np.ndarray | None = None,
                 n_stds: float = HQ_STDS, min_share: float = 0.0) -> dict:
    """PacGAN's 2-D figures for points (N, 2) against mixture centres (K, 2) of standard deviation mode_std, with
    mixture weights (default: equal). A mode is covered when its high-quality samples (within n_stds sigma of it)
    are more than min_share of its expected count, weights[k] * N: 0 (the Playground's and the lessons' count: one
    sample is enough) or MODE_SHARE, a fifth, which the benchmarks use so that a G which drops a mode but lets a
    few samples stray into it does not get the mode counted."""
    points, modes = np.asarray(points, dtype=np.float64), np.asarray(modes, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise GanInputError("2-D metrics need an (N, 2) array of points")
    d = np.linalg.norm(points[:, None, :] - modes[None], axis=2)  # (N, K)
    nearest, dist = d.argmin(1), d.min(1)
    good = dist <= n_stds * mode_std
    k = len(modes)
    hq_per_mode = np.bincount(nearest[good], minlength=k)
    share = np.bincount(nearest, minlength=k) / len(points)
    weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=np.float64)
    nz = share > 0
    reverse_kl = float((share[nz] * np.log(share[nz] / weights[nz])).sum())
    covered = hq_per_mode > 0 if min_share <= 0 else hq_per_mode >= min_share * weights * len(points)
    return {"modes_covered": int(covered.sum()), "n_modes": k,
            "high_quality": round(float(good.mean()), 4), "reverse_kl": round(max(reverse_kl, 0.0), 4),
            "mode_histogram": [int(c) for c in hq_per_mode]}


# ------------------------------------------------------------------------------------------- references
@dataclass
class Reference:
    """What the metrics compare against for one dataset: its classifier and the real features, computed once."""

    dataset: str
    classifier: object                  # gan.classifier.Classifier
    test_features: torch.Tensor         # (N_test, F)
    test_probs: torch.Tensor
    test_labels: torch.Tensor
    prior: torch.Tensor                 # real class distribution (test split)
    floor_images: torch.Tensor          # a fixed shuffled subset of the train split, disjoint from the test split
    image_size: int
    channels: int
    floors: dict                        # n -> fd_floor, memoised
    floor_features: torch.Tensor | None = None  # embedded on demand, as many as the largest n asked for

    def fd_floor(self, n: int) -> float:
        m = min(n, self.floor_images.shape[0])
        if m not in self.floors:
            have = 0 if self.floor_features is None else self.floor_features.shape[0]
            if have < m:
                more, _ = self.classifier.embed(fit_to_classifier(self.floor_images[have:m], self.image_size))
                self.floor_features = more if self.floor_features is None else torch.cat([self.floor_features, more])
            self.floors[m] = frechet_distance(self.floor_features[:m], self.test_features)
        return self.floors[m]


_CACHE: dict[tuple, Reference] = {}
_LOCK = threading.Lock()


def classifier_path(dataset: str) -> Path:
    from gan.classifier import default_path

    if dataset not in CLASSIFIER_FOR:
        raise GanInputError(f"no quality classifier for {dataset!r}: image metrics exist for "
                            f"{', '.join(CLASSIFIER_FOR)}")
    return default_path(CLASSIFIER_FOR[dataset])


def reference(dataset: str, classifier: str | Path | None = None, data_root: str | None = None) -> Reference:
    """The dataset's Reference, built on first use and then served from memory (thread-safe)."""
    path = Path(classifier) if classifier else classifier_path(dataset)
    key = (dataset, str(path.resolve()))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        from gan.classifier import load_classifier
        from gan.data import load_dataset

        t0 = time.perf_counter()
        model, _ = load_classifier(path)
        test = load_dataset(dataset, split="test", data_root=data_root)
        train = load_dataset(dataset, split="train", data_root=data_root)
        if test.channels != model.cfg.channels:
            raise GanInputError(f"the classifier {path.name} expects {model.cfg.channels}-channel images")
        feats, probs = model.embed(fit_to_classifier(test.batch(torch.arange(len(test))), model.cfg.image_size))
        labels = test.labels.cpu()
        prior = torch.bincount(labels, minlength=model.cfg.n_classes).double() / len(labels)
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:MAX_FLOOR_SPLIT]
        ref = Reference(dataset, model, feats, probs, labels, prior, train.batch(order), model.cfg.image_size,
                        model.cfg.channels, {})
        _CACHE[key] = ref
        log.info("quality reference for %s: %d test images embedded in %.1f s", dataset, len(test),
                 time.perf_counter() - t0)
        return ref


def fit_to_classifier(images: torch.Tensor, size: int) -> torch.Tensor:
    """Generated images at another resolution are resized to what the classifier reads."""
    if images.shape[-1] == size:
        return images
    return F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)


# -------------------------------------------------------------------------------------------- the figures
DIVERSITY_N = 64     # images in the variety figure: the emoji issue compares 64 samples with 64 real images


def pairwise_rms(images: torch.Tensor) -> float:
    """Mean RMS pixel distance (pixels in [0, 1]) over all pairs of images (N, C, H, W) in [-1, 1]: how varied a
    set of samples is. A collapsed G scores near 0; compare with the same figure for as many real images."""
    x = ((images.detach().float().cpu() + 1) / 2).flatten(1)
    n = x.shape[0]
    if n < 2:
        raise GanInputError("the variety of a set needs at least 2 images")
    return float(torch.cdist(x, x).sum() / (n * (n - 1)) / x.shape[1] ** 0.5)


def image_metrics(images: torch.Tensor, dataset: str, labels: torch.Tensor | None = None,
                  classifier: str | Path | None = None, k: int = K_NEAREST, with_floor: bool = True) -> dict:
    """Every image figure for generated images (N, C, H, W) in [-1, 1]; with `labels` (the classes the images were
    asked for) also label_accuracy."""
    if images.dim() != 4:
        raise GanInputError("image metrics need a (N, C, H, W) tensor of images in [-1, 1]")
    ref = reference(dataset, classifier)
    if images.shape[1] != ref.channels:
        raise GanInputError(f"the images have {images.shape[1]} channels, the {dataset} classifier reads "
                            f"{ref.channels}")
    feats, probs = ref.classifier.embed(fit_to_classifier(images.detach().float().cpu(), ref.image_size))
    n = feats.shape[0]
    out = {"n": n, "fd": round(frechet_distance(feats, ref.test_features), 4)}
    if with_floor:
        with _LOCK:
            out["fd_floor"] = round(ref.fd_floor(n), 4)
    out.update(class_figures(probs, ref.prior))
    m = min(n, ref.test_features.shape[0])
    out["precision"], out["recall"] = (round(v, 4) for v in precision_recall(ref.test_features[:m], feats[:m], k))
    if n >= 2:
        out["pairwise_rms"] = round(pairwise_rms(images[:DIVERSITY_N]), 4)
        out["pairwise_rms_real"] = round(pairwise_rms(ref.floor_images[:min(n, DIVERSITY_N)]), 4)
    if labels is not None:
        labels = torch.as_tensor(labels).cpu()
        out["label_accuracy"] = round(float((probs.argmax(1) == labels).float().mean()), 4)
    return out


def point_metrics(points: np.ndarray | torch.Tensor, dataset: str) -> dict:
    """PacGAN's figures for (N, 2) generated points in the data's units, on a dataset with known modes."""
    from gan.data import load_dataset

    ds = load_dataset(dataset)
    if ds.modes is None:
        raise GanInputError(f"{dataset} has no known modes: mode figures exist for ring8 and grid25")
    pts = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
    return {"n": int(len(pts)), **mode_figures(pts, ds.modes, ds.mode_std)}


@torch.inference_mode()
def generate(pipe, n: int, seed: int = 0, truncation: float = 1.0, batch_size: int = 500
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples from a pipeline, deterministic for a seed: (samples, the labels asked for or None). Conditional
    models are asked for every class in turn."""
    from gan.latent import sample_z, truncate

    cfg = pipe.config
    z = truncate(sample_z(n, cfg.z_dim, cfg.z_dist, torch.Generator().manual_seed(seed)), truncation)
    labels = torch.arange(n) % cfg.n_classes if cfg.conditional else None
    chunks = [pipe.decode(z[i:i + batch_size], None if labels is None else labels[i:i + batch_size].tolist()).cpu()
              for i in range(0, n, batch_size)]
    return torch.cat(chunks), labels


def evaluate(pipe, dataset: str | None = None, n: int | None = None, seed: int = 0, truncation: float = 1.0,
             classifier: str | Path | None = None, with_floor: bool = True) -> dict:
    """All figures for a generator pipeline (gan.pipeline.GeneratorPipeline, live or loaded from a file). The
    dataset defaults to the one the model was trained on (its info)."""
    dataset = dataset or (pipe.info or {}).get("dataset")
    if not dataset:
        raise GanInputError("which dataset? the model file does not say; pass --dataset")
    if isinstance(n, bool) or (n is not None and not (isinstance(n, int) and 10 <= n <= 100_000)):
        raise GanInputError(f"n must be an integer in [10, 100000], got {n!r}")
    t0 = time.perf_counter()
    if pipe.is_points:
        samples, _ = generate(pipe, n or DEFAULT_N_POINTS, seed, truncation)
        out = point_metrics(samples, dataset)
    else:
        samples, labels = generate(pipe, n or DEFAULT_N, seed, truncation)
        out = image_metrics(samples, dataset, labels, classifier, with_floor=with_floor)
    return {"dataset": dataset, "truncation": truncation, "seed": seed, **out,
            "seconds": round(time.perf_counter() - t0, 2)}


def quality_monitor(trainer) -> dict:
    """One mode-collapse monitor reading of a training run: class coverage and FD against its floor on
    QUALITY_SAMPLES samples of the EMA generator (PacGAN's figures for 2-D data); {} for a dataset without metrics."""
    from gan.pipeline import GeneratorPipeline

    if not is_supported(trainer.cfg.dataset):
        return {}
    pipe = GeneratorPipeline(trainer.model_config, trainer.G_ema, None, trainer.model_info(), "monitor",
                             trainer.device)
    figures = evaluate(pipe, trainer.cfg.dataset, n=QUALITY_SAMPLES)
    return {k: figures[k] for k in MONITOR_KEYS if k in figures}


def monitor_verdict(reading: dict) -> str:
    """One mode-collapse monitor reading ({"step", figures of `evaluate`}) in words a student can act on: whether it
    is too early to judge, whether it looks like collapse, or the figures against what real data scores."""
    step = f"Step {reading['step']:,}: " if "step" in reading else ""
    if "classes_covered" in reading:
        covered, k = reading["classes_covered"], len(reading.get("class_histogram") or []) or 10
        fd, floor = reading.get("fd"), reading.get("fd_floor")
        against = f"FD {fd:,.1f} against {floor:.2f} for real images" if fd is not None and floor else ""
        if fd is not None and floor and fd > IMMATURE_FD_RATIO * floor:
            return (f"{step}too early to judge. The samples are still far from real images ({against}), so the "
                    f"classifier files them under whichever class they happen to resemble: {covered} of {k} classes "
                    "covered does not mean mode collapse yet. Wait for FD to fall.")
        if covered < COLLAPSE_SHARE * k:
            return (f"{step}only {covered} of {k} classes covered while the samples already look real-ish "
                    f"({against}): the generator makes only a few kinds of image. This is mode collapse.")
        return f"{step}{covered} of {k} classes covered, {against}. Lower FD is better; the floor is the best possible."
    if "modes_covered" in reading:
        covered, k = reading["modes_covered"], reading.get("n_modes") or len(reading.get("mode_histogram") or [])
        hq = reading.get("high_quality", 0.0)
        if hq < IMMATURE_HQ:
            return (f"{step}too early to judge: only {hq:.0%} of the points lie near any mode, so "
                    f"{covered} of {k} modes covered does not mean collapse yet.")
        if k and covered < COLLAPSE_SHARE * k:
            return (f"{step}only {covered} of {k} modes covered while {hq:.0%} of the points sit on a mode: "
                    "the generator has collapsed onto a few modes.")
        return f"{step}{covered} of {k} modes covered, {hq:.0%} of the points near a mode."
    return ""


def is_supported(dataset: str) -> bool:
    """Whether metrics exist for this dataset (a classifier, or known 2-D modes)."""
    return dataset in CLASSIFIER_FOR or dataset in ("ring8", "grid25")

