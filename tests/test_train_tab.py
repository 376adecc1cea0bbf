"""The Train tab through its named endpoints (gradio_client against a real server) and in a real browser."""
import re
import time

import pytest

from gan.ui import train_tab


@pytest.fixture(scope="module")
def train_app(demo, app_url, runs_dir):
    """The shared app server (tests/conftest.py); its run manager trains in the session's runs folder."""
    manager = demo.ganscope.runs
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


def wait_parked(run, rounds=2, timeout=60):
    """Until the paused run's thread has gone round its idle loop `rounds` more times (each ~20 ms; the default 2
    means once entirely after this call), so a step read afterwards is where the run stays: a run that kept
    training would have moved on. More rounds: the run has sat paused a while."""
    start = run.idle_rounds
    end = time.time() + timeout
    while run.idle_rounds < start + rounds:
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
    # The page's words, not the command line's: each field by its label, its limits, and what was typed.
    (dict(batch_size=0), "^Batch size must be a whole number from 1 to 65,536; you typed 0$"),
    (dict(lr_g=-1), "^Learning rate of G must be a number above 0, at most 1; you typed -1$"),
    (dict(lr_g=None), "^Learning rate of G must be a number above 0, at most 1; the field is empty or not a number$"),
    (dict(steps=1e12), "^Steps must be a whole number from 1 to 10,000,000; you typed 1,000,000,000,000$"),
    (dict(n_critic=-3), r"^D steps per G step \(n_critic\) must be a whole number from 1 to 100; you typed -3$"),
    # A fraction in a whole-number field is refused, not rounded; text is a message, not a traceback.
    (dict(batch_size=2.5), "^Batch size must be a whole number from 1 to 65,536; you typed 2.5$"),
    (dict(steps="abc"), "^Steps must be a whole number from 1 to 10,000,000; you typed abc$"),
    # 2-D points with an image architecture: the library refuses what the form says (the page sets mlp itself).
    (dict(dataset="ring8", arch="dcgan"), "(?i)architecture"),
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
        client.predict(api_name="/start_training", dataset=train_tab.UPLOAD_CSV, upload=handle_file(str(text)),
                       arch="mlp")
    points = tmp_path / "p.csv"
    points.write_text("x,y\n" + "\n".join(f"{i % 7},{i % 5}" for i in range(300)))
    status, _ = client.predict(api_name="/start_training", dataset=train_tab.UPLOAD_CSV, upload=handle_file(str(points)),
                               arch="mlp", batch_size=32)
    assert status["state"] == "running" and status["settings"]["arch"] == "mlp"
    poll(client, lambda s: s["step"] >= 3)
    client.predict(api_name="/stop_training")


def test_the_augment_box_turns_on_diffaugment_and_2d_points_refuse_it(client, train_app):
    """Augmentation works on images; on 2-D points it is refused with a message, never silently dropped."""
    from gradio_client.exceptions import AppError

    train_app[1].stop_all()
    status, _ = client.predict(api_name="/start_training", augment=True, batch_size=16)
    assert status["settings"]["augment"] == train_tab.AUGMENT_POLICY == "translation,cutout"
    run = train_app[1].get(None)
    poll(client, lambda s: s["step"] >= 3)  # augmented steps train
    assert run.session.trainer.augment_policy == ("translation", "cutout")
    client.predict(api_name="/stop_training")
    before = set(train_app[1].runs)
    with pytest.raises(AppError, match="(?i)augment"):     # 2-D points have no pixels to augment
        client.predict(api_name="/start_training", dataset="ring8", arch="mlp", augment=True, batch_size=32)
    assert set(train_app[1].runs) == before and not train_app[1].active_runs()
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

    run = manager.get(None)
    end = time.time() + 120
    while run.view().step < 15:                 # the server's own count: the run trains
        assert time.time() < end, f"the run never reached step 15: {run.view().state}, step {run.view().step}"
        time.sleep(0.1)
    wait_for_step_above(page, 0)                # and the page shows its steps
    before = step_shown()
    assert before >= 1
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


def wait_for_step_above(page, n, timeout=120_000):
    """Until the Train tab's status line shows a step above n (generous: a loaded CI machine trains slowly)."""
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


# What Gradio's progress tracker writes ("processing | 0.7/0.9s", "queue: 1/1", "0.7s"): never part of the status.
TRACKER_TEXT = r"processing \||queue: \d|\d\.\ds\b"
WATCH_STATUS_JS = """() => { window.statusTexts = []; const el = document.querySelector('#train-status');
  new MutationObserver(() => window.statusTexts.push(el.textContent.trim()))
    .observe(el, {subtree: true, childList: true, characterData: true}); }"""


def test_the_status_line_tells_the_truth_after_pause_step_and_resume(client, train_app, browser):
    """After a Step the message names the new step; images/s and the ETA come from recent training steps, so
    neither the time the run sat paused nor a single step skews them; Gradio's timer text never gets into the
    status line (the page's text is what a user copies and what a screen reader says)."""
    import re

    from playwright.sync_api import expect

    url, manager, _ = train_app
    manager.stop_all()
    client.predict(api_name="/start_training", batch_size=16)
    run = manager.get(None)
    page = browser.new_page()
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    status_md = page.locator("#train-status")
    expect(status_md).to_contain_text(run.id, timeout=30_000)  # the page shows this run
    page.evaluate(WATCH_STATUS_JS)
    running = poll(client, lambda s: s["step"] >= 30 and s["img_per_s"] and s["eta_s"])
    a = client.predict(api_name="/pause_training")["step"]
    wait_parked(run, rounds=100)  # paused for two seconds or more: a rate that counted it would fall tenfold
    stepped = client.predict(api_name="/step_training")
    assert stepped["step"] == a + 1 and f"paused at step {a + 1}" in stepped["message"]
    assert stepped["img_per_s"] >= running["img_per_s"] / 3
    expect(status_md).to_contain_text(f"step {a + 1:,} / 3,000", timeout=30_000)
    expect(status_md).to_contain_text(f"paused at step {a + 1}")
    resumed = client.predict(api_name="/resume_training")
    assert resumed["state"] == "running" and resumed["eta_s"] is not None
    assert resumed["eta_s"] <= running["eta_s"] * 3
    poll(client, lambda s: s["step"] > a + 5)
    expect(status_md).to_contain_text("running", timeout=30_000)
    texts = page.evaluate("window.statusTexts")
    assert texts and not [t for t in texts if re.search(TRACKER_TEXT, t)]
    manager.stop_all()
    page.close()


def test_buttons_offer_only_what_the_picked_run_can_do(client, train_app, browser):
    """With no run picked only Start acts (Pause cannot say "no run yet" while older runs are listed); while a
    run trains Start waits (the server's one run slot is taken); each state enables just its controls."""
    from playwright.sync_api import expect

    url, manager, _ = train_app
    manager.stop_all()
    assert manager.runs  # older runs are listed: as after a restart, none of them is picked
    manager.current = None
    page = browser.new_page()
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    buttons = {name: page.locator(f"#train-{name}") for name in ("start", "pause", "resume", "step", "stop", "save")}

    def offered(*names):
        for name, button in buttons.items():
            (expect(button).to_be_enabled if name in names else expect(button).to_be_disabled)(timeout=30_000)

    offered("start")
    buttons["start"].click()
    expect(page.locator("#train-status")).to_contain_text("running", timeout=60_000)
    offered("pause", "stop", "save")
    buttons["pause"].click()
    expect(page.locator("#train-status")).to_contain_text("paused at step", timeout=30_000)
    offered("resume", "step", "stop", "save")
    buttons["step"].click()
    expect(page.locator("#train-status")).to_contain_text("took one step", timeout=30_000)
    offered("resume", "step", "stop", "save")
    buttons["stop"].click()
    expect(page.locator("#train-status")).to_contain_text("stopped", timeout=60_000)
    offered("start", "resume")  # a stopped run resumes; it has no model file yet to save
    page.close()


def test_the_live_model_shows_the_runs_step_and_d_and_goes_when_the_run_ends(client, train_app, browser, demo):
    """Explore's `live: <run>` reports the run's current step, wall time and device, carries a copy of D kept up
    to date with the weights, and is listed only while the run is active; a finished run is `run: <id>`."""
    import re

    import torch
    from playwright.sync_api import expect

    _, manager, _ = train_app
    catalog = demo.ganscope.catalog
    manager.stop_all()
    client.predict(api_name="/start_training", batch_size=16)
    run = manager.get(None)
    name = f"live: {run.id}"
    poll(client, lambda s: s["step"] >= 20)
    paused = client.predict(api_name="/pause_training")
    step = paused["step"]
    wait_parked(run)  # the pause's refresh of the live model is done
    info = catalog.entry(name).info
    assert info["steps"] == step and info["wall_time_s"] > 0 and info["device"] == paused["device"]
    pipe = catalog.get(name)
    d = run.session.trainer.D
    assert pipe.discriminator is not None and pipe.discriminator is not d
    live_d, trained_d = pipe.discriminator.state_dict(), d.state_dict()
    assert all(torch.equal(live_d[k], trained_d[k]) for k in trained_d)

    page = browser.new_page()
    page.goto(train_app[0])
    page.locator("#explore-model input").click()
    option = page.get_by_role("option", name=re.compile(f"^{re.escape(name)} "))
    expect(option).to_contain_text(f"· {step} steps · {paused['device']}", timeout=30_000)
    option.click()
    info_md = page.locator("#model-info")
    expect(info_md).to_contain_text(f"for {step} steps on {paused['device']}", timeout=30_000)
    expect(info_md).to_contain_text("carries its discriminator")

    client.predict(api_name="/stop_training")
    assert name not in catalog.names()
    with pytest.raises(ValueError, match="no longer live"):
        catalog.entry(name)
    page.reload()
    page.locator("#explore-model input").click()
    expect(page.get_by_role("option", name=re.compile("^tiny-mnist "))).to_be_visible(timeout=30_000)
    expect(page.get_by_role("option", name=re.compile(f"^{re.escape(name)} "))).to_have_count(0)
    page.close()

    client.predict(api_name="/start_training", batch_size=16, steps=12)
    short = manager.get(None)
    poll(client, lambda s: s["state"] == "finished")
    catalog.refresh()
    assert f"run: {short.id}" in catalog.names() and f"live: {short.id}" not in catalog.names()


def test_time_travel_picks_steps_and_plays_through_the_checkpoints(client, train_app, browser, demo):
    """The slider counts steps (not checkpoints), lands on the nearest checkpoint, and Play animates them all."""
    from playwright.sync_api import expect

    url, manager, _ = train_app
    manager.stop_all()
    client.predict(api_name="/start_training", batch_size=16)
    poll(client, lambda s: s["step"] >= 2)
    first = client.predict(api_name="/pause_training")["step"]   # a checkpoint at `first` ...
    client.predict(api_name="/step_training")
    client.predict(api_name="/stop_training")                     # ... and one at `first` + 1
    page = browser.new_page()
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    page.get_by_text("Time travel: the run's checkpoints").click()
    travel = page.locator("#train-travel")
    expect(travel).to_contain_text(f"2 checkpoints: {first:,} … {first + 1:,}", timeout=30_000)
    expect(travel.locator("input[type=range]")).to_have_attribute("min", str(first))
    travel.locator("input[type=range]").fill(str(first + 1))       # a step, as the label says
    expect(page.locator("#train-travel-message")).to_contain_text(f"checkpoint at step {first + 1:,}",
                                                                  timeout=30_000)
    expect(page.locator("#train-travel-grid img")).to_be_visible()
    expect(page.locator("#train-travel-one img")).to_be_visible()
    page.locator("#train-travel-play").click()
    expect(page.locator("#train-travel-message")).to_contain_text(f"2 checkpoints, step {first:,} to {first + 1:,}",
                                                                  timeout=30_000)
    src = page.locator("#train-travel-animation img").get_attribute("src", timeout=30_000)
    assert src and ".gif" in src
    page.close()
    # The sliders' values arrive raw (preprocess=False): the library refuses what is not a number, in the
    # page's words, as the handlers show it.
    import gradio as gr

    run_id = manager.get(None).id
    for fn, args, words in (
            (train_tab.on_play, (float("nan"),), "Checkpoints per second must be a number from 1 to 12; you typed nan"),
            (train_tab.on_play, ("x",), "Checkpoints per second must be a number from 1 to 12; you typed x"),
            (train_tab.on_play, (13,), "Checkpoints per second must be a number from 1 to 12; you typed 13"),
            (train_tab.on_time_travel, ("x", 0), "Step must be a number; you typed x"),
            (train_tab.on_time_travel, (first, 0.5), "a seed must be a whole number")):
        with pytest.raises(gr.Error, match=re.escape(words)):
            fn(demo.ganscope, run_id, *args)


def test_the_upload_box_shows_only_for_uploads_and_whole(train_app, browser):
    """The upload box appears for the two upload choices only, tall enough for its own text."""
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(train_app[0])
    page.get_by_role("tab", name="Train").click()
    upload = page.locator("#train-upload")
    expect(page.locator("#train-start")).to_be_visible(timeout=30_000)
    expect(upload).to_be_hidden()
    page.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name=train_tab.UPLOAD_ZIP).click()
    expect(upload).to_be_visible(timeout=15_000)
    expect(upload).to_contain_text("Click to Upload")
    # The last line of the box's text lies inside the box (the clipped box hid it under its bottom edge).
    inside = upload.evaluate("""el => { const box = el.getBoundingClientRect();
        const leaf = [...el.querySelectorAll('*')].filter(c => c.textContent.includes('Click to Upload')).pop();
        return leaf.getBoundingClientRect().bottom <= box.bottom + 1; }""")
    assert inside, "part of the upload box's text is cut off"
    page.close()


def test_2d_data_sets_the_mlp_and_turns_off_image_choices_in_sight(client, train_app, browser):
    """Picking a 2-D dataset sets the Architecture to mlp and unticks and disables class-conditional and augment,
    with a line that says why; Start then trains what the form shows. An image dataset turns the boxes back on."""
    from playwright.sync_api import expect

    url, manager, runs_dir = train_app
    manager.stop_all()
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-start")).to_be_enabled(timeout=30_000)
    page.get_by_role("combobox", name="Preset").click()
    page.get_by_role("option", name="Conditional, hinge + spectral norm").click()
    conditional, augment = page.locator("#train-conditional input"), page.locator("#train-augment input")
    expect(conditional).to_be_checked(timeout=15_000)
    augment.check()
    page.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name="ring8").click()
    note = page.locator("#train-dataset-note")
    expect(note).to_contain_text(train_tab.POINTS_NOTE, timeout=15_000)
    expect(page.get_by_role("combobox", name="Architecture")).to_have_value("mlp")
    for box in (conditional, augment):
        expect(box).not_to_be_checked()
        expect(box).to_be_disabled()
    page.get_by_text("Hyperparameters").click()
    page.get_by_label("batch size", exact=True).fill("16")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("ring8-mlp-hinge", timeout=30_000)
    wait_for_step_above(page, 20)
    run = manager.get(None)
    assert (run.cfg.dataset, run.cfg.arch, run.cfg.conditional, run.cfg.augment) == ("ring8", "mlp", False, "")
    expect(page.locator("#train-grid img")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(runs_dir / "train-tab-ring8.png"), full_page=True)
    manager.stop_all()
    page.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name="mnist", exact=True).click()
    expect(note).to_be_hidden(timeout=15_000)
    expect(conditional).to_be_enabled()
    expect(augment).to_be_enabled()
    page.close()


def test_a_run_left_behind_by_a_restart_resumes_with_one_click(browser, weights_dir, tmp_path):
    """After a restart the Train tab picks the run the server was training, says it was interrupted and can be
    resumed, shows its monitor history in words (here a reading too early to judge), and Resume continues it."""
    from playwright.sync_api import expect

    from gan.ui.app import build_demo, launch_kwargs
    from tests.conftest import free_port
    from tests.test_metrics import EARLY
    from tests.test_runs import _interrupted_run

    folder = _interrupted_run(tmp_path)
    with open(folder / "metrics.jsonl", "a", encoding="utf-8") as f:   # a monitor reading, as a run logs it
        import json
        f.write(json.dumps({"event": "quality", **{**EARLY, "step": 10}}) + "\n")
    demo = build_demo(weights_dir, tmp_path, device="cpu", tabs=["gan.ui.train_tab"])
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **launch_kwargs())
    try:
        page = browser.new_page()
        page.goto(url)
        status = page.locator("#train-status")
        expect(status).to_contain_text("interrupted at step 12 of 60 when the server stopped", timeout=30_000)
        expect(status).to_contain_text("press Resume")
        expect(page.locator("#train-quality-note")).to_contain_text("Step 10: too early to judge")
        expect(page.locator("#train-quality")).not_to_contain_text("Error")
        resume = page.locator("#train-resume")
        expect(resume).to_be_enabled(timeout=30_000)
        resume.click()
        expect(status).to_contain_text("running", timeout=60_000)
        manager = demo.ganscope.runs
        assert manager.get(folder.name).session.resumed_from == 12
        manager.stop_all()
        page.close()
    finally:
        demo.close()
