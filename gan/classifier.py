"""Small CNN classifiers that stand in for Inception: trained here, on the data the GANs learn, shipped in weights/.

    python -m gan.classifier train --dataset mnist            # -> weights/classifier-mnist.safetensors
    python -m gan.classifier train --dataset fashion-mnist    # -> weights/classifier-fashion-mnist.safetensors
    python -m gan.classifier eval --dataset mnist             # held-out accuracy of the shipped file

The metrics (gan.metrics) use its class probabilities (coverage, classifier score, label accuracy) and its
penultimate features (Fréchet distance, precision / recall), as TF-GAN's MNIST example scores samples with an
MNIST classifier. A classifier file is safetensors with a JSON config in its metadata, loaded without pickle.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan.augment import translate
from gan.checkpoint import atomic_path, load_into, read_info, read_tensors
from gan.cli import run_main
from gan.errors import GanInputError

log = logging.getLogger(__name__)

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
FORMAT = "ganscope-classifier"
FORMAT_VERSION = "1"
MAX_FILE_BYTES = 64 * 2 ** 20


@dataclass
class ClassifierConfig:
    dataset: str = "mnist"
    class_names: list = field(default_factory=lambda: [str(d) for d in range(10)])
    channels: int = 1
    image_size: int = 28
    width: int = 32          # channels of the first conv; the next two have 2x
    features: int = 128      # penultimate width: the feature space of FD and precision / recall

    def validate(self) -> "ClassifierConfig":
        ok = (isinstance(self.class_names, list) and 2 <= len(self.class_names) <= 1000
              and self.channels in (1, 3) and self.image_size in (28, 32, 64)
              and isinstance(self.width, int) and 1 <= self.width <= 512
              and isinstance(self.features, int) and 1 <= self.features <= 4096)
        if not ok:
            raise GanInputError("the classifier config in the file is out of range")
        return self

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


class Classifier(nn.Module):
    """(B, C, S, S) in [-1, 1] -> three 3x3 conv blocks with 2x2 max-pooling -> `features` units -> class logits."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.body = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(True), nn.MaxPool2d(2),  # S/2
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(True), nn.MaxPool2d(2),  # S/4
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(True),
            nn.AdaptiveAvgPool2d(3),                                                                     # (B, 2w, 3, 3)
            nn.Flatten(), nn.Linear(2 * w * 9, cfg.features), nn.ReLU(True))                          # (B, features)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(cfg.features, cfg.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (B, features): the space FD and precision / recall are measured in."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.body(x)))

    @torch.inference_mode()
    def embed(self, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, class probabilities) of images in [-1, 1], in eval mode, batch by batch, float32 on the CPU."""
        self.eval()
        device = next(self.parameters()).device
        feats, probs = [], []
        for i in range(0, images.shape[0], batch_size):
            x = images[i:i + batch_size].to(device, torch.float32)
            h = self.body(x)
            feats.append(h.float().cpu())
            probs.append(torch.softmax(self.head(h), dim=1).float().cpu())
        return torch.cat(feats), torch.cat(probs)


def default_path(dataset: str) -> Path:
    return WEIGHTS / f"classifier-{dataset}.safetensors"


# ------------------------------------------------------------------------------------------------ files
def save_classifier(path: str | Path, model: Classifier, info: dict | None = None) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": json.dumps(asdict(model.cfg)),
            "info": json.dumps(info or {}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> tuple[Classifier, dict]:
    """(classifier in eval mode, info) from a classifier file; a clear GanInputError for anything else."""
    p = Path(path)
    if not p.is_file():
        raise GanInputError(f"no classifier file {str(p)!r}; train one with: python -m gan.classifier train "
                            "--dataset NAME")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise GanInputError(f"{p.name} is too large to be a GANscope classifier")

    def check(meta: dict) -> None:
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise GanInputError(f"{p.name} is not a GANscope classifier (format {meta.get('format')!r})")

    meta, tensors = read_tensors(p, "classifier file", check)
    try:
        raw = json.loads(meta["config"])
    except (KeyError, TypeError, ValueError):
        raise GanInputError(f"{p.name}: the classifier config is missing or not valid JSON") from None
    known = set(ClassifierConfig.__dataclass_fields__)
    if not isinstance(raw, dict) or set(raw) - known:
        raise GanInputError(f"{p.name}: the classifier config has unknown keys")
    cfg = ClassifierConfig(**raw).validate()
    model = Classifier(cfg)
    load_into(model, {f"m.{k}": v for k, v in tensors.items()}, "m.", p.name)
    return model.to(device).eval(), read_info(meta)


# --------------------------------------------------------------------------------------------- training
AUGMENT_SHIFT = 2   # pixels: random translations of up to this much make the classifier robust, cheaply


@torch.inference_mode()
def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    _, probs = model.embed(images)
    return float((probs.argmax(1) == labels.cpu()).float().mean())


def background_value(ds) -> float:
    """The data's background in [-1, 1]: the median of its images' border pixels (-1 for MNIST's black, +1 for
    emoji's white), so a shifted training image's new border looks like the held-out images' borders."""
    x = ds.batch(torch.arange(min(len(ds), 1000)))
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], dim=-1)
    return float(border.median())


def train_classifier(dataset: str, epochs: int = 6, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                     width: int = 32, features: int = 128, augment: bool = True, label_smoothing: float = 0.0,
                     data_root: str | None = None) -> tuple[Classifier, dict]:
    """Train on the dataset's train split with Adam and a one-cycle schedule; report accuracy on its test split.
    No label smoothing by default: the classifier score and confidence read its probabilities, and a smoothed
    classifier is never sure even of real digits (it scored real MNIST 7.3 of 10 with smoothing 0.05)."""
    from gan.data import load_dataset

    train = load_dataset(dataset, split="train", data_root=data_root)
    test = load_dataset(dataset, split="test", data_root=data_root)
    if train.kind != "image" or train.labels is None or train.n_classes < 2:
        raise GanInputError(f"{dataset} is not a labelled image dataset: no classifier to train")
    torch.manual_seed(seed)
    cfg = ClassifierConfig(dataset, list(train.class_names), train.channels, train.image_size, width, features)
    model = Classifier(cfg.validate())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(train)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.15)
    gen = torch.Generator().manual_seed(seed)
    fill = background_value(train)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        running = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * batch_size:(i + 1) * batch_size]
            x, y = train.batch(idx), train.labels[idx]
            if augment:  # shifted by up to AUGMENT_SHIFT pixels, the border filled with the background
                x = translate(x, gen, ratio=AUGMENT_SHIFT / x.shape[-1], fill=fill)
            loss = F.cross_entropy(model(x), y, label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
        acc = accuracy(model, test.batch(torch.arange(len(test))), test.labels)
        log.info("epoch %d/%d: train loss %.4f, held-out accuracy %.4f (%.0f s)", epoch + 1, epochs,
                 running / steps_per_epoch, acc, time.perf_counter() - t0)
    info = {"dataset": dataset, "train_split": "train", "train_size": n, "test_size": len(test),
            "test_accuracy": round(acc, 4), "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
            "augment": augment, "augment_fill": fill, "label_smoothing": label_smoothing,
            "wall_time_s": round(time.perf_counter() - t0, 1), "device": "cpu", "torch": torch.__version__}
    return model.eval(), info


# --------------------------------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan.classifier", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a classifier on a dataset's train split and save it")
    t.add_argument("--dataset", default="mnist")
    t.add_argument("--epochs", type=int, default=6)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-augment", dest="augment", action="store_false")
    t.add_argument("--data-root")
    t.add_argument("--out", help="default: weights/classifier-<dataset>.safetensors")
    e = sub.add_parser("eval", help="held-out accuracy of a classifier file")
    e.add_argument("--dataset", default="mnist")
    e.add_argument("--model", help="default: weights/classifier-<dataset>.safetensors")
    e.add_argument("--data-root")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        if not 1 <= args.epochs <= 1000 or not 1 <= args.batch_size <= 65536 or not 0 < args.lr <= 1:
            raise GanInputError("--epochs, --batch-size or --lr out of range")
        model, info = train_classifier(args.dataset, args.epochs, args.batch_size, args.lr, args.seed,
                                       augment=args.augment, data_root=args.data_root)
        out = Path(args.out) if args.out else default_path(args.dataset)
        save_classifier(out, model, info)
        print(json.dumps({"path": str(out), **info}))
    else:
        from gan.data import load_dataset

        model, info = load_classifier(args.model or default_path(args.dataset))
        test = load_dataset(args.dataset, split="test", data_root=args.data_root)
        acc = accuracy(model, test.batch(torch.arange(len(test))), test.labels)
        print(json.dumps({"dataset": args.dataset, "test_size": len(test), "test_accuracy": round(acc, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
