"""The training loop: one model-agnostic step in labelled phases, an EMA of G, a NaN guard, atomic checkpoints.

    (1) update D (n_critic times)   (2) update G   (3) update the EMA of G   (4) record

Nothing here knows which GAN it trains: the model family, the loss and the dataset come from their registries.
All training randomness (batch indices, noise, gradient-penalty mixing) comes from one torch.Generator whose state
is checkpointed, so a resumed run continues exactly where it stopped (bit for bit on the CPU).
Loss values stay on the device until a log line is due, so a GPU never waits for the host inside a step.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gan import checkpoint as ckpt
from gan.augment import diff_augment, parse_policy
from gan.architectures import check_architecture
from gan.config import LIMITS, MBSTD_PROGAN, OPTIMIZERS, PACK_CONDITIONAL, ModelConfig, TrainConfig, check_number
from gan.data import Dataset, is_points_dataset, load_dataset
from gan.devices import check_amp, resolve_device, use_bf16
from gan.errors import FieldError, GanInputError, TrainingDiverged
from gan.latent import sample_z, seed_to_z
from gan.layers import pack_samples
from gan.losses import LOSSES, gradient_penalty
from gan.models import build_discriminator, build_generator
from gan.uploads import background_rgb

log = logging.getLogger(__name__)

CHECKPOINT_STATE_VERSION = 1
LIVE_SETTINGS = ("lr_g", "lr_d", "n_critic", "augment")  # what may change mid-run (Trainer.set_hyperparameters)


# ------------------------------------------------------------------------------------- hyperparameters
def resolve_config(cfg: TrainConfig, points: bool | None = None) -> TrainConfig:
    """Fill every None with the loss's preset (2-D overrides for point data) and check every setting, so that the
    rest of the code never sees a missing, absurd or ill-fitting value. The one place that refuses a run's
    settings (command line, Train tab, run manager): nothing is switched silently; an unset architecture becomes
    mlp for 2-D points and dcgan for images. `points`: whether the data is 2-D points (None: from the dataset's
    name)."""
    if not isinstance(cfg.loss, str) or cfg.loss not in LOSSES:
        raise GanInputError(f"unknown loss {cfg.loss!r}; choose one of: {', '.join(LOSSES)}")
    loss = LOSSES[cfg.loss]
    points = is_points_dataset(cfg.dataset) if points is None else points
    preset = {**loss.preset, **(loss.preset_2d if points else {})}
    arch = cfg.arch or ("mlp" if points else "dcgan")
    family = check_architecture(arch)
    arch_defaults = POINTS_DEFAULTS if points else {"z_dim": 100, "ema": IMAGE_EMA, **family.defaults}
    filled = copy.deepcopy(cfg)
    filled.arch = arch
    for name in ("batch_size", "lr_g", "lr_d", "beta1", "beta2", "optimizer", "n_critic", "gp_lambda", "clip",
                 "ema", "z_dim", "g_width", "d_width", "depth"):
        if getattr(filled, name) is None:
            setattr(filled, name, preset.get(name, arch_defaults.get(name, _FALLBACK.get(name))))
    _check(filled)
    if points:
        _check_fits_points(filled)
    return filled


_FALLBACK = dict(beta1=0.5, beta2=0.999, gp_lambda=10.0, clip=0.01, optimizer="adam", depth=3)
IMAGE_EMA = 0.999
# The 2-D defaults of every loss, with gan.losses' preset_2d: the same for gan.train, the Train tab and the
# Playground's free play (gan.playground.PlaygroundConfig leaves these to resolve_config), chosen on random
# mixtures (gan.mixtures, benchmarks/unseen_2d.py; README "2-D defaults on unseen data"). The EMA decay is 0.99,
# not the images' 0.999: an average over the last ~1,000 steps mixes generators that still move mass between
# modes, and on narrow modes it put fewer points on a mode than an average over ~100 (hinge on three mixtures with
# sigma 1.2-9%: high quality 48-53% against 56-70%, coverage as good or better); G alone, without an EMA, jitters
# around the modes at these learning rates, and a learning rate low enough to stop that (2e-4) had not reached the
# modes after 3,000 steps. Wider nets (256) cost 3x the time for no clear gain at 3,000 steps.
POINTS_DEFAULTS = {"g_width": 128, "d_width": 128, "depth": 3, "z_dim": 2, "ema": 0.99}


def _check(cfg: TrainConfig) -> None:
    for name in LIMITS:
        setattr(cfg, name, check_number(name, getattr(cfg, name)))
    if cfg.optimizer not in OPTIMIZERS:
        raise FieldError("optimizer", f"must be {' or '.join(OPTIMIZERS)}", cfg.optimizer)
    cfg.amp = check_amp(cfg.amp)
    background_rgb(cfg.background)  # refused before any data loads
    cfg.augment = ",".join(parse_policy(cfg.augment))
    _check_cures(cfg)


def _check_cures(cfg: TrainConfig) -> None:
    """What packing (--pack) and the minibatch std (--mbstd) need of the batch and the model (--r1 needs only its
    limits). D sees batch_size / pack inputs per call, and the minibatch std compares them in groups."""
    batch, pack = cfg.batch_size, cfg.pack
    if pack > batch:
        raise FieldError("pack", f"must not be larger than the batch size ({batch})", pack)
    if batch % pack:
        raise FieldError("pack", f"must divide the batch size ({batch}) into whole packs", pack)
    if pack > 1 and cfg.conditional:
        raise FieldError("pack", PACK_CONDITIONAL, pack)
    if not isinstance(cfg.mbstd, bool):
        raise FieldError("mbstd", "must be on or off", cfg.mbstd)
    if cfg.mbstd and cfg.arch == "progan":
        raise FieldError("mbstd", MBSTD_PROGAN, cfg.mbstd)
    if cfg.mbstd and batch // pack < 2:
        raise FieldError("mbstd", f"needs at least 2 inputs of D per batch to compare (batch size {batch} "
                                  f"in packs of {pack} gives 1)", cfg.mbstd)


def _check_fits_points(cfg: TrainConfig) -> None:
    """What 2-D point data cannot have: an image family, class conditioning, image augmentation. Each is refused
    by its field's name, never switched off."""
    if cfg.arch != "mlp":
        raise FieldError("arch", "must be mlp for 2-D point data (dcgan and progan draw images)", cfg.arch)
    if cfg.conditional:
        raise FieldError("conditional", "must be off for 2-D point data (it needs images with class labels)",
                         cfg.conditional)
    if cfg.augment:
        raise FieldError("augment", "must be off for 2-D point data (it transforms images)", cfg.augment)


def model_config_for(cfg: TrainConfig, ds: Dataset) -> ModelConfig:
    """The networks' config for a resolved TrainConfig on its dataset (sizes, channels, classes come from the
    data)."""
    if cfg.conditional and ds.n_classes < 2:
        raise FieldError("conditional", f"needs class labels, and {ds.name} has none", cfg.conditional)
    return ModelConfig(
        arch=cfg.arch, kind=ds.kind, image_size=ds.image_size or 28, channels=ds.channels or 1,
        z_dim=cfg.z_dim, z_dist=cfg.z_dist, n_classes=ds.n_classes if cfg.conditional else 0,
        conditional=cfg.conditional, spectral_norm=cfg.spectral_norm, pack=cfg.pack, mbstd=cfg.mbstd,
        g_width=cfg.g_width, d_width=cfg.d_width, depth=cfg.depth, point_mean=ds.point_mean,
        point_std=ds.point_std).validate()


# ---------------------------------------------------------------------------------------------------- EMA
@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """Exponential moving average of the weights; BatchNorm statistics are copied. (torch's AveragedModel would
    average the integer BatchNorm counters too, and has no warm-up.)"""
    ema_p, model_p = list(ema.parameters()), list(model.parameters())
    torch._foreach_lerp_(ema_p, model_p, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def copy_weights(dst: nn.Module, src: nn.Module) -> None:
    """dst's parameters and buffers set to src's, exactly and in place: what load_state_dict(state_dict()) does
    for two copies of one network, without its per-key bookkeeping, which cost a tenth of a small 2-D model's step
    (the Playground's lessons copy G to the EMA G every step)."""
    with torch.no_grad():
        torch._foreach_copy_([*dst.parameters(), *dst.buffers()], [*src.parameters(), *src.buffers()])


# -------------------------------------------------------------------------------------------------- trainer
@dataclass
class StepRecord:
    """One step's figures, still on the device (tensors) until `Trainer.flush` reads them all at once."""
    step: int
    values: dict
    images: int


class Trainer:
    """Owns the networks, optimizers, data and RNG of one run. `step()` is one training iteration; the caller
    (command line, run manager, playground) decides when to log, sample, checkpoint, pause or stop. `dataset`:
    data already loaded (the Playground's points), used instead of loading cfg.dataset."""

    def __init__(self, cfg: TrainConfig, dataset: Dataset | None = None):
        self.cfg = resolve_config(cfg, None if dataset is None else dataset.kind == "points")
        self.device = resolve_device(self.cfg.device)
        self.loss = LOSSES[self.cfg.loss]
        self.data = dataset if dataset is not None else load_dataset(
            self.cfg.dataset, split="all", image_size=self.cfg.image_size, data_root=self.cfg.data_root,
            device=self.device, background=self.cfg.background)
        self.data.to(self.device)
        if self.cfg.batch_size > len(self.data):
            raise FieldError("batch_size", f"must not be larger than the dataset ({len(self.data):,} samples)",
                             self.cfg.batch_size)
        self.model_config = model_config_for(self.cfg, self.data)
        cuda = self.device.type == "cuda"
        self.amp = use_bf16(self.cfg.amp, self.device, self.model_config.kind)  # bf16 in G and D's layers
        self.channels_last = cuda and self.cfg.channels_last and self.model_config.kind == "image"

        torch.manual_seed(self.cfg.seed)  # weight init
        self.G = build_generator(self.model_config).to(self.device)
        self.D = build_discriminator(self.model_config).to(self.device)
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_g = self._optimizer(self.G, self.cfg.lr_g)
        self.opt_d = self._optimizer(self.D, self.cfg.lr_d)
        self.g_step_fn = torch.compile(self.G) if self.cfg.compile else self.G
        self.d_step_fn = torch.compile(self.D) if self.cfg.compile else self.D
        # The gradient penalty backpropagates through D's gradient (a double backward), which torch.compile's
        # aot_autograd does not support: it always runs D eagerly.
        self.d_penalty_fn = self.D

        self.rng = torch.Generator(self.device).manual_seed(self.cfg.seed)
        self.augment_policy = parse_policy(self.cfg.augment)  # () = D sees the images as they are
        n = self.cfg.n_samples
        self.fixed_z = seed_to_z(range(n), self.model_config.z_dim, self.model_config.z_dist).to(self.device)
        self.fixed_labels = (torch.arange(n, device=self.device) % self.model_config.n_classes
                             if self.model_config.conditional else None)
        self.step_count = 0          # completed iterations (G updates)
        self.set_progress()
        self.pending: list[StepRecord] = []
        self.history_changes: list[dict] = []
        self.wall_start = time.perf_counter()
        self.wall_before = 0.0       # wall time of earlier sessions of a resumed run
        self._last_flush_time = time.perf_counter()

    def replace_discriminator(self, D: nn.Module) -> None:
        """Train `D` instead of the D built from the model config (the Playground's D may be deeper or shallower
        than G): every path to D moves with it, the step's, the penalties' (gradient penalty, R1) and the
        optimizer's. A penalty computed on the old D would change nothing the optimizer updates."""
        self.D = D.to(self.device)
        self.d_step_fn = torch.compile(self.D) if self.cfg.compile else self.D
        self.d_penalty_fn = self.D
        self.opt_d = self._optimizer(self.D, self.cfg.lr_d)

    # ------------------------------------------------------------------------------------------ pieces
    def _optimizer(self, module: nn.Module, lr: float) -> torch.optim.Optimizer:
        if self.cfg.optimizer == "rmsprop":
            return torch.optim.RMSprop(module.parameters(), lr=lr)
        return torch.optim.Adam(module.parameters(), lr=lr, betas=(self.cfg.beta1, self.cfg.beta2))

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def _noise(self, n: int) -> torch.Tensor:
        return sample_z(n, self.model_config.z_dim, self.model_config.z_dist, self.rng, self.device)

    def _real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(len(self.data), (self.cfg.batch_size,), device=self.device, generator=self.rng)
        x = self.data.batch(idx)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.data.labels[idx] if self.model_config.conditional else None
        return x, y

    def _fake_labels(self, n: int) -> torch.Tensor | None:
        if not self.model_config.conditional:
            return None
        return torch.randint(self.model_config.n_classes, (n,), device=self.device, generator=self.rng)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        """What D sees of any image, real or fake (DiffAugment when --augment is set; see gan.augment)."""
        return diff_augment(x, self.augment_policy, self.rng) if self.augment_policy else x

    def _probability(self, scores: torch.Tensor) -> torch.Tensor:
        """D(x) as users read it: a probability for the sigmoid losses, the raw critic score otherwise."""
        return torch.sigmoid(scores).mean() if LOSSES[self.cfg.loss].probability else scores.mean()

    # ------------------------------------------------------------------------------------------ phases
    def d_step(self) -> dict:
        """(1) Update D once on a real batch and a fake batch. With --pack N, D judges packs: the real batch and
        the fake one each become B / N packs of N samples (gan.layers.pack_samples), and the losses, the gradient
        penalty (between a real and a fake pack) and R1 (on the real packs) are per pack."""
        self.G.train()
        self.D.train()
        x_real, y_real = self._real_batch()
        n = x_real.shape[0]
        z, y_fake = self._noise(n), self._fake_labels(n)
        pack = self.cfg.pack  # > 1 only for unconditional models: y_real and y_fake are then None
        with self._autocast():
            with torch.no_grad():
                x_fake = self.g_step_fn(z, y_fake)
            x_real = pack_samples(self._augment(x_real), pack)
            x_fake = pack_samples(self._augment(x_fake), pack)
            s_real = self.d_step_fn(x_real, y_real)
            s_fake = self.d_step_fn(x_fake, y_fake)
            loss_d = self.loss.d_loss(s_real.float(), s_fake.float())
        values = {"loss_d": loss_d.detach(), "d_real": self._probability(s_real.detach().float()),
                  "d_fake": self._probability(s_fake.detach().float())}
        if self.loss.gradient_penalty:
            gp = gradient_penalty(lambda x: self.d_penalty_fn(x, y_real).float(), x_real, x_fake.float(), self.rng)
            loss_d = loss_d + self.cfg.gp_lambda * gp
            values["gp"] = gp.detach()
        if self.cfg.r1 > 0:
            # R1 (Mescheder et al. 2018, "Which training methods for GANs do actually converge?", eq. 9):
            # gamma/2 * E[||grad_x D(x_real)||^2], on what D sees of the real batch. A squared norm, never its
            # square root, so a zero gradient gives a zero penalty and a zero gradient of it (no NaN). Like the
            # gradient penalty it runs D eagerly and in float32 (a double backward). "r1" is E||grad||^2, before
            # gamma/2, as "gp" is before its lambda.
            x = x_real.detach().float().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.d_penalty_fn(x, y_real).float().sum(), x, create_graph=True)
            r1 = grad.pow(2).flatten(1).sum(dim=1).mean()
            loss_d = loss_d + 0.5 * self.cfg.r1 * r1
            values["r1"] = r1.detach()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        if self.loss.weight_clip:
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-self.cfg.clip, self.cfg.clip)
        return values

    def g_step(self) -> dict:
        """(2) Update G once through the current D (on packs of its samples with --pack)."""
        self.G.train()
        self.D.train()
        n = self.cfg.batch_size
        z, y_fake = self._noise(n), self._fake_labels(n)
        self.D.requires_grad_(False)  # no D gradients are needed for G's update
        try:
            with self._autocast():
                x_fake = pack_samples(self._augment(self.g_step_fn(z, y_fake)), self.cfg.pack)
                loss_g = self.loss.g_loss(self.d_step_fn(x_fake, y_fake).float())
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        finally:
            self.D.requires_grad_(True)
        return {"loss_g": loss_g.detach()}

    def ema_step(self) -> None:
        """(3) Update the EMA of G, with a warm-up so short runs are not dominated by the initial weights."""
        if self.cfg.ema > 0:
            decay = min(self.cfg.ema, (1 + self.step_count) / (10 + self.step_count))
            update_ema(self.G_ema, self.G, decay)
        else:
            copy_weights(self.G_ema, self.G)

    def step(self) -> None:
        """One iteration: (1) D x n_critic, (2) G, (3) EMA, (4) record (kept on the device until flush)."""
        self.set_progress()
        values = {}
        for _ in range(self.cfg.n_critic):
            values = self.d_step()
        values.update(self.g_step())
        self.step_count += 1
        self.ema_step()
        self.pending.append(StepRecord(self.step_count, values, self.cfg.batch_size * self.cfg.n_critic))

    def set_progress(self, *modules: nn.Module) -> None:
        """Models that change with training (progan's resolution and fade-in alpha) get the step before each
        iteration; their state is a function of the step alone, so a resumed run continues exactly. `modules`
        (default: G, D and the EMA G) may name copies, such as a viewer's live copy, that must match the step too."""
        for m in modules or (self.G, self.D, self.G_ema):
            fn = getattr(m, "set_progress", None)
            if fn is not None:
                fn(self.step_count, self.cfg.steps)

    def progress_info(self) -> dict | None:
        """{"resolution", "alpha", "stage", "final_resolution"} for a growing model (progan), else None."""
        fn = getattr(self.G, "progress_info", None)
        return fn() if fn is not None else None

    # ----------------------------------------------------------------------------------------- records
    def flush(self) -> dict | None:
        """Read the pending figures off the device in one go, check them, and return the log entry of the latest
        step (None if nothing ran since the last flush). Raises TrainingDiverged on NaN/inf, so the caller keeps its
        last good state."""
        if not self.pending:
            return None
        keys = sorted(self.pending[-1].values)
        stacked = torch.stack([torch.stack([r.values[k].float() for k in keys]) for r in self.pending]).cpu()
        if not torch.isfinite(stacked).all():
            bad = self.pending[int((~torch.isfinite(stacked)).any(1).nonzero()[0])].step
            self.pending.clear()
            raise TrainingDiverged(f"the losses became NaN/inf at step {bad}: training stopped; the last good "
                                   "checkpoint is kept")
        now = time.perf_counter()
        images = sum(r.images for r in self.pending)
        rate = images / max(now - self._last_flush_time, 1e-9)
        entry = {"step": self.pending[-1].step, **{k: float(v) for k, v in zip(keys, stacked[-1].tolist())},
                 "img_per_s": round(rate, 1), "time": round(self.wall_time(), 3)}
        self._last_flush_time = now
        self.pending.clear()
        return entry

    def wall_time(self) -> float:
        return self.wall_before + time.perf_counter() - self.wall_start

    def set_hyperparameters(self, lr_g: float | None = None, lr_d: float | None = None,
                            n_critic: int | None = None, augment: str | None = None) -> dict:
        """Change learning rates, n_critic or the augmentation policy between steps (GAN Lab's live controls, and
        `--resume` with new values); returns what changed. The change is kept in the checkpoint, so a resumed run
        replays it."""
        changed = {}
        for name, value in (("lr_g", lr_g), ("lr_d", lr_d), ("n_critic", n_critic), ("augment", augment)):
            if value is None:
                continue
            trial = copy.copy(self.cfg)
            setattr(trial, name, value)
            _check(trial)  # also normalises the augmentation policy's spelling
            if getattr(trial, name) == getattr(self.cfg, name):
                continue
            if self.model_config.kind == "points":
                _check_fits_points(trial)
            changed[name] = getattr(trial, name)
        for name, value in changed.items():
            self._apply_setting(name, value)
        if changed:
            self.history_changes.append({"step": self.step_count, **changed})
        return changed

    def _apply_setting(self, name: str, value) -> None:
        setattr(self.cfg, name, value)
        if name in ("lr_g", "lr_d"):
            for group in (self.opt_g if name == "lr_g" else self.opt_d).param_groups:
                group["lr"] = value
        elif name == "augment":
            self.augment_policy = parse_policy(value)

    # ------------------------------------------------------------------------------------------ output
    @torch.no_grad()
    def sample_images(self, generator: nn.Module | None = None) -> torch.Tensor:
        """The fixed-noise samples from the EMA generator: images in [-1, 1], or 2-D points in data units."""
        g = generator or self.G_ema
        g.eval()
        out = g(self.fixed_z, self.fixed_labels).float()
        return g.to_data_units(out) if self.model_config.kind == "points" else out

    def save_samples(self, path: Path) -> None:
        from gan.viz import save_grid, save_scatter

        if self.model_config.kind == "points":
            save_scatter(path, self.data.points_in_data_units()[:2000], self.sample_images().cpu().numpy())
        else:
            save_grid(path, self.sample_images())

    def model_info(self) -> dict:
        return {"dataset": self.cfg.dataset, "loss": self.cfg.loss, "arch": self.cfg.arch, "steps": self.step_count,
                "device": str(self.device), "wall_time_s": round(self.wall_time(), 1), "seed": self.cfg.seed,
                "class_names": self.data.class_names}

    def save_model(self, path: str | Path) -> None:
        ckpt.save_model_file(path, self.model_config, self.G_ema, self.D, self.model_info())

    def state_dict(self) -> dict:
        return {"version": CHECKPOINT_STATE_VERSION, "step": self.step_count, "config": json.dumps(self.cfg.to_dict()),
                "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "rng": self.rng.get_state(), "wall_time": self.wall_time(),
                "changes": json.dumps(self.history_changes)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("version") != CHECKPOINT_STATE_VERSION:
            raise GanInputError("the checkpoint was written by another version of GANscope")
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.G_ema.load_state_dict(state["G_ema"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
        except (RuntimeError, KeyError, ValueError) as e:
            raise GanInputError(f"the checkpoint does not fit this run's settings ({str(e).splitlines()[0][:160]}); "
                                "resume with the settings it was trained with") from None
        self.rng.set_state(state["rng"])
        self.step_count = int(state["step"])
        self.wall_before = float(state.get("wall_time", 0.0))
        self.wall_start = time.perf_counter()
        self._last_flush_time = time.perf_counter()
        self.history_changes = json.loads(state.get("changes", "[]"))
        # Live changes (learning rates, n_critic, augmentation) made before the checkpoint still hold after it.
        for change in self.history_changes:
            for key in LIVE_SETTINGS:
                if key in change:
                    setattr(self.cfg, key, change[key])
        for key in LIVE_SETTINGS:
            self._apply_setting(key, getattr(self.cfg, key))
        self.set_progress()

    def save_checkpoint(self, path: str | Path) -> None:
        ckpt.save_training_state(path, self.state_dict())

