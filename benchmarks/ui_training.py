"""Training speed under an open page: images/s of a run started and watched in the browser (Playwright, the Train
tab's timer polling every second) divided by images/s of the same config from the command line, measured in the
same benchmark run (the machine is shared and noisy, so only the ratio means something).

    python benchmarks/ui_training.py [--steps 300] [--rounds 2] [--json]

Goal: ratio >= 0.9 on a 2-core machine where the browser, the server and the training share the cores.
Both sides run the "DCGAN on MNIST" preset (dcgan, bce, batch 64) and are timed from their own metrics.jsonl over
the same step window, after a warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
WARMUP = 30


def images_per_second(run_dir: Path, first: int, last: int, batch: int = 64) -> float:
    entries = {e["step"]: e for e in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
               if "loss_d" in e}
    steps = sorted(s for s in entries if first <= s <= last)
    a, b = entries[steps[0]], entries[steps[-1]]
    return (b["step"] - a["step"]) * batch / (b["time"] - a["time"])


def cli_round(steps: int, tmp: Path) -> float:
    out = tmp / f"cli-{time.time_ns()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "gan.train", "--steps", str(steps), "--out", str(out), "--log-every", "10",
                    "--sample-every", "250", "--checkpoint-every", "250"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return images_per_second(out, WARMUP, steps)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ui_round(steps: int, tmp: Path, browser) -> float:
    runs = tmp / f"ui-{time.time_ns()}"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--runs", str(runs)], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = browser.new_page()
        deadline = time.time() + 120
        while True:
            try:
                page.goto(f"http://127.0.0.1:{port}/")
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        page.get_by_role("tab", name="Train").click()
        page.get_by_text("Hyperparameters").click()
        field = page.get_by_label("steps", exact=True)
        field.fill(str(steps))
        field.press("Tab")
        page.locator("#train-start").click()
        status = page.locator("#train-status")
        deadline = time.time() + 1800
        while "finished" not in status.inner_text() and time.time() < deadline:
            time.sleep(1.0)
        run_dir = next(p for p in runs.iterdir() if (p / "metrics.jsonl").is_file())
        page.close()
        return images_per_second(run_dir, WARMUP, steps)
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2, help="alternating CLI/UI rounds; medians are compared")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    cli, ui = [], []
    with tempfile.TemporaryDirectory() as d, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        for r in range(args.rounds):
            cli.append(cli_round(args.steps, Path(d)))
            ui.append(ui_round(args.steps, Path(d), browser))
            print(f"round {r + 1}: command line {cli[-1]:.0f} img/s, watched in the browser {ui[-1]:.0f} img/s",
                  file=sys.stderr)
        browser.close()
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    result = {"steps": args.steps, "cli_img_s": round(med(cli), 1), "ui_img_s": round(med(ui), 1),
              "ratio": round(med(ui) / med(cli), 3), "rounds": {"cli": cli, "ui": ui}}
    print(f"command line {result['cli_img_s']} img/s, browser-watched {result['ui_img_s']} img/s, "
          f"ratio {result['ratio']} (goal >= 0.9)")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
