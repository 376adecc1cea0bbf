"""Progressive growing: the step-driven schedule, the fade-in, exact resume, and a full-resolution saved model."""
import pytest
import torch

import gan
from gan.config import ModelConfig, TrainConfig
from gan.models import build_discriminator, build_generator
from gan.progan import schedule
from gan.rundir import TrainingSession
from gan.run_files import MODEL_FILE
from gan.trainer import Trainer

TINY = dict(dataset="mnist", arch="progan", g_width=4, d_width=4, batch_size=8, z_dim=8, log_every=1,
            sample_every=1000, checkpoint_every=1000)


def test_schedule_grows_twice_with_fades():
    T = 500
    assert schedule(0, T) == (0, 1.0)                  # stable at the base resolution
    assert schedule(100, T) == (1, 0.0)                # the 2x block starts fading in
    stage, alpha = schedule(150, T)
    assert stage == 1 and alpha == pytest.approx(0.5)
    assert schedule(200, T) == (1, 1.0)
    assert schedule(350, T)[0] == 2 and schedule(350, T)[1] == pytest.approx(0.5)
    assert schedule(499, T) == (2, 1.0) and schedule(T, T) == (2, 1.0)
    alphas = [schedule(s, T)[1] for s in range(100, 200)]
    assert alphas == sorted(alphas)                    # alpha only rises within a fade


@pytest.mark.parametrize("size,resolutions", [(28, (7, 14, 28)), (32, (8, 16, 32))])
def test_resolutions_and_full_size_outputs(size, resolutions):
    cfg = ModelConfig(arch="progan", image_size=size, z_dim=8, g_width=4, d_width=4)
    G, D = build_generator(cfg), build_discriminator(cfg)
    assert G.resolution == size and G.alpha == 1.0     # a fresh (loaded) model is at full resolution
    z = torch.randn(3, 8)
    for stage, r in enumerate(resolutions):
        for m in (G, D):
            m.stage, m.alpha = stage, 1.0
        x = G(z)
        assert x.shape == (3, 1, size, size) and D(x).shape == (3,)
        blocks = x.unfold(2, size // r, size // r).unfold(3, size // r, size // r)  # r x r blocks of pixels
        assert torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks))  # each block one value: r x r image


def test_a_fade_starts_where_the_previous_stage_ended():
    cfg = ModelConfig(arch="progan", image_size=28, z_dim=8, g_width=4, d_width=4)
    G, D = build_generator(cfg), build_discriminator(cfg)
    z, x = torch.randn(4, 8), torch.rand(4, 1, 28, 28) * 2 - 1
    G.stage, G.alpha, D.stage, D.alpha = 0, 1.0, 0, 1.0
    g0, d0 = G(z), D(x)
    G.stage, G.alpha, D.stage, D.alpha = 1, 0.0, 1, 0.0
    torch.testing.assert_close(G(z), g0)
    # D's new path is not yet in use at alpha 0 except through its average-pooled input: the same score
    torch.testing.assert_close(D(x), d0)
    G.alpha = 0.5
    assert not torch.allclose(G(z), g0)


def test_trainer_follows_the_schedule_and_resumes_exactly(tmp_path):
    t = Trainer(TrainConfig(steps=10, **TINY))
    seen = []
    for _ in range(10):
        t.step()
        seen.append((t.progress_info()["resolution"], t.progress_info()["alpha"]))
    assert [r for r, _ in seen][0] == 7 and seen[-1] == (28, 1.0) and {r for r, _ in seen} == {7, 14, 28}
    assert Trainer(TrainConfig(steps=10, **{**TINY, "arch": "dcgan"})).progress_info() is None

    def run(out, stop_at=None):
        s = TrainingSession(TrainConfig(steps=10, **{**TINY, "checkpoint_every": 3}), out, resume=True)
        while not s.done and (stop_at is None or s.step < stop_at):
            s.advance()
        s.save_checkpoint()
        return s

    whole = run(tmp_path / "a")
    run(tmp_path / "b", stop_at=4)          # interrupted in the first fade-in ...
    resumed = run(tmp_path / "b")           # ... and resumed from its checkpoint
    for p, q in zip(whole.trainer.G.parameters(), resumed.trainer.G.parameters()):
        assert torch.equal(p, q)
    whole.finish()
    pipe = gan.load_generator(tmp_path / "a" / MODEL_FILE)
    img = pipe(seeds=[0, 1], output_type="np")
    assert img.shape == (2, 28, 28)
    assert pipe.generator.resolution == 28 and pipe.generator.alpha == 1.0
