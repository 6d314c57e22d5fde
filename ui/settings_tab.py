"""Settings: API keys for this browser session only. A key typed here lives in server memory under
the session, is used for that session's requests, and is dropped when the page closes. It is never
written to disk, history or logs, and never sent back to the page."""

from __future__ import annotations

import gradio as gr

from backends.playground import Playground

from .i18n import i18n
from .session import SessionContext

__all__ = ["build_settings_tab"]


def build_settings_tab(playground: Playground, context: SessionContext) -> None:
    keyed = [e.backend for e in playground.registry.entries() if getattr(e.backend, "key_env_var", "")]
    gr.Markdown(i18n("settings_info"), elem_id="settings-info")
    for backend in keyed:
        box = gr.Textbox(
            label=f"{backend.label} ({backend.key_env_var})", type="password", elem_id=f"key-{backend.id}",
            placeholder=i18n("key_placeholder"),
        )

        def remember(key: str, request: gr.Request, backend_id: str = backend.id) -> None:
            context.set_key(request, backend_id, key)

        event = box.change(remember, inputs=box, api_visibility="private", queue=False)
        for fn, kwargs in context.keys_listeners():
            event = event.then(fn, api_visibility="private", **kwargs)
