"""Shared fixtures for the app tests: a weights folder of tiny real generators (plus files that are not), a real
server on a free port, and headless Chromium. Kept general so every tab's tests can use them:

    def test_something(app_url, page): page.goto(app_url) ...
    def test_api(client): client.predict(api_name="/generate")

Everything is session-scoped except `page` (a fresh browser context per test).

The suite runs torch on one intra-op thread (OMP_NUM_THREADS=1, set here before torch is imported, so the processes
the tests start inherit it). Its nets are tiny and the test process holds several threads that use torch at once (a
server, a training run, the test itself); on 2 cores, two OpenMP threads each made the same 48-step resume take 3-16 s
instead of 1 s. The logic under test is the same at any thread count; tests that are about thread counts set their own.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import io  # noqa: E402
import json
import logging
import random
import signal
import socket
import struct
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from importlib import import_module
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
TINY_TRAIN = dict(g_width=8, d_width=8, batch_size=16, z_dim=16, log_every=1, sample_every=1000,
                  checkpoint_every=1000, device="cpu")

# Names of the fixture's files (tests refer to them).
GOOD_MODELS = ("tiny-mnist", "tiny-mnist-cond", "tiny-grid25")
BAD_FILES = ("broken.safetensors", "foreign.safetensors", "not-a-model.safetensors")


def pause_every_playground(demo) -> None:
    """After a test: pause every Playground a page left playing. A closed page stops polling, but its Playground
    trains on for 60 s before it pauses itself, on the cores the next tests (and the other worker) need."""
    if demo is None or not demo.ganscope.has("playgrounds"):
        return
    manager = demo.ganscope.playgrounds
    for key in manager.keys():
        session = manager.session(key, create=False)
        if session is not None and session.playing:
            session.pause()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_process(module, *args, cwd=None) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` in this process: the module's main through run_main, as its `__main__` runs it, with
    stdout and stderr captured (the log included: the root logger starts without handlers, as in a new process, so
    run_main's basicConfig sends it to stderr). What a run changes in the process is put back afterwards: the root
    logger, the working directory, the global RNGs (a Trainer seeds torch's), torch's thread count and the SIGINT
    handler."""
    import numpy as np
    import torch

    from gan.cli import run_main

    argv = [str(a) for a in args]
    main = import_module(module).main
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, os.getcwd(), torch.random.get_rng_state(), np.random.get_state(),
             random.getstate(), torch.get_num_threads(), signal.getsignal(signal.SIGINT))
    out, err = io.StringIO(), io.StringIO()
    root.handlers = []
    root.setLevel(logging.WARNING)
    try:
        if cwd is not None:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = run_main(main, argv)
            except SystemExit as e:  # argparse's own errors (exit 2), as the interpreter would turn them
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        for h in root.handlers:
            h.close()
        root.handlers = saved[0]
        root.setLevel(saved[1])
        os.chdir(saved[2])
        torch.random.set_rng_state(saved[3])
        np.random.set_state(saved[4])
        random.setstate(saved[5])
        torch.set_num_threads(saved[6])
        signal.signal(signal.SIGINT, saved[7])
    return subprocess.CompletedProcess([sys.executable, "-m", module, *argv], code, out.getvalue(), err.getvalue())


def _train_tiny(path: Path, steps: int = 3, **kw) -> None:
    """A few real training steps on the bundled data, saved as a model file (the EMA generator + D)."""
    from gan.config import TrainConfig
    from gan.trainer import Trainer

    t = Trainer(TrainConfig(**{**TINY_TRAIN, **kw}))
    for _ in range(steps):
        t.step()
    t.save_model(path)


def _write_safetensors_header(path: Path, header: dict, payload: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + payload)


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """tiny-mnist (dcgan/bce), tiny-mnist-cond (conditional, spectral norm, hinge), tiny-grid25 (2-D, mlp), a
    GANscope classifier (skipped quietly) and three bad files: garbage bytes, a safetensors file without our
    metadata, and a truncated header."""
    d = tmp_path_factory.mktemp("weights")
    _train_tiny(d / "tiny-mnist.safetensors", dataset="mnist", loss="bce")
    _train_tiny(d / "tiny-mnist-cond.safetensors", dataset="mnist", loss="hinge", conditional=True,
                spectral_norm=True)
    _train_tiny(d / "tiny-grid25.safetensors", dataset="grid25", loss="bce", g_width=16, d_width=16, z_dim=2)
    (d / "broken.safetensors").write_bytes(b"this is not a model at all\n" * 10)
    _write_safetensors_header(d / "foreign.safetensors", {
        "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": {"format": "pt"}},
        b"\0\0\0\0")
    (d / "not-a-model.safetensors").write_bytes(struct.pack("<Q", 10_000) + b"{")
    _write_safetensors_header(d / "classifier-mnist.safetensors", {
        "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "__metadata__": {"format": "ganscope-classifier", "format_version": "1"}}, b"\0\0\0\0")
    return d


@pytest.fixture(scope="session")
def opening_seed(weights_dir) -> int:
    """The seed a page without one in its address opens tiny-mnist (the fixture's default model) on: the rule of
    gan.first_view, which judges by the real MNIST classifier."""
    from gan.first_view import first_view
    from gan.pipeline import load_generator

    return first_view(load_generator(weights_dir / "tiny-mnist.safetensors")).seed


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def demo(weights_dir, runs_dir, tmp_path_factory):
    """The whole app (every tab in gan.ui.app.TABS) on the fixture's folders, not yet launched."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from gan.ui.app import build_demo

    return build_demo(weights_dir, runs_dir, device="cpu")


@pytest.fixture(scope="session")
def app_url(demo) -> str:
    """A real server on a free port, the default model preloaded."""
    from gan.ui.app import launch_kwargs

    demo.ganscope.catalog.preload()
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **launch_kwargs())
    yield url
    demo.close()


def launch_explore(weights: Path, runs: Path):
    """(demo, url): the Explore tab alone on a weights folder, served on a free port (close the demo after)."""
    from gan.ui.app import build_demo, launch_kwargs

    demo = build_demo(weights, runs, device="cpu", tabs=["gan.ui.explore_tab"])
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **launch_kwargs())
    return demo, url


@pytest.fixture(scope="session")
def shipped_url(demo, tmp_path_factory) -> str:
    """Explore on two of the real shipped files, mnist-dcgan (the default) and mnist-progan: the shipped weights
    are what a visitor opens first, and a tiny model of the same family does not catch everything they do."""
    import shutil

    root = Path(__file__).resolve().parents[1] / "weights"
    folder = tmp_path_factory.mktemp("shipped")
    for name in ("mnist-dcgan", "mnist-progan"):
        shutil.copy(root / f"{name}.safetensors", folder / f"{name}.safetensors")
    d, url = launch_explore(folder, tmp_path_factory.mktemp("shipped-runs"))
    yield url
    d.close()


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run `make test` (it installs Debian's chromium) or "
                    "`sudo apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()
