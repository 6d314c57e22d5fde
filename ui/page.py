"""The page: the header, the language switch and the tabs, composed; and how ``app.py`` launches it."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from backends.identity import TrustedProxies
from backends.playground import Playground

from .accessibility import HEAD_SCRIPT
from .api import build_api
from .compare_tab import build_compare_tab
from .generate_tab import build_generate_tab
from .history_tab import build_history_tab
from .i18n import i18n
from .language import LanguageMiddleware
from .limits import RequestGuard
from .rest import rest_routes
from .session import LanguageControls, SessionContext
from .settings_tab import build_settings_tab
from .theme import playground_theme

__all__ = ["build_app", "launch_options"]

ASSETS = Path(__file__).resolve().parent.parent / "assets"

REMEMBER_ADVANCED = "kolors_playground_advanced_open"

# gr.BrowserState encrypts in the browser with a key it puts in the page's config, for anyone to read:
# these keys are not secrets. What protects the visitor id kept there is the server's signature on it.
VISITOR_STORAGE_KEY = "kolors-playground-visitor-not-a-secret"


def build_app(
    playground: Playground,
    *,
    hosted: bool = False,
    browser_secret: str | None = None,
    trusted_proxies: TrustedProxies | None = None,
    generate_concurrency: int | None = 8,
    queue_size: int | None = None,
    confirm_above: int = 16,
    font: str | None = None,
    max_upload_mb: int = 20,
    jobs_per_visitor: int | None = None,
    grid_max_pixels: int | None = None,
) -> gr.Blocks:
    """The page. ``hosted`` partitions history per visitor, identified by a random id kept in the
    browser's storage and signed with ``browser_secret`` (kept on the server, never sent to the page; it
    must stay the same across restarts). ``trusted_proxies``: whose X-Forwarded-For hops give the
    visitor's address. ``jobs_per_visitor`` caps each visitor's queued and running generations and grids
    (None: no cap); ``grid_max_pixels`` bounds a grid's cells' pixels summed."""
    context = SessionContext(
        hosted=hosted, generate_concurrency=generate_concurrency, visitor_secret=browser_secret,
        trusted_proxies=trusted_proxies, jobs_per_visitor=jobs_per_visitor,
    )
    # Gradio serves the stored files where they are instead of hashing and copying each one into its
    # cache (~12 ms per 1.2 MB image on every gallery update). Their names carry 128 random bits, so
    # a URL is known only to whoever was shown it, and deleting an entry makes its URLs answer 403: its
    # originals, thumbnails, previews and download copies (playground.downloads) all go with it.
    gr.set_static_paths([
        playground.history.images_dir, playground.history.thumbs_dir, playground.history.previews_dir,
        playground.downloads.root, ASSETS / "no-image.png",
    ])
    # On a shared demo, what Gradio does copy into its cache (uploads, the compare export) goes after an hour.
    delete_cache = (3600, 3600) if hosted else None
    with gr.Blocks(title="Kolors Playground", analytics_enabled=False, delete_cache=delete_cache) as demo:
        visitor_state = (
            gr.BrowserState("", storage_key="kolors_playground_visitor", secret=VISITOR_STORAGE_KEY) if hosted else None
        )
        advanced_state = gr.BrowserState("closed", storage_key=REMEMBER_ADVANCED, secret="kolors-playground-ui")
        with gr.Row(elem_id="header", equal_height=True):
            gr.Markdown(f"## {i18n('title')}", elem_id="title")
            language = gr.Radio(
                [("English", "en"), ("中文", "zh")], value="en", show_label=False, container=False, scale=0,
                min_width=190, elem_id="language", label="Language / 语言",
            )
            settings_button = gr.Button(i18n("settings_button"), size="sm", scale=0, min_width=120, elem_id="settings-btn")
        context.language_controls = LanguageControls(
            switch=language, browser_language=gr.Textbox(visible=False, elem_id="browser-language"),
            carry=gr.Textbox(visible=False, elem_id="carried-form"),
        )
        api = build_api(playground, context, confirm_above=confirm_above, font=font, grid_max_pixels=grid_max_pixels)
        with gr.Tabs(elem_id="tabs", overflow_behavior="wrap") as tabs:  # every tab in reach on a phone
            with gr.Tab(i18n("tab_generate"), id="generate"):
                tab = build_generate_tab(playground, context, max_upload_bytes=max_upload_mb * 1024 * 1024)
            with gr.Tab(i18n("tab_history"), id="history"):
                history = build_history_tab(playground, context, tab, show_generate=show_generate, tabs=tabs)
            with gr.Tab(i18n("tab_compare"), id="compare") as compare_item:
                build_compare_tab(playground, context, tab, history, api, tab_item=compare_item,
                                  confirm_above=confirm_above)
            with gr.Tab(i18n("tab_settings"), id="settings"):
                build_settings_tab(playground, context)
        for button in (settings_button, tab.settings_link):
            button.click(show_settings, outputs=tabs, api_visibility="private", queue=False)
        _remember_advanced(demo, tab.form.advanced, advanced_state)
        context.wire_load(demo, visitor_state=visitor_state)
    # On a shared demo every job goes through the queue (off Spaces Gradio would also let /run/<api_name>
    # call an event directly, around it), so the job cap's validator sees each one before the queue holds it.
    demo.queue(default_concurrency_limit=4, max_size=queue_size, api_open=False if hosted else None)
    context.count_waiting_jobs(demo)
    return demo


def show_settings() -> gr.Tabs:
    return gr.Tabs(selected="settings")


def show_generate() -> gr.Tabs:
    return gr.Tabs(selected="generate")


def _remember_advanced(demo: gr.Blocks, accordion: gr.Accordion, remembered: gr.BrowserState) -> None:
    """The browser keeps whether Advanced was open ("open" / "closed") and the page opens it so."""
    accordion.expand(lambda: "open", outputs=remembered, api_visibility="private", queue=False)
    accordion.collapse(lambda: "closed", outputs=remembered, api_visibility="private", queue=False)
    demo.load(lambda state: gr.Accordion(open=state == "open"), inputs=remembered, outputs=accordion,
              api_visibility="private", queue=False)


def launch_options(
    *, hosted: bool = False, max_upload_mb: int = 20, max_body_kb: int = 1024, session_capacity: int | None = None,
    mcp: dict | None = None,
) -> dict:
    """What goes to ``launch()`` in Gradio 6: theme, css, head, i18n, footer, and what a request may bring
    (ui/limits.py). In hosted mode Gradio keeps ``session_capacity`` sessions' state (not its 10,000) and
    its monitoring routes are off. The JSON routes for curl (ui/rest.py) are always there; given ``mcp``
    (:func:`ui.mcp_server.mcp_app_kwargs`), the MCP server's routes and lifespan too."""
    mcp = mcp or {}
    upload_bytes = max_upload_mb * 1024 * 1024
    guard = Middleware(RequestGuard, body_bytes=max_body_kb * 1024, upload_bytes=upload_bytes, hosted=hosted)
    options = {
        "theme": playground_theme(),
        "css_paths": [ASSETS / "style.css"],
        "head": HEAD_SCRIPT,
        "i18n": i18n,
        "footer_links": ["api", "settings"],
        "allowed_paths": [],
        # Sets the browser's language to the one chosen on the page before Gradio boots (ui/language.py).
        "app_kwargs": {
            "middleware": [Middleware(LanguageMiddleware), guard], "routes": rest_routes() + mcp.get("routes", []),
            **({"lifespan": mcp["lifespan"]} if "lifespan" in mcp else {}),
        },
        # Gradio refuses a bigger file while it streams in, and deletes what it had written.
        "max_file_size": upload_bytes,
    }
    if hosted:
        options["enable_monitoring"] = False
        if session_capacity is not None:
            options["state_session_capacity"] = session_capacity
    return options
