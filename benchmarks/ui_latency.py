"""UI latency: from a slider input in headless Chromium to the new image in the page, median and p95 over N moves,
on a 28x28 model; the server-side handler time; and the time from `python app.py` to the first page served.

    .venv/bin/python benchmarks/ui_latency.py                     # weights/mnist-dcgan.safetensors if present
    .venv/bin/python benchmarks/ui_latency.py --model path/to/generator.safetensors --moves 100

Baseline in the same run: Gradio's floor, the same page shape (slider -> 336x336 PNG, queue=False) with a handler
that returns a precomputed image. The app's figures are printed next to it and as a ratio, because this machine is
shared and noisy. Goals (issue 4): p50 < 50 ms, p95 < 100 ms in the browser, handler < 10 ms, first page < 10 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

# Set the range input's value as a user would (native setter + input event), then wait, inside the page, until
# #generated shows a different, fully decoded image. Returns milliseconds measured with performance.now().
MOVE_JS = """
async ([selector, value]) => {
  const input = document.querySelector(selector);
  const current = () => document.querySelector('#generated img');
  const before = current() ? current().src : null;
  const t0 = performance.now();
  const done = new Promise((resolve, reject) => {
    const deadline = t0 + 15000;
    const check = () => {
      const img = current();
      if (img && img.src !== before && img.complete && img.naturalWidth > 0) return resolve(performance.now() - t0);
      if (performance.now() > deadline) return reject(new Error('no new image within 15 s'));
      setTimeout(check, 1);
    };
    check();
  });
  const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  setter.call(input, String(value));
  input.dispatchEvent(new Event('input', { bubbles: true }));
  return await done;
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(url: str, timeout: float = 180) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200 and b"<html" in r.read(2000).lower():
                    return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


# ------------------------------------------------------------------------------------------------ the floor
def serve_floor(port: int) -> None:
    """Gradio's floor: one slider, one 336x336 PNG image, a handler that does nothing but pick a cached array."""
    import numpy as np
    import gradio as gr

    rng = np.random.default_rng(0)
    images = [np.kron(rng.integers(0, 255, (28, 28), dtype=np.uint8), np.ones((12, 12), np.uint8))
              for _ in range(256)]
    counter = {"i": 0}

    def render(v):
        counter["i"] += 1
        return images[counter["i"] % len(images)]

    with gr.Blocks() as demo:
        s = gr.Slider(-5, 5, 0, step=0.1, label="direction 1")
        img = gr.Image(images[0], elem_id="generated", format="png", interactive=False)
        s.input(render, s, img, trigger_mode="always_last", show_progress="hidden", queue=False)
    demo.queue().launch(server_name="127.0.0.1", server_port=port, ssr_mode=False, quiet=True)


# -------------------------------------------------------------------------------------------------- timing
def browser_moves(url: str, moves: int, selector: str) -> list[float]:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        expect(page.locator("#generated img")).to_be_visible(timeout=120_000)
        page.wait_for_timeout(1000)  # let the first paint's other events settle
        times = []
        for i in range(moves + 5):
            value = round(-4.9 + 0.1 * (i % 99), 1)
            t = page.evaluate(MOVE_JS, [selector, value])
            if i >= 5:  # warm-up moves not counted
                times.append(t)
        b.close()
    return times


def handler_times(model: Path, n: int = 200, device: str = "cpu", warmup: int = 10) -> dict:
    """Server-side: the Explore tab's live handler body (latent -> 7 images + D score -> upscaled arrays) and the
    PNG encoding Gradio then does, without HTTP, with the catalog on `device` (benchmarks/gpu_check.py times it on
    cuda). Each call returns uint8 arrays on the host, so a GPU's work is finished when the clock stops. Returns
    the times in ms ({"live", "png", "release"}) and the device the model ran on."""
    import io

    from PIL import Image

    from gan.catalog import Catalog
    from gan.ui.app import AppContext
    from gan.ui.explore_tab import _view

    folder = Path(tempfile.mkdtemp(prefix="ganscope-bench-"))
    shutil.copy(model, folder / model.name)
    cat = Catalog(folder, None, device=device)
    ctx = AppContext(cat, device)
    name = cat.default_name()
    cat.directions(name)
    live_ms, png_ms, release_ms = [], [], []
    for i in range(n + warmup):
        amounts = [round(-4.9 + 0.1 * (i % 99), 1), 0, 0, 0, 0, 0]
        t0 = time.perf_counter()
        _, v = _view(ctx, name, 3, 1.0, None, amounts, neighbours=False)
        t1 = time.perf_counter()
        Image.fromarray(v.image).save(io.BytesIO(), format="PNG")
        t2 = time.perf_counter()
        _view(ctx, name, 3, 1.0, None, amounts, neighbours=True)
        t3 = time.perf_counter()
        if i >= warmup:
            live_ms.append((t1 - t0) * 1000)
            png_ms.append((t2 - t1) * 1000)
            release_ms.append((t3 - t2) * 1000)
    ran_on = str(cat.get(name).device)
    ctx.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {"live": live_ms, "png": png_ms, "release": release_ms, "device": ran_on}


def start_app(weights: Path, port: int, env: dict) -> tuple[subprocess.Popen, float]:
    runs = Path(tempfile.mkdtemp(prefix="ganscope-bench-runs-"))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--weights", str(weights), "--runs", str(runs),
                             "--port", str(port), "--device", "cpu"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1 = wait_for_page(f"http://127.0.0.1:{port}/")
    return proc, t1 - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "weights" / "mnist-dcgan.safetensors",
                    help="a 28x28 generator file (default: %(default)s)")
    ap.add_argument("--moves", type=int, default=100)
    ap.add_argument("--serve-floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return 0
    if not args.model.is_file():
        print(f"no model at {args.model}: train one (python -m gan.train) and pass --model", file=sys.stderr)
        return 2
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": tempfile.mkdtemp(prefix="ganscope-bench-gradio-")}
    weights = Path(tempfile.mkdtemp(prefix="ganscope-bench-weights-"))
    shutil.copy(args.model, weights / args.model.name)

    print(f"model: {args.model.name}; {args.moves} slider moves; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")
    # 1. start-up: python app.py -> first page served
    port = free_port()
    proc, startup = start_app(weights, port, env)
    print(f"start-up: python app.py -> first page served: {startup:.2f} s (goal < 10 s)")
    try:
        # 2. the app in the browser
        app_ms = browser_moves(f"http://127.0.0.1:{port}/", args.moves, "#direction-1 input[type=range]")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # 3. Gradio's floor, same browser measurement
    fport = free_port()
    floor = subprocess.Popen([sys.executable, __file__, "--serve-floor", str(fport)], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_page(f"http://127.0.0.1:{fport}/")
        floor_ms = browser_moves(f"http://127.0.0.1:{fport}/", args.moves, "input[type=range]")
    finally:
        floor.terminate()
        floor.wait(timeout=30)
    # 4. server-side handler
    h = handler_times(args.model)

    def line(name, ms, goal=""):
        return f"  {name:<44} p50 {statistics.median(ms):6.1f} ms   p95 {pct(ms, 95):6.1f} ms {goal}"

    print("slider input -> new image in the page (headless Chromium):")
    print(line("app (Explore tab, direction 1)", app_ms, "(goal p50 < 50, p95 < 100)"))
    print(line("Gradio floor (precomputed image, queue=False)", floor_ms))
    print(f"  ratio app / floor: p50 {statistics.median(app_ms) / statistics.median(floor_ms):.2f}x, "
          f"p95 {pct(app_ms, 95) / pct(floor_ms, 95):.2f}x")
    print("server side, per move:")
    print(line("live handler (latent -> image + D score)", h["live"], "(goal < 10)"))
    print(line("PNG encoding of that image (Gradio's)", h["png"]))
    print(line("on release: image + 7-image neighbours strip", h["release"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
