"""The Train tab through its named endpoints (gradio_client against a real server) and in a real browser."""
import time

import pytest

from gan.ui import train_tab


@pytest.fixture(scope="module")
def train_app(demo, app_url, runs_dir):
    """The shared app server (tests/conftest.py); its run manager trains in the session's runs folder."""
    manager = demo.ganscope.extras["runs"]
    yield app_url, manager, runs_dir
    manager.stop_all()


def poll(client, predicate, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        status = client.predict(api_name="/training_status")
        if predicate(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"status never satisfied the condition: {status}")


def wait_parked(run, timeout=30):
    """Until the paused run's thread has gone round its idle loop twice (once entirely after this call), so a
    step read afterwards is where the run stays: a run that kept training would have moved on."""
    rounds = run.idle_rounds
    end = time.time() + timeout
    while run.idle_rounds < rounds + 2:
        assert time.time() < end, f"run {run.id} never parked: {run.view().state}, step {run.view().step}"
        time.sleep(0.02)


def test_full_control_cycle_through_the_api(client, train_app):
    from gradio_client.exceptions import AppError

    train_app[1].stop_all()  # other tests share this server
    status, _ = client.predict(api_name="/start_training", batch_size=16)
    assert status["state"] == "running" and status["total_steps"] == 3000
    rising = poll(client, lambda s: s["step"] >= 12)
    assert {"loss_d", "loss_g"} <= set(rising["losses"])
    with pytest.raises(AppError, match="already active"):
        client.predict(api_name="/start_training")
    paused = client.predict(api_name="/pause_training")
    assert paused["state"] == "paused"
    a = paused["step"]
    wait_parked(train_app[1].get(None))
    assert client.predict(api_name="/training_status")["step"] == a  # the step stays put
    with pytest.raises(AppError, match="only a running run"):
        client.predict(api_name="/pause_training")
    assert client.predict(api_name="/step_training")["step"] == a + 1  # exactly one step per press
    assert client.predict(api_name="/step_training")["step"] == a + 2
    wait_parked(train_app[1].get(None))
    assert client.predict(api_name="/training_status")["step"] == a + 2
    assert client.predict(api_name="/resume_training")["state"] == "running"
    with pytest.raises(AppError, match="pause it first"):
        client.predict(api_name="/step_training")
    poll(client, lambda s: s["step"] > a + 5)
    stopped = client.predict(api_name="/stop_training")
    assert stopped["state"] == "stopped"
    with pytest.raises(AppError, match="already stopped"):
        client.predict(api_name="/stop_training")
    with pytest.raises(AppError, match="unknown run id"):
        client.predict("no-such-run", api_name="/training_status")


@pytest.mark.parametrize("kwargs,words", [
    (dict(batch_size=0), "batch-size"), (dict(lr_g=-1), "lr-g"), (dict(steps=1e12), "steps"), (dict(n_critic=-3), "n-critic"),
    (dict(dataset=train_tab.UPLOAD_ZIP), "choose a file"), (dict(loss="nope"), "not in the list of choices"),
])
def test_bad_settings_get_a_message_and_start_nothing(client, train_app, kwargs, words):
    from gradio_client.exceptions import AppError

    train_app[1].stop_all()  # so "already active" cannot hide the message under test
    before = set(train_app[1].runs)
    with pytest.raises(AppError, match=words):
        client.predict(api_name="/start_training", **kwargs)
    assert set(train_app[1].runs) == before


def test_uploads_that_are_not_what_they_claim(client, train_app, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"not a zip")
    with pytest.raises(AppError, match="not a zip"):
        client.predict(api_name="/start_training", dataset=train_tab.UPLOAD_ZIP, upload=handle_file(str(fake)))
    text = tmp_path / "t.csv"
    text.write_text("a,b\nx,y\n")
    with pytest.raises(AppError, match="expected two numbers"):
        client.predict(api_name="/start_training", dataset=train_tab.UPLOAD_CSV, upload=handle_file(str(text)))
    points = tmp_path / "p.csv"
    points.write_text("x,y\n" + "\n".join(f"{i % 7},{i % 5}" for i in range(300)))
    status, _ = client.predict(api_name="/start_training", dataset=train_tab.UPLOAD_CSV, upload=handle_file(str(points)),
                               batch_size=32)
    assert status["state"] == "running" and status["settings"]["arch"] == "mlp"
    poll(client, lambda s: s["step"] >= 3)
    client.predict(api_name="/stop_training")


def test_the_augment_box_turns_on_diffaugment_for_images_only(client, train_app):
    train_app[1].stop_all()
    status, _ = client.predict(api_name="/start_training", augment=True, batch_size=16)
    assert status["settings"]["augment"] == train_tab.AUGMENT_POLICY == "translation,cutout"
    run = train_app[1].get(None)
    poll(client, lambda s: s["step"] >= 3)  # augmented steps train
    assert run.session.trainer.augment_policy == ("translation", "cutout")
    client.predict(api_name="/stop_training")
    status, _ = client.predict(api_name="/start_training", dataset="ring8", augment=True, batch_size=32)
    assert status["state"] == "running" and status["settings"]["augment"] == ""  # 2-D points have no pixels
    client.predict(api_name="/stop_training")
    assert not train_tab.preset_values(train_tab.DEFAULT_PRESET)["augment"]  # off unless asked for


def test_a_run_survives_a_page_reload(train_app, browser):
    from playwright.sync_api import expect

    url, manager, _ = train_app
    for run in manager.active_runs():
        run.stop()
    page = browser.new_page()
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    page.get_by_text("Hyperparameters").click()
    batch = page.get_by_label("batch size", exact=True)
    expect(batch).to_have_value("64", timeout=15_000)      # the accordion has opened on the preset's value
    batch.fill("16")                                       # small batches, as a user in a hurry would
    batch.press("Tab")
    expect(batch).to_have_value("16")
    page.locator("#train-start").click()
    status = page.locator("#train-status")
    expect(status).to_contain_text("running", timeout=30_000)
    assert manager.get(None).cfg.batch_size == 16

    def step_shown():
        import re
        m = re.search(r"step ([\d,]+) /", status.inner_text())
        return int(m.group(1).replace(",", "")) if m else -1

    wait_for_step_above(page, 14)
    before = step_shown()
    assert before >= 15
    page.reload()
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-status")).to_contain_text("running", timeout=30_000)
    expect(page.locator("#train-plot")).to_be_visible(timeout=15_000)
    wait_for_step_above(page, before)  # still training after the reload, and the page shows it
    assert step_shown() > before
    page.screenshot(path=str(train_app[2] / "train-tab.png"), full_page=True)
    assert len(manager.active_runs()) == 1  # the reload neither stopped nor forked the run
    manager.stop_all()
    page.close()


def wait_for_step_above(page, n, timeout=60_000):
    """Until the Train tab's status line shows a step above n."""
    page.wait_for_function(
        "n => { const m = document.querySelector('#train-status').innerText.match(/step ([\\d,]+) \\//);"
        " return m !== null && Number(m[1].replace(/,/g, '')) > n; }", arg=n, timeout=timeout)


def start_and_open_live_panel(client, train_app, browser, **settings):
    """Start a run (batch 16, these settings) alone on the server, let it take two steps, and open a page on the
    Train tab with "Change while it runs" open. Returns the run and the page."""
    url, manager, _ = train_app
    manager.stop_all()
    client.predict(api_name="/start_training", batch_size=16, **settings)
    run = manager.get(None)
    poll(client, lambda s: s["step"] >= 2)
    page = browser.new_page()
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    page.get_by_text("Change while it runs").click()
    return run, page


def test_augmentation_can_be_switched_on_while_a_run_trains(client, train_app, browser):
    from playwright.sync_api import expect

    manager = train_app[1]
    run, page = start_and_open_live_panel(client, train_app, browser, n_critic=2)
    # the fields take the run's values once the page has loaded them: tick the box after that, or it is reset
    expect(page.locator("#train-live-n-critic input")).to_have_value("2", timeout=30_000)
    page.locator("#train-live-augment input").check()
    page.locator("#train-apply").click()
    expect(page.locator("#train-message")).to_contain_text("augment = translation,cutout", timeout=30_000)
    assert run.session.trainer.augment_policy == ("translation", "cutout")
    assert run.changes[-1]["augment"] == "translation,cutout"  # logged, and drawn as a marker on the chart
    before = client.predict(api_name="/training_status")["step"]
    poll(client, lambda s: s["step"] > before + 2)  # and it trains on, augmented
    manager.stop_all()
    page.close()


def test_change_while_it_runs_starts_from_the_runs_own_settings(client, train_app, browser):
    """Apply sends all four live fields: they must show the picked run's values, not the form's preset, so that
    changing lr G alone leaves the run's n_critic and lr D as they were."""
    from playwright.sync_api import expect

    manager = train_app[1]
    run, page = start_and_open_live_panel(client, train_app, browser, lr_g=1e-4, lr_d=3e-4, n_critic=3, augment=True)
    expect(page.locator("#train-live-n-critic input")).to_have_value("3", timeout=30_000)
    expect(page.locator("#train-live-lr-d input")).to_have_value("0.0003")
    expect(page.locator("#train-live-augment input")).to_be_checked()
    page.locator("#train-live-lr-g input").fill("0.00005")
    page.locator("#train-apply").click()
    expect(page.locator("#train-message")).to_have_text("changed lr_g = 5e-05", timeout=30_000)
    settings = client.predict(api_name="/training_status")["settings"]
    assert (settings["lr_g"], settings["lr_d"], settings["n_critic"], settings["augment"]) == \
        (5e-5, 3e-4, 3, "translation,cutout")
    assert run.changes == [{"step": run.changes[0]["step"], "event": "change", "lr_g": 5e-5}]
    manager.stop_all()
    page.close()


def test_fork_from_a_checkpoint_takes_the_live_fields(client, train_app, browser):
    from playwright.sync_api import expect

    manager = train_app[1]
    run, page = start_and_open_live_panel(client, train_app, browser, n_critic=2)
    # Pausing and stopping each write a checkpoint: two of them, one step apart, without waiting for the
    # 250-step schedule. The time-travel slider starts on the first.
    first = client.predict(api_name="/pause_training")["step"]
    assert client.predict(api_name="/step_training")["step"] == first + 1
    assert client.predict(api_name="/stop_training")["step"] == first + 1
    expect(page.locator("#train-live-n-critic input")).to_have_value("2", timeout=30_000)
    page.locator("#train-live-lr-g input").fill("0.00005")
    page.get_by_text("Time travel: the run's checkpoints").click()
    page.get_by_role("button", name="Fork from here (with the live settings above)").click()
    expect(page.locator("#train-message")).to_contain_text(f"forked {run.id} at step {first} ", timeout=30_000)
    fork = manager.get(None)
    assert fork.id != run.id and fork.session.resumed_from == first  # and it trains on from there
    assert (fork.cfg.lr_g, fork.cfg.lr_d, fork.cfg.n_critic) == (5e-5, run.cfg.lr_d, 2)
    manager.stop_all()
    page.close()
