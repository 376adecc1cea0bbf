"""The app layer's contract: building the demo starts nothing, the app context owns what the server makes, and a
plain handler wired with bind() is a Gradio endpoint like any other."""
from __future__ import annotations

import ast
import threading
from pathlib import Path

import gradio as gr

from gan.ui.app import AppContext, bind, build_demo, clean_scratch

ROOT = Path(__file__).resolve().parent.parent


def test_building_the_whole_demo_starts_and_makes_nothing(tmp_path, weights_dir):
    """No thread, no run manager, no Playground, no scratch folder until a page asks for one."""
    before = {t.ident for t in threading.enumerate()}
    demo = build_demo(weights_dir, tmp_path / "runs", device="cpu")
    ctx = demo.ganscope
    started = [t.name for t in threading.enumerate() if t.ident not in before]
    assert started == []
    assert not any(ctx.has(name) for name in ("runs", "playgrounds", "scratch", "explore.views"))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_context_makes_each_shared_object_once_and_close_removes_them(tmp_path):
    ctx = AppContext(catalog=None, runs_dir=tmp_path / "runs")
    made = []
    results = []

    def ask():
        results.append(ctx.shared("thing", lambda: made.append(1) or object()))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len({id(r) for r in results}) == 1
    folder = ctx.scratch("explore")
    (folder / "a.gif").write_bytes(b"x")
    assert folder.is_dir() and ctx.scratch("explore") == folder
    ctx.close()
    assert not folder.exists() and not ctx.has("thing")


def test_clean_scratch_removes_only_old_files(tmp_path):
    import os
    import time

    old, new = tmp_path / "old.gif", tmp_path / "new"
    old.write_bytes(b"x")
    new.mkdir()
    past = time.time() - 7200
    os.utime(old, (past, past))
    clean_scratch(tmp_path, max_age_s=3600)
    assert not old.exists() and new.exists()


def test_bind_keeps_the_name_the_inputs_and_the_request():
    """gradio_client calls a bound handler by its function's name, with only the values, and Gradio still hands
    it the caller's gr.Request (which functools.partial would lose)."""
    from gradio_client import Client

    from tests.conftest import free_port

    ctx = AppContext(catalog=None)

    def echo_twice(ctx_, text, request: gr.Request = None):
        """Both the context and the caller's session reach the handler."""
        assert ctx_ is ctx
        return f"{text}{text}:{bool(request and request.session_hash)}"

    with gr.Blocks() as demo:
        box, out = gr.Textbox(), gr.Textbox()
        box.submit(bind(echo_twice, ctx), box, out, api_name="echo_twice")
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        assert client.predict("ab", api_name="/echo_twice") == "abab:True"
    finally:
        demo.close()


def _module_state(path: Path) -> list[str]:
    """Module-level names in `path` bound to something that holds state: an empty container, a lock, a thread-local,
    a temporary folder made at import, or a store object (a call to a class whose name ends in Store/Manager)."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        v = node.value
        call = v.func if isinstance(v, ast.Call) else None
        name = getattr(call, "attr", getattr(call, "id", "")) if call is not None else ""
        if isinstance(v, ast.Call) and isinstance(call, ast.Name) and call.id == "Path" and v.args:
            inner = v.args[0]
            name = getattr(getattr(inner, "func", None), "attr", "") if isinstance(inner, ast.Call) else ""
        stateful = (isinstance(v, (ast.Dict, ast.List, ast.Set)) and not (getattr(v, "keys", None) or
                                                                          getattr(v, "elts", None))) or \
            name in ("Lock", "RLock", "local", "mkdtemp", "TemporaryDirectory", "defaultdict", "Event") or \
            name.endswith(("Store", "Manager")) or \
            (name in ("dict", "list", "set", "OrderedDict") and not (v.args or v.keywords))   # an empty one
        if stateful:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [f"{path.name}:{node.lineno} {getattr(t, 'id', '?')}" for t in targets]
    return found


def test_no_module_level_state_in_the_app_layer():
    """A module global that holds a visitor's view or the server's objects is shared by every visitor and made at
    import: the app context owns such things instead (issue 15)."""
    found = [hit for path in sorted((ROOT / "gan" / "ui").glob("*.py")) for hit in _module_state(path)]
    assert found == []
