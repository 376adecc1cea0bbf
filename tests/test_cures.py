"""The three cures for mode collapse: packing (PacGAN, --pack), the minibatch standard deviation (--mbstd) and the
R1 penalty (--r1). D's shapes, training with each on 2-D points and on MNIST with a tiny DCGAN, model files that
rebuild and score one sample, older files without the keys, every refusal (library, command line, pages), and the
Playground and Train tab carrying the settings from the page to the run."""
from __future__ import annotations

import copy
import dataclasses
import json
import time

import pytest
import torch

from gan.config import ModelConfig, TrainConfig
from gan.errors import FieldError, GanInputError
from gan.layers import MinibatchStd, as_packs, mbstd_group, pack_samples
from gan.models import build_discriminator
from tests.conftest import in_process

TINY = dict(g_width=8, d_width=8, z_dim=16, batch_size=16, device="cpu", log_every=1)
TINY_2D = dict(dataset="ring8", g_width=16, d_width=16, batch_size=32, device="cpu", log_every=1)
CURES = {"pack": dict(pack=2), "mbstd": dict(mbstd=True), "r1": dict(r1=1.0),
         "all": dict(pack=4, mbstd=True, r1=0.5)}


@pytest.fixture(scope="module")
def mnist():
    """The bundled digits, decoded once for the module (each Trainer gets its own shallow copy)."""
    from gan.data import load_dataset

    return load_dataset("mnist")


def _trainer(cfg: TrainConfig, ds=None):
    from gan.trainer import Trainer

    return Trainer(cfg, dataset=None if ds is None else copy.copy(ds))


# ------------------------------------------------------------------------------------------------ shapes
def _first(module: torch.nn.Module, kind) -> torch.nn.Module:
    return next(m for m in module.modules() if isinstance(m, kind))


@pytest.mark.parametrize("pack", [1, 2, 4])
def test_a_packed_d_takes_pack_times_the_input(pack):
    mlp = build_discriminator(ModelConfig(arch="mlp", kind="points", z_dim=2, d_width=16, pack=pack))
    assert _first(mlp, torch.nn.Linear).in_features == 2 * pack
    for channels, size in ((1, 28), (3, 32)):
        cfg = ModelConfig(arch="dcgan", channels=channels, image_size=size, d_width=8, pack=pack)
        assert _first(build_discriminator(cfg), torch.nn.Conv2d).in_channels == channels * pack
        pro = build_discriminator(dataclasses.replace(cfg, arch="progan"))
        assert pro.from_rgb[0].in_channels == channels * pack
        x = torch.randn(8, channels, size, size)
        assert build_discriminator(cfg)(pack_samples(x, pack)).shape == (8 // pack,)


def test_mbstd_adds_one_feature_before_the_last_layers():
    plain = build_discriminator(ModelConfig(arch="mlp", kind="points", z_dim=2, d_width=16, depth=3))
    mb = build_discriminator(ModelConfig(arch="mlp", kind="points", z_dim=2, d_width=16, depth=3, mbstd=True))
    widths = [m.in_features for m in mb.body if isinstance(m, torch.nn.Linear)]
    assert widths == [2, 16, 17] and [m.in_features for m in plain.body if isinstance(m, torch.nn.Linear)] == [2, 16, 16]
    cfg = ModelConfig(arch="dcgan", d_width=8)
    conv = build_discriminator(dataclasses.replace(cfg, mbstd=True)).features[0]
    assert conv.in_channels == build_discriminator(cfg).features[0].in_channels + 1
    head = build_discriminator(ModelConfig(arch="dcgan", d_width=8, d_head="conv", mbstd=True)).head[0]
    assert head.in_channels == 8 * 2 + 1
    # D's weight names are those of a D without it (and of files written before the cures existed), plus the
    # running mean of the new feature.
    plain_keys = set(build_discriminator(cfg).state_dict())
    extra = set(build_discriminator(dataclasses.replace(cfg, mbstd=True)).state_dict()) - plain_keys
    assert len(extra) == 1 and extra.pop().endswith(".running_std")
    assert set(build_discriminator(dataclasses.replace(cfg, pack=2)).state_dict()) == plain_keys


def test_packing_lays_samples_side_by_side_and_one_sample_becomes_copies():
    x = torch.arange(6 * 2, dtype=torch.float32).view(6, 2)
    packed = pack_samples(x, 3)
    assert packed.shape == (2, 6) and torch.equal(packed[1], torch.cat([x[3], x[4], x[5]]))
    imgs = torch.randn(4, 3, 5, 5)
    p = pack_samples(imgs, 2)
    assert torch.equal(p[1, 3:], imgs[3]) and torch.equal(p[0, :3], imgs[0])
    assert as_packs(p, 2, 3) is p                            # packs pass as they are
    copies = as_packs(imgs, 2, 3)                            # single samples: a pack of copies each
    assert copies.shape == (4, 6, 5, 5) and torch.equal(copies[2, :3], copies[2, 3:])
    with pytest.raises(GanInputError, match="does not split into packs of 4"):
        pack_samples(imgs[:3], 4)
    with pytest.raises(GanInputError, match="3 channels"):
        as_packs(torch.randn(2, 5, 5, 5), 2, 3)


def test_minibatch_std_is_the_groups_spread_and_a_running_mean_in_eval():
    assert [mbstd_group(n) for n in (1, 2, 3, 4, 6, 8, 7)] == [1, 2, 3, 4, 3, 4, 7]
    layer = MinibatchStd()
    x = torch.randn(8, 5)
    out = layer(x)
    assert out.shape == (8, 6) and torch.equal(out[:, :5], x)
    groups = [x[[i, i + 2, i + 4, i + 6]] for i in range(2)]   # strided groups of 4, as in the paper's code
    want = [torch.sqrt(g.var(0, unbiased=False) + 1e-8).mean() for g in groups]
    assert torch.allclose(out[:, 5], torch.stack(want).repeat(4), atol=1e-6)
    assert torch.allclose(layer.running_std, 0.1 * torch.stack(want).mean())
    layer.eval()
    one, many = layer(x[:1]), layer(x)
    assert torch.allclose(one[0, 5], layer.running_std[0]) and torch.allclose(many[:1], one)  # batch-independent
    conv = MinibatchStd()(torch.randn(4, 3, 2, 2))
    assert conv.shape == (4, 4, 2, 2) and (conv[:, 3] == conv[0, 3, 0, 0]).all()


# ----------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("name", list(CURES))
def test_each_cure_trains_on_2d_points(name):
    t = _trainer(TrainConfig(**TINY_2D, **CURES[name]))
    for _ in range(3):
        t.step()
    entry = t.flush()
    assert all(torch.isfinite(torch.tensor(v)) for v in entry.values())
    assert ("r1" in entry) == ("r1" in CURES[name])
    assert t.model_config.pack == t.cfg.pack and t.model_config.mbstd == t.cfg.mbstd


@pytest.mark.parametrize("name", list(CURES))
def test_each_cure_trains_a_tiny_mnist_dcgan(name, mnist):
    t = _trainer(TrainConfig(**TINY, **CURES[name]), mnist)
    for _ in range(2):
        t.step()
    entry = t.flush()
    assert entry["step"] == 2 and all(torch.isfinite(torch.tensor(v)) for v in entry.values())
    assert ("r1" in entry) == ("r1" in CURES[name])


@pytest.mark.parametrize("loss", ["wgan-gp", "hinge"])
def test_packs_go_through_the_gradient_penalty_and_other_losses(loss):
    t = _trainer(TrainConfig(**TINY_2D, loss=loss, pack=2, r1=1.0))
    values = t.d_step()
    assert ("gp" in values) == (loss == "wgan-gp") and values["r1"] >= 0
    assert torch.isfinite(t.g_step()["loss_g"])


def test_r1_is_safe_where_ds_gradient_is_zero():
    """A D whose weights are all zero has a zero gradient at every point: R1 is then 0, and so is its gradient
    (a squared norm, no square root), so nothing becomes NaN."""
    t = _trainer(TrainConfig(**TINY_2D, r1=10.0, ema=0.0))
    with torch.no_grad():
        for p in t.D.parameters():
            p.zero_()
    values = t.d_step()
    assert float(values["r1"]) == 0.0
    assert all(torch.isfinite(p).all() for p in t.D.parameters())


def test_r1_pulls_ds_gradient_at_real_data_down():
    """A large gamma makes D flatter at the real points than no R1 does: the median over three seeds of the ratio
    (measured here 0.005 to 0.06 after 30 D steps) is well under a fifth."""
    def grad_norm(r1: float, seed: int) -> float:
        t = _trainer(TrainConfig(**TINY_2D, r1=r1, seed=seed))
        for _ in range(30):
            t.d_step()
        x = t.data.data[:256].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(t.D(x).sum(), x)
        return float(g.pow(2).sum(1).mean())
    ratios = sorted(grad_norm(100.0, seed) / grad_norm(0.0, seed) for seed in range(3))
    assert ratios[1] < 0.2, ratios


# -------------------------------------------------------------------------------------------------- files
@pytest.mark.parametrize("cure", [dict(pack=2), dict(mbstd=True), dict(pack=4, mbstd=True)])
def test_a_file_from_a_cured_run_rebuilds_and_its_d_scores_one_sample(tmp_path, mnist, cure):
    from gan.pipeline import load_generator

    t = _trainer(TrainConfig(**TINY, **cure), mnist)
    t.step()
    path = tmp_path / "g.safetensors"
    t.save_model(path)
    pipe = load_generator(path)
    assert (pipe.config.pack, pipe.config.mbstd) == (t.cfg.pack, t.cfg.mbstd)
    images = pipe.decode(pipe.latents([0, 1, 2]))
    one, three = pipe.score(images[:1]), pipe.score(images)
    assert one.shape == (1,) and three.shape == (3,) and torch.isfinite(torch.tensor(three)).all()
    assert abs(one[0] - three[0]) < 1e-5               # a sample's score does not depend on its batch
    if t.cfg.pack > 1:                                 # scored as a pack of copies of itself
        with torch.no_grad():
            copies = torch.cat([images[:1]] * t.cfg.pack, dim=1)
            assert abs(float(pipe.discriminator(copies)[0]) - one[0]) < 1e-5


def test_a_checkpoint_of_a_cured_run_resumes(tmp_path):
    from gan.rundir import TrainingSession

    cfg = TrainConfig(**TINY_2D, pack=2, mbstd=True, r1=1.0, steps=2, checkpoint_every=2, sample_every=1000,
                      tensorboard=False)
    s = TrainingSession(cfg, tmp_path / "run")
    while not s.done:
        s.advance()
    s.checkpoint_now()
    before = {k: v.clone() for k, v in s.trainer.D.state_dict().items()}
    resumed = TrainingSession(dataclasses.replace(cfg, steps=3), tmp_path / "run", resume=True)
    assert resumed.trainer.cfg.pack == 2 and resumed.trainer.cfg.mbstd and resumed.trainer.cfg.r1 == 1.0
    assert all(torch.equal(before[k], v) for k, v in resumed.trainer.D.state_dict().items())
    resumed.advance()
    assert resumed.step == 3


def test_old_metadata_without_the_keys_loads_as_before(tmp_path, mnist):
    """A file written before pack and mbstd existed (its config JSON lacks them) rebuilds D as it was: pack 1,
    no minibatch std, and its D scores."""
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    from gan.pipeline import load_generator

    raw = json.loads(ModelConfig().to_json())
    assert raw["pack"] == 1 and raw["mbstd"] is False
    del raw["pack"], raw["mbstd"]
    cfg = ModelConfig.from_dict(raw)
    assert (cfg.pack, cfg.mbstd) == (1, False)
    t = _trainer(TrainConfig(**TINY), mnist)
    new = tmp_path / "new.safetensors"
    t.save_model(new)
    with safe_open(str(new), framework="pt") as f:
        meta = f.metadata()
    old_cfg = json.loads(meta["model_config"])
    del old_cfg["pack"], old_cfg["mbstd"]
    old = tmp_path / "old.safetensors"
    save_file(load_file(str(new)), str(old), metadata={**meta, "model_config": json.dumps(old_cfg)})
    pipe = load_generator(old)
    assert (pipe.config.pack, pipe.config.mbstd) == (1, False)
    assert pipe.score(pipe.decode(pipe.latents([5]))).shape == (1,)
    # A run folder's saved TrainConfig from before the cures: the cures are off.
    assert TrainConfig.from_dict({"dataset": "ring8"}).pack == 1


# ------------------------------------------------------------------------------------------- bad input
BAD = [  # (settings, field, words)
    (dict(pack=0), "pack", "--pack must be a whole number from 1 to 16, got 0"),
    (dict(batch_size=8, pack=16), "pack", "--pack must not be larger than the batch size (8)"),
    (dict(pack=3), "pack", "--pack must divide the batch size (16) into whole packs"),
    (dict(r1=-1), "r1", "--r1 must be a number from 0 to 1000"),
    (dict(mbstd=True, arch="progan"), "mbstd", "--mbstd must be off for progan: its D already has a minibatch"),
    (dict(mbstd=True, batch_size=4, pack=4), "mbstd", "--mbstd needs at least 2 inputs of D per batch"),
    (dict(pack=2, conditional=True), "pack", "--pack must be 1 for a class-conditional model"),
]


@pytest.mark.parametrize("settings, field, words", BAD)
def test_bad_cure_settings_are_refused_by_the_library(settings, field, words):
    from gan.trainer import resolve_config

    with pytest.raises(FieldError) as e:
        resolve_config(TrainConfig(**{**TINY, **settings}))
    assert e.value.field == field and words in str(e.value)


def test_the_model_config_refuses_what_the_networks_cannot_be():
    for bad, words in ((dict(pack=0), "pack must be an integer"), (dict(pack=17), "pack must be an integer"),
                       (dict(pack=2, conditional=True, n_classes=10), "pack must be 1 for a class-conditional"),
                       (dict(mbstd=True, arch="progan"), "mbstd must be off for progan"),
                       (dict(mbstd=1), "mbstd must be true or false")):
        with pytest.raises(GanInputError, match=words):
            ModelConfig(**bad).validate()
    with pytest.raises(GanInputError, match="'pack' should be int"):
        ModelConfig.from_dict({"pack": "2"})


@pytest.mark.parametrize("settings, field, words", BAD)
def test_bad_cure_flags_exit_2_with_one_line(settings, field, words):
    flags = ["--g-width", "8", "--d-width", "8", "--z-dim", "16", "--device", "cpu", "--dry-run"]
    flags += ["--batch-size", str(settings.get("batch_size", 16))]
    for key, value in settings.items():
        if key != "batch_size":
            flags += [f"--{key.replace('_', '-')}"] if value is True else [f"--{key}", str(value)]
    r = in_process("gan.train", *flags)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr


def test_the_flags_read_as_documented():
    from gan.train import build_parser

    text = build_parser().format_help()
    for flag in ("--pack N", "--mbstd", "--r1 GAMMA"):
        assert flag in text
    args = build_parser().parse_args(["--pack", "2", "--mbstd", "--r1", "0.5"])
    assert (args.pack, args.mbstd, args.r1) == (2, True, 0.5)
    args = build_parser().parse_args([])
    assert (args.pack, args.mbstd, args.r1) == (1, False, 0.0)


# ----------------------------------------------------------------------------------------------- Playground
def test_the_playground_trains_with_pack_mbstd_and_r1():
    from gan.playground import Playground, PlaygroundConfig

    pg = Playground(PlaygroundConfig(dataset="ring8", g_width=16, d_width=16, d_depth=2, batch_size=32, pack=2,
                                     mbstd=True, r1=1.0))
    t = pg.trainer
    assert (t.model_config.pack, t.model_config.mbstd, t.cfg.r1) == (2, True, 1.0)
    pg.step_both(5)
    pg.step_d(2)
    pg.step_g(2)
    views = pg.render(size=120)     # D's heatmap and G's arrows score single points: packs of copies
    assert views["field"].shape == (120, 120, 3)
    f = pg.figures()
    assert f["step"] == 7 and torch.isfinite(torch.tensor(f["loss_d"]))
    with pytest.raises(FieldError, match="--pack must divide the batch size"):
        Playground(PlaygroundConfig(batch_size=32, pack=3))


def test_the_playground_tab_resets_with_the_cures_and_names_them_by_label(tmp_path):
    import gradio as gr

    from gan.ui import playground_tab as tab
    from gan.ui.app import AppContext

    ctx = AppContext(catalog=None, runs_dir=tmp_path / "runs")
    try:
        form = ["ring8", None, None, "bce", "adam", 1e-3, 1e-3, 1, 32, 2, "normal", 2, 16, 2, 16, False, 0, 10.0,
                None]
        kept = tab.on_cures(ctx, 2, True, 1.0)
        status, _ = tab.on_reset(ctx, *form, cures=kept)
        t = tab.session_for(ctx, None).pg.trainer
        assert status["step"] == 0 and (t.cfg.pack, t.cfg.mbstd, t.cfg.r1) == (2, True, 1.0)
        for cures, words in (({"pack": 3}, "Packing (PacGAN): samples per D input must divide the batch size"),
                             ({"r1": -1}, "R1 penalty (gamma) must be a number from 0 to 1000"),
                             ({"mbstd": "yes"}, "Minibatch std in D must be on or off")):
            with pytest.raises(gr.Error, match=words.replace("(", r"\(").replace(")", r"\)")):
                tab.on_reset(ctx, *form, cures=cures)
        assert tab._form_values(tab.PlaygroundConfig(pack=2))["pack"] == 2
    finally:
        ctx.close()


# ------------------------------------------------------------------------------------------------ Train tab
def test_the_train_tab_offers_the_cures_and_refuses_bad_ones_by_label(tmp_path):
    import gradio as gr

    from gan.ui import train_tab as tab
    from gan.ui.app import AppContext

    values = tab.preset_values(tab.DEFAULT_PRESET)
    assert (values["pack"], values["mbstd"], values["r1"]) == (1, False, 0.0)
    assert len(tab.on_preset(None, tab.DEFAULT_PRESET)) == len(tab.PRESET_FIELDS) + 3
    form = {k: values[k] for k in tab.PRESET_FIELDS}    # as the page sends the preset's form
    ctx = AppContext(catalog=None, runs_dir=tmp_path / "runs")
    try:
        for batch, cures, words in (
                (64, {"pack": 3}, "Packing (PacGAN): samples per D input must divide the batch size (64)"),
                (64, {"pack": 0.5}, "Packing (PacGAN): samples per D input must be a whole number"),
                (64, {"r1": -1}, "R1 penalty (gamma) must be a number from 0 to 1000"),
                (16, {"mbstd": True, "pack": 16}, "Minibatch std in D needs at least 2 inputs of D")):
            with pytest.raises(gr.Error) as e:
                tab.on_start(ctx, tab.DEFAULT_PRESET, **{**form, "batch_size": batch}, device="cpu",
                             cures=tab.on_cures(ctx, **{"pack": 1, "mbstd": False, "r1": 0.0, **cures}))
            assert words in str(e.value), str(e.value)
        assert not ctx.has("runs") or not ctx.runs.active_runs()
    finally:
        ctx.close()


def test_the_pages_carry_the_cures_from_the_form_to_the_run(browser, weights_dir, tmp_path):
    """In a real browser: the cure fields reach the library through the click's first step (a State), while the
    endpoints keep their arguments. The Playground resets with pack 2, mbstd and R1; the Train tab's Start refuses a
    pack that does not divide the batch, naming the field by its label."""
    from playwright.sync_api import expect

    from gan.ui.app import build_demo, launch_kwargs
    from tests.conftest import free_port

    demo = build_demo(weights_dir, tmp_path, device="cpu", tabs=["gan.ui.playground_tab", "gan.ui.train_tab"])
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **launch_kwargs())
    try:
        info = demo.get_api_info()["named_endpoints"]
        assert not {"pack", "mbstd", "r1", "cures"} & {p["parameter_name"] for p in
                                                       info["/start_training"]["parameters"]}
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        expect(page.locator("#pg-view img")).to_be_visible(timeout=30_000)
        page.get_by_text("Data and model (press Reset with my settings to apply)").click()
        page.locator("#pg-pack input").fill("2")
        page.locator("#pg-mbstd input").check()
        page.locator("#pg-r1 input").fill("1")
        page.locator("#pg-reset").click()
        reg = demo.ganscope.playgrounds

        def cured():
            sessions = [reg.session(k, create=False) for k in reg.keys()]
            return any(s is not None and s.pg.trainer.cfg.pack == 2 and s.pg.trainer.cfg.mbstd
                       and s.pg.trainer.cfg.r1 == 1.0 for s in sessions)
        end = time.monotonic() + 30
        while not cured():
            assert time.monotonic() < end, "the Playground did not reset with the cures"
            time.sleep(0.05)

        page.get_by_role("tab", name="Train").click()
        pack = page.locator("#train-pack input")
        expect(pack).to_be_visible(timeout=30_000)
        pack.fill("3")
        page.locator("#train-start").click()
        expect(page.get_by_text("must divide the batch size (64) into whole packs").first).to_be_visible(
            timeout=30_000)
        assert not demo.ganscope.runs.active_runs()
        page.close()
    finally:
        demo.ganscope.playgrounds.close()
        demo.close()


@pytest.mark.parametrize("settings", [dict(r1=100.0), dict(loss="wgan-gp", gp_lambda=100.0)])
def test_a_playground_d_deeper_or_shallower_than_g_is_the_one_penalised(settings):
    """The Playground rebuilds D when its depth differs from G's (Trainer.replace_discriminator): the penalties
    must act on that D. They once went to the D it replaced, which no optimizer trained, so R1 and the gradient
    penalty changed nothing there."""
    from gan.playground import Playground, PlaygroundConfig

    def d_weights(**changes):
        pg = Playground(PlaygroundConfig(dataset="ring8", g_depth=3, d_depth=2, g_width=16, d_width=16,
                                         batch_size=32, **changes))
        assert pg.trainer.d_penalty_fn is pg.trainer.D and pg.trainer.d_step_fn is pg.trainer.D
        for _ in range(3):
            pg.trainer.d_step()
        return torch.cat([p.detach().flatten() for p in pg.trainer.D.parameters()])

    off = {k: (0.0 if k == "r1" else 0.01 if k == "gp_lambda" else v) for k, v in settings.items()}
    assert (d_weights(**settings) - d_weights(**off)).abs().max() > 1e-4
