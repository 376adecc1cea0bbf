"""What the Train tab and its "Compare runs" section (gan.ui.runs_view) share on the server: who may control the
runs (classroom mode), the figures drawn once per change for every viewer, and the live models listed in the
catalog. Kept apart so that neither module imports the other."""
from __future__ import annotations

import secrets

import gradio as gr

from gan.ui.app import AppContext


class Classroom:
    """Who may control the runs. Without a teacher token (no --classroom) everyone may, as a server's runs always
    could; with one, only a caller that presents it (compared in constant time)."""

    def __init__(self, token: str | None):
        if token is not None and not token:
            raise ValueError("the teacher token must not be empty")
        self.token = token

    @property
    def on(self) -> bool:
        return self.token is not None

    def allows(self, given) -> bool:
        if self.token is None:
            return True
        return isinstance(given, str) and secrets.compare_digest(given.encode(), self.token.encode())

    def check(self, given, what: str) -> None:
        """Refuse `what` ("stop a run") with a message that says why, unless the caller may control the runs."""
        if self.allows(given):
            return
        why = ("the teacher token is wrong" if given else
               "only the teacher controls the runs (open the teacher link printed where the server started)")
        raise gr.Error(f"Classroom mode: you cannot {what}: {why}. You can still watch the runs.",
                       title="Teacher only", print_exception=False)


class Figures:
    """The latest figure of each kind ("plot", "quality") with the key it was drawn for: drawn once per change
    and shared by every viewer (a figure costs tens of milliseconds; every page polls every second)."""

    def __init__(self):
        self._latest: dict = {}

    def get(self, kind: str, key, make):
        latest = self._latest.get(kind)
        if latest is None or latest[0] != key:
            latest = self._latest[kind] = (key, make())
        return latest[1]


def classroom(ctx: AppContext) -> Classroom:
    """Who may control this server's runs (ctx.teacher_token)."""
    return ctx.shared("classroom", lambda: Classroom(ctx.teacher_token))


def figures(ctx: AppContext) -> Figures:
    return ctx.shared("train-figures", Figures)


def publish_live(ctx: AppContext, run) -> None:
    """List the run's live model in the catalog while the run is active; once it stops, finishes or fails the
    catalog drops it (a finished run's file is listed as "run: <id>" instead)."""
    if run is not None and run.live is not None:
        ctx.catalog.add_live(run.live.name, run.live, alive=lambda: run.active)
