"""Settings: API keys for this browser session only. A key pasted here lives in server memory under
the session, is used for that session's requests, and is dropped when the page closes. It is never
written to disk, history or logs, and never sent back to the page.

The box is emptied the moment its key is read (on Enter or when the box loses focus): Gradio keeps
every component's last value in the session's state (which its deep-link route would write to a served
file), so the key must not stay a component's value. A line under the box says that a key is kept, and
Forget drops it."""

from __future__ import annotations

import gradio as gr

from backends.base import KeyedBackend
from backends.playground import Playground

from .i18n import i18n, tr
from .session import SessionContext

__all__ = ["build_settings_tab"]


def build_settings_tab(playground: Playground, context: SessionContext) -> None:
    keyed = [e.backend for e in playground.registry.entries() if isinstance(e.backend, KeyedBackend) and e.backend.key_env_var]
    gr.Markdown(i18n("settings_info"), elem_id="settings-info")
    for backend in keyed:
        box = gr.Textbox(
            label=f"{backend.label} ({backend.key_env_var})", type="password", elem_id=f"key-{backend.id}",
            placeholder=i18n("key_placeholder"),
        )
        with gr.Row(equal_height=True):
            kept = gr.Markdown(elem_id=f"key-{backend.id}-kept")
            forget = gr.Button(i18n("key_forget"), size="sm", scale=0, min_width=100, visible=False,
                               elem_id=f"key-{backend.id}-forget")

        def remember(key: str, request: gr.Request, backend_id: str = backend.id):
            if not (key or "").strip():
                return gr.skip(), gr.skip(), gr.skip()
            context.set_key(request, backend_id, key)
            return "", tr("key_kept", context.session(request).language), gr.update(visible=True)

        def drop(request: gr.Request, backend_id: str = backend.id):
            context.set_key(request, backend_id, "")
            return "", gr.update(visible=False)

        for trigger in (box.blur, box.submit):
            event = trigger(remember, inputs=box, outputs=[box, kept, forget], api_visibility="private", queue=False)
            for fn, kwargs in context.keys_listeners():
                event = event.then(fn, api_visibility="private", **kwargs)
        event = forget.click(drop, outputs=[kept, forget], api_visibility="private", queue=False)
        for fn, kwargs in context.keys_listeners():
            event = event.then(fn, api_visibility="private", **kwargs)
