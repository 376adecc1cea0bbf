"""The 2-D playground library: stepping D or G alone, reset reproducibility, live changes, every view."""
import dataclasses

import numpy as np
import pytest
import torch

from gan.errors import GanInputError
from gan.playground import Playground, PlaygroundConfig, points_dataset, toy_figures

SMALL = dict(g_width=32, d_width=32, g_depth=2, d_depth=2, batch_size=64)


def params(m):
    return torch.cat([p.detach().flatten().clone() for p in m.parameters()])


def test_step_d_moves_only_d_and_step_g_only_g():
    pg = Playground(PlaygroundConfig(dataset="ring8", **SMALL))
    g0, d0 = params(pg.trainer.G), params(pg.trainer.D)
    pg.step_d()
    assert torch.equal(g0, params(pg.trainer.G)) and not torch.equal(d0, params(pg.trainer.D))
    d1 = params(pg.trainer.D)
    pg.step_g()
    assert not torch.equal(g0, params(pg.trainer.G)) and torch.equal(d1, params(pg.trainer.D))
    assert (pg.step, pg.d_steps) == (1, 1)
    pg.step_both(3)
    assert (pg.step, pg.d_steps) == (4, 4)


def test_reset_with_the_same_seed_replays_the_same_run():
    cfg = PlaygroundConfig(dataset="grid25", seed=3, **SMALL)
    a = Playground(cfg)
    a.step_both(5)
    first = a.generate()
    a.reset()
    assert a.step == 0
    a.step_both(5)
    np.testing.assert_array_equal(first, a.generate())
    b = Playground(PlaygroundConfig(dataset="grid25", seed=4, **SMALL))
    b.step_both(5)
    assert not np.array_equal(first, b.generate())


def test_live_learning_rate_and_n_critic_changes():
    pg = Playground(PlaygroundConfig(dataset="ring8", **SMALL))
    changed = pg.set_hyperparameters(lr_g=5e-4, n_critic=3)
    assert changed == {"lr_g": 5e-4, "n_critic": 3}
    assert pg.trainer.opt_g.param_groups[0]["lr"] == 5e-4
    pg.step_both(1)
    assert pg.d_steps == 3
    with pytest.raises(GanInputError):
        pg.set_hyperparameters(lr_d=-1)


@pytest.mark.parametrize("z_dim,z_dist", [(1, "uniform"), (2, "normal"), (2, "uniform")])
def test_views_for_each_noise_setting(z_dim, z_dist):
    pg = Playground(PlaygroundConfig(dataset="moons", z_dim=z_dim, z_dist=z_dist, **SMALL))
    pg.step_both(2)
    snap = pg.snapshot(size=200)
    v = snap["views"]
    assert v["field"].shape == (200, 200, 3) and v["field"].dtype == np.uint8
    assert v["manifold"].shape == (200, 200, 3)
    assert v["curves"].shape[1] == 200
    # the manifold draws G's lines in the generated points' colour, the field its points and D's two-colour heatmap
    from gan.viz import FAKE_RGB
    fake = np.array(FAKE_RGB)
    assert (np.abs(v["manifold"].astype(int) - fake).sum(-1) < 10).sum() > 5
    assert (np.abs(v["field"].astype(int) - fake).sum(-1) < 10).sum() > 4
    assert "step 2" in snap["status"]


def test_arrows_point_where_d_says_real():
    """The gradient G receives raises D's score: a small move along the arrow increases D at that point."""
    pg = Playground(PlaygroundConfig(dataset="ring8", **SMALL))
    pg.step_d(20)
    with torch.no_grad():
        x = pg.trainer.G(pg.fixed_z[:64])
    g = torch.from_numpy(pg._g_gradients(x))
    with torch.no_grad():
        before = pg.trainer.D(x)
        after = pg.trainer.D(x + 1e-3 * g / g.norm(dim=1, keepdim=True))
    assert (after > before).float().mean() > 0.9


def test_separate_depths_and_widths_for_g_and_d():
    pg = Playground(PlaygroundConfig(dataset="ring8", g_depth=1, d_depth=4, g_width=16, d_width=48, batch_size=32))
    n_linear = lambda m: sum(isinstance(x, torch.nn.Linear) for x in m.modules())
    assert n_linear(pg.trainer.G) == 2 and n_linear(pg.trainer.D) == 5
    pg.step_both(2)
    pg.reset()  # the same construction again, bit for bit
    assert n_linear(pg.trainer.D) == 5


def test_own_points_csv_and_bad_settings(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(300, 2)) * [3, 0.5] + [10, -2]
    pg = Playground(PlaygroundConfig(dataset="drawn", **SMALL), dataset=points_dataset(pts))
    pg.step_both(2)
    out = pg.generate(data_units=True)
    assert out.shape == (512, 2) and np.isfinite(out).all()
    assert "modes" not in pg.snapshot(120)["status"]
    csv = tmp_path / "p.csv"
    csv.write_text("x,y\n" + "\n".join(f"{a},{b}" for a, b in pts))
    Playground(PlaygroundConfig(dataset=f"csv:{csv}", **SMALL)).step_both(1)
    with pytest.raises(GanInputError):
        Playground(PlaygroundConfig(dataset="mnist"))
    with pytest.raises(GanInputError):
        Playground(PlaygroundConfig(dataset="ring8", z_dim=0))
    with pytest.raises(GanInputError):
        Playground(PlaygroundConfig(dataset="ring8", d_width=100_000))
    with pytest.raises(GanInputError):
        points_dataset(np.array([[1.0, np.nan], [0, 0]]))


def test_toy_figures_on_known_points():
    from gan.data import load_grid25

    ds = load_grid25()
    on_20 = np.repeat(ds.modes[:20], 10, axis=0)
    f = toy_figures(on_20, ds.modes, ds.mode_std)
    assert f["modes_covered"] == 20 and f["high_quality"] == 1.0
    assert f["reverse_kl"] == pytest.approx(np.log(25 / 20), abs=1e-3)
    far = toy_figures(on_20 + 0.5, ds.modes, ds.mode_std)
    assert far["modes_covered"] == 0 and far["high_quality"] == 0.0


def test_arrows_are_drawn_on_one_fixed_scale():
    """The same gradient draws the same arrow whatever the other gradients are (it was rescaled to each frame's
    largest, so a vanishing gradient still drew a full-length arrow); none at all once it has vanished."""
    from gan.playground import ARROW_MAX_LEN, arrow_lengths

    alone = arrow_lengths(np.array([0.05]), 320)
    mixed = arrow_lengths(np.array([1e-6, 0.05, 50.0]), 320)
    assert mixed[1] == pytest.approx(alone[0]) and 0 < alone[0] < ARROW_MAX_LEN * 320
    assert mixed[0] == 0 and mixed[2] == pytest.approx(ARROW_MAX_LEN * 320)
    assert arrow_lengths(np.array([1e-3]), 320)[0] < arrow_lengths(np.array([0.1]), 320)[0]


def _arrow_pixels(pg) -> int:
    from gan.playground import ARROW_RGB

    field = pg.render_field(320)
    return int((field == np.array(ARROW_RGB, np.uint8)).all(-1).sum())


def test_the_vanishing_gradients_lesson_shows_its_arrows_vanish():
    """Measured (seed 0): the too-strong D's gradients fall from 0.015 at step 0 to 7e-5 by step 10, a healthy run's
    rise to 0.35. With the fixed scale the lesson's arrows disappear while a healthy run keeps visible ones, and the
    mean size is written in numbers (status line, figures)."""
    from gan import lessons

    strong = lessons.playground_for("Discriminator too strong: vanishing gradients")
    before = _arrow_pixels(strong)
    assert before > 150                                     # visible at the start: the lesson shows them shrink
    strong.step_both(20)
    healthy = Playground(dataclasses.replace(strong.config, loss="bce", lr_g=1e-3, lr_d=1e-3, n_critic=1))
    healthy.step_both(20)
    assert _arrow_pixels(strong) < 0.1 * before
    assert _arrow_pixels(healthy) > 150
    snap = strong.snapshot(200)
    assert snap["figures"]["g_grad"] < 1e-3 < healthy.snapshot(200)["figures"]["g_grad"]
    assert "mean arrow (G's gradient)" in snap["status"]


def test_a_live_change_draws_a_marker_on_both_curve_panels():
    from gan.playground import MARKER_RGB, PLOT_LEFT, PLOT_RIGHT

    pg = Playground(PlaygroundConfig(dataset="ring8", **SMALL))
    for _ in range(4):
        pg.step_both(5)
        pg.record_figures()
    width = 300
    plain = pg.render_curves(width, 200)
    assert pg.set_hyperparameters(lr_g=5e-4) == {"lr_g": 5e-4}
    assert pg.changes == [{"step": 20, "lr_g": 5e-4}]
    for _ in range(4):
        pg.step_both(5)
        pg.record_figures()
    curves = pg.render_curves(width, 200)
    grey = (curves == np.array(MARKER_RGB, np.uint8)).all(-1)          # (H, W)
    # plots span x = PLOT_LEFT .. width - PLOT_RIGHT; losses from step 1 to 40, the figures from step 5 to 40
    for rows, first in ((slice(0, 100), 1), (slice(100, 200), 5)):
        x = round(PLOT_LEFT + (20 - first) / (40 - first) * (width - PLOT_RIGHT - PLOT_LEFT))
        assert grey[rows, x - 1:x + 2].any(1).sum() > 20                  # a dashed line at step 20
        assert not (plain[rows] == np.array(MARKER_RGB, np.uint8)).all(-1)[:, x - 1:x + 2].any(1).sum() > 5
    pg.reset()
    assert pg.changes == []


# ------------------------------------------------------------------------------------------ every visitor's own
def _until(predicate, timeout=30.0):
    import time

    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.02)


class _Clock:
    """A clock the test moves: an hour passes in no time."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_playgrounds_limit_self_pause_and_drop():
    """At most max_playing train at once (one more gets the message; a step by hand is allowed); an unpolled
    playing session pauses itself after 60 s, freeing its place; 30 idle minutes drop a session and its memory.
    No thread exists before the first Play, and no networks before a session's first use."""
    import threading

    from gan.playground_manager import PlaygroundManager, PlaygroundsBusy

    clock = _Clock()
    reg = PlaygroundManager(max_playing=1, clock=clock)
    threads = threading.active_count()
    a, b = reg.session("a"), reg.session("b")
    assert reg.session("a") is a and len(reg) == 2 and threading.active_count() == threads
    assert not a.built and a.status()["step"] == 0 and not a.built      # a status poll builds nothing
    try:
        reg.play("a")
        _until(lambda: a.pg.step > 0)
        with pytest.raises(PlaygroundsBusy, match="1 playground is playing on this server; press Play again"):
            reg.play("b")
        assert not b.playing and "press Play again" in b.status()["message"] and not b.built  # refused: cheap
        b.single("both")                                  # by hand: always allowed
        assert b.pg.step == 1 and reg.playing() == 1

        clock.t += 61                                     # no page has polled "a" for a minute
        _until(lambda: a.parked and not a.playing)
        assert "no page looked at this Playground" in a.notice
        reg.play("b")                                     # its place is free
        assert b.playing and b.status()["message"] == ""
        b.pause()
        assert b.parked

        clock.t += 31 * 60                                # half an hour: both are dropped
        fresh = reg.session("c")
        assert reg.keys() == ["c"] and fresh.pg.step == 0
        assert a._closed and a.parked and reg.pool.threads == 1
        assert reg.session("a").pg.step == 0              # a dropped visitor comes back to a fresh Playground
    finally:
        reg.close()


def test_many_visitors_press_play_at_once():
    """30 visitors press Play together with room for 3: exactly 3 play, the others get the message, nothing else
    fails, and every visitor still answers."""
    import threading

    from gan.playground_manager import PlaygroundManager, PlaygroundsBusy

    reg = PlaygroundManager(max_playing=3)
    results, start = {}, threading.Barrier(30)

    def visitor(i):
        start.wait()
        try:
            reg.play(f"v{i}")
            results[i] = "playing"
        except PlaygroundsBusy as e:
            results[i] = str(e)
        except Exception as e:  # noqa: BLE001 - the test reports any other failure
            results[i] = f"failed: {e!r}"

    workers = [threading.Thread(target=visitor, args=(i,)) for i in range(30)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert sorted(results) == list(range(30))
        assert list(results.values()).count("playing") == 3 and reg.playing() == 3
        assert {v for v in results.values() if v != "playing"} == {
            "3 playgrounds are playing on this server; press Play again in a moment"}
        assert all(reg.session(f"v{i}", create=False).status()["step"] >= 0 for i in range(30))
    finally:
        reg.close()


def test_visitor_ids_and_bound_pages():
    """A browser keeps an id the server issued; one in another form gets a new id, one of ours in form that the
    server never issued (or dropped) is simply a visitor with a fresh Playground. A page bound to an id acts on
    that visitor's Playground; an unbound session (an API client) is a visitor of its own."""
    from gan.playground_manager import PlaygroundManager

    reg = PlaygroundManager()
    new = reg.issue(None)
    assert len(new) == 32 and reg.issue(new) == new and reg.issue("0" * 32) == "0" * 32
    for bad in ("", "x" * 32, "A" * 32, 42, ["a"], "0" * 10_000):
        assert reg.issue(bad) != bad and len(reg.issue(bad)) == 32
    assert reg.bind("page-1", new) == new and reg.bind("page-2", new) == new   # a reload, a second tab
    assert reg.visitor_for("page-1") == reg.visitor_for("page-2") == "v:" + new
    assert reg.visitor_for("client-1") != reg.visitor_for("client-2")
    assert not reg.is_browser(reg.visitor_for("client-1")) and reg.is_browser("v:" + new)
    assert len(reg) == 0                                  # binding creates nothing: the first call does
    reg.close()


def test_a_few_workers_train_many_playing_visitors_by_turns():
    """Six playing visitors on a pool of two workers: two threads, every one of them moves on, and a pause takes
    effect at once (its step then stays where it is). The named point datasets are made once and shared."""
    import threading

    from gan.playground_manager import PlaygroundManager

    reg = PlaygroundManager(max_playing=6, workers=2)
    small = dict(dataset="ring8", **SMALL)
    threads = threading.active_count()
    try:
        sessions = [reg.session(f"v{i}") for i in range(6)]
        for i, s in enumerate(sessions):
            s.reset(PlaygroundConfig(seed=i, **small))
            reg.play(f"v{i}")
        _until(lambda: all(s.pg.step >= 3 for s in sessions), timeout=60)
        assert reg.pool.threads == 2 and threading.active_count() == threads + 2
        first = sessions[0]
        first.pause()
        assert first.parked and not first.playing
        stopped = first.pg.step
        _until(lambda: all(s.pg.step >= 6 for s in sessions[1:]), timeout=60)
        assert first.pg.step == stopped
        data = {s.pg.trainer.data.data.data_ptr() for s in sessions}
        assert len(data) == 1                              # one copy of ring8's 50,000 points for all six
    finally:
        reg.close()


def test_status_figures_are_computed_once_per_step(monkeypatch):
    """Polling a paused Playground recomputes nothing; a step (or a reset) does, once."""
    from gan.playground_manager import PlaygroundSession

    s = PlaygroundSession()
    s.reset(PlaygroundConfig(dataset="ring8", **SMALL))
    calls = []
    real = s.pg._compute_figures
    monkeypatch.setattr(s.pg, "_compute_figures", lambda: calls.append(1) or real())
    first = s.status()
    for _ in range(5):
        assert s.status() == first
    assert len(calls) == 1 and {"modes_covered", "high_quality", "reverse_kl", "lesson", "step"} <= set(first)
    s.single("both")
    assert s.status()["step"] == 1 and s.status()["step"] == 1 and len(calls) == 2
    s.close()


def test_the_playground_checks_its_numbers_with_clear_messages():
    """The library refuses what a form or a script may send: fractions in whole-number fields (never rounded),
    text, None, NaN and infinity, with the field's name and its limits."""
    from gan.errors import FieldError
    from gan.playground_manager import PlaygroundSession

    bad = [("g_depth", 2.5, "whole number from 1 to 8"), ("d_width", "wide", "whole number from 2 to 512"),
           ("z_dim", None, "whole number from 1 to 16"), ("g_width", float("nan"), "whole number"),
           ("batch_size", 2.5, "whole number"), ("batch_size", float("inf"), "whole number"),
           ("lr_g", "fast", "must be a number above 0"), ("lr_d", float("nan"), "above 0"),
           ("seed", -1, "whole number"), ("n_critic", 1.5, "whole number from 1 to 100"),
           ("spectral_norm", "yes", "on or off")]
    for field, value, words in bad:
        with pytest.raises(FieldError, match=words) as e:
            Playground(PlaygroundConfig(dataset="ring8", **{**SMALL, field: value}))
        assert e.value.field == field
    ok = Playground(PlaygroundConfig(dataset="ring8", **{**SMALL, "g_depth": 2.0, "seed": 3.0}))
    assert ok.config.g_depth == 2 and isinstance(ok.config.g_depth, int)
    s = PlaygroundSession()
    for value in (None, "x", float("nan"), 1.5):
        with pytest.raises(FieldError):
            s.set_hyperparameters(lr_g=1e-3, lr_d=1e-3, n_critic=value)
    assert s.set_hyperparameters(lr_g=5e-4, lr_d=1e-3, n_critic=2) == {"lr_g": 5e-4, "n_critic": 2}
    s.close()


def test_the_planes_bounds_are_viz_plot_bounds():
    """The Playground's square plane comes from gan.viz.plot_bounds (one place for a plot's bounds)."""
    from gan.viz import plot_bounds

    pg = Playground(PlaygroundConfig(dataset="spiral", **SMALL))
    x0, x1, y0, y1 = pg.bounds
    assert pg.bounds == plot_bounds(pg.trainer.data.data.numpy(), pad=0.1, square=True)
    assert x1 - x0 == pytest.approx(y1 - y0)



def test_a_crowd_of_watched_playgrounds_draws_fewer_frames_each():
    """Ten frames a second each for a few watching pages; for a class of 25 each Playground draws less often, so
    that the server draws at most FRAME_POLLS_PER_S frames a second in all and the rest of the CPU trains."""
    from gan.playground_manager import FRAME_POLLS_PER_S, FRAME_S, PlaygroundManager, frame_every

    assert frame_every(0) == frame_every(3) == FRAME_S
    assert 25 / frame_every(25) <= FRAME_POLLS_PER_S * 1.05 and frame_every(10_000) == 2.0
    manager = PlaygroundManager(max_playing=2, workers=1)
    try:
        assert manager.frame_every == FRAME_S
        for i in range(25):
            manager.session(f"s:page{i}").watched_at = manager._clock()     # 25 pages watching
        manager._swept_at = -1e9
        manager._sweep()
        assert manager.frame_every == frame_every(25) > FRAME_S
    finally:
        manager.close()
