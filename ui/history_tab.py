"""The History tab: every generation as a batch, newest first, with search and filters. Opening an
entry shows all its images and its parameters and never changes the form; its actions are explicit:
use these settings (with one Undo), re-run, download all, A/B, star, delete (with an Undo)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.events import Dependency

from backends.history import HistoryEntry
from backends.history.store import MAX_SEARCH_TERMS, MAX_TERM_CHARS, search_terms
from backends.playground import Playground

from .downloads import prepared_zip, zip_button
from .generate_tab import GenerateTab, entry_fields
from .i18n import i18n, tr
from .results import count_text, entry_caption, entry_parameters_text, failure_tile, image_count
from .session import SessionContext
from .streaming import PagePictures
from .text_safety import literal

__all__ = ["PAGE_SIZE", "HistoryTab", "build_history_tab"]

PAGE_SIZE = 24
SCROLL_TO_ENTRY = """() => {
  if (window.innerWidth < 900) document.querySelector('#entry-column')?.scrollIntoView({behavior: 'smooth'});
}"""
UNDO_DELETE_S = 8.0
"""How long a deleted entry can be brought back before it is deleted for good."""


@dataclass(frozen=True)
class HistoryTab:
    gallery: gr.Gallery
    selected_id: gr.State
    """The entry open in the entry view."""
    ab_button: gr.Button
    """"Send the open entry to A/B", wired by the Compare tab."""
    reload_after: Callable[[Dependency], None]
    """(event) -> chains a reload of the first page after ``event``."""


def build_history_tab(
    playground: Playground, context: SessionContext, generate: GenerateTab, *, show_generate: Callable[[], Any],
    tabs: gr.Tabs,
) -> HistoryTab:
    store = playground.history
    pictures = PagePictures()
    gr.set_static_paths([pictures.root])
    store.on_delete(pictures.forget)
    blank = _blank_thumb(pictures)

    with gr.Row(equal_height=False, elem_id="history-layout"):
        with gr.Column(scale=5, min_width=320, elem_id="history-list"):
            with gr.Row(equal_height=True, elem_id="history-filters"):
                search = gr.Textbox(label=i18n("history_search"), scale=3, min_width=180, elem_id="history-search")
                backend_filter = gr.Dropdown(
                    choices=[(i18n("outcome_all"), "")] + [(e.backend.label, e.id) for e in playground.registry.entries()],
                    value="", label=i18n("history_backend"), scale=2, min_width=140, elem_id="history-backend",
                )
            with gr.Row(equal_height=True, elem_id="history-filters-2"):
                outcome_filter = gr.Dropdown(
                    choices=[(i18n(f"outcome_{o}"), o if o != "all" else "") for o in ("all", "ok", "partial", "failed", "stopped")],
                    value="", label=i18n("history_outcome"), scale=2,
                    min_width=140, elem_id="history-outcome",
                )
                starred_only = gr.Checkbox(label=i18n("history_starred"), scale=1, min_width=110,
                                           elem_id="history-starred")
                refresh_button = gr.Button(i18n("refresh"), scale=0, min_width=90, size="sm", elem_id="history-refresh")
            page_info = gr.Markdown(elem_id="history-page-info")
            with gr.Row(visible=False, elem_id="deleted-row", equal_height=True) as deleted_row:
                deleted_note = gr.Markdown(elem_id="deleted-note")
                undo_delete = gr.Button(i18n("undo"), size="sm", scale=0, min_width=80, elem_id="undo-delete")
            gallery = gr.Gallery(
                label=i18n("history_gallery"), columns=4, height=520, object_fit="cover", allow_preview=False,
                fit_columns=False, elem_id="history-gallery", interactive=False, buttons=[],
            )
            with gr.Row():
                newer = gr.Button(i18n("newer"), size="sm", elem_id="history-newer")
                older = gr.Button(i18n("older"), size="sm", elem_id="history-older")
        with gr.Column(scale=6, min_width=320, elem_id="entry-column"):
            entry_empty = gr.Markdown(i18n("entry_pick"), elem_id="entry-empty")
            with gr.Column(visible=False, elem_id="entry-view") as entry_view:
                entry_title = gr.Markdown(elem_id="entry-title")
                entry_gallery = gr.Gallery(
                    label=i18n("entry_images"), columns=2, height="auto", object_fit="contain", fit_columns=False,
                    elem_id="entry-gallery", interactive=False, buttons=["fullscreen"], allow_preview=True,
                    format="webp",
                )
                with gr.Row(elem_id="entry-actions"):
                    use_settings = gr.Button(i18n("use_settings"), variant="primary", size="sm", elem_id="history-use")
                    rerun = gr.Button(i18n("rerun"), size="sm", elem_id="history-rerun")
                    download_all = zip_button(i18n("download_all"), elem_id="history-download")
                    ab_button = gr.Button(i18n("send_ab"), size="sm", elem_id="history-ab")
                    star = gr.Button(i18n("star"), size="sm", elem_id="history-star")
                    delete = gr.Button(i18n("delete"), variant="stop", size="sm", elem_id="history-delete")
                entry_parameters = gr.Textbox(
                    label=i18n("entry_parameters"), lines=4, max_lines=20, interactive=False, buttons=["copy"],
                    elem_id="entry-parameters",
                )
    page_ids = gr.State([])
    cursors = gr.State([None])  # cursor of each page visited; the last one is the current page
    selected_id = gr.State(None)
    pending_delete = gr.State(None)
    delete_timer = gr.Timer(UNDO_DELETE_S, active=False)

    def visitor_of(request: gr.Request) -> str:
        return context.session(request).visitor

    # --- the list ---------------------------------------------------------------------------------

    def load(query, backend, outcome, starred, stack, hidden, request: gr.Request) -> dict:
        session = context.session(request)
        page = store.list_entries(
            visitor=session.visitor, query=query or "", backend_id=backend or None, outcome=outcome or None,
            starred_only=bool(starred), limit=PAGE_SIZE, before=stack[-1] if stack else None,
        )
        shown = [entry for entry in page.entries if entry.id != hidden]
        items = [(str(_thumb(entry, blank)), entry_caption(entry, session.language)) for entry in shown]
        first = (len(stack) - 1) * PAGE_SIZE
        more = page.total_is_lower_bound
        info = count_text(page.total - (1 if hidden and len(shown) < len(page.entries) else 0), more, first,
                          len(shown), session.language)
        if search_terms(query or "")[1]:
            info += " · " + tr("history_search_capped", session.language, terms=MAX_SEARCH_TERMS, chars=MAX_TERM_CHARS)
        return {
            gallery: gr.update(value=items, selected_index=None),
            page_ids: [entry.id for entry in shown],
            page_info: info,
            older: gr.update(interactive=page.has_more),
            newer: gr.update(interactive=len(stack) > 1),
            "next_cursor": page.next_cursor,
        }

    def show(query, backend, outcome, starred, stack, hidden, request: gr.Request):
        result = load(query, backend, outcome, starred, stack, hidden, request)
        result.pop("next_cursor")
        return result

    def first_page(query, backend, outcome, starred, hidden, request: gr.Request):
        return {**show(query, backend, outcome, starred, [None], hidden, request), cursors: [None]}

    def go_older(query, backend, outcome, starred, stack, hidden, request: gr.Request):
        cursor = load(query, backend, outcome, starred, stack, hidden, request)["next_cursor"]
        if cursor is None:
            return gr.skip()
        stack = [*stack, cursor]
        return {**show(query, backend, outcome, starred, stack, hidden, request), cursors: stack}

    def go_newer(query, backend, outcome, starred, stack, hidden, request: gr.Request):
        stack = stack[:-1] or [None]
        return {**show(query, backend, outcome, starred, stack, hidden, request), cursors: stack}

    # --- one entry --------------------------------------------------------------------------------

    def open_entry(ids: list, request: gr.Request, evt: gr.SelectData):
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        if index is None or index >= len(ids):
            return gr.skip()
        return entry_view_updates(ids[index], request)

    def entry_view_updates(entry_id: str | None, request: gr.Request) -> dict:
        session = context.session(request)
        entry = store.get(entry_id, visitor=session.visitor) if entry_id else None
        if entry is None:
            return {entry_view: gr.update(visible=False), entry_empty: gr.update(visible=True), selected_id: None}
        lang = session.language
        images = [(str(pictures.of_stored(image)), tr("caption_seed", lang, seed=image.seed)) for image in entry.images]
        for failure in entry.failures:
            tile = failure_tile(failure, lang, size=(entry.request.width, entry.request.height))
            images.insert(min(failure.index, len(images)), (str(pictures.save(tile)), tr(
                "caption_failed", lang, seed=failure.seed,
                reason=tr("tile_stopped_reason", lang) if failure.error_type == "GenerationCancelled" else failure.error_in(lang))))
        pictures.claim(entry.id, [path for path, _ in images])
        parameters = "\n\n".join(entry_parameters_text(entry, image.seed) for image in entry.images) or (
            entry_parameters_text(entry, entry.request.seed) + (f"\n\n{entry.error_in(lang)}" if entry.error else ""))
        return {
            entry_view: gr.update(visible=True),
            entry_empty: gr.update(visible=False),
            entry_title: _title(entry, lang),
            entry_gallery: gr.update(value=images, selected_index=None),
            entry_parameters: parameters,
            download_all.button: gr.update(interactive=bool(entry.images)),
            star: gr.update(value=tr("starred" if entry.starred else "star", lang)),
            selected_id: entry.id,
        }

    def prepare_download(entry_id: str | None, request: gr.Request) -> str | None:
        session = context.session(request)
        entry = store.get(entry_id, visitor=session.visitor) if entry_id else None
        return prepared_zip(playground.downloads, entry, session.language)

    def toggle_star(entry_id: str | None, request: gr.Request):
        session = context.session(request)
        entry = store.get(entry_id, visitor=session.visitor) if entry_id else None
        if entry is None:
            return gr.skip()
        store.set_starred(entry.id, not entry.starred, visitor=session.visitor)
        return gr.update(value=tr("star" if entry.starred else "starred", session.language))

    def use_these_settings(data: dict, request: gr.Request):
        session = context.session(request)
        entry = store.get(data[selected_id], visitor=session.visitor) if data[selected_id] else None
        if entry is None:
            return gr.skip()
        values = generate.form.values_from(data)
        updates = generate.apply_settings(values, entry_fields(entry), "note_from_history", session.language)
        return {**updates, tabs: show_generate()}

    # --- delete, with an Undo ---------------------------------------------------------------------

    def delete_entry(entry_id: str | None, pending: str | None, request: gr.Request):
        session = context.session(request)
        if pending and pending != entry_id:
            store.delete(pending, visitor=session.visitor)  # the previous one is gone for good now
        if not entry_id or store.get(entry_id, visitor=session.visitor) is None:
            return gr.skip()
        return {
            pending_delete: entry_id, selected_id: None, entry_view: gr.update(visible=False),
            entry_empty: gr.update(visible=True),
            deleted_row: gr.update(visible=True), deleted_note: "🗑 " + tr("deleted_note", session.language),
            delete_timer: gr.Timer(active=True),
        }

    def finish_delete(pending: str | None, request: gr.Request):
        if pending:
            store.delete(pending, visitor=visitor_of(request))
        return {pending_delete: None, deleted_row: gr.update(visible=False), delete_timer: gr.Timer(active=False)}

    def undo_deletion():
        return {pending_delete: None, deleted_row: gr.update(visible=False), delete_timer: gr.Timer(active=False)}

    # --- wiring -----------------------------------------------------------------------------------

    filters = [search, backend_filter, outcome_filter, starred_only]
    page_outputs = [gallery, page_ids, page_info, older, newer, cursors]
    entry_outputs = [entry_view, entry_empty, entry_title, entry_gallery, entry_parameters, download_all.button, star,
                     selected_id]
    values_in = set(generate.form.value_inputs())

    gr.on(
        [search.submit, backend_filter.change, outcome_filter.change, starred_only.change, refresh_button.click],
        first_page, inputs=[*filters, pending_delete], outputs=page_outputs, api_visibility="private",
    )

    def reload_after(event) -> None:
        event.then(first_page, inputs=[*filters, pending_delete], outputs=page_outputs, api_visibility="private")

    reload_after(generate.generate_event)
    older.click(go_older, inputs=[*filters, cursors, pending_delete], outputs=page_outputs, api_visibility="private")
    newer.click(go_newer, inputs=[*filters, cursors, pending_delete], outputs=page_outputs, api_visibility="private")
    gallery.select(open_entry, inputs=page_ids, outputs=entry_outputs, api_visibility="private").then(
        None, js=SCROLL_TO_ENTRY, api_visibility="private")
    download_all.on_press(prepare_download, inputs=selected_id)
    star.click(toggle_star, inputs=selected_id, outputs=star, api_visibility="private").then(
        show, inputs=[*filters, cursors, pending_delete], outputs=page_outputs, api_visibility="private"
    )
    delete.click(
        delete_entry, inputs=[selected_id, pending_delete],
        outputs=[pending_delete, selected_id, entry_view, entry_empty, deleted_row, deleted_note, delete_timer],
        api_visibility="private",
    ).then(show, inputs=[*filters, cursors, pending_delete], outputs=page_outputs, api_visibility="private")
    delete_timer.tick(finish_delete, inputs=pending_delete, outputs=[pending_delete, deleted_row, delete_timer],
                      api_visibility="private").then(
        show, inputs=[*filters, cursors, pending_delete], outputs=page_outputs, api_visibility="private")
    undo_delete.click(undo_deletion, outputs=[pending_delete, deleted_row, delete_timer], api_visibility="private").then(
        show, inputs=[*filters, cursors, pending_delete], outputs=page_outputs, api_visibility="private")
    use_settings.click(use_these_settings, inputs={selected_id, *values_in},
                       outputs=[*generate.settings_outputs, tabs], api_visibility="private")
    rerun.click(use_these_settings, inputs={selected_id, *values_in},
                outputs=[*generate.settings_outputs, tabs], api_visibility="private").then(
        None, js="() => { setTimeout(() => document.querySelector('#generate-btn')?.click(), 50); }",
        api_visibility="private",
    )
    context.on_load(first_page, inputs=[*filters, pending_delete], outputs=page_outputs)
    return HistoryTab(gallery=gallery, selected_id=selected_id, ab_button=ab_button, reload_after=reload_after)


def _title(entry: HistoryEntry, lang: str) -> str:
    import time

    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created_at))
    parts = [f"**{literal(entry.backend_label)}**", when, image_count(len(entry.images), lang)]
    if entry.outcome != "ok":
        parts.append(tr(f"outcome_{entry.outcome}", lang))
    if entry.cost:
        parts.append(literal(entry.cost))
    return " · ".join(parts)


def _thumb(entry: HistoryEntry, blank: Path) -> Path:
    return entry.images[0].thumb_path if entry.images else blank


def _blank_thumb(pictures: PagePictures) -> Path:
    """The quiet tile of an entry without images (failed or stopped before any came back)."""
    from PIL import Image

    return pictures.save(Image.new("RGB", (256, 256), (230, 230, 230)))
