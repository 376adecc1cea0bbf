"""GANscope app: explore a generator's latent space in the browser.

    python app.py                                   # http://127.0.0.1:7860, models from weights/ and runs/
    python app.py --weights my_models --port 8000 --auth alice:secret

`demo` is built at import time with the defaults, so a Hugging Face Space (app_file: app.py) can serve it.
While the first page is served, the default model and its directions load in a background thread (preload), so
the first image does not wait for them.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading

from gan.malloc import fewer_malloc_arenas, trim_malloc_every
from gan.ui.app import build_demo, launch_kwargs

DEFAULT_WEIGHTS = os.environ.get("GANSCOPE_WEIGHTS", "weights")
DEFAULT_RUNS = os.environ.get("GANSCOPE_RUNS", "runs")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python app.py", description="GANscope: explore and train GANs in the browser.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s; "
                                                        "0.0.0.0 to serve the network)")
    p.add_argument("--port", type=int, default=None, help="port (default: 7860, or the next free one)")
    p.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    p.add_argument("--weights", metavar="DIR", default=DEFAULT_WEIGHTS, help="folder of generator files "
                                                                               "(default: %(default)s)")
    p.add_argument("--runs", metavar="DIR", default=DEFAULT_RUNS, help="training runs folder (default: %(default)s)")
    p.add_argument("--max-runs", type=int, default=1, help="training runs allowed at once (default: %(default)s)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="ask for a login (use it with --share or --host 0.0.0.0)")
    p.add_argument("--max-playgrounds", type=int, default=8, metavar="N",
                   help="Playgrounds (one per visitor) training at the same time (default: %(default)s); "
                        "stepping by hand is always allowed")
    p.add_argument("--classroom", action="store_true",
                   help="only the teacher link (printed at start) controls the training runs; every visitor "
                        "keeps their own Playground and Explore")
    p.add_argument("--teacher-token", metavar="TOKEN", default=None,
                   help="the teacher link's token in --classroom mode (default: a random one)")
    return p.parse_args(argv)


def preload(demo) -> threading.Thread:
    """Import torch and load the default model and its directions while the first page is being served."""
    t = threading.Thread(target=demo.ganscope.catalog.preload, name="ganscope-preload", daemon=True)
    t.start()
    return t


def _key(args: argparse.Namespace) -> tuple:
    """What the demo is built from: (weights, runs, device, max_runs, max_playgrounds, teacher token or None)."""
    ok = args.max_runs >= 1 and args.max_playgrounds >= 1 and (args.device in ("auto", "cpu", "cuda", "mps")
                                                               or args.device.startswith(("cuda:", "mps:")))
    if not ok:
        return _key(parse_args([]))
    token = (args.teacher_token or secrets.token_urlsafe(12)) if args.classroom else None
    return args.weights, args.runs, args.device, args.max_runs, args.max_playgrounds, token


def _build(key: tuple):
    weights, runs, device, max_runs, max_playgrounds, token = key
    return build_demo(weights, runs, device=device, max_runs=max_runs, max_playgrounds=max_playgrounds,
                      teacher_token=token)


# Built once at import, so a Hugging Face Space (or `import app`) finds `demo`: with the defaults when imported,
# with the command line's folders when run as a script (one build, not a default one and then the real one).
_BUILT = _key(parse_args(None if __name__ == "__main__" else []))
demo = _build(_BUILT)


def main(argv: list[str] | None = None) -> int:
    global demo, _BUILT
    args = parse_args(argv)
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            print("app.py: --auth must be user:password", file=sys.stderr)
            return 2
        auth = (user, password)
    if args.device not in ("auto", "cpu", "cuda", "mps") and not args.device.startswith(("cuda:", "mps:")):
        print(f"app.py: unknown device {args.device!r}; choose auto, cpu, cuda or mps", file=sys.stderr)
        return 2
    if args.port is not None and not 1 <= args.port <= 65535:
        print(f"app.py: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return 2
    if args.max_runs < 1:
        print("app.py: --max-runs must be at least 1", file=sys.stderr)
        return 2
    if args.max_playgrounds < 1:
        print("app.py: --max-playgrounds must be at least 1", file=sys.stderr)
        return 2
    if args.teacher_token is not None and not args.classroom:
        print("app.py: --teacher-token needs --classroom", file=sys.stderr)
        return 2
    key = _key(args)
    if key[:5] != _BUILT[:5] or (args.teacher_token and key[5] != _BUILT[5]):
        _BUILT = key
        demo = _build(_BUILT)
    if not demo.ganscope.catalog.entries:
        print(f"app.py: no generators in {args.weights}/ or {args.runs}/ yet; the page will say so "
              "(train one with python -m gan.train)", file=sys.stderr)
    preload(demo)
    trim_malloc_every()
    demo.queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port,
                                                   share=args.share, auth=auth, prevent_thread_lock=True,
                                                   **launch_kwargs())
    if _BUILT[5]:
        print(f"Classroom mode. Teacher link (keep it to yourself): {demo.local_url.rstrip('/')}/?teacher={_BUILT[5]}",
              flush=True)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    fewer_malloc_arenas()
    sys.exit(main())
