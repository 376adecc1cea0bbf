"""The training loop on real data: steps learn, runs resume exactly, files round-trip, NaN stops a run safely."""
import json

import numpy as np
import pytest
import torch

import gan
from gan.config import TrainConfig
from gan.errors import FieldError, GanInputError, TrainingDiverged
from gan.losses import LOSSES
from gan.rundir import TrainingSession, read_metrics
from gan.run_files import CHECKPOINT, MODEL_FILE
from gan.trainer import Trainer, resolve_config

TINY = dict(g_width=8, d_width=8, batch_size=16, z_dim=16, log_every=1, sample_every=1000, checkpoint_every=1000)


def tiny(**kw) -> TrainConfig:
    return TrainConfig(**{**TINY, **kw})


def params(module):
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("dataset", ["mnist", "grid25"])
def test_a_few_steps_change_the_weights_and_keep_losses_finite(loss, dataset):
    t = Trainer(tiny(dataset=dataset, loss=loss, n_critic=2))
    g0, d0 = params(t.G), params(t.D)
    for _ in range(3):
        t.step()
    entry = t.flush()
    assert entry["step"] == 3
    assert all(np.isfinite(v) for k, v in entry.items())
    assert not torch.equal(g0, params(t.G)) and not torch.equal(d0, params(t.D))
    assert not torch.equal(params(t.G_ema), g0)  # the EMA follows G


def test_conditional_spectral_norm_hinge_steps():
    t = Trainer(tiny(loss="hinge", conditional=True, spectral_norm=True))
    t.step()
    assert t.model_config.n_classes == 10 and np.isfinite(t.flush()["loss_d"])


@pytest.mark.parametrize("kw", [dict(dataset="mnist"), dict(dataset="mnist", conditional=True, spectral_norm=True,
                                                              loss="hinge"), dict(dataset="ring8")])
def test_without_ema_the_ema_generator_is_g_exactly(kw):
    """--ema 0: the saved (EMA) generator is G itself after every step, parameters and buffers (batch norm's
    running statistics, spectral norm's vectors) alike."""
    t = Trainer(tiny(ema=0.0, **kw))
    for _ in range(2):
        t.step()
        g, e = t.G.state_dict(), t.G_ema.state_dict()
        assert g.keys() == e.keys() and all(torch.equal(g[k], e[k]) for k in g)
    assert not t.G_ema.training                      # the copy leaves the EMA G in eval mode


def test_folder_and_csv_datasets_train(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    t = Trainer(tiny(dataset=f"folder:{folder}", image_size=32))
    assert t.data.data.shape == (20, 3, 32, 32)
    t.step()
    csv = tmp_path / "pts.csv"
    csv.write_text("x,y\n" + "\n".join(f"{x},{x * 2}" for x in rng.normal(size=50)))
    t = Trainer(tiny(dataset=f"csv:{csv}"))
    t.step()
    assert np.isfinite(t.flush()["loss_g"])


def test_same_seed_same_losses_on_cpu():
    def losses():
        t = Trainer(tiny(seed=7))
        for _ in range(3):
            t.step()
        return t.flush()

    a, b = losses(), losses()
    assert {k: v for k, v in a.items() if k not in ("img_per_s", "time")} == \
           {k: v for k, v in b.items() if k not in ("img_per_s", "time")}


def run_to(out, steps, **kw):
    s = TrainingSession(tiny(steps=steps, checkpoint_every=4, **kw), out, resume=True)
    while not s.done:
        s.advance()
    s.finish()
    return s


def losses_of(path):
    return [(e["step"], e["loss_d"], e["loss_g"], e["d_real"]) for e in read_metrics(path) if "loss_d" in e]


@pytest.mark.parametrize("loss,augment", [("bce", ""), ("wgan-gp", ""), ("bce", "translation,cutout")])
def test_interrupted_and_resumed_run_reproduces_the_uninterrupted_one(tmp_path, loss, augment):
    run_to(tmp_path / "straight", 10, loss=loss, augment=augment)
    # Interrupted: trains to 10 steps but "crashes" after step 6, with a checkpoint at step 4.
    s = TrainingSession(tiny(steps=10, checkpoint_every=4, loss=loss, augment=augment), tmp_path / "broken",
                        resume=True)
    for _ in range(6):
        s.advance()
    del s  # kill -9: nothing more is written
    resumed = run_to(tmp_path / "broken", 10, loss=loss, augment=augment)
    assert resumed.resumed_from == 4
    assert losses_of(tmp_path / "straight") == losses_of(tmp_path / "broken")
    steps = [e["step"] for e in read_metrics(tmp_path / "broken")]
    assert steps == list(range(1, 11))  # no holes, no duplicates
    a = gan.load_generator(tmp_path / "straight" / MODEL_FILE)(seeds=[1, 2], output_type="np")
    b = gan.load_generator(tmp_path / "broken" / MODEL_FILE)(seeds=[1, 2], output_type="np")
    assert np.array_equal(a, b)


def test_finished_run_resumed_with_more_steps_trains_on(tmp_path):
    run_to(tmp_path, 4)
    s = run_to(tmp_path, 7)
    assert s.resumed_from == 4 and s.step == 7
    assert [e["step"] for e in read_metrics(tmp_path)] == list(range(1, 8))


def test_resume_on_an_empty_folder_starts_fresh_and_a_second_start_is_refused(tmp_path):
    s = run_to(tmp_path / "new", 2)
    assert s.resumed_from == 0 and (tmp_path / "new" / CHECKPOINT).is_file()
    with pytest.raises(GanInputError, match="--resume"):
        TrainingSession(tiny(steps=2), tmp_path / "new", resume=False)


def test_model_file_round_trip_is_bit_identical(tmp_path):
    t = Trainer(tiny(conditional=True, spectral_norm=True, loss="hinge"))
    t.step()
    t.save_model(tmp_path / "m.safetensors")
    pipe = gan.load_generator(tmp_path / "m.safetensors")
    for k, v in t.G_ema.state_dict().items():
        assert torch.equal(v, pipe.generator.state_dict()[k]), k
    for k, v in t.D.state_dict().items():
        assert torch.equal(v, pipe.discriminator.state_dict()[k]), k
    assert pipe.info["dataset"] == "mnist" and pipe.info["steps"] == 1
    z = pipe.latents([5, 6])
    with torch.no_grad():
        expected = t.G_ema.eval()(z, torch.tensor([0, 1]))
    assert torch.equal(pipe.decode(z, [0, 1]), expected)


def test_pipeline_outputs_and_seeds():
    t = Trainer(tiny())
    pipe = gan.pipeline.pipeline_from_modules(t.model_config, t.G_ema)
    images = pipe(seeds=[1, 2])
    assert [im.size for im in images] == [(28, 28), (28, 28)]
    arr = pipe(seeds=[1, 2, 1], output_type="np")
    assert arr.shape == (3, 28, 28) and arr.dtype == np.uint8
    assert np.array_equal(arr[0], arr[2]) and not np.array_equal(arr[0], arr[1])
    assert np.array_equal(pipe(seeds=[2 ** 32 - 1], output_type="np"), pipe(seeds=[2 ** 32 - 1], output_type="np"))
    for bad in ([-1], [2 ** 32], [1.5]):
        with pytest.raises(GanInputError):
            pipe(seeds=bad)
    for psi in (0, 1.5, float("nan")):
        with pytest.raises(GanInputError):
            pipe(seeds=[1], truncation=psi)


def test_points_pipeline_returns_data_units():
    t = Trainer(tiny(dataset="grid25"))
    pipe = gan.pipeline.pipeline_from_modules(t.model_config, t.G_ema)
    pts = pipe(seeds=range(10))
    assert pts.shape == (10, 2) and pts.dtype == np.float32
    assert t.model_config.point_std[0] == pytest.approx(2.83, abs=0.05)  # grid25 spans -4..4


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    s = TrainingSession(tiny(steps=20, checkpoint_every=4), tmp_path, resume=False)
    for _ in range(5):
        s.advance()
    good = (tmp_path / CHECKPOINT).read_bytes()
    bad_loss = LOSSES["bce"].__class__(lambda r, f: r.mean() * float("nan"), LOSSES["bce"].g_loss, {})
    monkeypatch.setattr(s.trainer, "loss", bad_loss)
    with pytest.raises(TrainingDiverged, match="NaN"):
        for _ in range(5):
            s.advance()
    assert (tmp_path / CHECKPOINT).read_bytes() == good
    resumed = TrainingSession(tiny(steps=20), tmp_path, resume=True)
    assert resumed.step == 4


def test_live_hyperparameter_changes_apply_and_survive_resume(tmp_path):
    s = TrainingSession(tiny(steps=10, checkpoint_every=2), tmp_path, resume=False)
    s.advance()
    assert s.trainer.set_hyperparameters(lr_g=1e-3, n_critic=2) == {"lr_g": 1e-3, "n_critic": 2}
    assert s.trainer.opt_g.param_groups[0]["lr"] == 1e-3
    with pytest.raises(GanInputError):
        s.trainer.set_hyperparameters(lr_d=-1)
    s.advance()
    resumed = TrainingSession(tiny(steps=10), tmp_path, resume=True)
    assert resumed.trainer.opt_g.param_groups[0]["lr"] == 1e-3 and resumed.cfg.n_critic == 2


def test_resume_with_a_changed_live_setting_equals_changing_it_without_a_stop(tmp_path):
    """`--resume --augment ...`: the same run as one that turned augmentation on at that step and never stopped,
    and later resumes keep it on."""
    straight = TrainingSession(tiny(steps=8, checkpoint_every=4), tmp_path / "straight", resume=False)
    for _ in range(4):
        straight.advance()
    straight.trainer.set_hyperparameters(augment="cutout,translation", lr_g=1e-3)
    while not straight.done:
        straight.advance()
    straight.finish()
    run_to(tmp_path / "resumed", 4)
    s = TrainingSession(tiny(steps=8), tmp_path / "resumed", resume=True,
                        changes={"augment": "cutout,translation", "lr_g": 1e-3, "n_critic": 1})
    assert s.trainer.augment_policy == ("cutout", "translation") and s.trainer.opt_g.param_groups[0]["lr"] == 1e-3
    while not s.done:
        s.advance()
    s.finish()
    assert losses_of(tmp_path / "straight") == losses_of(tmp_path / "resumed")
    changes = [e for e in read_metrics(tmp_path / "resumed") if e.get("event") == "change"]
    assert changes == [{"step": 4, "event": "change", "augment": "cutout,translation", "lr_g": 1e-3}]  # n_critic: same
    again = TrainingSession(tiny(steps=10), tmp_path / "resumed", resume=True)  # no flags: the change holds
    assert again.cfg.augment == "cutout,translation" and again.trainer.augment_policy == ("cutout", "translation")
    assert again.trainer.opt_g.param_groups[0]["lr"] == 1e-3
    assert json.loads((tmp_path / "resumed" / "config.json").read_text())["train"]["augment"] == "cutout,translation"
    off = TrainingSession(tiny(steps=10), tmp_path / "resumed", resume=True, changes={"augment": ""})
    assert off.trainer.augment_policy == ()
    with pytest.raises(GanInputError, match="translation, cutout"):
        TrainingSession(tiny(steps=10), tmp_path / "resumed", resume=True, changes={"augment": "flip"})


def test_points_refuse_augmentation_on_resume(tmp_path):
    run_to(tmp_path, 2, dataset="grid25")
    with pytest.raises(GanInputError, match="2-D"):
        TrainingSession(tiny(steps=4, dataset="grid25"), tmp_path, resume=True, changes={"augment": "cutout"})


@pytest.mark.parametrize("bad,match", [
    (dict(batch_size=0), "batch-size"), (dict(lr_g=-1e-4), "lr-g"), (dict(lr_d=float("nan")), "lr-d"),
    (dict(steps=0), "steps"), (dict(loss="gan"), "bce"), (dict(arch="resnet"), "dcgan"),
    (dict(dataset="imagenet"), "mnist"), (dict(batch_size=20_000), "larger than the dataset"),
    (dict(image_size=48), "28, 32, 64"), (dict(n_critic=0), "n-critic"), (dict(conditional=True, dataset="ring8"),
                                                                           "conditional"),
    (dict(augment="flip"), "translation, cutout"), (dict(augment="cutout", dataset="grid25"), "2-D")])
def test_bad_settings_get_a_clear_message(bad, match):
    with pytest.raises(GanInputError, match=match):
        Trainer(tiny(**bad))


@pytest.mark.parametrize("choice, field, words", [
    (dict(arch="dcgan"), "arch", "must be mlp for 2-D point data"), (dict(arch="progan"), "arch", "must be mlp"),
    (dict(conditional=True), "conditional", "must be off for 2-D point data"),
    (dict(augment="translation"), "augment", "must be off for 2-D point data")])
def test_point_data_refuses_image_settings_by_name_instead_of_dropping_them(choice, field, words):
    """resolve_config is the one place that refuses (the command line, the Train tab and the run manager all call
    it): the error names the field, so each front end can say it in its own words."""
    for dataset in ("grid25", "csv:points.csv"):
        with pytest.raises(FieldError) as e:
            resolve_config(tiny(dataset=dataset, **choice))
        assert e.value.field == field and words in e.value.rule, e.value
        assert str(e.value).startswith(f"--{field} "), e.value
    resolve_config(tiny(dataset="mnist", **choice))  # images take them all


def test_no_architecture_picks_mlp_for_points_and_dcgan_for_images():
    assert resolve_config(tiny(dataset="ring8")).arch == "mlp"
    assert resolve_config(tiny(dataset="mnist")).arch == "dcgan"
    assert resolve_config(tiny(dataset="ring8", arch="mlp", augment="")).arch == "mlp"


def test_config_json_records_the_resolved_settings(tmp_path):
    run_to(tmp_path, 1, loss="wgan-gp")
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["train"]["n_critic"] == 5 and saved["train"]["gp_lambda"] == 10.0
    assert saved["model"]["arch"] == "dcgan"


def test_the_gradient_penalty_runs_d_eagerly_under_compile():
    """torch.compile's aot_autograd has no double backward: with --compile the penalty still calls the bare D
    (tests/test_cuda.py trains it compiled on a GPU; compiling here would cost half a minute)."""
    from gan.config import TrainConfig
    from gan.trainer import Trainer

    t = Trainer(TrainConfig(dataset="grid25", loss="wgan-gp", compile=True, device="cpu"))
    assert t.d_penalty_fn is t.D and t.d_step_fn is not t.D
