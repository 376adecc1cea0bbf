"""Abuse: bad input through the app's API (a real server, driven with gradio_client and raw HTTP) and the command
line. Every case gets a clear message (an AppError carrying it, or the endpoint's message output), the server keeps
serving (the next `generate` works), no run starts by mistake, and nothing is written outside the app's folders.

The other bad-input tests: test_uploads.py, test_data.py, test_cli.py, test_app_api.py, test_train_tab.py,
test_runs.py, test_training.py. This file adds the numeric fields of every endpoint, API misuse, uploads through the
API, a weights folder full of bad files, and the app's own command line and defaults.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import uuid
import zipfile
from pathlib import Path

import pytest

from gan.ui import train_tab

ROOT = Path(__file__).resolve().parents[1]
MARKER = f"abuse-marker-{uuid.uuid4().hex[:8]}"          # a name a hostile upload tries to write somewhere
RING8 = dict(preset="2-D: plain GAN on ring8", dataset="ring8", arch="mlp", loss="bce", batch_size=16,
             steps=100_000)


def AppError():
    from gradio_client.exceptions import AppError as E

    return E


def files_under(root: Path, skip: tuple[Path, ...] = ()) -> set[str]:
    skip = tuple(s.resolve() for s in skip)
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath).resolve()
        dirnames[:] = [d for d in dirnames if (here / d) not in skip and d not in (".git", ".venv", "__pycache__",
                                                                                    ".pytest_cache", "node_modules")]
        out.update(str(here / f) for f in filenames)
    return out


@pytest.fixture(scope="module")
def app(demo, app_url, client, runs_dir, weights_dir, tmp_path_factory):
    """The shared server (tests/conftest.py) with no active run; on the way out, checks that the test files wrote
    nothing outside the app's folders (runs, Gradio's cache, the app's temporary folders) and this module's scratch."""
    manager = demo.ganscope.runs
    manager.stop_all()
    scratch = tmp_path_factory.mktemp("abuse")
    base = tmp_path_factory.getbasetemp()
    gradio_dir = Path(os.environ["GRADIO_TEMP_DIR"])
    app_scratch = demo.ganscope.scratch("explore").parent  # the app's temporary files (Explore, Interpolate)
    allowed = (runs_dir, gradio_dir, scratch, app_scratch)
    before = files_under(base, allowed)
    weights_before = {p.name: p.stat().st_mtime_ns for p in weights_dir.iterdir()}
    yield manager, scratch
    manager.stop_all()
    new = files_under(base, allowed) - before
    assert not new, f"files written outside the app's folders: {sorted(new)[:10]}"
    assert {p.name: p.stat().st_mtime_ns for p in weights_dir.iterdir()} == weights_before  # weights: read-only
    # (the upload test's own files carry the marker in their names, inside Gradio's folder, where they belong)
    own = str(gradio_dir.resolve())
    for root in (base, ROOT, runs_dir):
        hits = [f for f in files_under(root) if MARKER in f and not (f.startswith(own) and f.endswith(".csv"))]
        assert not hits, f"{MARKER} was written under {root}: {hits}"
    for start in (ROOT, runs_dir, runs_dir / "uploads", gradio_dir, app_scratch):
        for up in (start.parent, start.parent.parent, start):
            assert not list(up.glob(f"*{MARKER}*")), up


def still_serving(client) -> None:
    image, _, score, message = client.predict(seed=3, api_name="/generate")
    assert image and message == "" and "score" in score


def refused(client, words: str, api: str, *args, **kwargs) -> str:
    with pytest.raises(AppError()) as e:
        client.predict(*args, api_name=api, **kwargs)
    text = str(e.value)
    assert words.lower() in text.lower(), text
    assert "Traceback" not in text and "upstream Gradio app has raised" not in text, text
    return text


# ------------------------------------------------------------------------------------------- generate
@pytest.mark.parametrize("kwargs, words", [
    (dict(seed=1e300), "seed must be a whole number from 0 to 4,294,967,295"),
    (dict(seed="abc"), "seed must be a whole number"), (dict(seed=[1, 2]), "seed must be a whole number"),
    (dict(seed=1.5), "Seed must be a whole number"), (dict(seed=True), "seed must be a whole number"),
    (dict(truncation=-1), "truncation must be a number above 0, at most 1"),
    (dict(truncation=1e9), "truncation must be a number above 0, at most 1"),
    (dict(truncation="x"), "truncation must be a number above 0"), (dict(truncation=None), "truncation must be"),
    (dict(direction_1=1e9), "direction 1 must be a number from -5 to 5"),
    (dict(direction_2=-1e9), "direction 2 must be a number from -5 to 5"),
    (dict(direction_3="x"), "direction 3 must be a number from -5 to 5"),
    (dict(model="tiny-mnist-cond", class_label=-1), "class must be a whole number from 0 to"),
    (dict(model="tiny-mnist-cond", class_label=1e9), "class must be a whole number from 0 to"),
    (dict(model="tiny-mnist-cond", class_label=0.5), "class must be a whole number from 0 to"),
    (dict(model="tiny-mnist-cond", class_label="x"), "unknown class"),
    (dict(model="../../etc/passwd"), "unknown model"), (dict(model=""), "unknown model"),
])
def test_generate_refuses_bad_numbers_and_names(app, client, kwargs, words):
    refused(client, words, "/generate", **kwargs)
    still_serving(client)


def test_nan_and_infinity_sent_as_raw_json_are_refused(app, app_url, client):
    """gradio_client cannot send NaN, but any HTTP client can (`NaN` parses as JSON in Python)."""
    import httpx

    def call(api, data):
        r = httpx.post(f"{app_url}gradio_api/call/{api}", content=data, timeout=30,
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        event = r.json()["event_id"]
        return httpx.get(f"{app_url}gradio_api/call/{api}/{event}", timeout=60).text

    dirs = ", 0" * 6
    for body, words in ((f'[NaN, "tiny-mnist", 1.0, null{dirs}]', "seed must be a whole number"),
                        (f'[0, "tiny-mnist", Infinity, null{dirs}]', "truncation must be a number above 0"),
                        (f'[0, "tiny-mnist", 1.0, null, -Infinity{dirs[3:]}]', "direction 1 must be a number")):
        text = call("generate", f'{{"data": {body}}}'.encode())
        assert "event: error" in text and words in text, text
    text = call("interpolate", b'{"data": ["tiny-mnist", "1, 2", "slerp", NaN, false, 1.0, 12]}')
    assert "event: complete" in text and "frames must be a whole number" in text, text  # the endpoint's message
    form = ('["DCGAN on MNIST", "mnist", null, "dcgan", "bce", false, false, 10, NaN, 0.0002, 0.5, 0.999, 16, 1, '
            '0.999, 0, "cpu", false, ""]')  # the last one: the teacher token (classroom mode; ignored without it)
    text = call("start_training", f'{{"data": {form}}}'.encode())
    assert "event: error" in text and "Learning rate of G must be a number above 0, at most 1; you typed nan" in text, text
    assert not app[0].active_runs()
    still_serving(client)


# ----------------------------------------------------------------------------------------- interpolate
@pytest.mark.parametrize("kwargs, words", [
    (dict(frames=-5), "frames must be a whole number"), (dict(frames=1e9), "frames must be a whole number"),
    (dict(frames="x"), "frames must be a whole number"), (dict(frames=2.5), "frames must be a whole number"),
    (dict(fps=0), "Frames per second must be a number from 1 to 60"),
    (dict(fps=-1), "Frames per second must be a number from 1"), (dict(fps=1e6), "Frames per second must be"),
    (dict(fps="x"), "Frames per second must be a number"), (dict(truncation=-1), "truncation must be a number"),
    (dict(truncation=5), "truncation must be a number above 0, at most 1"),
    (dict(keyframes="99999999999999999999, 1"), "seed must be a whole number from 0 to 4,294,967,295"), (dict(keyframes="-1, 2"), "seed must be a whole number from 0 to 4,294,967,295"),
    (dict(keyframes=", ".join(map(str, range(5000)))), "at most 64 keyframes"), (dict(keyframes=""), "at least 2"),
    (dict(mode="nope"), "interpolation must be slerp or linear"), (dict(model="../weights/x"), "unknown model"),
])
def test_interpolate_refuses_bad_numbers_and_names(app, client, kwargs, words):
    try:
        *files, message = client.predict(**{"model": "tiny-mnist", **kwargs}, api_name="/interpolate")
    except AppError() as e:
        message, files = str(e), [None] * 4
    assert words in message and "upstream Gradio app" not in message, message
    assert files == [None, None, None, None]
    still_serving(client)


# ------------------------------------------------------------------------------------------ start_training
@pytest.mark.parametrize("kwargs, words", [
    (dict(steps=0), "Steps must be"), (dict(steps=-1), "Steps must be"), (dict(steps="abc"), "steps must be"),
    (dict(lr_g=0), "Learning rate of G must be"), (dict(lr_g=1e9), "Learning rate of G must be"),
    (dict(lr_d=-1), "Learning rate of D must be"), (dict(lr_d="x"), "Learning rate of D must be a number above 0"),
    (dict(beta1=-0.1), "Adam β1 must be"), (dict(beta1=1.5), "Adam β1 must be"), (dict(beta2=2), "Adam β2 must be"),
    (dict(batch_size=-1), "Batch size must be"), (dict(batch_size=1e9), "Batch size must be"),
    (dict(n_critic=0), "D steps per G step"), (dict(n_critic=1e6), "D steps per G step"), (dict(ema=-1), "EMA decay"),
    (dict(ema=2), "EMA decay"), (dict(seed=-1), "Seed must be"), (dict(seed=1e30), "Seed must be"),
    (dict(steps=2.5), "steps must be a whole number"), (dict(batch_size=2.5), "batch size must be a whole number"),
    (dict(seed=0.5), "seed must be a whole number"),
    (dict(device="tpu"), "not in the list of choices"), (dict(preset="nope"), "not in the list of choices"),
    (dict(dataset="../../etc"), "not in the list of choices"), (dict(arch="stylegan9"), "not in the list"),
])
def test_start_training_refuses_bad_settings(app, client, kwargs, words):
    manager = app[0]
    before = set(manager.runs)
    refused(client, words, "/start_training", **kwargs)
    assert set(manager.runs) == before and not manager.active_runs()
    still_serving(client)


def _zip(path: Path, members) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _png(size=8) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (size, size), 128).save(buf, format="PNG")
    return buf.getvalue()


def test_uploads_through_the_api_are_checked_and_not_kept(app, client, runs_dir):
    from gradio_client import handle_file

    manager, scratch = app
    runs_before = set(manager.runs)
    uploads = runs_dir / "uploads"
    kept = set(uploads.iterdir()) if uploads.is_dir() else set()
    evil = _zip(scratch / "evil.zip", [("ok.png", _png()), (f"../../{MARKER}.png", _png())])
    absolute = _zip(scratch / "absolute.zip", [("ok.png", _png()), (f"/tmp/{MARKER}.png", _png())])
    bomb = _zip(scratch / "bomb.zip", [("bomb.png", b"\0" * (5 * 2 ** 20))])
    few = _zip(scratch / "few.zip", [(f"{i}.png", _png()) for i in range(3)])
    points = scratch / "ten.csv"
    points.write_text("x,y\n" + "".join(f"{i},{i % 3}\n" for i in range(10)))
    cases = [
        (dict(dataset=train_tab.UPLOAD_ZIP, upload=handle_file(str(evil))), "outside the archive"),
        (dict(dataset=train_tab.UPLOAD_ZIP, upload=handle_file(str(absolute))), "absolute path"),
        (dict(dataset=train_tab.UPLOAD_ZIP, upload=handle_file(str(bomb))), "zip bomb"),
        (dict(dataset=train_tab.UPLOAD_ZIP, upload=handle_file(str(points))), "needs a .zip file"),
        (dict(dataset=train_tab.UPLOAD_ZIP, upload=handle_file(str(few)), batch_size=16), "larger than the dataset"),
        (dict(dataset=train_tab.UPLOAD_CSV, upload=handle_file(str(points)), arch="mlp", batch_size=32),
         "larger than the dataset"),
    ]
    for kwargs, words in cases:
        refused(client, words, "/start_training", **kwargs)
    # A path on the server instead of an upload: Gradio refuses to read files it did not receive.
    with pytest.raises(AppError()):
        client.predict(dataset=train_tab.UPLOAD_CSV, upload={"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
                       api_name="/start_training")
    assert set(manager.runs) == runs_before and not manager.active_runs()
    assert (set(uploads.iterdir()) if uploads.is_dir() else set()) == kept   # refused uploads are not kept
    still_serving(client)


def test_an_upload_named_with_dot_dot_stays_in_gradios_folder(app, app_url, client):
    import httpx

    gradio_dir = Path(os.environ["GRADIO_TEMP_DIR"]).resolve()
    for name in (f"../../{MARKER}.csv", f"/tmp/{MARKER}.csv", f"..\\..\\{MARKER}.csv"):
        r = httpx.post(f"{app_url}gradio_api/upload", files={"files": (name, b"1,2\n3,4\n", "text/csv")}, timeout=30)
        assert r.status_code == 200, r.text
        (path,) = r.json()
        assert Path(path).resolve().is_relative_to(gradio_dir), path
    still_serving(client)


# --------------------------------------------------------------------------------------------- API misuse
def test_api_misuse_gets_messages(app, client):
    manager, _ = app
    refused(client, "unknown run id", "/training_status", "no-such-run")
    refused(client, "unknown run id", "/training_status", "../../etc/passwd")
    refused(client, "unknown run id", "/stop_training", "no-such-run")
    refused(client, "unknown run id", "/save_training_model", "../../x")
    status, _ = client.predict(api_name="/start_training", **RING8)
    run_id = status["run_id"]
    try:
        assert status["state"] == "running"
        refused(client, "already active", "/start_training", **RING8)                 # start while busy
        refused(client, "pause it first", "/step_training")                             # step while running
        refused(client, "nothing to resume", "/resume_training")                        # resume while running
        assert client.predict(api_name="/pause_training")["state"] == "paused"
        refused(client, "only a running run", "/pause_training")                        # pause twice
        assert client.predict(api_name="/stop_training")["state"] == "stopped"
        refused(client, "already stopped", "/stop_training")                            # stop twice
        refused(client, "pause it first", "/step_training", run_id)                     # step a stopped run
        assert client.predict(run_id, api_name="/training_status")["state"] == "stopped"
    finally:
        manager.stop_all()
    assert [r.id for r in manager.runs.values() if r.id == run_id] == [run_id]
    still_serving(client)


# ---------------------------------------------------------------------------------------- a bad weights folder
def test_a_weights_folder_of_bad_files_still_serves_the_good_ones(app, weights_dir):
    from gradio_client import Client
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from gan.ui.app import build_demo, launch_kwargs
    from tests.conftest import free_port

    tmp_path = app[1]
    folder = tmp_path / "weights"
    folder.mkdir()
    good = weights_dir / "tiny-mnist.safetensors"
    shutil.copy(good, folder / "good.safetensors")
    with safe_open(str(good), "pt") as f:
        meta = f.metadata()
    tensors = load_file(good)
    cfg = json.loads(meta["model_config"])

    def variant(name, **changes):
        save_file(tensors, str(folder / name), metadata={**meta, "model_config": json.dumps({**cfg, **changes})})

    (folder / "pickle.safetensors").write_bytes(pickle.dumps({"a": 1}))
    (folder / "truncated.safetensors").write_bytes(good.read_bytes()[:3000])
    (folder / "empty.safetensors").write_bytes(b"")
    (folder / "photo.safetensors").write_bytes(_png())
    variant("shapes.safetensors", g_width=16)
    variant("arch.safetensors", arch="stylegan9")
    variant("huge.safetensors", g_width=10 ** 7, image_size=10 ** 6)
    (folder / "notes.txt").write_text("not a model")
    bad = ("pickle", "truncated", "empty", "photo", "shapes", "arch", "huge")

    demo = build_demo(folder, tmp_path / "runs", device="cpu", tabs=["gan.ui.explore_tab", "gan.ui.interpolate_tab"])
    catalog = demo.ganscope.catalog
    assert "good" in catalog.names()
    kwargs = {**launch_kwargs(), "max_file_size": "2kb"}       # the app's cap, made small enough to hit here
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **kwargs)
    try:
        import httpx

        big = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.zip", b"x" * 4096)}, timeout=30)
        assert big.status_code == 413, (big.status_code, big.text)            # refused by the server itself
        assert httpx.post(f"{url}gradio_api/upload", files={"files": ("small.zip", b"x" * 512)},
                          timeout=30).status_code == 200
        c = Client(url, verbose=False)
        assert c.predict(seed=1, model="good", api_name="/generate")[0]
        for name in bad:
            try:
                image, *_ = c.predict(seed=1, model=name, api_name="/generate")
                listed = True
            except AppError() as e:
                listed = False
                assert "Traceback" not in str(e) and str(e).strip(), e
                assert any(w in str(e) for w in ("unknown model", "not a readable", "do not fit", "architecture",
                                                 "g_width", "image_size", "must be")), (name, str(e))
            assert not listed, f"{name}.safetensors gave an image"
            # Listing reads headers only: a file is either reported as skipped, or listed and refused on use.
            assert name in " ".join(catalog.problems) or name in catalog.names(), (name, catalog.problems)
        assert c.predict(seed=2, model="good", api_name="/generate")[0]    # the bad files broke nothing
    finally:
        demo.close()
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(f"{n}.safetensors" for n in ("good", *bad)),
                                                                "notes.txt"])


# ------------------------------------------------------------------------------------------ command line
@pytest.mark.parametrize("argv, words", [
    (["--truncation", "nan"], "truncation"), (["--truncation", "0"], "truncation"),
    (["--truncation", "-1"], "truncation"), (["--seeds", "-1"], "seed"),
    (["--seeds", "0-99999999999"], "seed"), (["--interpolate", "1,2", "--frames", "0"], "frame"),
    (["--interpolate", "1,2", "--fps", "nan"], "--fps"), (["--interpolate", "1,2", "--fps", "0"], "--fps"),
])
def test_generate_command_refuses_bad_numbers(app, weights_dir, capsys, argv, words):
    from gan import generate
    from gan.cli import run_main

    out = app[1] / ("x.gif" if "--interpolate" in argv else "x.png")
    rc = run_main(generate.main, [str(weights_dir / "tiny-mnist.safetensors"), "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and words in err.lower() and "Traceback" not in err, (rc, err)
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize("argv, words", [
    (["--lr-g", "nan"], "--lr-g"), (["--steps", "-5"], "--steps"), (["--ema", "2"], "--ema"),
    (["--batch-size", "100000"], "--batch-size"), (["--seed", "-3"], "--seed"),
])
def test_train_command_refuses_bad_numbers(app, capsys, argv, words):
    from gan import train
    from gan.cli import run_main

    out = app[1] / "cli-run"
    rc = run_main(train.main, ["--steps", "1", "--dataset", "ring8", "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and "Traceback" not in err, (rc, err)
    assert not out.exists()


# ------------------------------------------------------------------------------------ the app's defaults
@pytest.fixture
def launched(monkeypatch):
    """app.main with demo.launch replaced by a recorder (no server, no preload)."""
    import app as app_module

    calls = []
    monkeypatch.setattr(app_module, "preload", lambda demo: None)
    monkeypatch.setattr(app_module.demo, "launch", lambda **kw: calls.append(kw))
    return app_module, calls


def test_defaults_are_private_and_capped(launched):
    app_module, calls = launched
    args = app_module.parse_args([])
    assert (args.host, args.share, args.auth) == ("127.0.0.1", False, None)
    assert app_module.main([]) == 0
    (kw,) = calls
    assert kw["server_name"] == "127.0.0.1" and kw["share"] is False and kw["auth"] is None
    assert kw["max_file_size"] == "200mb" and kw["ssr_mode"] is False
    assert app_module.main(["--share", "--auth", "alice:secret", "--host", "0.0.0.0"]) == 0
    assert calls[1]["share"] is True and calls[1]["auth"] == ("alice", "secret")
    assert calls[1]["server_name"] == "0.0.0.0"


@pytest.mark.parametrize("argv, words", [
    (["--auth", "alice"], "--auth must be user:password"), (["--auth", ":pw"], "--auth must be"),
    (["--device", "tpu"], "unknown device"), (["--max-runs", "0"], "--max-runs"), (["--port", "-1"], "--port"),
    (["--port", "70000"], "--port"),
])
def test_app_command_line_refuses_bad_flags(launched, capsys, argv, words):
    app_module, calls = launched
    assert app_module.main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
    assert calls == []
