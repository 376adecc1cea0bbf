"""The browser app (Gradio lives here and nowhere else in gan/). `build_demo()` in gan.ui.app assembles one tab per
module listed in gan.ui.app.TABS; each tab module has TITLE and build(ctx, demo)."""
