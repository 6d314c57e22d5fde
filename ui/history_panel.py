"""The history panel: newest first, search, backend filter, stars, delete, paging; clicking an entry
restores every control of the form, and Re-run generates it again."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from backends.history import HistoryEntry
from backends.playground import Playground

from .generate_tab import GenerateTab
from .i18n import i18n
from .session import SessionContext

__all__ = ["PAGE_SIZE", "HistoryPanel", "build_history_panel", "entry_fields"]

PAGE_SIZE = 24
FAILED_THUMB = Path(__file__).resolve().parent.parent / "assets" / "failed.png"


@dataclass(frozen=True)
class HistoryPanel:
    gallery: gr.Gallery
    refresh: Any  # the private event that reloads the current page
    selected_id: gr.State  # the entry last clicked
    ab_button: gr.Button  # "send the selected entry to A/B", wired by the Compare tab
    reload_after: Any  # (event) -> chains a reload of the first page after ``event``


def entry_fields(entry: HistoryEntry) -> dict[str, Any]:
    """The form fields that reproduce ``entry`` (its base seed and n, so every image comes back)."""
    req = entry.request
    return {
        "backend": entry.backend_id, "prompt": req.prompt, "negative_prompt": req.negative_prompt,
        "size": req.size, "n": req.n, "seed": req.seed if req.seed is not None else -1, "steps": req.steps,
        "guidance": req.guidance, "scheduler": req.scheduler, "output_format": req.output_format,
        "output_quality": req.output_quality,
    }


def caption(entry: HistoryEntry) -> str:
    req = entry.request
    mark = "★ " if entry.starred else ""
    failed = "✗ " if entry.status == "failed" else ""
    prompt = req.prompt if len(req.prompt) <= 48 else req.prompt[:47] + "…"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created_at))
    seed = f"seed {req.seed}" if req.seed is not None else "no seed"
    return f"{mark}{failed}{prompt} · {entry.backend_label} · {seed} · {req.width}×{req.height} · {when}"


def details(entry: HistoryEntry) -> str:
    req = entry.request
    lines = [
        f"**{entry.backend_label}** · {entry.model} · {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(entry.created_at))}"
        f" · {entry.elapsed_s:.1f} s" + (f" · {entry.cost}" if entry.cost else ""),
        f"{req.width}×{req.height} · n {req.n} · seeds {', '.join(str(s) for s in entry.seeds) or '—'} · steps {req.steps}"
        f" · guidance {req.guidance:g}" + (f" · {req.scheduler}" if req.scheduler else ""),
        f"> {req.prompt}",
    ]
    if req.negative_prompt:
        lines.append(f"Negative: {req.negative_prompt}")
    if entry.error:
        lines.append(f"❌ {entry.error}")
    for failure in entry.failures:
        lines.append(f"⚠️ Image {failure.index + 1} (seed {failure.seed}): {failure.error}")
    return "\n\n".join(lines)


def build_history_panel(playground: Playground, context: SessionContext, tab: GenerateTab) -> HistoryPanel:
    store = playground.history
    with gr.Row():
        search = gr.Textbox(label=i18n("history_search"), scale=3, elem_id="history-search")
        backend_filter = gr.Dropdown(
            choices=[("All", "")] + [(e.backend.label, e.id) for e in playground.registry.entries()], value="",
            label=i18n("history_backend"), scale=2, elem_id="history-backend",
        )
        starred_only = gr.Checkbox(label=i18n("history_starred"), scale=1, elem_id="history-starred")
        refresh_button = gr.Button(i18n("refresh"), scale=1, size="sm", elem_id="history-refresh")
    page_info = gr.Markdown(elem_id="history-page-info")
    gallery = gr.Gallery(
        label=i18n("history_gallery"), columns=6, height=420, object_fit="cover", allow_preview=False, fit_columns=False,
        elem_id="history-gallery", interactive=False,
    )
    with gr.Row():
        newer = gr.Button(i18n("newer"), size="sm", elem_id="history-newer")
        older = gr.Button(i18n("older"), size="sm", elem_id="history-older")
    entry_details = gr.Markdown(elem_id="history-details")
    with gr.Row():
        rerun = gr.Button(i18n("rerun"), variant="primary", size="sm", elem_id="history-rerun")
        star = gr.Button(i18n("star"), size="sm", elem_id="history-star")
        delete = gr.Button(i18n("delete"), variant="stop", size="sm", elem_id="history-delete")
        ab_button = gr.Button(i18n("send_ab"), size="sm", elem_id="history-ab")
    page_ids = gr.State([])
    cursors = gr.State([None])  # cursor of each page visited; the last one is the current page
    selected_id = gr.State(None)

    def load(query: str, backend: str, starred: bool, stack: list, request: gr.Request):
        visitor = context.session(request).visitor
        page = store.list_entries(
            visitor=visitor, query=query or "", backend_id=backend or None, starred_only=bool(starred),
            limit=PAGE_SIZE, before=stack[-1] if stack else None,
        )
        items = []
        for entry in page.entries:
            thumb = entry.images[0].thumb_path if entry.images else FAILED_THUMB
            items.append((str(thumb), caption(entry)))
        first = (len(stack) - 1) * PAGE_SIZE
        summary = f"{page.total} entr{'y' if page.total == 1 else 'ies'}" + (
            f" · showing {first + 1}–{first + len(page.entries)}" if page.entries else ""
        )
        return {
            gallery: gr.update(value=items, selected_index=None),
            page_ids: [entry.id for entry in page.entries],
            page_info: summary,
            older: gr.update(interactive=page.has_more),
            newer: gr.update(interactive=len(stack) > 1),
            "next_cursor": page.next_cursor,
        }

    def show(query, backend, starred, stack, request: gr.Request):
        result = load(query, backend, starred, stack, request)
        result.pop("next_cursor")
        return result

    def first_page(query, backend, starred, request: gr.Request):
        return {**show(query, backend, starred, [None], request), cursors: [None]}

    def go_older(query, backend, starred, stack, request: gr.Request):
        cursor = load(query, backend, starred, stack, request)["next_cursor"]
        if cursor is None:
            return {entry_details: gr.update()}
        stack = [*stack, cursor]
        return {**show(query, backend, starred, stack, request), cursors: stack}

    def go_newer(query, backend, starred, stack, request: gr.Request):
        stack = stack[:-1] or [None]
        return {**show(query, backend, starred, stack, request), cursors: stack}

    def select_entry(data: dict, request: gr.Request, evt: gr.SelectData):
        ids = data[page_ids]
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        if index is None or index >= len(ids):
            return {entry_details: gr.update()}
        entry = store.get(ids[index], visitor=context.session(request).visitor)
        if entry is None:
            return {entry_details: "That entry no longer exists."}
        restored = tab.restore(tab.form.values_from(data), entry_fields(entry), note="Restored from history.")
        return {**restored, selected_id: entry.id, entry_details: details(entry)}

    def toggle_star(entry_id: str | None, request: gr.Request):
        visitor = context.session(request).visitor
        entry = store.get(entry_id, visitor=visitor) if entry_id else None
        if entry is not None:
            store.set_starred(entry.id, not entry.starred, visitor=visitor)

    def delete_entry(entry_id: str | None, request: gr.Request):
        if entry_id:
            store.delete(entry_id, visitor=context.session(request).visitor)
        return None, ""

    filters = [search, backend_filter, starred_only]
    page_outputs = [gallery, page_ids, page_info, older, newer, cursors]
    values_in = set(tab.form.value_inputs())
    values_out = [*tab.form.values_outputs(), tab.previous_backend, selected_id, entry_details]

    refresh = gr.on(
        [search.submit, backend_filter.change, starred_only.change, refresh_button.click],
        first_page, inputs=filters, outputs=page_outputs, api_visibility="private",
    )
    def reload_after(event) -> None:
        event.then(first_page, inputs=filters, outputs=page_outputs, api_visibility="private")

    reload_after(tab.generate_event)
    older.click(go_older, inputs=[*filters, cursors], outputs=page_outputs, api_visibility="private")
    newer.click(go_newer, inputs=[*filters, cursors], outputs=page_outputs, api_visibility="private")
    gallery.select(select_entry, inputs={page_ids, *values_in}, outputs=values_out, api_visibility="private")
    star.click(toggle_star, inputs=selected_id, api_visibility="private").then(
        show, inputs=[*filters, cursors], outputs=page_outputs, api_visibility="private"
    )
    delete.click(delete_entry, inputs=selected_id, outputs=[selected_id, entry_details], api_visibility="private").then(
        show, inputs=[*filters, cursors], outputs=page_outputs, api_visibility="private"
    )
    # Re-run: the entry's settings are already in the form (selecting it restored them).
    rerun.click(None, js="() => { document.querySelector('#generate-btn').click(); }", api_visibility="private")
    context.on_load(first_page, inputs=filters, outputs=page_outputs)
    return HistoryPanel(gallery=gallery, refresh=refresh, selected_id=selected_id, ab_button=ab_button, reload_after=reload_after)
