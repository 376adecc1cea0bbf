"""Rewind, fork and hand in a Playground run (gan.playground_timeline, gan.playground_handin): the library, the
session, and the endpoints of a real server."""
from __future__ import annotations

import time

import pytest
import torch
from PIL import Image

from gan import lessons
from gan.errors import GanInputError
from gan.playground import Playground
from gan.playground_handin import MAX_LINK_STEP, export_run, handin_query, parse_handin
from gan.playground_manager import PlaygroundSession
from gan.playground_timeline import Snapshot, Timeline

LESSON = "Mode collapse"


def _pg() -> Playground:
    return Playground(lessons.get(LESSON).playground)


def _weights(pg: Playground) -> list[torch.Tensor]:
    t = pg.trainer
    return [p.detach().clone() for m in (t.G, t.D, t.G_ema) for p in m.parameters()]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def _until(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.02)


def test_continuing_from_a_snapshot_reproduces_the_uninterrupted_run():
    straight = _pg()
    straight.step_both(120)
    branch = _pg()
    branch.step_both(120)
    branch.rewind(50)
    assert branch.step == 50 and branch.rewound
    branch.step_both(70)
    assert not branch.rewound
    assert _same(_weights(branch), _weights(straight))
    assert branch.figures()["reverse_kl"] == straight.figures()["reverse_kl"]
    # the fork dropped the old future and keeps its own snapshots from there
    assert branch.timeline.steps == straight.timeline.steps


def test_scrubbing_back_and_forth_keeps_the_latest_moment():
    pg = _pg()
    pg.step_both(60)                      # 60 is off the grid of 25: kept when the first rewind comes
    here = _weights(pg)
    pg.rewind(25)
    assert pg.step == 25 and pg.rewound and max(h["step"] for h in pg.history) <= 25
    assert not _same(_weights(pg), here)
    pg.rewind(60)
    assert pg.step == 60 and not pg.rewound and _same(_weights(pg), here)
    assert max(h["step"] for h in pg.history) == 60


def test_a_live_change_at_a_past_step_forks_there_and_rewind_restores_the_old_rate():
    pg = _pg()
    lr = pg.trainer.cfg.lr_g
    pg.step_both(50)
    pg.set_hyperparameters(lr_g=lr / 10)
    pg.step_both(25)
    pg.rewind(25)
    assert pg.trainer.cfg.lr_g == lr and pg.config.lr_g == lr
    assert pg.trainer.opt_g.param_groups[0]["lr"] == lr
    pg.set_hyperparameters(lr_g=lr / 2)
    assert not pg.rewound and pg.timeline.steps == [0, 25]
    with pytest.raises(GanInputError, match="never reached"):
        pg.rewind(75)


@pytest.mark.parametrize("step, words", [(5000, "never reached"), (13, "nearest are steps 0 and 25"),
                                         (2.5, "whole number"), ("x", "whole number"), (True, "whole number")])
def test_a_step_not_on_the_timeline_is_refused_and_changes_nothing(step, words):
    pg = _pg()
    pg.step_both(30)
    before, info = _weights(pg), pg.timeline_info()
    with pytest.raises(GanInputError, match=words):
        pg.rewind(step)
    assert pg.step == 30 and _same(_weights(pg), before) and pg.timeline_info() == info


def test_the_timeline_stays_within_its_memory_budget_and_keeps_the_whole_span():
    pg = _pg()
    one = pg.timeline.snapshots[0].nbytes
    pg.timeline = Timeline(every=5, budget_bytes=6 * one)
    pg._take_snapshot()
    pg.step_both(200)
    tl = pg.timeline
    assert tl.nbytes <= 6 * one and tl.steps[0] == 0 and 200 - tl.every < tl.steps[-1] <= 200
    assert tl.every > 5 and len(tl.steps) >= 3
    pg.rewind(0)                          # the moment it stood at is kept too, on the first rewind
    assert pg.timeline.steps[-1] == 200 and pg.timeline.nbytes <= 6 * one
    pg.rewind(200)
    assert pg.step == 200
    dropped = next(s for s in range(5, 200, 5) if s not in tl.steps)
    with pytest.raises(GanInputError, match="not kept"):
        pg.rewind(dropped)


def test_thinning_keeps_step_zero_and_the_latest():
    tl = Timeline(every=1, budget_bytes=10 * 4)
    for step in range(30):
        tl.add(Snapshot(step=step, d_steps=step, trainer={"w": torch.zeros(1)}, live={}))
    assert tl.steps[0] == 0 and tl.steps[-1] == 29 and tl.nbytes <= 40


# ----------------------------------------------------------------------------------------------- hand in
def test_a_link_round_trips_the_lesson_settings_changes_and_step():
    start = lessons.get(LESSON).playground
    import dataclasses

    mine = dataclasses.replace(start, seed=3, pack=2, spectral_norm=True)
    query, note = handin_query(mine, LESSON, 80, [{"step": 40, "lr_g": 0.0005}, {"step": 60, "n_critic": 2}])
    assert note == "" and "pg_seed=3" in query and "pg_step=80" in query
    from urllib.parse import parse_qsl

    h = parse_handin(dict(parse_qsl(query)))
    assert h.lesson == LESSON and h.step == 80 and h.config == mine
    assert h.changes == [{"step": 40, "lr_g": 0.0005}, {"step": 60, "n_critic": 2}]


@pytest.mark.parametrize("query, words", [
    ({"pg_lesson": "Nope", "pg_step": "5"}, "does not have"),
    ({"pg_step": str(MAX_LINK_STEP + 1)}, "over the limit"),
    ({"pg_step": "10", "pg_colour": "red"}, "does not know: colour"),
    ({"pg_step": "10", "pg_seed": "abc"}, "seed must be a whole number"),
    ({"pg_step": "10", "pg_lr_g": "-1"}, "lr_g"),
    ({"pg_step": "10", "pg_dataset": "csv:/etc/passwd"}, "data must be one of"),
    ({"pg_step": "10", "pg_changes": "5:beta1=0.1"}, "only lr_g, lr_d, n_critic"),
    ({"pg_lesson": LESSON}, "no step"),
])
def test_a_link_that_cannot_be_used_says_why(query, words):
    with pytest.raises(GanInputError, match=words):
        parse_handin(query)


def test_a_run_on_own_points_and_hand_steps_are_said_in_the_link():
    import dataclasses

    start = lessons.get(LESSON).playground
    with pytest.raises(GanInputError, match="own points"):
        handin_query(dataclasses.replace(start, dataset="drawn"), None, 10, [])
    _, note = handin_query(start, LESSON, 10, [], hand_steps=2)
    assert "does not replay" in note


def test_opening_a_link_replays_the_run_with_its_live_change_to_its_step():
    original = PlaygroundSession()
    try:
        original.reset(lessons.get(LESSON).playground, lesson=LESSON)
        for _ in range(30):
            original.single("both")
        original.set_hyperparameters(lr_d=0.0005)
        for _ in range(20):
            original.single("both")
        query, _ = original.handin_link()
        assert "pg_changes=30%3Alr_d%3D0.0005" in query and "pg_step=50" in query
        replay = PlaygroundSession()
        try:
            from urllib.parse import parse_qsl

            replay.open_handin(dict(parse_qsl(query)))
            replay.play()
            _until(lambda: replay.parked and not replay.playing)
            assert replay.pg.step == 50 and "step of the hand-in link" in replay.notice
            assert replay.pg.trainer.cfg.lr_d == 0.0005
            assert _same(_weights(replay.pg), _weights(original.pg))
        finally:
            replay.close()
    finally:
        original.close()


def test_export_draws_every_snapshot_and_leaves_the_run_where_it_stood(tmp_path):
    pg = _pg()
    pg.step_both(60)
    pg.rewind(25)
    before = _weights(pg)
    path = export_run(pg, "gif", tmp_path, name="mode-collapse")
    with Image.open(path) as gif:
        assert gif.n_frames == len(pg.timeline.steps) == 4
    assert pg.step == 25 and pg.rewound and _same(_weights(pg), before)
    with pytest.raises(GanInputError, match="gif or mp4"):
        export_run(pg, "avi", tmp_path)
    assert export_run(pg, "mp4", tmp_path).stat().st_size > 0


# ----------------------------------------------------------------------------------------------- a real server
def test_the_endpoints_rewind_export_and_open_a_link_on_the_callers_own_playground(tmp_path_factory):
    from gradio_client import Client

    from gan.ui.app import build_demo, launch_kwargs
    from tests.conftest import free_port

    demo = build_demo(tmp_path_factory.mktemp("w"), tmp_path_factory.mktemp("r"), device="cpu",
                      tabs=["gan.ui.playground_tab"])
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **launch_kwargs())
    try:
        a, b = Client(url, verbose=False), Client(url, verbose=False)
        for _ in range(55):
            a.predict(api_name="/playground_step")
        assert a.predict(api_name="/playground_timeline")["steps"] == [0, 25, 50]
        st = a.predict(25, api_name="/playground_rewind")
        assert st["step"] == 25 and "forks the run here" in st["message"]
        st = a.predict(13, api_name="/playground_rewind")
        assert st["step"] == 25 and "nearest are steps 0 and 25" in st["message"]
        assert b.predict(api_name="/playground_status")["step"] == 0          # b's own Playground
        gif, _, message = a.predict("gif", "", api_name="/playground_export")
        with Image.open(gif) as im:
            assert im.n_frames == 4, message
        _, link, _ = a.predict("link", "http://classroom.example/", api_name="/playground_export")
        assert link.startswith("http://classroom.example/?pg_lesson=Mode%20collapse") and "pg_step=25" in link
        b.predict(link, api_name="/playground_open_link")
        _until(lambda: b.predict(api_name="/playground_status")["step"] == 25 and
               not b.predict(api_name="/playground_status")["playing"])
        assert b.predict(api_name="/playground_status")["reverse_kl"] == \
            a.predict(api_name="/playground_status")["reverse_kl"]
        st = b.predict("?pg_step=99999999", api_name="/playground_open_link")
        assert "over the limit" in st["message"] and st["step"] == 25
        st = a.predict("pack", "2", api_name="/playground_compare")
        assert st["step"] == 0 and "Comparing A (pack 1) with B (pack 2)" in st["message"]
        st = a.predict("dataset", "grid25", api_name="/playground_compare")
        assert "shares its data and seed" in st["message"]
        assert b.predict(api_name="/playground_status")["step"] == 25        # b's Playground untouched
    finally:
        demo.ganscope.playgrounds.close()
        demo.close()


# ----------------------------------------------------------------------------------------------- compare
def test_a_compare_pair_steps_together_from_step_0_and_names_its_setting():
    from gan.playground_compare import compare_frame

    s = PlaygroundSession()
    try:
        s.reset(lessons.get(LESSON).playground, lesson=LESSON)
        for _ in range(10):
            s.single("both")
        st = s.compare("pack", "2")
        assert st["step"] == 0 and s.twin.step == 0 and s.twin.config.pack == 2 and s.pg.config.pack == 1
        assert s.twin.config.seed == s.pg.config.seed and s.twin_labels == ("pack 1", "pack 2")
        alone = _pg()
        for _ in range(30):
            s.single("both")
            alone.step_both(1)
        assert s.pg.step == s.twin.step == 30
        assert _same(_weights(s.pg), _weights(alone))            # A is the lesson's own run
        assert not _same(_weights(s.twin)[:4], _weights(alone)[:4])
        frame, text = compare_frame(s.pg, s.twin, *s.twin_labels)
        assert frame.shape[1] > 2 * 300 and "A: pack 1" in text and "B: pack 2" in text
        s.rewind(25)
        assert s.pg.step == s.twin.step == 25
        s.reset(lessons.get(LESSON).playground, lesson=LESSON)
        assert s.twin is None
    finally:
        s.close()


@pytest.mark.parametrize("setting, value, words", [("dataset", "grid25", "shares its data and seed"),
                                                   ("seed", "3", "shares its data and seed"),
                                                   ("colour", "red", "compare which setting"),
                                                   ("pack", "0", "pack must be a whole number from 1 to 16"),
                                                   ("lr_g", "fast", "lr_g must be a number"),
                                                   ("pack", "1", "already 1")])
def test_a_compare_that_cannot_be_made_says_why_and_changes_nothing(setting, value, words):
    s = PlaygroundSession()
    try:
        s.single("both")
        with pytest.raises(GanInputError, match=words):
            s.compare(setting, value)
        assert s.twin is None and s.pg.step == 1
    finally:
        s.close()
