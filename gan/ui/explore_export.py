"""Explore's "Download as ONNX": the page's model (a shipped file, a run, a live model or the page's own .pth) as
an ONNX graph, the same file `python -m gan.export MODEL --format onnx` writes (gan.export), to run with onnxruntime
anywhere.

The Explore tab calls build(ctx, demo, w, hooks) inside its picture column (see gan.ui.explore_gallery for the
hooks). This module must not import gan.ui.explore_tab (the tab imports it).
"""
from __future__ import annotations

import re

import gradio as gr

from gan.errors import GanInputError
from gan.ui.app import clean_scratch, said

OUT = ["onnx_file", "onnx_note"]
USAGE = ("Inputs: `z` (N, z_dim) float32 drawn from the model's prior{cls}; output `{out}`. Seeds and truncation "
         "stay outside: multiply z by ψ to truncate. Run it with `onnxruntime.InferenceSession(path).run(None, "
         "{{\"z\": z{cls_arg}}})`.")


def on_export(ctx, request: gr.Request = None, *, hooks) -> dict:
    """The page's model as an ONNX file to download (a fresh name per page, so two pages never share one)."""
    from gan.export import export_onnx

    try:
        view = hooks.current_view(ctx, request)
        pipe = hooks.current_latent(ctx, request)[0]
        folder = ctx.scratch("explore-onnx")
        clean_scratch(folder)
        page = re.sub(r"[^A-Za-z0-9]", "", getattr(request, "session_hash", "") or "page")[:8]
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", view["model"])[:60]
        path = export_onnx(pipe, folder / f"{safe}-{page}.onnx")
    except GanInputError as e:
        return {"onnx_file": None, "onnx_note": f"⚠ {said(e)}"}
    cfg = pipe.config
    conditional = bool(cfg.conditional)
    usage = USAGE.format(
        cls=f", and `class` (N,) int64 from 0 to {cfg.n_classes - 1}" if conditional else "",
        cls_arg=", \"class\": labels" if conditional else "",
        out="points` (N, 2) in the data's units" if pipe.is_points else "images` (N, C, H, W) in [-1, 1]")
    size_kb = path.stat().st_size / 1024
    return {"onnx_file": str(path),
            "onnx_note": f"**{view['model']}** as ONNX ({size_kb:,.0f} KB). {usage}"}


def build(ctx, demo: gr.Blocks, w: dict, hooks) -> None:
    """One closed accordion: a button, the file, and how to call it."""
    x = {}
    with gr.Accordion("Download as ONNX", open=False, elem_id="onnx-accordion"):
        gr.Markdown("The model shown above as an ONNX graph: run it without GANscope or PyTorch "
                    "(onnxruntime, a browser, a phone). The same file as `python -m gan.export MODEL --format onnx`.")
        x["onnx_go"] = gr.Button("Export the model as ONNX", elem_id="onnx-go")
        x["onnx_file"] = gr.File(label="ONNX file", interactive=False, elem_id="onnx-file")
        x["onnx_note"] = gr.Markdown("", elem_id="onnx-note")
    names = {**w, **x}
    hooks.wire(x["onnx_go"].click, ctx, names, on_export, [], OUT, bound={"hooks": hooks},
               show_progress="full", api_visibility="private", concurrency_id="explore-tools",
               concurrency_limit=1)
