"""Classroom mode: only the teacher link's holder controls the Train tab's runs; every other visitor watches.

A real server built with build_demo(..., teacher_token=TOKEN) on its own runs folder, driven by gradio_client and by
headless Chromium (one browser context per visitor, so each has its own localStorage, as separate browsers would).
"""
import re
import time

import pytest

from gan.ui import train_tab

TOKEN = "secret-token"
RING8 = dict(preset="2-D: plain GAN on ring8", dataset="ring8", arch="mlp", loss="bce", batch_size=16,
             steps=100_000)


@pytest.fixture(scope="module")
def classroom(weights_dir, tmp_path_factory):
    """(url, manager, demo): the Train tab alone in classroom mode, its runs in a folder of its own."""
    import os

    from gan.ui.app import build_demo, launch_kwargs
    from tests.conftest import free_port

    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    demo = build_demo(weights_dir, tmp_path_factory.mktemp("classroom-runs"), device="cpu",
                      tabs=["gan.ui.train_tab"], teacher_token=TOKEN)
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **launch_kwargs())
    manager = demo.ganscope.runs
    yield url, manager, demo
    manager.stop_all()
    demo.close()


@pytest.fixture(scope="module")
def api(classroom):
    """A gradio_client on the classroom server: a student, or the teacher when a call passes the token."""
    from gradio_client import Client

    return Client(classroom[0], verbose=False)


def visitor(browser, url):
    """A new browser (its own storage) on the page at `url`, with the Train tab's status shown."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    expect(page.locator("#train-rights")).to_be_visible(timeout=30_000)   # a loaded machine renders slowly
    return page


def test_the_server_refuses_a_student_and_obeys_the_teacher(api, classroom):
    """Every control's endpoint refuses a caller without the teacher token (or with a wrong one) with a message
    and changes nothing; the status stays open to all; the teacher's calls act."""
    from gradio_client.exceptions import AppError

    from gan.errors import GanInputError

    _, manager, _ = classroom
    manager.stop_all()
    with pytest.raises(AppError, match="Classroom mode: you cannot start a run: only the teacher controls"):
        api.predict(api_name="/start_training", **RING8)
    assert not manager.active_runs()
    status, _ = api.predict(api_name="/start_training", teacher_token=TOKEN, **RING8)
    assert status["state"] == "running"
    for endpoint, what in (("/stop_training", "stop a run"), ("/pause_training", "pause a run"),
                           ("/step_training", "step a run"), ("/resume_training", "resume a run"),
                           ("/save_training_model", "save a run as a model")):
        with pytest.raises(AppError, match=f"you cannot {what}: only the teacher controls the runs"):
            api.predict(api_name=endpoint)
        with pytest.raises(AppError, match=f"you cannot {what}: the teacher token is wrong"):
            api.predict(teacher_token="not-the-token", api_name=endpoint)
    assert api.predict(api_name="/training_status")["state"] == "running"   # watching is open to all
    with pytest.raises(GanInputError, match="stop it before deleting it"):
        manager.delete(status["run_id"])                         # never a run that trains
    assert api.predict(teacher_token=TOKEN, api_name="/stop_training")["state"] == "stopped"


def test_a_student_browser_watches_while_the_teacher_link_controls(classroom, api, browser):
    """A student's Stop (and every other control) is off, with the line that says why; the teacher link's browser
    stops the run, keeps its rights when the page is reopened without the link, and the token leaves the address
    bar. A wrong link says so and gives no rights."""
    from playwright.sync_api import expect

    url, manager, _ = classroom
    manager.stop_all()
    api.predict(api_name="/start_training", teacher_token=TOKEN, **RING8)

    student = visitor(browser, url)
    expect(student.locator("#train-rights")).to_have_text(train_tab.STUDENT_LINE)
    expect(student.locator("#train-status")).to_contain_text("running", timeout=60_000)
    student.get_by_text("Change while it runs").click()        # the accordions that hold Apply and Fork
    student.get_by_text("Time travel: the run's checkpoints").click()
    for name in ("stop", "pause", "start", "delete", "apply", "fork"):
        expect(student.locator(f"#train-{name}")).to_be_disabled()
    expect(student.locator("#train-travel-play")).to_be_enabled()  # it only reads the run

    teacher = visitor(browser, f"{url}?teacher={TOKEN}")
    expect(teacher.locator("#train-rights")).to_contain_text("you are the teacher")
    stop = teacher.locator("#train-stop")
    expect(stop).to_be_enabled(timeout=30_000)
    expect(teacher).not_to_have_url(re.compile("teacher="))      # kept in the browser, not shown on screen
    expect(teacher.locator("#train-delete")).to_be_disabled()    # not while it trains
    stop.click()
    expect(teacher.locator("#train-status")).to_contain_text("stopped", timeout=60_000)
    expect(teacher.locator("#train-resume")).to_be_enabled()
    expect(teacher.locator("#train-delete")).to_be_enabled()
    expect(student.locator("#train-status")).to_contain_text("stopped", timeout=30_000)   # the student sees it
    expect(student.locator("#train-resume")).to_be_disabled()

    teacher.goto(url)                                             # reopened, without the link
    expect(teacher.locator("#train-rights")).to_contain_text("you are the teacher")
    expect(teacher.locator("#train-resume")).to_be_enabled(timeout=30_000)
    expect(teacher.locator("#train-start")).to_be_enabled()

    stranger = visitor(browser, f"{url}?teacher=guess")
    expect(stranger.locator("#train-rights")).to_contain_text(train_tab.WRONG_LINK)
    expect(stranger.locator("#train-rights")).to_contain_text(train_tab.STUDENT_LINE)
    expect(stranger.locator("#train-status")).to_contain_text("stopped", timeout=30_000)
    expect(stranger.locator("#train-resume")).to_be_disabled()
    expect(stranger.locator("#train-start")).to_be_disabled()
    for page in (student, teacher, stranger):
        page.context.close()


def test_the_teacher_deletes_a_run_after_saying_yes(classroom, api, browser):
    """Delete run acts only with "yes, delete it" ticked, and only for the teacher (the server refuses a student
    too); the run leaves the Run list, its folder and the Explore catalog."""
    from playwright.sync_api import expect

    url, manager, demo = classroom
    manager.stop_all()
    status, _ = api.predict(api_name="/start_training", teacher_token=TOKEN, **{**RING8, "steps": 20})
    run = manager.get(status["run_id"])
    end = time.monotonic() + 60
    while not manager.deletable(run.id):                          # finished, its model written
        assert time.monotonic() < end, f"the run never finished: {run.view().to_status()}"
        time.sleep(0.05)
    catalog = demo.ganscope.catalog
    catalog.refresh()
    assert f"run: {run.id}" in catalog.names()

    delete = next(f for f in demo.fns.values() if f.api_name == "delete_picked_run")
    import gradio as gr
    with pytest.raises(gr.Error, match="you cannot delete a run"):
        delete.fn(run.id, True, "")                               # a crafted request without the token
    assert run.folder.is_dir()

    student = visitor(browser, url)
    teacher = visitor(browser, f"{url}?teacher={TOKEN}")
    for page in (student, teacher):
        expect(page.locator("#train-status")).to_contain_text(f"{run.id} · finished", timeout=30_000)
    expect(student.locator("#train-delete")).to_be_disabled()
    button = teacher.locator("#train-delete")
    expect(button).to_be_enabled(timeout=30_000)
    button.click()
    expect(teacher.locator("#train-message")).to_contain_text("Tick yes, delete it first", timeout=30_000)
    assert run.folder.is_dir() and run.id in manager.runs
    teacher.locator("#train-delete-confirm input").check()
    button.click()
    expect(teacher.locator("#train-message")).to_contain_text(f"Deleted run {run.id}", timeout=30_000)
    assert not run.folder.exists() and run.id not in manager.runs
    assert f"run: {run.id}" not in catalog.names()
    expect(teacher.locator("#train-delete-confirm input")).not_to_be_checked()
    left = manager.newest_first()
    if left:   # both pages move on to the newest run left (the student's had the deleted one picked)
        for page in (teacher, student):
            expect(page.locator("#train-status")).to_contain_text(f"{left[0].id} ·", timeout=30_000)
    for page in (student, teacher):
        page.context.close()
