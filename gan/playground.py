"""The 2-D playground (after GAN Lab, Kahng et al. 2018): a Trainer on point data that a teacher steps by hand
(D only, G only, both), resets, and retunes live, plus fast views of what happens inside.

    pg = Playground(PlaygroundConfig(dataset="grid25", loss="bce"))
    pg.step_both(10)
    views = pg.render()        # {"field", "manifold", "curves"}: uint8 RGB arrays, drawn with numpy + PIL
    pg.figures()               # {"modes_covered", "high_quality", "reverse_kl"} for ring8 / grid25

Views, all in the trainer's standardised space (the space D sees), with fixed bounds taken from the real data so
the picture does not jump while training:
  field     D's decision heatmap (pale blue: "real", darker sand: "fake"), real points (blue discs), generated
            points (vermillion hollow squares), and arrows for the gradient G receives at its points
            (-d loss_G / dx: where D pushes each generated point), on one fixed scale for every frame and run
            (arrow_lengths), with their mean size written in the corner;
  manifold  a grid of noise points carried through G and drawn as a mesh (a line for 1-D noise): how G folds and
            stretches its noise space onto the data;
  curves    losses, and the PacGAN figures (modes covered, high-quality share, reverse KL) when the data has modes,
            with a dashed marker at every live change of a learning rate or of D's steps per G step.
"G" in the views and figures is the generator gan.train samples from: the EMA of G's weights when the config has
one (PlaygroundConfig.ema, on by default, as on the command line), else G itself; the arrows are D's push at the
points shown, and G's update follows D's push at its own (raw) points, which the EMA trails by about 1 / (1 - ema)
steps once past its warm-up.
compose_frame lays them out for the page: field and manifold side by side, the curves under them at the same total
width (each view 480 px wide on a 1400 px page, text 14 px, readable on a projector).
Colours are gan.viz's colour-blind-safe palette (Okabe-Ito), and everything told apart by colour is also told apart
by shape, line style or lightness. No matplotlib: a frame (a few steps plus every view) takes a few tens of
milliseconds on a laptop CPU.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from gan.config import TrainConfig
from gan.data import DATASETS, Dataset, _points, is_points_dataset, load_dataset
from gan.errors import FieldError, GanInputError
from gan.latent import sample_z
from gan.losses import scores_are_probabilities
from gan.models import build_discriminator
from gan.playground_timeline import Snapshot, Timeline
from gan.trainer import LIVE_SETTINGS, POINTS_DEFAULTS
from gan.uploads import check_distinct_points
from gan.viz import FAKE_RGB, OKABE_ITO, REAL_RGB, draw_markers, marker_size, plot_bounds, to_pixels

POINT_CHOICES = [name for name in DATASETS if is_points_dataset(name)]   # ring8, grid25, spiral, moons (gan.data)
VIEW_SIZE = 480           # the page's views: each 480 px wide on a 1400 px page, readable on a projector
N_SHOWN_FAKE = 512        # generated points drawn in the field view (fixed noise, so points move smoothly)
N_SHOWN_REAL = 1000
N_ARROWS = 96
N_METRIC_SAMPLES = 2500   # as in PacGAN / VEEGAN
HEAT_RES = 48             # D is evaluated on a HEAT_RES x HEAT_RES grid, then smoothly upscaled
MAX_HISTORY = 4000        # points kept per curve (older ones are thinned)

ARROW_RGB = (40, 40, 40)
MARKER_RGB = (150, 150, 150)
MANIFOLD_REAL_RGB = (110, 165, 205)    # the real points behind G's mesh: a pale REAL_RGB, so the mesh stands out
# Arrow lengths: one fixed logarithmic scale, the same in every frame and run, so a gradient that vanishes draws a
# vanishing arrow. Measured on the lessons: healthy runs give G's points gradients of 0.01 to 10 (hinge with spectral
# norm ~0.05, WGAN-GP ~2), the too-strong D below 1e-4 within ten steps. A log scale keeps all of the healthy ones
# visible; a gradient of ARROW_MIN_GRAD or less draws no arrow at all, ARROW_MAX_GRAD or more the longest one.
ARROW_MIN_GRAD, ARROW_MAX_GRAD = 1e-4, 10.0
ARROW_MAX_LEN = 0.08      # of the view's size
# D's heatmap: its two ends differ in lightness (CIE L* 93 against 78, the same under deuteranopia), not only in hue.
HEAT_REAL = np.array([222, 237, 250], np.float32)   # D says "real": pale blue, like the real points
HEAT_FAKE = np.array([220, 186, 154], np.float32)   # D says "fake": darker sand, like the generated points
# Curves: (colour, line style, legend name). Each panel's series differ in line style and lightness as well as hue.
CURVE_STYLES = {"loss_d": (OKABE_ITO["blue"], "solid", "D"), "loss_g": (OKABE_ITO["orange"], "dashed", "G"),
                "modes": (OKABE_ITO["blue"], "solid", "modes"),
                "high_quality": (OKABE_ITO["orange"], "dashed", "high q."),
                "reverse_kl": (OKABE_ITO["vermillion"], "dotted", "rev. KL")}
FONT_PX = 14              # every text in the views: readable from the back of a room
PLOT_LEFT, PLOT_RIGHT = 44, 8     # a curve panel's plot area starts PLOT_LEFT px in and ends PLOT_RIGHT px short
FRAME_GAP = 8             # white pixels between the views in compose_frame
LIVE_LABELS = {"lr_g": "lr G", "lr_d": "lr D", "n_critic": "D steps per G step"}   # as the page labels them


@dataclass
class PlaygroundConfig:
    """Everything the Playground tab can set. None takes the loss's 2-D preset (gan.losses.LOSSES)."""

    dataset: str = "ring8"              # ring8, grid25, spiral, moons, or csv:PATH
    loss: str = "bce"
    optimizer: str | None = None        # adam or rmsprop
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    n_critic: int | None = None
    gp_lambda: float | None = None
    batch_size: int | None = None
    # The networks' sizes are the command line's 2-D defaults (gan.trainer.POINTS_DEFAULTS), D's depth included
    z_dim: int = POINTS_DEFAULTS["z_dim"]   # the playground offers 1 or 2 (the library accepts up to 16)
    z_dist: str = "normal"              # normal or uniform
    g_depth: int = POINTS_DEFAULTS["depth"]
    g_width: int = POINTS_DEFAULTS["g_width"]
    d_depth: int = POINTS_DEFAULTS["depth"]
    d_width: int = POINTS_DEFAULTS["d_width"]
    spectral_norm: bool = False
    seed: int = 0
    pack: int = 1                       # PacGAN: D judges this many points at once (gan.layers.pack_samples)
    mbstd: bool = False                 # D's minibatch standard-deviation feature (gan.layers.MinibatchStd)
    r1: float = 0.0                     # R1 penalty weight gamma on D's gradient at real points; 0: off
    # EMA decay of G's weights; None takes the 2-D default, as on the command line (gan.trainer.POINTS_DEFAULTS
    # says why it is on). The views, arrows and figures show the EMA G when it is on, the generator gan.train
    # samples from. A lesson that steps G by hand and wants each step seen whole sets 0.
    ema: float | None = None

    def train_config(self) -> TrainConfig:
        """The Trainer's config. The playground's own sizes are checked here (FieldError: a page names the field
        by its label); every training number (learning rates, batch size, seed...) by the Trainer's
        gan.config.check_number, with the same kind of message."""
        for name, (lo, hi) in SIZE_LIMITS.items():
            setattr(self, name, check_size(name, getattr(self, name), lo, hi))
        if not isinstance(self.spectral_norm, bool):
            raise FieldError("spectral_norm", "must be on or off", self.spectral_norm)
        return TrainConfig(
            dataset=self.dataset, arch="mlp", loss=self.loss, steps=10_000_000, batch_size=self.batch_size,
            lr_g=self.lr_g, lr_d=self.lr_d, beta1=self.beta1, beta2=self.beta2, optimizer=self.optimizer,
            n_critic=self.n_critic, gp_lambda=self.gp_lambda, ema=self.ema, seed=self.seed, z_dim=self.z_dim,
            z_dist=self.z_dist, g_width=self.g_width, d_width=self.d_width, depth=self.g_depth,
            spectral_norm=self.spectral_norm, pack=self.pack, mbstd=self.mbstd, r1=self.r1,
            n_samples=N_SHOWN_FAKE, device="cpu", log_every=1)


SIZE_LIMITS = {"z_dim": (1, 16), "g_depth": (1, 8), "d_depth": (1, 8), "g_width": (2, 512), "d_width": (2, 512)}


def check_size(name: str, value, lo: int, hi: int) -> int:
    """A whole number from lo to hi (a float that is whole is taken, a fraction refused, never rounded; text, None,
    NaN and infinity refused): the playground's network sizes and noise dimensions."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and float(value).is_integer() and lo <= value <= hi
    if not ok:
        raise FieldError(name, f"must be a whole number from {lo} to {hi}", value)
    return int(value)


def points_dataset(points: np.ndarray, name: str = "drawn") -> Dataset:
    """A point dataset from an (N, 2) array (hand-drawn points, an uploaded CSV already read)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2:
        raise GanInputError("points must be an (N, 2) array with at least 2 rows")
    if not np.isfinite(pts).all():
        raise GanInputError("points must be finite numbers")
    check_distinct_points(pts, "the points")
    return _points(name, pts)


# ------------------------------------------------------------------------------------------ the figures
def toy_figures(samples: np.ndarray, modes: np.ndarray, mode_std: float) -> dict:
    """PacGAN's figures for a Gaussian mixture (gan.metrics owns the definition): modes covered, high-quality
    share, reverse KL."""
    from gan.metrics import mode_figures

    f = mode_figures(samples, modes, mode_std)
    return {k: f[k] for k in ("modes_covered", "high_quality", "reverse_kl")}


# ------------------------------------------------------------------------------------------ the session
class Playground:
    """One 2-D GAN a teacher steps by hand. Thread-safe: every public method takes the session's lock, so a
    background trainer and a viewer can share it."""

    def __init__(self, config: PlaygroundConfig | None = None, dataset: Dataset | None = None,
                 load: Callable[[str], Dataset] = load_dataset):
        """`load(name)` gives a named dataset: gan.data.load_dataset, or a server's cache of them (the point
        datasets are read-only, so every visitor's Playground can share one copy: see gan.playground_manager)."""
        self.lock = threading.RLock()
        self._custom_dataset = dataset
        self._load = load
        self._figures_at: tuple | None = None    # (the run's step key, its figures): figures() once per step
        self.reset(config or PlaygroundConfig())

    # ------------------------------------------------------------------------------------ set-up
    def reset(self, config: PlaygroundConfig | None = None, dataset: Dataset | None = None) -> None:
        """Fresh networks from the config's seed (the same seed gives the same run, step for step)."""
        from gan.trainer import Trainer

        with self.lock:
            config = copy.deepcopy(config) if config is not None else self.config
            if dataset is not None:
                self._custom_dataset = dataset
            ds = self._dataset_for(config)
            trainer = Trainer(config.train_config(), dataset=ds)
            if config.d_depth != config.g_depth:
                # ModelConfig has one depth for both nets; the playground lets D differ, so it rebuilds D here.
                torch.manual_seed(config.seed + 1)
                trainer.replace_discriminator(
                    build_discriminator(dataclasses.replace(trainer.model_config, depth=config.d_depth)))
            self.config = config
            self.trainer = trainer
            self.d_steps = 0
            self.g_steps = 0
            self.history: list[dict] = []       # one entry per G or D update: step, loss_d and/or loss_g
            self._unread: list[dict] = []       # the same, still holding torch scalars
            self.figure_history: list[dict] = []
            self.changes: list[dict] = []       # live changes: {"step": G updates so far, "lr_g": ..., ...}
            self.g_grad: float | None = None    # mean size of the arrows last drawn
            self.diverged: str | None = None
            self._tip: dict | None = None       # the curves as they were at the timeline's latest step, while rewound
            self._setup_views()
            self.timeline = Timeline()
            self._take_snapshot()

    def _dataset_for(self, config: PlaygroundConfig) -> Dataset:
        if config.dataset in ("drawn", "custom") or config.dataset.startswith("drawn"):
            if self._custom_dataset is None:
                raise GanInputError("no points drawn or uploaded yet")
            return copy.copy(self._custom_dataset)
        if not is_points_dataset(config.dataset):
            raise GanInputError(f"the playground takes 2-D data ({', '.join(POINT_CHOICES)} or csv:PATH), "
                                f"not {config.dataset!r}")
        return self._load(config.dataset)

    def _setup_views(self) -> None:
        t = self.trainer
        data = t.data.data
        gen = torch.Generator().manual_seed(1234)
        self.real_shown = data[torch.randperm(len(data), generator=gen)[:N_SHOWN_REAL]].numpy()
        self.bounds = plot_bounds(data.numpy(), pad=0.1, square=True)
        x0, x1, y0, y1 = self.bounds
        xs = np.linspace(x0, x1, HEAT_RES, dtype=np.float32)
        ys = np.linspace(y1, y0, HEAT_RES, dtype=np.float32)  # top row = largest y
        gx, gy = np.meshgrid(xs, ys)
        self.heat_grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))
        mc = t.model_config
        self.fixed_z = t.fixed_z[:N_SHOWN_FAKE]
        self.metric_z = sample_z(N_METRIC_SAMPLES, mc.z_dim, mc.z_dist, torch.Generator().manual_seed(4321))
        self.manifold_z, self.manifold_shape = _manifold_noise(mc.z_dim, mc.z_dist)
        modes = t.data.modes
        self.has_modes = modes is not None and t.data.mode_std is not None

    @property
    def step(self) -> int:
        """Generator updates so far (the step counter the page shows)."""
        return self.g_steps

    def set_hyperparameters(self, lr_g: float | None = None, lr_d: float | None = None,
                            n_critic: int | None = None) -> dict:
        """Live changes: they hold from the next update on, and the curves mark the step where they came. A change
        at a past step of the timeline forks the run there."""
        with self.lock:
            changed = self.trainer.set_hyperparameters(lr_g=lr_g, lr_d=lr_d, n_critic=n_critic)
            if changed:
                self._fork_if_rewound()
            for k, v in changed.items():
                setattr(self.config, k, v)
            if changed:
                self.changes.append({"step": self.g_steps, **changed})
            return changed

    # ------------------------------------------------------------------------------------ stepping
    def step_d(self, n: int = 1) -> None:
        """n discriminator updates, G frozen."""
        with self.lock:
            self._fork_if_rewound()
            for _ in range(n):
                values = self.trainer.d_step()
                self.d_steps += 1
                self._record({"loss_d": values["loss_d"]})

    def step_g(self, n: int = 1) -> None:
        """n generator updates, D frozen (and the EMA G updated, as Trainer.step does)."""
        with self.lock:
            self._fork_if_rewound()
            for _ in range(n):
                values = self.trainer.g_step()
                self.g_steps += 1
                self.trainer.step_count += 1
                self.trainer.ema_step()
                self._record({"loss_g": values["loss_g"]})
                self._snapshot_if_due()

    def step_both(self, n: int = 1) -> None:
        """n full iterations: n_critic D updates, then one G update (Trainer.step)."""
        with self.lock:
            self._fork_if_rewound()
            for _ in range(n):
                t = self.trainer
                t.step()
                record = t.pending.pop()
                self.d_steps += t.cfg.n_critic
                self.g_steps += 1
                self._record({k: record.values[k] for k in ("loss_d", "loss_g")})
                self._snapshot_if_due()

    def _record(self, values: dict) -> None:
        self._unread.append({"step": self.g_steps, **values})
        if len(self._unread) >= 256:
            self._materialise()

    def _materialise(self) -> None:
        """Read recorded losses off torch in one go; NaN/inf is reported in the status line."""
        for h in self._unread:
            for k, v in list(h.items()):
                if isinstance(v, torch.Tensor):
                    v = float(v)
                    if not math.isfinite(v) and self.diverged is None:
                        self.diverged = f"the losses became NaN/inf at step {h['step']}: press Reset"
                    h[k] = v
            self.history.append(h)
        self._unread = []
        if len(self.history) > MAX_HISTORY:
            self.history = self.history[::2]

    # ------------------------------------------------------------------------------------ timeline
    def _trainer_state(self) -> dict:
        """What the next step depends on (Trainer.state_dict, less its wall time and config text); not a copy."""
        return {k: v for k, v in self.trainer.state_dict().items() if k not in ("wall_time", "config")}

    def _take_snapshot(self) -> None:
        self.timeline.add(Snapshot(step=self.g_steps, d_steps=self.d_steps,
                                   trainer=copy.deepcopy(self._trainer_state()),
                                   live={k: getattr(self.trainer.cfg, k) for k in LIVE_SETTINGS},
                                   diverged=self.diverged))

    def _snapshot_if_due(self) -> None:
        if self.timeline.due(self.g_steps):
            self._take_snapshot()

    @property
    def rewound(self) -> bool:
        """True while the run stands at a past step of its timeline (the later snapshots are still there)."""
        return self._tip is not None

    def rewind(self, step) -> dict:
        """Go back (or forward again) to G step `step` of the timeline: every view, figure and curve is that
        moment's. The later snapshots stay until the run steps on from here, which forks it (they are dropped);
        stepping on without changing anything gives exactly the run that was there. The step the run stood at
        is kept first, so scrubbing back and forth never loses it. A step not on the timeline raises
        GanInputError naming the ones that are, and changes nothing. Returns figures()."""
        with self.lock:
            self.timeline.at(step)                  # raises before anything changes
            if self._tip is None:
                last = self.timeline.snapshots[-1]
                if (self.g_steps, self.d_steps) != (last.step, last.d_steps):
                    self._take_snapshot()           # where the run stood: scrubbing forward again comes back here
                self._tip = self._curves()
            snap = self.timeline.at(step)
            self._restore(snap, self._tip)
            if snap.step == self.timeline.last_step:
                self._tip = None                    # back at the latest moment: nothing ahead to keep
            return self.figures()

    def _curves(self) -> dict:
        self._materialise()
        return {"history": list(self.history), "figure_history": list(self.figure_history),
                "changes": list(self.changes)}

    def _restore(self, snap: Snapshot, curves: dict) -> None:
        """The run as it was at `snap`, its curves cut at that step."""
        t = self.trainer
        t.load_state_dict({**snap.restored_state(), "wall_time": t.wall_time()})
        for key, value in snap.live.items():
            t._apply_setting(key, value)
            if hasattr(self.config, key):
                setattr(self.config, key, value)
        self.g_steps, self.d_steps, self.diverged = snap.step, snap.d_steps, snap.diverged
        self._unread = []
        for name in ("history", "figure_history", "changes"):
            setattr(self, name, [h for h in curves[name] if h["step"] <= snap.step])
        self.g_grad = None
        self._figures_at = None

    def timeline_frames(self, size: int = 300) -> list[tuple[int, np.ndarray]]:
        """(step, page frame) at every snapshot of the timeline, oldest first: the run over time, for a GIF or an
        MP4. The run is left exactly where it stood (its state is taken first and put back)."""
        with self.lock:
            here = Snapshot(step=self.g_steps, d_steps=self.d_steps, trainer=copy.deepcopy(self._trainer_state()),
                            live={k: getattr(self.trainer.cfg, k) for k in LIVE_SETTINGS}, diverged=self.diverged)
            curves = self._tip or self._curves()
            mine = self._curves()
            g_grad = self.g_grad
            frames = []
            try:
                for snap in list(self.timeline.snapshots):
                    self._restore(snap, curves)
                    frames.append((snap.step, page_frame(self, figures=True, size=size)[0]))
            finally:
                self._restore(here, mine)
                self.g_grad = g_grad
            return frames

    def _fork_if_rewound(self) -> None:
        """About to train from a past step: the run forks here, and the later snapshots and curves go."""
        if self._tip is not None:
            self.timeline.drop_after(self.g_steps)
            self._tip = None

    def timeline_info(self) -> dict:
        """What the page's timeline slider needs: the steps kept, how often, and the memory they take."""
        with self.lock:
            tl = self.timeline
            return {"steps": tl.steps, "every": tl.every, "first": tl.steps[0] if tl.steps else 0,
                    "last": tl.last_step, "at": self.g_steps, "rewound": self.rewound,
                    "mb": round(tl.nbytes / 2 ** 20, 2), "budget_mb": round(tl.budget_bytes / 2 ** 20, 2)}

    # ------------------------------------------------------------------------------------ figures
    @property
    def shown_G(self) -> torch.nn.Module:
        """The generator every view, arrow and figure shows: the EMA G when the config has an EMA (as gan.train
        samples from it), else G itself."""
        return self.trainer.G_ema if self.trainer.cfg.ema > 0 else self.trainer.G

    @torch.no_grad()
    def generate(self, z: torch.Tensor | None = None, data_units: bool = False) -> np.ndarray:
        """The shown G's points for the given noise (default: the fixed noise of the field view)."""
        with self.lock:
            G = self.shown_G
            x = G(self.fixed_z if z is None else z)
            if data_units:
                x = G.to_data_units(x)
            return x.numpy()

    def figures(self) -> dict:
        """Modes covered, high-quality share and reverse KL of 2,500 samples (fixed noise), plus the latest
        losses. Without modes (spiral, moons, your own points) only the losses. Computed once per step (and per
        arrow drawing): a page polling a paused Playground twice a second costs nothing more."""
        with self.lock:
            key = (id(self.trainer), self.g_steps, self.d_steps, self.g_grad)
            if self._figures_at is None or self._figures_at[0] != key:
                self._figures_at = (key, self._compute_figures())
            return dict(self._figures_at[1])

    def _compute_figures(self) -> dict:
        with self.lock:
            self._materialise()
            out = {"step": self.g_steps, "d_steps": self.d_steps}
            last = {}
            for h in self.history:
                last.update({k: v for k, v in h.items() if k != "step"})
            out.update(last)
            if self.g_grad is not None:
                out["g_grad"] = self.g_grad   # the mean arrow of the last field view drawn
            if self.has_modes:
                data = self.trainer.data
                out.update(toy_figures(self.generate(self.metric_z, data_units=True), data.modes, data.mode_std))
                out["n_modes"] = len(data.modes)
            return out

    def record_figures(self) -> dict:
        """figures(), kept in the curve history (the curves view draws these)."""
        with self.lock:
            f = self.figures()
            if not self.figure_history or self.figure_history[-1]["step"] != f["step"]:
                self.figure_history.append(f)
                if len(self.figure_history) > MAX_HISTORY:
                    self.figure_history = self.figure_history[::2]
            return f

    # ------------------------------------------------------------------------------------ views
    def _g_gradients(self, x: torch.Tensor) -> np.ndarray:
        """-d loss_G / dx at generated points x: the direction D pushes each point."""
        D = self.trainer.D
        x = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            D.requires_grad_(False)
            try:
                loss = self.trainer.loss.g_loss(D(x))
                (grad,) = torch.autograd.grad(loss * len(x), x)
            finally:
                D.requires_grad_(True)
        return -grad.numpy()

    @torch.no_grad()
    def _heat(self) -> np.ndarray:
        s = self.trainer.D(self.heat_grid).float()
        if scores_are_probabilities(self.config.loss):
            v = torch.sigmoid(s)
        elif self.config.loss == "lsgan":
            v = s.clamp(0, 1)
        else:  # critics: only the ordering means something, so spread this frame's scores over [0, 1]
            lo, hi = torch.quantile(s, 0.02), torch.quantile(s, 0.98)
            v = ((s - lo) / (hi - lo).clamp_min(1e-6)).clamp(0, 1)
        return v.view(HEAT_RES, HEAT_RES).numpy()

    def render(self, size: int = 360, views: tuple[str, ...] = ("field", "manifold", "curves"),
               curves_width: int | None = None) -> dict:
        """The views as uint8 RGB arrays: field and manifold size x size, the curves curves_width (default: size)
        wide and 2/3 of size high."""
        with self.lock:
            out = {}
            if "field" in views:
                out["field"] = self.render_field(size)
            if "manifold" in views:
                out["manifold"] = self.render_manifold(size)
            if "curves" in views:
                out["curves"] = self.render_curves(curves_width or size, size * 2 // 3)
            return out

    def render_field(self, size: int = 360, arrows: bool = True) -> np.ndarray:
        from PIL import Image, ImageDraw

        with self.lock:
            heat = self._heat()
            rgb = HEAT_FAKE + (HEAT_REAL - HEAT_FAKE) * heat[..., None]
            img = Image.fromarray(rgb.astype(np.uint8)).resize((size, size), Image.BILINEAR)
            canvas = np.array(img)
            dot = marker_size(size)
            draw_markers(canvas, self._to_pixels(self.real_shown, size), REAL_RGB, "disc", dot)
            with torch.no_grad():
                fake_t = self.shown_G(self.fixed_z)
            fake_px = self._to_pixels(fake_t.numpy(), size)
            draw_markers(canvas, fake_px, FAKE_RGB, "square", dot + 2)
            img = Image.fromarray(canvas)
            if arrows:
                g = self._g_gradients(fake_t[:N_ARROWS])
                norms = np.linalg.norm(g, axis=1)
                self.g_grad = float(norms.mean())
                draw = ImageDraw.Draw(img)
                start = fake_px[:N_ARROWS]
                unit = np.stack([g[:, 0], -g[:, 1]], 1) / np.maximum(norms, 1e-30)[:, None]  # image y points down
                end = start + unit * arrow_lengths(norms, size)[:, None]
                width, head = (2, size / 70) if size >= 400 else (1, 4.0)
                for (ax, ay), (bx, by) in zip(start.tolist(), end.tolist()):
                    if (ax, ay) != (bx, by):
                        draw.line((ax, ay, bx, by), fill=ARROW_RGB, width=width)
                        _arrow_head(draw, ax, ay, bx, by, head, width)
                _label(draw, (4, size - FONT_PX - 10), f"arrows (log scale): mean gradient {_short(self.g_grad)}")
            return np.asarray(img)

    def render_manifold(self, size: int = 360) -> np.ndarray:
        from PIL import Image, ImageDraw

        with self.lock:
            canvas = np.full((size, size, 3), 250, np.uint8)
            draw_markers(canvas, self._to_pixels(self.real_shown, size), MANIFOLD_REAL_RGB, "disc", marker_size(size))
            with torch.no_grad():
                pts = self._to_pixels(self.shown_G(self.manifold_z).numpy(), size)
            img = Image.fromarray(canvas)
            draw = ImageDraw.Draw(img)
            pts = np.clip(pts, -size, 2 * size)
            width = 1   # the mesh's 21 x 21 lines: thicker ones hid the real points behind them
            if len(self.manifold_shape) == 1:
                draw.line([tuple(p) for p in pts.tolist()], fill=FAKE_RGB, width=3 if size >= 400 else 2)
            else:
                n = self.manifold_shape[0]
                grid = pts.reshape(n, n, 2)
                for i in range(n):
                    draw.line([tuple(p) for p in grid[i].tolist()], fill=FAKE_RGB, width=width)
                    draw.line([tuple(p) for p in grid[:, i].tolist()], fill=FAKE_RGB, width=width)
            return np.asarray(img)

    def render_curves(self, width: int = 360, height: int = 240) -> np.ndarray:
        """D's and G's losses, and modes covered (share of all modes), high-quality share, reverse KL: one panel
        above the other, or side by side when the view is at least twice as wide as high."""
        from PIL import Image, ImageDraw

        with self.lock:
            self._materialise()
            img = Image.new("RGB", (width, height), (255, 255, 255))
            draw = ImageDraw.Draw(img)
            wide = width >= 2 * height
            first = (0, 0, width // 2, height) if wide else (0, 0, width, height // 2)
            second = (width // 2, 0, width, height) if wide else (0, height // 2, width, height)
            series = {}
            for key in ("loss_d", "loss_g"):
                pts = [(h["step"], h[key]) for h in self.history if key in h and math.isfinite(h[key])]
                if pts:
                    series[key] = np.array(pts, np.float64)
            marks = [c["step"] for c in self.changes]
            title = "losses"
            if self.changes:
                last = self.changes[-1]
                title += "   " + ", ".join(f"{LIVE_LABELS.get(k, k)} {v:g}" for k, v in last.items()
                                           if k != "step") + f" from step {last['step']}"
            _panel(draw, first, series, title, markers=marks)
            if self.has_modes:
                n_modes = len(self.trainer.data.modes)
                fh = self.figure_history
                series = {}
                if fh:
                    steps = np.array([f["step"] for f in fh], np.float64)
                    series["modes"] = np.stack([steps, [f["modes_covered"] / n_modes for f in fh]], 1)
                    series["high_quality"] = np.stack([steps, [f["high_quality"] for f in fh]], 1)
                    series["reverse_kl"] = np.stack([steps, [min(f["reverse_kl"] / math.log(n_modes), 1.0)
                                                             for f in fh]], 1)
                label = (f"modes {fh[-1]['modes_covered']}/{n_modes}  hq {fh[-1]['high_quality']:.0%}  "
                         f"rKL {fh[-1]['reverse_kl']:.2f}") if fh else "modes covered"
                _panel(draw, second, series, label, y_range=(0.0, 1.0), markers=marks)
            else:
                x, y = second[0] + 8, second[1] + 8
                draw.text((x, y), "modes covered, high quality, reverse KL:", fill=(90, 90, 90), font=_font())
                draw.text((x, y + FONT_PX + 4), "only for data with known modes (ring8, grid25)", fill=(90, 90, 90),
                          font=_font())
            return np.asarray(img)

    def _to_pixels(self, pts: np.ndarray, size: int) -> np.ndarray:
        return to_pixels(pts, self.bounds, size)

    # ------------------------------------------------------------------------------------ snapshot
    def snapshot(self, size: int = 360, figures: bool = True, frame: bool = False) -> dict:
        """Everything a viewer shows: the views, the figures and a status line. figures=False reuses the last
        mode figures (they cost as much as a view: a live viewer refreshes them a few times a second only).
        frame=True adds "frame": the views laid out for the page by compose_frame (curves drawn at its width)."""
        with self.lock:
            f = self.record_figures() if figures or not self.figure_history else self.recent_figures()
            views = self.render(size, curves_width=2 * size + FRAME_GAP if frame else None)
            if self.g_grad is not None and "field" in views:
                f["g_grad"] = self.g_grad
            out = {"views": views, "figures": f, "status": self.status_line(f)}
            if frame:
                out["frame"] = compose_frame(views)
            return out

    def recent_figures(self) -> dict:
        """The figures last recorded (the curves' latest point) with the current step and losses: what a live
        viewer shows between two recomputations of the mode figures, at no cost."""
        with self.lock:
            if not self.figure_history:
                return self.figures()
            self._materialise()
            f = {**self.figure_history[-1], "step": self.g_steps, "d_steps": self.d_steps}
            for h in self.history[-4:]:
                f.update({k: v for k, v in h.items() if k != "step"})
            return f

    def status_line(self, f: dict | None = None) -> str:
        f = f or self.figures()
        parts = [f"step {f['step']}", f"D updates {f['d_steps']}"]
        for key, label in (("loss_d", "loss D"), ("loss_g", "loss G")):
            if key in f:
                parts.append(f"{label} {f[key]:.3f}")
        if "modes_covered" in f:
            parts.append(f"modes {f['modes_covered']}/{f['n_modes']}, high quality {f['high_quality']:.0%}, "
                         f"reverse KL {f['reverse_kl']:.2f}")
        if "g_grad" in f:
            parts.append(f"mean arrow (G's gradient) {_short(f['g_grad'])}")
        if self.diverged:
            parts.append(self.diverged)
        return " · ".join(parts)


# ------------------------------------------------------------------------------------------ drawing helpers
def _manifold_noise(z_dim: int, z_dist: str, n: int = 21) -> tuple[torch.Tensor, tuple]:
    """A line (1-D noise) or an n x n grid over the first two noise dimensions (the others held at 0)."""
    lim = 1.0 if z_dist == "uniform" else 2.5
    axis = torch.linspace(-lim, lim, n if z_dim > 1 else 201)
    if z_dim == 1:
        return axis[:, None], (len(axis),)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    z = torch.zeros(n * n, z_dim)
    z[:, 0], z[:, 1] = gx.flatten(), gy.flatten()
    return z, (n, n)


def page_frame(pg: Playground, figures: bool = True, size: int = VIEW_SIZE) -> tuple[np.ndarray, str]:
    """The page's one picture and its status line: D's view and G's manifold side by side, each `size` px wide,
    the curves under them (compose_frame: three abreast would be ~400 px each on a 1400 px page). figures=False
    reuses the last mode figures (they cost as much as a view)."""
    snap = pg.snapshot(size, figures=figures, frame=True)
    return snap["frame"], snap["status"]


def compose_frame(views: dict, gap: int = FRAME_GAP) -> np.ndarray:
    """The page's picture: field and manifold side by side, the curves under them. Two views a row, not three: on a
    1400 px page three side by side get about 400 px each, too small for the back of a room; stacked, each is as
    wide as the views are drawn (480 px at the Playground tab's size). Curves narrower than the row are centred."""
    field, manifold, curves = views["field"], views["manifold"], views["curves"]
    top = np.concatenate([field, np.full((field.shape[0], gap, 3), 255, np.uint8), manifold], axis=1)
    w = top.shape[1]
    bottom = np.full((curves.shape[0], w, 3), 255, np.uint8)
    x = max(0, (w - curves.shape[1]) // 2)
    bottom[:, x: x + curves.shape[1]] = curves[:, :w]
    return np.concatenate([top, np.full((gap, w, 3), 255, np.uint8), bottom], axis=0)


def arrow_lengths(norms: np.ndarray, size: int) -> np.ndarray:
    """Arrow lengths in pixels for gradient sizes, on one fixed log scale (ARROW_MIN_GRAD: nothing, ARROW_MAX_GRAD
    and more: ARROW_MAX_LEN of the view). Fixed, not rescaled to each frame's largest gradient: otherwise the
    arrows of a run whose gradients vanish look as long as a healthy run's."""
    lo, hi = math.log10(ARROW_MIN_GRAD), math.log10(ARROW_MAX_GRAD)
    share = (np.log10(np.maximum(np.asarray(norms, np.float64), 1e-30)) - lo) / (hi - lo)
    return np.clip(share, 0.0, 1.0) * ARROW_MAX_LEN * size


def _font(size: int = FONT_PX):
    from gan.viz import label_font

    return label_font(size)


def _label(draw, xy, text: str) -> None:
    """Text on a pale box, readable on any heatmap colour."""
    x, y = xy
    box = draw.textbbox((x + 4, y + 3), text, font=_font())
    draw.rectangle((x, y, box[2] + 4, box[3] + 4), fill=(255, 255, 255))
    draw.text((x + 4, y + 3), text, fill=(20, 20, 20), font=_font())   # not ARROW_RGB: tests count arrow pixels


def _arrow_head(draw, ax, ay, bx, by, length: float = 4.0, width: int = 1) -> None:
    dx, dy = bx - ax, by - ay
    n = math.hypot(dx, dy)
    if n < 3:
        return
    ux, uy = dx / n, dy / n
    for sx, sy in ((-uy, ux), (uy, -ux)):
        draw.line((bx, by, bx - length * (ux - 0.6 * sx), by - length * (uy - 0.6 * sy)), fill=ARROW_RGB,
                  width=width)


def _panel(draw, box, series: dict, title: str, y_range: tuple | None = None, markers=(),
           styles: dict | None = None) -> None:
    """One plot: the series (step, value) as lines in their CURVE_STYLES (colour and solid / dashed / dotted; or
    `styles`, the same shape), a legend that shows each line's style, and a dashed grey line at each step in
    `markers` (live changes, as the Train tab's loss plot marks them)."""
    font = _font()
    x0, y0, x1, y1 = box
    row = FONT_PX + 4
    left, right, top, bottom = x0 + PLOT_LEFT, x1 - PLOT_RIGHT, y0 + row + 2, y1 - row - 2
    draw.rectangle((left, top, right, bottom), outline=(200, 200, 200))
    draw.text((x0 + 6, y0 + 1), title, fill=(40, 40, 40), font=font)
    if not series:
        return
    all_steps = np.concatenate([s[:, 0] for s in series.values()])
    all_vals = np.concatenate([s[:, 1] for s in series.values()])
    s_lo, s_hi = float(all_steps.min()), float(max(all_steps.max(), all_steps.min() + 1))
    if y_range is None:
        v_lo, v_hi = float(np.percentile(all_vals, 1)), float(np.percentile(all_vals, 99))
        if v_hi - v_lo < 1e-6:
            v_lo, v_hi = v_lo - 0.5, v_hi + 0.5
    else:
        v_lo, v_hi = y_range
    grey = (90, 90, 90)
    draw.text((x0 + 2, top), _short(v_hi), fill=grey, font=font)
    draw.text((x0 + 2, bottom - FONT_PX - 2), _short(v_lo), fill=grey, font=font)
    for step in markers:
        if s_lo <= step <= s_hi:
            mx = round(left + (step - s_lo) / (s_hi - s_lo) * (right - left))
            for y in range(top + 1, bottom, 6):
                draw.line((mx, y, mx, min(y + 3, bottom - 1)), fill=MARKER_RGB, width=1)
    legend_x = left
    for key, s in series.items():
        colour, style, name = (styles or CURVE_STYLES).get(key, ((0, 0, 0), "solid", key))
        if len(s) > 2 * (right - left):  # at most two points per pixel column
            s = s[np.linspace(0, len(s) - 1, 2 * (right - left)).astype(int)]
        px = left + (s[:, 0] - s_lo) / (s_hi - s_lo) * (right - left)
        py = bottom - (np.clip(s[:, 1], v_lo, v_hi) - v_lo) / (v_hi - v_lo) * (bottom - top)
        if len(s) == 1:
            draw.ellipse((px[0] - 3, py[0] - 3, px[0] + 3, py[0] + 3), fill=colour)
        else:
            _styled_line(draw, px, py, colour, style, phase_from=left)
        ly = bottom + 3 + FONT_PX // 2 + 1   # the legend: a sample of each line, then its name, under the plot
        _styled_line(draw, np.array([legend_x, legend_x + 26.0]), np.array([ly, ly], float), colour, style,
                     phase_from=legend_x)
        draw.text((legend_x + 30, bottom + 3), name, fill=(40, 40, 40), font=font)
        legend_x += 30 + draw.textlength(name, font=font) + 14
    step_text = f"step {int(s_hi)}"
    step_x = right - draw.textlength(step_text, font=font)
    if step_x > legend_x - 10:   # a narrow panel keeps its legend, not the last step
        draw.text((step_x, bottom + 3), step_text, fill=grey, font=font)


LINE_DASHES = {"solid": None, "dashed": (10, 5), "dotted": (4, 3)}   # (on, off) pixels along x


def _styled_line(draw, px: np.ndarray, py: np.ndarray, colour, style: str, phase_from: float = 0.0) -> None:
    """A polyline 2 px wide, solid, dashed or dotted: the dashes follow x (a loss curve that zigzags between two
    points a pixel apart stays one dash), so a few dozen draw calls draw a whole curve."""
    dash = LINE_DASHES[style]
    if dash is None:
        draw.line(list(zip(px.tolist(), py.tolist())), fill=colour, width=2)
        return
    on, off = dash
    cols = np.arange(math.ceil(px[0]), math.floor(px[-1]) + 1, dtype=np.float64)   # one point per pixel column too,
    x = np.concatenate([px, cols])                                                # so sparse points still dash
    order = np.argsort(x, kind="stable")
    x, y = x[order], np.concatenate([py, np.interp(cols, px, py)])[order]
    lit = (x - phase_from) % (on + off) < on
    edges = np.flatnonzero(np.diff(lit.astype(np.int8))) + 1
    for run_x, run_y, run_lit in zip(np.split(x, edges), np.split(y, edges), np.split(lit, edges)):
        if run_lit[0]:
            if len(run_x) == 1:
                draw.point((float(run_x[0]), float(run_y[0])), fill=colour)
            else:
                draw.line(list(zip(run_x.tolist(), run_y.tolist())), fill=colour, width=2)


def _short(v: float) -> str:
    return f"{v:.2g}" if abs(v) < 1000 else f"{v:.0e}"
