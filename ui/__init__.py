"""The Gradio page. ``build_app`` composes the tabs; nothing below this package imports gradio."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from backends.playground import Playground

from .compare_tab import build_compare_tab
from .generate_tab import build_generate_tab
from .history_panel import build_history_panel
from .i18n import i18n
from .session import SessionContext
from .settings_panel import build_settings_panel

__all__ = ["build_app", "launch_options"]

ASSETS = Path(__file__).resolve().parent.parent / "assets"

# Ctrl/Cmd+Enter generates from anywhere on the page.
SHORTCUTS = """
<script>
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
    const button = document.querySelector("#generate-btn");
    if (button) { event.preventDefault(); button.click(); }
  }
});
</script>
"""


def build_app(
    playground: Playground,
    *,
    hosted: bool = False,
    browser_secret: str | None = None,
    generate_concurrency: int | None = 8,
    queue_size: int | None = None,
    confirm_above: int = 16,
    font: str | None = None,
) -> gr.Blocks:
    """The page. ``hosted`` partitions history per visitor, identified by a random id kept in the
    browser's storage (encrypted with ``browser_secret``, which must stay the same across restarts)."""
    context = SessionContext(hosted=hosted, generate_concurrency=generate_concurrency)
    # Gradio serves the stored files where they are instead of hashing and copying each one into its
    # cache (~12 ms per 1.2 MB image on every gallery update). Their names carry 128 random bits, so
    # a URL is known only to whoever was shown it, and deleting an entry makes its URLs answer 403.
    gr.set_static_paths([playground.history.images_dir, playground.history.thumbs_dir])
    # On a shared demo, what Gradio does copy into its cache (uploads, the compare export) goes after an hour.
    delete_cache = (3600, 3600) if hosted else None
    with gr.Blocks(title="Kolors Playground", analytics_enabled=False, delete_cache=delete_cache) as demo:
        visitor_state = (
            gr.BrowserState("", storage_key="kolors_playground_visitor", secret=browser_secret) if hosted else None
        )
        gr.Markdown(f"# {i18n('title')}", elem_id="title")
        gr.Markdown(i18n("subtitle"))
        with gr.Tabs():
            with gr.Tab(i18n("tab_generate"), id="generate"):
                tab = build_generate_tab(playground, context)
                with gr.Accordion(i18n("tab_history"), open=True, elem_id="history"):
                    history = build_history_panel(playground, context, tab)
            with gr.Tab(i18n("tab_compare"), id="compare"):
                build_compare_tab(playground, context, tab, history, confirm_above=confirm_above, font=font)
        build_settings_panel(playground, context)
        context.wire_load(demo, visitor_state=visitor_state)
    demo.queue(default_concurrency_limit=4, max_size=queue_size)
    return demo


def launch_options() -> dict:
    """What goes to ``launch()`` in Gradio 6: theme, css, head, i18n, footer."""
    return {
        "theme": gr.themes.Soft(primary_hue="orange"),
        "css_paths": [ASSETS / "style.css"],
        "head": SHORTCUTS,
        "i18n": i18n,
        "footer_links": ["api", "settings"],
        "allowed_paths": [],
    }
