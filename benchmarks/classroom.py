"""A classroom on one server: 25 visitors, each with their own Playground, for 60 s (issue 16).

    python benchmarks/classroom.py [--visitors 25] [--seconds 60] [--burst 200] [--timeline-steps 1500] [--json]

Starts `python app.py --max-playgrounds N` in its own process (N = the number of visitors) and drives one
gradio_client visitor per thread: each picks one of the 2-D lessons, presses Play, polls its status twice a second
and checks that it sees its own lesson and a step that never goes back, and asks for frames ten times a second the
way a page's timer does (POST /gradio_api/run/playground_frame with its session, then GET the picture when a new
one comes), counting every byte it receives. Before that, with `--timeline-steps S` (0: skip), every visitor opens a
hand-in link of its lesson at step S (playground_open_link, which replays the run to S), so each Playground's
timeline (gan.playground_timeline, at most TIMELINE_BYTES a visitor) has filled before the run: the RSS growth is
that of a classroom late in a lesson, timelines included. Then, on a second server with the default limit, it checks that the
ninth visitor to press Play gets the message, and that of `--burst` visitors pressing Play at once (one asyncio
HTTP client, each call a session of its own, while the first 8 keep polling as their pages would) the ones beyond
the limit get it while the server keeps answering.

Prints: errors, wrong-visitor answers, status latency p50 / p95, frames per second per playing visitor, bytes per
second per visitor, the timelines' memory, and the server's RSS at start and end.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ["Mode collapse", "Wasserstein + gradient penalty", "Spectral norm",
           "Discriminator too strong: vanishing gradients", "Learning rate too high: oscillation"]
BUSY = "playgrounds are playing on this server; press Play again in a moment"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(max_playgrounds: int | None, workdir: Path) -> tuple[subprocess.Popen, str]:
    """The app as a teacher starts it, in its own process, on an empty weights folder (the Playground needs
    none); returns once it answers."""
    import httpx

    port = free_port()
    args = [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--weights", str(workdir / "weights"),
            "--runs", str(workdir / "runs")]
    if max_playgrounds is not None:
        args += ["--max-playgrounds", str(max_playgrounds)]
    (workdir / "weights").mkdir(exist_ok=True)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1",
           "GRADIO_TEMP_DIR": str(workdir / "gradio")}
    log = open(workdir / f"server-{port}.log", "w")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    end = time.monotonic() + 120
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode}: see {log.name}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("the app did not answer within 120 s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Visitor:
    """One student: a gradio_client session for the named endpoints, and the same session's frame polling."""

    def __init__(self, url: str, lesson: str):
        import httpx
        from gradio_client import Client

        self.url, self.lesson = url, lesson
        self.client = Client(url, verbose=False)
        self.http = httpx.Client(timeout=30)
        self.errors: list[str] = []
        self.wrong: list[str] = []
        self.latencies: list[float] = []
        self.frames = 0
        self.bytes = 0
        self.last_frame = None
        self.last_step = -1
        self.playing_s = 0.0

    def start(self) -> dict:
        self.client.predict(self.lesson, api_name="/playground_lesson")
        return self.client.predict(api_name="/playground_play")

    def status(self) -> None:
        t0 = time.perf_counter()
        st = self.client.predict(api_name="/playground_status")
        self.latencies.append(time.perf_counter() - t0)
        self.bytes += len(json.dumps(st))
        if st.get("lesson") != self.lesson:
            self.wrong.append(f"lesson {st.get('lesson')!r}, not {self.lesson!r}")
        elif st["step"] < self.last_step:
            self.wrong.append(f"step went back from {self.last_step} to {st['step']}")
        self.last_step = st["step"]

    def frame(self) -> None:
        """What the page's timer does: ask for the frame; fetch the picture only when a new one comes."""
        r = self.http.post(self.url + "gradio_api/run/playground_frame",
                           json={"data": [None], "session_hash": self.client.session_hash})
        self.bytes += len(r.content)
        r.raise_for_status()
        image = r.json()["data"][0]
        if isinstance(image, dict) and image.get("url"):
            if image["url"] != self.last_frame:
                self.last_frame = image["url"]
                self.bytes += len(self.http.get(image["url"]).content)
                self.frames += 1

    def run(self, seconds: float) -> None:
        t0 = time.monotonic()
        next_status = t0
        while (now := time.monotonic()) - t0 < seconds:
            try:
                if now >= next_status:
                    self.status()
                    next_status += 0.5
                self.frame()
            except Exception as e:  # noqa: BLE001 - every failure is counted and printed
                self.errors.append(repr(e)[:200])
            time.sleep(max(0.0, 0.1 - (time.monotonic() - now)))
        self.playing_s = time.monotonic() - t0


def fill_timelines(visitors: list[Visitor], step: int, timeout_s: float = 1800) -> dict:
    """Every visitor opens a hand-in link of its lesson at `step`, and the server replays them all at once; returns
    once each has paused there (or raises after timeout_s), with the timelines' figures."""
    from urllib.parse import urlencode

    t0 = time.monotonic()
    for v in visitors:
        v.client.predict(urlencode({"pg_lesson": v.lesson, "pg_step": step}), api_name="/playground_open_link")
    pending = list(visitors)
    while pending:
        if time.monotonic() - t0 > timeout_s:
            raise SystemExit(f"{len(pending)} visitors had not replayed to step {step} within {timeout_s:.0f} s")
        time.sleep(15)          # the status call is a page's poll too: an unpolled Playground pauses after 60 s
        pending = [v for v in pending if v.client.predict(api_name="/playground_status")["step"] < step]
    lines = [v.client.predict(api_name="/playground_timeline") for v in visitors]
    return {"timeline_steps": step, "replay_s": round(time.monotonic() - t0, 1),
            "timelines_mb": round(sum(t["mb"] for t in lines), 1),
            "timeline_mb_max": max(t["mb"] for t in lines), "timeline_budget_mb": lines[0]["budget_mb"],
            "snapshots_kept_median": statistics.median(len(t["steps"]) for t in lines)}


def classroom(url: str, pid: int, n: int, seconds: float, timeline_steps: int = 0) -> dict:
    rss_bare = rss_mb(pid)
    warm = Visitor(url, LESSONS[0])        # one visitor first, so torch and the views are loaded: RSS from here
    warm.client.predict(LESSONS[0], api_name="/playground_lesson")
    warm.client.predict(api_name="/playground_step")
    warm.frame()
    with ThreadPoolExecutor(n) as pool:
        visitors = list(pool.map(lambda i: Visitor(url, LESSONS[i % len(LESSONS)]), range(n)))
    rss_start = rss_mb(pid)
    filled = fill_timelines(visitors, timeline_steps) if timeline_steps else {}
    rss_filled = rss_mb(pid)
    started = [v.start() for v in visitors]
    refused = sum(not s.get("playing") for s in started)
    threads = [threading.Thread(target=v.run, args=(seconds,)) for v in visitors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for v in visitors:
        v.client.predict(api_name="/playground_pause")
    rss_end = rss_mb(pid)
    lat = sorted(x for v in visitors for x in v.latencies)
    errors = [e for v in visitors for e in v.errors]
    wrong = [w for v in visitors for w in v.wrong]
    return {
        "visitors": n, "seconds": seconds, "refused_play": refused,
        "errors": len(errors), "error_examples": errors[:5],
        "wrong_answers": len(wrong), "wrong_examples": wrong[:5],
        "status_calls": len(lat),
        "status_p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
        "status_p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
        "frames_per_s_per_visitor": round(statistics.mean(v.frames / v.playing_s for v in visitors), 2),
        "kbytes_per_s_per_visitor": round(statistics.mean(v.bytes / v.playing_s for v in visitors) / 1024, 1),
        "final_step_min": min(v.last_step for v in visitors),
        "final_step_median": statistics.median(v.last_step for v in visitors),
        "rss_bare_mb": round(rss_bare), "rss_start_mb": round(rss_start), "rss_filled_mb": round(rss_filled),
        "rss_end_mb": round(rss_end), "rss_growth_mb": round(rss_end - rss_start), **filled,
    }


def the_limit(url: str, burst: int) -> dict:
    """Default limit (8): the ninth visitor's Play gets the message; then `burst` more press Play at once."""
    from gradio_client import Client

    with ThreadPoolExecutor(8) as pool:
        first = list(pool.map(lambda _: Client(url, verbose=False), range(9)))
    answers = [c.predict(api_name="/playground_play") for c in first]
    out = {"first_8_playing": sum(bool(a["playing"]) for a in answers[:8]),
           "ninth_message": answers[8]["message"], "ninth_refused": (not answers[8]["playing"]
                                                                      and BUSY in answers[8]["message"])}
    if burst:
        stop, poll_errors = threading.Event(), []
        watch = threading.Thread(target=_keep_polling, args=(first[:8], stop, poll_errors), daemon=True)
        watch.start()           # the first 8 students' pages keep polling: their Playgrounds keep playing
        try:
            got, latencies, errors, took = _burst(url, burst)
        finally:
            stop.set()
            watch.join()
        t1 = time.perf_counter()
        alive = first[0].predict(api_name="/playground_status")
        latencies.sort()
        out.update({"burst": burst, "burst_s": round(took, 1), "burst_errors": len(errors),
                    "burst_error_examples": errors[:3], "burst_poll_errors": len(poll_errors),
                    "burst_poll_error_examples": poll_errors[:2],
                    "burst_refused_with_message": sum(not g["playing"] and BUSY in g["message"] for g in got),
                    "burst_playing": sum(bool(g["playing"]) for g in got),
                    "burst_answer_p50_s": round(statistics.median(latencies), 2) if latencies else None,
                    "burst_answer_max_s": round(latencies[-1], 2) if latencies else None,
                    "status_after_burst_ms": round(1000 * (time.perf_counter() - t1), 1),
                    "status_after_burst_ok": "step" in alive})
    for c in first:
        c.predict(api_name="/playground_pause")
    return out


def _keep_polling(clients, stop: threading.Event, errors: list) -> None:
    """The first visitors' pages keep polling during the burst; a poll the crowded server answers too late is
    counted (burst_poll_errors), not a crash."""
    while not stop.wait(5):
        for c in clients:
            try:
                c.predict(api_name="/playground_status")
            except Exception as e:      # noqa: BLE001 (httpx's timeouts and gradio_client's errors alike)
                errors.append(repr(e)[:200])


def _burst(url: str, n: int, timeout_s: float = 60) -> tuple[list[dict], list[float], list[str], float]:
    """n visitors press Play at once: one asyncio HTTP client sends n calls of playground_play, each a visitor of
    its own (its own session), and reads each answer. (A thread and a gradio_client per visitor, 600 threads in
    this process, measured this process's own contention: their 5 s join timeouts fired before it read the
    answers.) Returns the answers, each one's seconds, the errors and the total seconds."""
    import asyncio
    import secrets

    import httpx

    async def press(client: httpx.AsyncClient):
        t0 = time.perf_counter()
        session = secrets.token_hex(8)
        r = await client.post(url + "gradio_api/queue/join", json={"data": [], "fn_index": fn_index,
                                                                   "session_hash": session, "event_data": None,
                                                                   "trigger_id": None})
        r.raise_for_status()
        async with client.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session}) as s:
            async for line in s.aiter_lines():
                if line.startswith("data:") and '"process_completed"' in line:
                    msg = json.loads(line[5:])
                    if not msg.get("success"):
                        raise RuntimeError(str(msg.get("output"))[:200])
                    return msg["output"]["data"][0], time.perf_counter() - t0
        raise RuntimeError("the stream ended without an answer")

    async def crowd():
        limits = httpx.Limits(max_connections=2 * n + 10, max_keepalive_connections=2 * n + 10)
        async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
            return await asyncio.gather(*(press(client) for _ in range(n)), return_exceptions=True)

    fn_index = _fn_index(url)
    t0 = time.perf_counter()
    results = asyncio.run(crowd())
    took = time.perf_counter() - t0
    got = [r[0] for r in results if not isinstance(r, BaseException)]
    latencies = [r[1] for r in results if not isinstance(r, BaseException)]
    errors = [repr(r)[:200] for r in results if isinstance(r, BaseException)]
    return got, latencies, errors, took


def _fn_index(url: str, api_name: str = "playground_play") -> int:
    """The event number of a named endpoint, from the page's config."""
    import httpx

    config = httpx.get(url + "config", timeout=30).json()
    for dep in config["dependencies"]:
        if dep.get("api_name") == api_name:
            return dep["id"]
    raise SystemExit(f"no endpoint {api_name!r}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--visitors", type=int, default=25)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--burst", type=int, default=200, help="visitors pressing Play at once on the default limit "
                                                          "(0: skip)")
    p.add_argument("--timeline-steps", type=int, default=1500,
                   help="replay every visitor's lesson to this step first, filling its timeline (0: skip)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, url = start_app(args.visitors, work)
        try:
            room = classroom(url, proc.pid, args.visitors, args.seconds, args.timeline_steps)
        finally:
            proc.terminate()
            proc.wait(30)
        proc, url = start_app(None, work)
        try:
            limit = the_limit(url, args.burst)
        finally:
            proc.terminate()
            proc.wait(30)
    result = {"classroom": room, "default_limit": limit}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        r = room
        print(f"{r['visitors']} visitors for {r['seconds']:.0f} s (--max-playgrounds {r['visitors']}): "
              f"{r['errors']} errors, {r['wrong_answers']} wrong-visitor answers, {r['refused_play']} Plays refused")
        print(f"status p50 {r['status_p50_ms']} ms, p95 {r['status_p95_ms']} ms ({r['status_calls']} calls)")
        print(f"frames/s per playing visitor {r['frames_per_s_per_visitor']}, "
              f"bytes/s per visitor {r['kbytes_per_s_per_visitor']} KiB/s, final step lowest {r['final_step_min']}, "
              f"median {r['final_step_median']}")
        if r.get("timeline_steps"):
            print(f"timelines: every visitor replayed to step {r['timeline_steps']} first ({r['replay_s']} s), "
                  f"{r['timelines_mb']} MB of snapshots in all, at most {r['timeline_mb_max']} MB a visitor "
                  f"(budget {r['timeline_budget_mb']} MB), median {r['snapshots_kept_median']} snapshots kept; "
                  f"server RSS then {r['rss_filled_mb']} MB")
        print(f"server RSS {r['rss_bare_mb']} MB just started, {r['rss_start_mb']} MB at start (one Playground "
              f"used, {r['visitors']} clients connected), {r['rss_end_mb']} MB at end (+{r['rss_growth_mb']} MB)")
        for e in r["error_examples"] + r["wrong_examples"]:
            print("  ", e)
        print("default limit:", json.dumps(limit))
    ok = (room["errors"] == 0 and room["wrong_answers"] == 0 and room["rss_growth_mb"] < 300
          and limit["ninth_refused"] and limit.get("burst_errors", 0) == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
