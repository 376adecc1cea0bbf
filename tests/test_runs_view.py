"""Compare runs: gan.run_compare on the folders of two short 2-D runs that differ in loss and learning rate, the
compare_runs and delete_run endpoints through the shared server, an active run refused, and the section in a real
browser (the table, two runs ticked, their curves on one chart)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gan.errors import GanInputError

STEPS = 40
PAIR = "Collapse on MNIST vs Collapse on MNIST: the fix"


def ring8(steps: int = STEPS, **kw):
    from gan.config import TrainConfig

    return TrainConfig(dataset="ring8", arch="mlp", steps=steps, batch_size=32, g_width=16, d_width=16, z_dim=2,
                       log_every=5, sample_every=1000, checkpoint_every=1000, device="cpu", **kw)


def wait_until(done, what: str, timeout: float = 60):
    end = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """(manager, [bce run id, hinge run id]): two finished ring8 runs whose monitor read every 10 steps."""
    from gan.run_manager import RunManager

    manager = RunManager(tmp_path_factory.mktemp("compare-runs"), quality_every=10)
    ids = []
    for kw in (dict(loss="bce"), dict(loss="hinge", lr_g=5e-4)):
        run = manager.start(ring8(**kw))
        wait_until(lambda: manager.deletable(run.id), f"run {run.id} to finish")
        ids.append(run.id)
    return manager, ids


@pytest.fixture(scope="module")
def served(two_runs, demo, app_url, runs_dir):
    """The shared server (tests/conftest.py) with copies of the two runs in its runs folder; whatever of them (and
    of the runs started here) is left is deleted afterwards, so other files see the folder as they left it."""
    manager, ids = two_runs
    for run_id in ids:
        shutil.copytree(manager.get(run_id).folder, runs_dir / run_id)
    server = demo.ganscope.runs
    server.rescan()
    before = set(server.runs) - set(ids)
    yield server, ids
    server.stop_all()
    for run_id in set(server.runs) - before:
        wait_until(lambda: server.deletable(run_id), f"run {run_id} to wind down")
        server.delete(run_id)
    demo.ganscope.catalog.refresh()


# ------------------------------------------------------------------------------------------------- library
def test_the_table_has_a_row_per_run_and_the_settings_that_differ(two_runs):
    from gan import run_compare

    manager, (bce, hinge) = two_runs
    table = run_compare.compare_runs(manager)
    rows = {r["run_id"]: r for r in table["runs"]}
    assert list(rows) == [hinge, bce]                                   # the newest first
    assert {"loss", "lr_g"} <= set(table["differing"])
    assert not set(table["differing"]) & {"dataset", "steps", "data_root", "sample_every", "log_every"}
    assert rows[hinge]["settings"]["lr_g"] == 5e-4 and rows[bce]["settings"]["loss"] == "bce"
    for run_id, row in rows.items():
        assert (row["dataset"], row["arch"], row["state"], row["step"]) == ("ring8", "mlp", "finished", STEPS)
        assert row["wall_time_s"] > 0 and {row["loss_d"], row["loss_g"]} != {None}
        # the monitor's latest reading, as logged: 2-D data counts modes, and has no FD
        assert (row["quality_step"], row["covered_of"], row["covered_what"]) == (STEPS, 8, "modes")
        assert 0 <= row["covered"] <= 8 and row["fd"] is None
        assert row["disk_bytes"] == run_compare.disk_bytes(manager.get(run_id).folder) > 1000
    assert table["total_disk_bytes"] == sum(r["disk_bytes"] for r in rows.values())
    one = run_compare.compare_runs(manager, [bce])
    assert [r["run_id"] for r in one["runs"]] == [bce] and one["differing"] == []
    among = run_compare.compare_runs(manager, [bce], among=[bce, hinge])  # one row, compared with the other
    assert "lr_g" in among["differing"] and among["runs"][0]["settings"]["lr_g"] == 1e-3
    with pytest.raises(GanInputError, match="unknown run id 'nope'"):
        run_compare.compare_runs(manager, [bce, "nope"])


def test_the_curves_come_from_the_log_and_the_monitor(two_runs):
    from gan import run_compare
    from gan.viz import compare_figure

    manager, ids = two_runs
    losses = run_compare.curves(manager, ids, "loss_d")
    assert [c["run_id"] for c in losses] == ids
    assert losses[0]["x"] == list(range(5, STEPS + 1, 5)) and len(losses[0]["y"]) == STEPS // 5
    timed = run_compare.curves(manager, ids, "loss_g", x="time")
    wall = run_compare.compare_runs(manager, ids)["runs"][0]["wall_time_s"]
    assert timed[0]["x"] == sorted(timed[0]["x"]) and 0 < timed[0]["x"][-1] <= wall + 0.1
    covered = run_compare.curves(manager, ids, "covered")
    assert covered[0]["x"] == [10, 20, 30, 40] and covered[0]["what"] == "modes"
    assert len(run_compare.curves(manager, ids, "covered", x="time")[0]["x"]) == 4   # each reading has a time
    assert run_compare.curves(manager, ids, "fd")[0]["x"] == []          # no FD for 2-D data
    with pytest.raises(GanInputError, match="unknown metric 'accuracy'; choose one of: loss_d"):
        run_compare.curves(manager, ids, "accuracy")
    with pytest.raises(GanInputError, match="unknown x axis"):
        run_compare.curves(manager, ids, "loss_d", x="epoch")
    # a finished run's chart has nothing new to draw: its key stays the same
    assert run_compare.curves_key(manager, ids, "loss_d") == run_compare.curves_key(manager, ids, "loss_d")
    fig = compare_figure(losses, run_compare.METRICS["loss_d"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ids
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step", "Loss D")
    colours = {line.get_color() for line in ax.get_lines()}
    assert len(colours) == 2                                             # each run its own colour


def test_the_library_module_loads_without_torch():
    code = "import sys, gan.run_compare; assert 'torch' not in sys.modules, 'torch loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_a_lesson_pair_finds_its_runs_and_starts_only_what_a_slot_allows(two_runs, tmp_path):
    """The MNIST collapse lesson and its fix are the pair; a run with a lesson's settings counts as the lesson's,
    the missing one is started only with `start` and a free slot (this manager has one, taken by a live run)."""
    import json

    from gan import lessons, run_compare
    from gan.run_manager import RunManager

    assert run_compare.lesson_pairs() == {PAIR: ("Collapse on MNIST", "Collapse on MNIST: the fix")}
    manager = RunManager(tmp_path, quality_every=0)
    problem = tmp_path / "lesson-collapse-on-mnist-20260101-000000"
    problem.mkdir()
    (problem / "config.json").write_text(json.dumps({"train": lessons.train_config("Collapse on MNIST").to_dict()}))
    manager.rescan()
    assert not run_compare.is_lesson_run(two_runs[0].get(two_runs[1][0]), lessons.train_config("Collapse on MNIST"))
    ids, started, said = run_compare.open_lesson_pair(manager, PAIR, start=False)
    assert ids == [problem.name] and started == [] and "the fix: no run yet" in said
    live = manager.start(ring8(steps=100_000))
    try:
        ids, started, said = run_compare.open_lesson_pair(manager, PAIR)
        assert ids == [problem.name] and started == []
        assert "not started (a run is already active" in said and "press again" in said
    finally:
        live.stop()
    with pytest.raises(GanInputError, match="unknown lesson pair"):
        run_compare.open_lesson_pair(manager, "nope")


# ------------------------------------------------------------------------------------------------- server
def test_compare_runs_and_delete_run_endpoints(served, client):
    from gradio_client.exceptions import AppError

    server, (bce, hinge) = served
    table = client.predict([bce, hinge], api_name="/compare_runs")
    assert [r["run_id"] for r in table["runs"]] == [bce, hinge] and {"loss", "lr_g"} <= set(table["differing"])
    assert table["total_disk_bytes"] == sum(r["disk_bytes"] for r in table["runs"]) > 0
    every = client.predict([], api_name="/compare_runs")             # no ids: every run of the server
    assert {bce, hinge} <= {r["run_id"] for r in every["runs"]}
    with pytest.raises(AppError, match="unknown run id 'nope'"):
        client.predict(["nope"], api_name="/compare_runs")

    folder = server.get(hinge).folder
    assert client.predict(hinge, api_name="/delete_run") == f"Deleted run {hinge}, its checkpoints and its model."
    assert not folder.exists() and hinge not in server.runs
    assert hinge not in {r["run_id"] for r in client.predict([], api_name="/compare_runs")["runs"]}
    with pytest.raises(AppError, match="unknown run id"):
        client.predict(hinge, api_name="/delete_run")


def test_an_active_run_is_not_deleted_and_the_page_says_why(served, client, demo):
    from gradio_client.exceptions import AppError

    from gan.ui import runs_view

    server, _ = served
    server.stop_all()
    status, _ = client.predict(api_name="/start_training", dataset="ring8", arch="mlp", batch_size=16, steps=100_000)
    run = server.get(status["run_id"])
    try:
        with pytest.raises(AppError, match=f"run {run.id} is running: stop it before deleting it"):
            client.predict(run.id, api_name="/delete_run")
        message, _, _ = runs_view.on_delete_pick(demo.ganscope, run.id, True)       # the section's Delete
        assert message == f"run {run.id} is running: stop it before deleting it"
        message, _, _ = runs_view.on_delete_pick(demo.ganscope, run.id, False)      # not confirmed: nothing done
        assert message.startswith("Tick **yes, delete it** first")
        assert run.folder.is_dir() and run.id in server.runs
    finally:
        run.stop()


# ------------------------------------------------------------------------------------------------- browser
def test_the_section_lists_the_runs_and_overlays_two(served, page, app_url):
    """The table lists the runs; ticking two draws their curves on one chart; a header's menu sorts the table.
    Screenshots: /tmp/shots/runs_view.png (the section) and /tmp/shots/real_grid.png (fixed noise next to the
    real data, for a live run)."""
    from playwright.sync_api import expect

    server, (bce, _) = served
    server.stop_all()
    live = server.start(ring8(steps=100_000), name="live-compare")
    shots = Path("/tmp/shots")
    shots.mkdir(exist_ok=True)
    try:
        page.goto(app_url)
        page.get_by_role("tab", name="Train").click()
        expect(page.locator("#train-status")).to_contain_text(live.id, timeout=30_000)
        expect(page.locator("#train-real img")).to_be_visible(timeout=30_000)
        expect(page.locator("#train-grid img")).to_be_visible(timeout=30_000)
        row = page.locator("#train-real").locator("xpath=..")
        row.scroll_into_view_if_needed()
        row.screenshot(path=str(shots / "real_grid.png"))

        page.locator("#runs-view").click()
        table = page.locator("#runs-table")
        expect(table).to_contain_text(bce, timeout=30_000)
        expect(table).to_contain_text(live.id, timeout=30_000)
        expect(page.locator("#runs-total")).to_contain_text("MB on disk in all")
        for run_id in (bce, live.id):
            page.locator("#runs-ticked label").filter(has_text=run_id).click()
        note = page.locator("#runs-chart-note")
        for run_id in (bce, live.id):                                  # the chart drawn for both
            expect(note).to_contain_text(run_id, timeout=30_000)
        expect(note).to_contain_text("Loss D against the step for 2 runs")
        expect(page.locator("#runs-chart img")).to_be_visible(timeout=30_000)
        page.locator("#runs-view").screenshot(path=str(shots / "runs_view.png"))

        # Newest first: the live run heads the table until the state column is sorted, A to Z.
        assert table.inner_text().index("running") < table.inner_text().index("finished")
        header = table.locator("thead th").filter(has_text=re.compile(r"^\s*state\b"))
        header.click()
        header.locator("button[aria-label='Open cell menu']").click()
        page.get_by_text("Sort ascending").first.click()
        wait_until(lambda: table.inner_text().index("finished") < table.inner_text().index("running"),
                   "the table to sort by state", timeout=10)
    finally:
        live.stop()


def test_in_classroom_mode_only_the_teacher_deletes(tmp_path):
    """delete_run takes the teacher token last, like every control: without it nothing is looked at or removed."""
    import gradio as gr

    from gan.ui import runs_view
    from gan.ui.app import AppContext

    ctx = AppContext(catalog=None, runs_dir=tmp_path, teacher_token="secret")
    with pytest.raises(gr.Error, match="Classroom mode: you cannot delete a run"):
        runs_view.on_delete_run(ctx, "any-run", "wrong")
    with pytest.raises(gr.Error, match="Classroom mode: you cannot delete a run"):
        runs_view.on_delete_pick(ctx, "any-run", True, "")
    assert not ctx.has("runs")                       # refused before the run manager was even made


def test_overlaid_runs_differ_in_lightness_and_line_style():
    """The chart's first four runs are told apart under deuteranopia (10 L* or more between any two), and each
    run's line style differs from its neighbours'."""
    from itertools import combinations

    from gan.viz import COMPARE_COLOURS, COMPARE_STYLES, OKABE_ITO
    from tests.test_accessibility import lightness_seen_by_deuteranope as lightness

    seen = [lightness(OKABE_ITO[name]) for name in COMPARE_COLOURS]
    assert all(abs(a - b) >= 10 for a, b in combinations(seen[:4], 2))
    assert all(abs(a - b) >= 9 for a, b in zip(seen, seen[1:]))
    assert len(set(COMPARE_STYLES)) == len(COMPARE_STYLES) >= 4
