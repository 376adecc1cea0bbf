"""Training throughput, three ways in one process run, for the same network, loss, optimizer and batch size:

  recipe   the PyTorch DCGAN example's pipeline: a torchvision dataset with per-sample transforms (Resize, ToTensor,
           Normalize), DataLoader(2 workers, shuffle), float32, D step on real then fake, G step on the same fakes
  ours     our engine as a user runs it: TrainingSession.advance() (data on the device as uint8, EMA, periodic
           log/sample/checkpoint into a run folder; on CUDA bf16 autocast + channels_last, --compile switchable)
  compute  the same training step (Trainer.d_step + g_step) repeated on one batch and one noise tensor already on
           the device: the limit for this network on this machine

Configs: mnist28 (the bundled digits, 28x28 DCGAN, width 64) and rgb64 (the PyTorch DCGAN example's G and D at
64x64, ngf = ndf = 64, on CIFAR-10-sized (32x32) random RGB images written as an image folder, resized to 64 as the
example does). Nothing is downloaded: MNIST is written as IDX files so that torchvision.datasets.MNIST reads it.

Rounds interleave the three ways (recipe, ours, compute; ours, compute, recipe; ...) so that load from other processes on a shared
machine hits all of them alike. Each figure is images / mean time of the faster half of its way's rounds (the less
disturbed windows; timeit takes the best of its repeats for the same reason), warm-up excluded. Every round is
printed on a comment line.

Each way runs with the threads it would use for a user: torch's own choice of intra-op threads (one per core) for
all three, as neither the example nor `gan.train` sets any, and the recipe's two DataLoader workers besides.
--threads pins all three to one count instead.

Numerics: the recipe runs in float32, as the example does. Ours and compute run what `gan.train` runs by default
(--amp auto, gan.devices.use_bf16): bf16 autocast on CUDA and on a CPU with native bf16 (AMX or AVX-512 BF16),
float32 elsewhere; --amp on|off overrides it. The JSON says which each way used.

    python benchmarks/train_throughput.py --device cpu --json
    python benchmarks/train_throughput.py --device cuda --json --batch-size 64 256

The last line of stdout is one JSON object: {"device", "threads", "native_bf16", "configs": [{"name", "recipe_img_s",
"ours_img_s", "compute_img_s", "speedup" (ours/recipe), "efficiency" (ours/compute), "numerics" (per way),
"rounds", "spread" (per way: slowest / fastest round of the faster half, 1.0 = no noise)}]}.
"""
from __future__ import annotations

import argparse
import json
import logging
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gan.config import ModelConfig, TrainConfig  # noqa: E402
from gan.data import MNIST_10K  # noqa: E402
from gan.devices import cpu_has_native_bf16  # noqa: E402
from gan.models import build_discriminator, build_generator  # noqa: E402
from gan.rundir import TrainingSession  # noqa: E402
from gan.trainer import Trainer  # noqa: E402

# Steps per timed round, rounds per way, warm-up steps per way; per config and device type. On this 2-core CPU one
# 28x28 step at batch 64 takes 80-200 ms and one 64x64 step about a second, and the time of a step swings with what
# else the machine does, so CPU rounds are short, interleaved recipe/ours/compute, and many. On CUDA a round is many
# steps (a sync per step would slow ours down).
PLAN = {"mnist28": {"cpu": dict(steps=5, rounds=16, warmup=3), "cuda": dict(steps=200, rounds=5, warmup=50)},
        "rgb64": {"cpu": dict(steps=1, rounds=8, warmup=1), "cuda": dict(steps=50, rounds=5, warmup=20)}}


# -------------------------------------------------------------------------------------- data on disk
def write_mnist_idx(root: Path) -> None:
    """The bundled 10,000 digits as the four IDX files torchvision.datasets.MNIST reads (no download)."""
    with np.load(MNIST_10K) as f:
        images, labels = f["images"].astype(np.uint8), f["labels"].astype(np.uint8)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


def write_rgb_folder(root: Path, n: int, size: int = 32, seed: int = 0) -> Path:
    """n random RGB PNGs of CIFAR-10's size in root/class0 (ImageFolder wants a class folder)."""
    from PIL import Image

    folder = root / "class0"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    return root


# -------------------------------------------------------------------------------------------- recipe
class Recipe:
    """The PyTorch DCGAN example's loop (examples/dcgan/main.py), with our G and D (its networks; our D returns
    logits, so BCEWithLogitsLoss stands for Sigmoid + BCELoss)."""

    def __init__(self, dataset, model_config: ModelConfig, batch_size: int, device: torch.device, seed: int = 0):
        torch.manual_seed(seed)
        self.device = device
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=2)
        self.netG = build_generator(model_config).to(device)
        self.netD = build_discriminator(model_config).to(device)
        self.criterion = nn.BCEWithLogitsLoss()
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.nz = model_config.z_dim
        self.batches = self._epochs()

    def _epochs(self):
        while True:  # for epoch in range(niter): for i, data in enumerate(dataloader, 0): ...
            yield from self.loader

    def step(self) -> int:
        data = next(self.batches)
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        self.netD.zero_grad()
        real_cpu = data[0].to(self.device)
        b_size = real_cpu.size(0)
        label = torch.full((b_size,), 1.0, dtype=real_cpu.dtype, device=self.device)
        output = self.netD(real_cpu)
        errD_real = self.criterion(output, label)
        errD_real.backward()
        D_x = output.sigmoid().mean().item()
        noise = torch.randn(b_size, self.nz, device=self.device)
        fake = self.netG(noise)
        label.fill_(0.0)
        output = self.netD(fake.detach())
        errD_fake = self.criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.sigmoid().mean().item()
        errD = errD_real + errD_fake
        self.optD.step()
        # (2) Update G network: maximize log(D(G(z)))
        self.netG.zero_grad()
        label.fill_(1.0)
        output = self.netD(fake)
        errG = self.criterion(output, label)
        errG.backward()
        D_G_z2 = output.sigmoid().mean().item()
        self.optG.step()
        self.last = (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)  # the example prints these every step
        return b_size


def recipe_dataset(name: str, root: Path, image_size: int):
    import torchvision.datasets as dset
    import torchvision.transforms as transforms

    if name == "mnist28":
        return dset.MNIST(root=str(root), download=False, transform=transforms.Compose([
            transforms.Resize(image_size), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]))
    return dset.ImageFolder(root=str(root), transform=transforms.Compose([
        transforms.Resize(image_size), transforms.CenterCrop(image_size), transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]))


# ---------------------------------------------------------------------------------------- ours, compute
class Ours:
    """The engine as `python -m gan.train` runs it: one TrainingSession writing a run folder."""

    def __init__(self, cfg: TrainConfig, out: Path):
        self.session = TrainingSession(cfg, out)
        self.batch = self.session.cfg.batch_size * self.session.cfg.n_critic

    def step(self) -> int:
        self.session.advance()
        return self.batch


class Compute:
    """Trainer.d_step + g_step on one real batch and one noise tensor already on the device: no sampling, no
    EMA, no records. What is left is the network's arithmetic, the losses and the optimizers."""

    def __init__(self, cfg: TrainConfig):
        self.trainer = t = Trainer(cfg)
        x, y = t._real_batch()
        z = t._noise(t.cfg.batch_size)
        t._real_batch = lambda: (x, y)
        t._noise = lambda n: z
        self.batch = t.cfg.batch_size

    def step(self) -> int:
        for _ in range(self.trainer.cfg.n_critic):
            self.trainer.d_step()
        self.trainer.g_step()
        return self.batch * self.trainer.cfg.n_critic


# ------------------------------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(way, steps: int, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    images = sum(way.step() for _ in range(steps))
    sync(device)
    return images / (time.perf_counter() - t0)


def faster_half(rates: list[float]) -> list[float]:
    return sorted(rates, reverse=True)[:max(1, len(rates) // 2)]


def rate_of(rates: list[float]) -> float:
    """Images per second over the faster half of the rounds: 1 / mean(time per image) of those rounds."""
    fast = faster_half(rates)
    return len(fast) / sum(1 / r for r in fast)


def spread(rates: list[float]) -> float:
    """How noisy the rounds that count were: fastest / slowest of the faster half (1.0: all alike)."""
    fast = faster_half(rates)
    return round(fast[0] / fast[-1], 3)


def bench_config(name: str, batch_size: int, device: torch.device, tmp: Path, args) -> dict:
    plan = PLAN[name][device.type]
    steps = args.steps or plan["steps"]
    rounds = args.rounds or plan["rounds"]
    warmup = plan["warmup"] if args.warmup is None else args.warmup
    if name == "mnist28":
        data_root = tmp / "mnist_idx"
        if not data_root.exists():
            write_mnist_idx(data_root)
        dataset, image_size = "mnist", 28
    else:
        data_root = tmp / "rgb32"
        if not data_root.exists():
            write_rgb_folder(data_root, args.rgb_images)
        dataset, image_size = f"folder:{data_root}", 64
    cfg = TrainConfig(dataset=dataset, arch="dcgan", loss="bce", image_size=image_size, batch_size=batch_size,
                      g_width=64, d_width=64, z_dim=100, device=str(device), amp=args.amp,
                      channels_last=args.channels_last, compile=args.compile, steps=10 ** 7)
    ours = Ours(cfg, tmp / f"run-{name}-{batch_size}")
    compute = Compute(cfg)
    recipe = Recipe(recipe_dataset(name, data_root, image_size), ours.session.trainer.model_config, batch_size,
                    device)
    ways = {"recipe": recipe, "ours": ours, "compute": compute}
    for way in ways.values():
        timed(way, warmup, device)
    rates = {k: [] for k in ways}
    order = list(ways)
    for r in range(rounds):
        # Rotate the order every round: the way that follows the recipe shares the CPU with its loader's workers
        # while they refill their prefetch queue, and no way should always be the one that does.
        for k in order[r % 3:] + order[:r % 3]:
            rates[k].append(timed(ways[k], steps, device))
        print(f"# {name} b{batch_size} round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} img/s" for k, v in
                                                                   rates.items()), flush=True)
    best = {k: rate_of(v) for k, v in rates.items()}
    del recipe.batches  # stop the loader's workers
    numerics = "bf16 autocast" if ours.session.trainer.amp else "float32"
    return {"name": f"{name}-dcgan-b{batch_size}", "recipe_img_s": round(best["recipe"], 1),
            "ours_img_s": round(best["ours"], 1), "compute_img_s": round(best["compute"], 1),
            "speedup": round(best["ours"] / best["recipe"], 3), "efficiency": round(best["ours"] / best["compute"], 3),
            "numerics": {"recipe": "float32", "ours": numerics,
                         "compute": "bf16 autocast" if compute.trainer.amp else "float32"},
            "rounds": rounds, "spread": {k: spread(v) for k, v in rates.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    p.add_argument("--batch-size", type=int, nargs="+", default=[64])
    p.add_argument("--configs", nargs="+", default=list(PLAN), choices=list(PLAN))
    p.add_argument("--rounds", type=int, help="interleaved timed rounds per way (default: per config)")
    p.add_argument("--threads", type=int, help="torch intra-op threads for every way (default: torch's choice, "
                                               "as a user's run gets)")
    p.add_argument("--steps", type=int, help="steps per timed round (default: per config)")
    p.add_argument("--warmup", type=int, help="untimed steps per way before the rounds (default: per config)")
    p.add_argument("--rgb-images", type=int, default=2000, help="random 32x32 RGB images for rgb64")
    p.add_argument("--amp", default="auto", choices=("auto", "on", "off"),
                   help="ours/compute: bf16 autocast as gan.train's --amp (default: auto, gan.train's default)")
    p.add_argument("--no-amp", dest="amp", action="store_const", const="off", help="the same as --amp off")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--compile", action="store_true", help="ours/compute: torch.compile G and D")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            print("--device cuda: no CUDA GPU here", file=sys.stderr)
            return 2
        torch.backends.cudnn.benchmark = True  # as the example does
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, device "
          f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}", flush=True)
    configs = []
    with tempfile.TemporaryDirectory(prefix="ganscope-bench-") as tmp:
        for name in args.configs:
            for bs in args.batch_size:
                configs.append(bench_config(name, bs, device, Path(tmp), args))
                if not args.json:
                    print(configs[-1], flush=True)
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "threads": torch.get_num_threads(), "native_bf16": cpu_has_native_bf16() if device.type == "cpu" else
              torch.cuda.is_bf16_supported(), "configs": configs}
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
