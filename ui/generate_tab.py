"""The Generate tab: the prompt and Generate at the top, the basics under them, Advanced folded; results
on the right (below on a phone), image by image as they arrive.

Every event here is the page's own (private); the public ``/generate`` endpoint lives in :mod:`ui.api`
and answers exactly as it always has. Looking never changes the form: restoring settings from an image,
a link or a history entry is an explicit act, with one Undo.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import gradio as gr
from gradio.components import Component
from gradio.events import Dependency

from backends.errors import DownloadRequired, PlaygroundError
from backends.history import HistoryEntry, read_image_parameters
from backends.playground import Playground
from backends.registry import cpu_only_notice, default_backend_id
from backends.schedulers import match_scheduler

from .downloads import prepared_zip, zip_button
from .examples import load_examples
from .form import FormValues, adapt_to_backend, defaults_for, form_from_query, share_query, without_unsupported
from .form_controls import FormControls, backend_choices, build_form_controls, build_prompt, form_updates
from .i18n import i18n, tr
from .language import SWITCH_JS
from .results import (
    RunView,
    failure_tile,
    gallery_caption,
    generation_json,
    info_text,
    no_backend_notice,
    outcome_line,
    progress_line,
)
from .session import JobBoard, SessionContext
from .streaming import JobEvents, PagePictures
from .styles import build_style_editor, final_prompt_line
from .text_safety import literal_error, literal_text_in

__all__ = ["GenerateTab", "build_generate_tab", "entry_fields", "image_fields"]

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.2
"""At most this often a progress-only update goes to the page (images go at once)."""

# On a phone the results sit below the form: bring them into view when a run starts.
SCROLL_TO_RESULTS = """() => {
  if (window.innerWidth < 900) {
    const results = document.querySelector('#results-column');
    if (results) results.scrollIntoView({behavior: 'smooth', block: 'start'});
  }
}"""

COPY_LINK = """(payload) => {
  let data = {};
  try { data = JSON.parse(payload || '{}'); } catch (e) { return ''; }
  if (!data.query && data.query !== '') return '';
  const url = window.location.origin + window.location.pathname + data.query;
  const done = () => data.copied;
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(url).then(done, () => url);
  }
  return url;
}"""


@dataclass(frozen=True)
class GenerateTab:
    """What the other tabs use of this one: the form, and how to fill it explicitly (with one Undo)."""

    form: FormControls
    generate_button: gr.Button
    gallery: gr.Gallery
    status: gr.Markdown
    previous_backend: gr.State
    form_backup: gr.State
    generate_event: Dependency
    apply_settings: Callable[[FormValues, dict[str, Any], str, str], dict[Component, Any]]
    """(current form, fields, note key, language) -> updates of :attr:`settings_outputs`."""
    settings_outputs: list[Component]
    settings_link: gr.Button
    """"Open Settings", shown with the no-key message; the page wires it to the Settings tab."""


def image_fields(restored, registry) -> dict[str, Any]:
    """Form fields from an image's stored parameters; the scheduler is matched to the target backend's names."""
    fields: dict[str, Any] = dict(restored.request_fields())
    width, height = fields.pop("width", None), fields.pop("height", None)
    if width and height:
        fields["size"] = f"{width}x{height}"
    if restored.backend_id in registry:
        fields["backend"] = restored.backend_id
    if restored.scheduler or restored.sampler:
        fields["scheduler"] = restored.scheduler or restored.sampler
    return fields


def entry_fields(entry: HistoryEntry) -> dict[str, Any]:
    """The form fields that reproduce ``entry`` (its base seed and n, so every image comes back)."""
    req = entry.request
    return {
        "backend": entry.backend_id, "prompt": req.prompt, "negative_prompt": req.negative_prompt,
        "size": req.size, "n": req.n, "seed": req.seed if req.seed is not None else -1, "steps": req.steps,
        "guidance": req.guidance, "scheduler": req.scheduler, "output_format": req.output_format,
        "output_quality": req.output_quality,
    }


def build_generate_tab(
    playground: Playground, context: SessionContext, *, max_upload_bytes: int = 20 * 1024 * 1024
) -> GenerateTab:
    registry = playground.registry
    carry = context.language_controls.carry if context.language_controls is not None else None
    entries = registry.entries()
    choices = backend_choices(entries)
    default_id = default_backend_id(registry) or (entries[0].id if entries else "")
    default_caps = registry.get(default_id).capabilities
    jobs = JobBoard()
    examples = load_examples()
    pictures = PagePictures()
    downloads = playground.downloads
    gr.set_static_paths([pictures.root])
    playground.history.on_delete(pictures.forget)

    with gr.Row(equal_height=False, elem_id="generate-layout"):
        with gr.Column(scale=5, min_width=320, elem_id="form-column") as form_column:
            prompt = build_prompt()
            with gr.Row(elem_id="run-row", equal_height=True):
                generate_button = gr.Button(i18n("generate"), variant="primary", elem_id="generate-btn", scale=4, size="lg")
                stop_button = gr.Button(i18n("stop"), variant="secondary", elem_id="stop-btn", scale=1, size="lg",
                                        min_width=80)
            final_prompt = gr.Markdown(elem_id="final-prompt")
            status = gr.Markdown(elem_id="status")
            example_chips = gr.Dataset(
                components=[gr.Textbox(visible=False)], samples=[[example.title("en")] for example in examples],
                type="index", label=i18n("examples"), elem_id="examples", samples_per_page=len(examples) or 1,
                layout="table",
            )
            with gr.Row(elem_id="download-row", visible=False, equal_height=True) as download_row:
                download_note = gr.Markdown(elem_id="download-note")
                download_confirm = gr.Button(i18n("download_confirm"), variant="primary", size="sm", scale=0,
                                             min_width=200, elem_id="download-confirm")
            with gr.Row(elem_id="no-backend-row", visible=False) as no_backend_row:
                backend_status = gr.Markdown(elem_id="backend-status")
                settings_link = gr.Button(i18n("open_settings"), size="sm", scale=0, min_width=140, elem_id="open-settings")
            form = build_form_controls(prompt, choices, default_id, default_caps, defaults_for(default_id, default_caps))
            with gr.Group(visible=False, elem_id="dropped") as dropped_box:
                with gr.Row(equal_height=False):
                    dropped_image = gr.Image(
                        label=i18n("dropped_image"), type="filepath", interactive=False, height=180, scale=1,
                        min_width=120, elem_id="dropped-image", buttons=[],
                    )
                    dropped_text = gr.Textbox(
                        label=i18n("dropped_parameters"), lines=6, max_lines=12, interactive=False, scale=2,
                        buttons=["copy"], elem_id="dropped-parameters",
                    )
                with gr.Row():
                    use_dropped = gr.Button(i18n("use_settings"), variant="primary", size="sm", elem_id="use-dropped")
                    dismiss_dropped = gr.Button(i18n("dismiss"), size="sm", elem_id="dismiss-dropped")
            with gr.Row(elem_id="tools-row", equal_height=True):
                copy_link = gr.Button(i18n("copy_link"), size="sm", elem_id="copy-link", scale=0, min_width=130)
                load_image = gr.UploadButton(
                    i18n("load_from_image"), file_types=[".png", ".jpg", ".jpeg", ".webp"], size="sm",
                    elem_id="load-image", scale=0, min_width=170,
                )
                copied = gr.Markdown(elem_id="copy-note")
            share_payload = gr.Textbox(visible=False, elem_id="share-payload")
            # Set (outside the queue) when a file is dropped on the prompt box; its change reads the file
            # in the queue. It only signals: the path read is the one the server kept (handled_drop).
            drop_signal = gr.Textbox(visible="hidden", elem_id="drop-signal", label=i18n("drop_signal"))
        with gr.Column(scale=7, min_width=320, elem_id="results-column"):
            gallery = gr.Gallery(
                label=i18n("gallery"), format="webp", columns=2, height=680, object_fit="contain", fit_columns=False,
                buttons=["fullscreen"], elem_id="gallery", interactive=False, preview=False, allow_preview=True,
            )
            with gr.Row(elem_id="image-actions", equal_height=True):
                selected = gr.Markdown(elem_id="selected-info")
                download_image = gr.DownloadButton(
                    i18n("download_image"), size="sm", visible=False, elem_id="download-image", scale=0, min_width=150,
                )
                download_all = zip_button(i18n("download_all"), visible=False, elem_id="download-all", scale=0,
                                          min_width=150)
            with gr.Accordion(i18n("info"), open=False, elem_id="info-accordion"):
                info_box = gr.Textbox(
                    label=i18n("info"), lines=6, max_lines=30, interactive=False, buttons=["copy"], elem_id="generation-info",
                )
                with gr.Accordion(i18n("raw_json"), open=False, elem_id="raw-json"):
                    info_json = gr.JSON(label=i18n("raw_json"), elem_id="generation-json")
    run_state = gr.State({})  # the last run: generation id, base seed, seeds; what ♻ and the downloads use
    selected_index = gr.State(None)
    previous_backend = gr.State(default_id)
    form_backup = gr.State(None)
    dropped_fields = gr.State(None)
    handled_drop = gr.State("")
    download_consent = gr.State(False)  # set by "Download and generate" for the one run it starts

    values_in = set(form.value_inputs())
    values_out = [*form.values_outputs(), previous_backend]
    settings_outputs = [*values_out, form_backup, form.undo]

    # --- plain helpers ----------------------------------------------------------------------------

    def without_options_the_backend_lacks(values: dict, backend_id: object) -> dict:
        caps = registry.get(backend_id).capabilities if backend_id in registry else None
        return without_unsupported(values, caps)

    def without_placeholders(values: FormValues, backend_id: str) -> FormValues:
        return FormValues(**without_options_the_backend_lacks(values.__dict__, backend_id))

    def show_values(values: FormValues, backend_id: str, *, notes, lang: str) -> dict:
        caps = registry.get(backend_id).capabilities
        return {**form_updates(form, values, caps, notes=notes, lang=lang), previous_backend: backend_id}

    def apply_settings(values: FormValues, fields: dict[str, Any], note_key: str, lang: str) -> dict[Component, Any]:
        """Fill the form with ``fields`` (explicitly asked for), keeping the form as it was for one Undo."""
        current = without_placeholders(values, values.backend)
        backend_id = fields.get("backend") if fields.get("backend") in registry else current.backend
        caps = registry.get(backend_id).capabilities
        fields = dict(fields)
        if fields.get("scheduler"):
            fields["scheduler"] = match_scheduler(fields["scheduler"], caps.schedulers)
        known = {k: v for k, v in fields.items() if k in FormValues.__dataclass_fields__ and v is not None}
        merged = FormValues(**{**current.__dict__, **known, "backend": backend_id})
        adapted, notes = adapt_to_backend(merged, backend_id, caps, caps)
        updates = show_values(adapted, backend_id, notes=notes, lang=lang)
        if not notes:
            updates[form.note] = gr.update(value=f"ℹ️ {tr(note_key, lang)}")
        return {**updates, form_backup: current.__dict__, form.undo: gr.update(visible=True)}

    # --- generating -------------------------------------------------------------------------------

    async def run(data: dict, request: gr.Request):
        session = context.session(request)
        async for update in context.within_cap(session, request, run_within_cap(data, session), status=status):
            yield update

    async def run_within_cap(data: dict, session):
        lang = session.language
        values = form.values_from(data)
        backend_id = values.backend
        request_values = without_options_the_backend_lacks(values.request_values(), backend_id)
        try:
            preset = playground.find_preset(data[form.style], visitor=session.visitor)
            _, prepared = playground.prepare(backend_id, request_values, api_key=session.api_key_for(backend_id),
                                             preset=preset, preset_settings=False)
        except PlaygroundError as exc:
            yield {status: "⚠️ " + literal_error(exc, lang)}
            return
        token = jobs.try_start(session.job_key)
        if token is None:  # a second click while this session's run is in flight
            yield {status: gr.skip()}
            return
        total = prepared.n
        events = JobEvents()
        consent = bool(data[download_consent]) and not context.hosted  # a visitor never downloads on a demo
        # Each image's picture for the page is made the moment it arrives (the runner may call from a worker
        # thread), beside the others'; the history keeps the same preview (the save waits for it).
        tiles: dict[int, tuple[str, str]] = {}  # index -> (path, caption) of each image shown
        sketches: dict[int, tuple[str, str]] = {}  # index -> a live preview of an image still denoising
        making: dict[int, tuple] = {}  # index -> (image, future of (path, preview bytes or None))
        previews: dict[int, Future] = {}  # index -> future of the preview bytes, for the save

        def on_image(image) -> None:
            if image.index in making or image.index in tiles:  # reported twice: shown once
                return
            picture = pictures.submit_preview(image.data)
            preview: Future = Future()
            making[image.index] = (image, picture)
            previews[image.index] = preview

            def made(done: Future) -> None:
                failed = done.exception()
                preview.set_result(None if failed else done.result()[1])
                events.put(("shown", image))

            picture.add_done_callback(made)

        task = asyncio.ensure_future(
            playground.generate(
                backend_id, request_values, visitor=session.visitor,
                quota_keys=session.quota_keys if context.hosted else (), api_key=session.api_key_for(backend_id),
                progress=lambda job: events.put(("progress", job)), cancel=token,
                on_image=on_image, download=consent, preset=preset, preset_settings=False, previews=previews,
            )
        )

        def show(image, picture: Future) -> None:
            if picture.exception() is None:  # else undecodable: the saved entry lists it as failed
                tiles[image.index] = (str(picture.result()[0]), gallery_caption(image.seed, lang))
                sketches.pop(image.index, None)

        yield {
            gallery: [], status: progress_line(0, total, lang), info_box: "", info_json: None, selected: "",
            download_image: gr.update(visible=False), download_all.button: gr.update(visible=False), selected_index: None,
            download_row: gr.update(visible=False), download_consent: False,
        }
        sent: list = []  # the gallery as the page has it
        try:
            last_sent = 0.0
            step: tuple[int, int] | None = None
            phase = ""
            async for kind, item in events.until(task):
                if kind == "shown":
                    show(item, making.pop(item.index)[1])
                    sent = _ordered(tiles, sketches)
                    yield {gallery: sent, status: progress_line(len(tiles), total, lang)}
                    last_sent = time.monotonic()
                    continue
                phase = literal_text_in(item.phase, lang)
                step = item.steps
                if item.preview is not None:
                    index, picture = item.preview
                    if index not in tiles:
                        path = await asyncio.to_thread(pictures.save, picture)
                        sketches[index] = (str(path), tr("caption_in_progress", lang, index=index + 1))
                        sent = _ordered(tiles, sketches)
                        yield {gallery: sent,
                               status: progress_line(len(tiles), total, lang, phase=phase, step=step)}
                        last_sent = time.monotonic()
                        continue
                if time.monotonic() - last_sent >= PROGRESS_EVERY_S:
                    yield {status: progress_line(len(tiles), total, lang, phase=phase, step=step)}
                    last_sent = time.monotonic()
            outcome = task.result()
            for image, picture in list(making.values()):  # the job ended before these were shown
                await asyncio.wait([asyncio.wrap_future(picture)])
                show(image, picture)
        except DownloadRequired as exc:  # the local weights are not here: ask first (never on a hosted demo)
            offer = not context.hosted
            yield {
                gallery: [], status: "",
                download_row: gr.update(visible=True),
                download_note: "⬇️ " + (literal_error(exc, lang) if offer else tr("download_operator", lang)),
                download_confirm: gr.update(visible=offer),
            }
            return
        except PlaygroundError as exc:  # refused before any work (quota, an unavailable backend), or not kept
            for path, _ in tiles.values():  # a save the disk refused: what was shown of it goes too
                Path(path).unlink(missing_ok=True)
            yield {gallery: [], status: "⚠️ " + literal_error(exc, lang)}
            return
        finally:
            jobs.finish(session.job_key, token)
            if not task.done():
                task.cancel()
        entry, result = outcome.entry, outcome.result
        final = _final_gallery(entry, tiles, lang)
        pictures.claim(entry.id, [path for path, _ in (*tiles.values(), *final)])
        first = entry.images[0] if entry.images else None
        yield {
            gallery: gr.skip() if final == sent else final,  # unchanged: the browser keeps what it painted
            status: outcome_line(RunView(entry, result), lang),
            info_box: info_text(entry, result, lang),
            info_json: generation_json(entry, result),
            run_state: {"generation_id": entry.id, "seed": entry.request.seed, "seeds": list(entry.seeds)},
            download_image: _download_update(_image_download(downloads, entry, first) if first else None),
            download_all.button: gr.update(visible=len(entry.images) > 1),  # the zip is made when it is pressed
            selected: _selected_text(entry, 0, lang) if first else "",
            selected_index: 0 if first else None,
        }

    def _final_gallery(entry: HistoryEntry, tiles: dict[int, tuple[str, str]], lang: str) -> list:
        items: list = []
        failures = {f.index: f for f in entry.failures}
        by_index = {image.index: image for image in entry.images}
        for index in range(entry.request.n):
            if index in by_index:
                image = by_index[index]
                shown = tiles.get(index)
                path = shown[0] if shown else str(pictures.of_stored(image))
                items.append((path, gallery_caption(image.seed, lang)))
            elif index in failures:
                failure = failures[index]
                tile = failure_tile(failure, lang, size=(entry.request.width, entry.request.height))
                reason = tr("tile_stopped_reason", lang) if failure.error_type == "GenerationCancelled" else failure.error_in(lang)
                items.append((str(pictures.save(tile)), tr("caption_failed", lang, seed=failure.seed, reason=reason)))
        return items

    def stop(request: gr.Request) -> None:
        jobs.stop(context.session(request).job_key)

    # --- looking at results -----------------------------------------------------------------------

    def on_select(state: dict, request: gr.Request, evt: gr.SelectData):
        session = context.session(request)
        entry = playground.history.get(state.get("generation_id", ""), visitor=session.visitor) if state else None
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        if entry is None or index is None:
            return gr.skip(), gr.skip(), gr.skip()
        position = _image_at(entry, index)
        if position is None:
            return "", gr.update(visible=False), None
        image = entry.images[position]
        return _selected_text(entry, position, session.language), _download_update(_image_download(downloads, entry, image)), position

    def prepare_download(state: dict, request: gr.Request) -> str | None:
        session = context.session(request)
        entry = playground.history.get(state.get("generation_id", ""), visitor=session.visitor) if state else None
        return prepared_zip(downloads, entry, session.language)

    def reuse_seed(state: dict, index: int | None, request: gr.Request):
        """♻: the selected image's seed, else the last run's base seed; the image count stays as it is."""
        if not state:
            return gr.skip()
        seeds = state.get("seeds") or []
        if index is not None and 0 <= index < len(seeds):
            return seeds[index]
        return state.get("seed") if state.get("seed") is not None else gr.skip()

    # --- the form ---------------------------------------------------------------------------------

    def on_backend_change(data: dict, request: gr.Request):
        lang = context.session(request).language
        values, previous = form.values_from(data), data[previous_backend]
        backend = values.backend
        if backend == previous or backend not in registry:
            # Gradio's dropdown sends `input` on the choice and again on blur; the second, with the
            # form as it was before the first answer landed, must not undo the first.
            return {previous_backend: backend if backend in registry else previous}
        values = without_placeholders(values, previous)
        old = registry.get(previous).capabilities if previous in registry else None
        new = registry.get(backend).capabilities
        adapted, notes = adapt_to_backend(values, backend, new, old)
        return show_values(adapted, backend, notes=notes, lang=lang)

    def on_size_choice(choice: str, width: float, height: float):
        custom = choice == "custom"
        return gr.update(visible=custom), gr.update(visible=custom)

    def undo(data: dict, request: gr.Request):
        backup = data[form_backup]
        if not backup:
            return {form.undo: gr.update(visible=False)}
        values = FormValues(**backup)
        lang = context.session(request).language
        updates = show_values(values, values.backend, notes=[], lang=lang)
        updates[form.note] = gr.update(value=f"↩ {tr('note_undone', lang)}")
        return {**updates, form_backup: None, form.undo: gr.update(visible=False)}

    # --- restoring from an image --------------------------------------------------------------------

    def read_dropped(path: str | None, lang: str):
        size = _file_size(path)
        if size > max_upload_bytes:
            return {
                dropped_box: gr.update(visible=True), dropped_image: None, dropped_fields: None,
                dropped_text: tr("dropped_too_large", lang, size=size / 2**20, limit=max_upload_bytes // 2**20),
                use_dropped: gr.update(interactive=False),
            }
        restored = read_image_parameters(path) if path else None
        if restored is None:
            return {
                dropped_box: gr.update(visible=True), dropped_image: path, dropped_fields: None,
                dropped_text: tr("dropped_nothing", lang), use_dropped: gr.update(interactive=False),
            }
        parameters = restored.request_fields()
        text = entry_parameters_text_of(restored)
        return {
            dropped_box: gr.update(visible=True), dropped_image: path, dropped_text: text,
            dropped_fields: image_fields(restored, registry), use_dropped: gr.update(interactive=True),
        } if parameters else {dropped_box: gr.update(visible=False)}

    def on_prompt_change(data: dict, request: gr.Request):
        session = context.session(request)
        updates: dict[Any, Any] = {}
        if data[form.style]:  # the prompt that will be sent follows what is typed
            preset = playground.presets.find(data[form.style], visitor=session.visitor)
            values = form.values_from(data)
            updates[final_prompt] = final_prompt_line(preset, values.prompt, values.negative_prompt, session.language)
        files = form.dropped_files(data)
        path = files[-1] if files else ""
        if not path or path == data[handled_drop]:
            if not path and data[handled_drop]:  # the file was removed: the same one may be dropped again
                updates[handled_drop] = updates[drop_signal] = path
            return updates or gr.skip()
        return {**updates, drop_signal: path, handled_drop: path}

    def read_signalled_drop(path: str, request: gr.Request):
        return read_dropped(path, context.session(request).language) if path else gr.skip()

    def on_upload(file, request: gr.Request):
        path = file if isinstance(file, str) else getattr(file, "name", None)
        return read_dropped(path, context.session(request).language)

    def use_dropped_settings(data: dict, request: gr.Request):
        fields = data[dropped_fields]
        if not fields:
            return gr.skip()
        lang = context.session(request).language
        updates = apply_settings(form.values_from(data), fields, "note_from_image", lang)
        return {**updates, dropped_box: gr.update(visible=False)}

    # --- links and keys ---------------------------------------------------------------------------

    def share(data: dict, request: gr.Request) -> str:
        lang = context.session(request).language
        query = "?" + share_query(form.values_from(data))
        return json.dumps({"query": query, "copied": "✓ " + tr("link_copied", lang)}, ensure_ascii=False)

    def prefill(data: dict, request: gr.Request):
        """On load: the form carried across a language switch as it was, else a share link's fields."""
        lang = context.session(request).language
        carried = data[carry] if carry is not None else ""
        if carried:
            fields = form_from_query(dict(parse_qsl(carried.lstrip("?"))), registry.ids())
            updates = apply_settings(form.values_from(data), fields, "note_from_link", lang)
            return {**updates, form.note: gr.update(value=""), form_backup: None, form.undo: gr.update(visible=False)}
        query = dict(request.query_params) if request is not None else {}
        fields = form_from_query(query, registry.ids())
        if not fields:
            return gr.skip()
        updates = apply_settings(form.values_from(data), fields, "note_from_link", lang)
        return {**updates, form_backup: None, form.undo: gr.update(visible=False)}

    def use_example(data: dict, request: gr.Request):
        index = data[example_chips]
        if not isinstance(index, int) or not 0 <= index < len(examples):
            return gr.skip()
        lang = context.session(request).language
        return apply_settings(form.values_from(data), examples[index].fields(), "note_from_example", lang)

    def example_titles(request: gr.Request):
        lang = context.session(request).language
        return gr.Dataset(samples=[[example.title(lang)] for example in examples])

    def carry_form(data: dict) -> str:
        return "?" + share_query(form.values_from(data))

    def backend_labels(request: gr.Request):
        """The backend list as this visitor sees it: a backend whose key they pasted is available to them."""
        session = context.session(request)
        return gr.update(choices=backend_choices(registry.entries(), session.language, keys=session.keys))

    def backend_notice(request: gr.Request):
        session = context.session(request)
        text = no_backend_notice(registry.entries(), session.keys, cpu_only_notice(registry, session.language), session.language,
                                 hosted=context.hosted)
        return {no_backend_row: gr.update(visible=bool(text)), backend_status: text}

    # --- wiring: each listener beside its handler's purpose ----------------------------------------

    generate_button.click(None, js=SCROLL_TO_RESULTS, api_visibility="private", queue=False)
    with form_column:
        build_style_editor(playground, context, form, apply_settings=apply_settings, settings_outputs=settings_outputs,
                           final_prompt=final_prompt)
    generate_event = gr.on(
        [generate_button.click, prompt.submit], run, inputs={download_consent, form.style, *values_in},
        outputs=[gallery, status, info_box, info_json, run_state, download_image, download_all.button, selected,
                 selected_index,
                 download_row, download_note, download_confirm, download_consent],
        api_visibility="private", concurrency_limit=context.generate_concurrency, concurrency_id="generate",
        show_progress="hidden", trigger_mode="once", validator=context.page_job_validator(),
    )
    stop_button.click(stop, queue=False, api_visibility="private")
    download_confirm.click(lambda: True, outputs=download_consent, api_visibility="private", queue=False).then(
        None, js="() => { document.querySelector('#generate-btn')?.click(); }", api_visibility="private",
    )
    download_all.on_press(prepare_download, inputs=run_state)
    gallery.select(on_select, inputs=run_state, outputs=[selected, download_image, selected_index],
                   api_visibility="private", queue=False)
    form.random_seed.click(lambda: -1, outputs=form.seed, api_visibility="private", queue=False)
    form.reuse_seed.click(reuse_seed, inputs=[run_state, selected_index], outputs=form.seed,
                          api_visibility="private", queue=False)
    form.backend.input(on_backend_change, inputs={previous_backend, *values_in}, outputs=values_out,
                       api_visibility="private")
    form.size.input(on_size_choice, inputs=[form.size, form.width, form.height], outputs=[form.width, form.height],
                    api_visibility="private", queue=False)
    form.undo.click(undo, inputs={form_backup, *values_in}, outputs=settings_outputs, api_visibility="private")
    # Typing updates the final prompt at once (outside the queue); a dropped file is read in the queue,
    # two at a time, with its size checked first and only its metadata read.
    prompt.change(on_prompt_change, inputs={handled_drop, form.style, *values_in},
                  outputs=[drop_signal, handled_drop, final_prompt],
                  api_visibility="private", queue=False, trigger_mode="always_last", show_progress="hidden")
    drop_signal.change(read_signalled_drop, inputs=handled_drop,
                        outputs=[dropped_box, dropped_image, dropped_text, dropped_fields, use_dropped],
                        api_visibility="private", concurrency_limit=2, concurrency_id="read-image",
                        show_progress="hidden")
    load_image.upload(on_upload, inputs=load_image, outputs=[dropped_box, dropped_image, dropped_text, dropped_fields,
                                                             use_dropped], api_visibility="private",
                      concurrency_limit=2, concurrency_id="read-image")
    use_dropped.click(use_dropped_settings, inputs={dropped_fields, *values_in}, outputs=[*settings_outputs, dropped_box],
                      api_visibility="private")
    dismiss_dropped.click(lambda: gr.update(visible=False), outputs=dropped_box, api_visibility="private", queue=False)
    copy_link.click(share, inputs=values_in, outputs=share_payload, api_visibility="private").then(
        None, inputs=share_payload, outputs=copied, js=COPY_LINK, api_visibility="private",
    )
    example_chips.click(use_example, inputs={example_chips, *values_in}, outputs=settings_outputs,
                        api_visibility="private")
    context.on_load(example_titles, outputs=example_chips)
    load_inputs = {form_backup, *values_in} | ({carry} if carry is not None else set())
    context.on_load(prefill, inputs=load_inputs, outputs=settings_outputs)
    if context.language_controls is not None:
        switch = context.language_controls.switch
        switch.input(carry_form, inputs=values_in, outputs=carry, api_visibility="private", queue=False).then(
            None, inputs=[switch, carry], js=SWITCH_JS, api_visibility="private",
        )
    context.on_load(backend_notice, outputs=[no_backend_row, backend_status])
    context.on_keys_change(backend_notice, outputs=[no_backend_row, backend_status])
    context.on_keys_change(backend_labels, outputs=form.backend)
    context.on_load(backend_labels, outputs=form.backend)  # the local backend's label says its device once known
    return GenerateTab(
        form=form, generate_button=generate_button, gallery=gallery, status=status, previous_backend=previous_backend,
        form_backup=form_backup, generate_event=generate_event, apply_settings=apply_settings,
        settings_outputs=settings_outputs, settings_link=settings_link,
    )


def entry_parameters_text_of(restored) -> str:
    """The A1111 text of what an image says about itself, as a person reads it."""
    from backends.base import GenerationRequest
    from backends.history import a1111_parameters

    request = GenerationRequest(**{**GenerationRequest(prompt="").to_dict(), **restored.request_fields()})
    text = a1111_parameters(
        request, seed=restored.seed if restored.seed is not None else -1, model=restored.model or "",
        backend_label=restored.backend_label or "",
    )
    return text


def _ordered(tiles: dict[int, tuple[str, str]], sketches: dict[int, tuple[str, str]]) -> list[tuple[str, str]]:
    shown = {**sketches, **tiles}
    return [shown[index] for index in sorted(shown)]


def _image_at(entry: HistoryEntry, gallery_index: int) -> int | None:
    """The position in ``entry.images`` of the gallery's ``gallery_index``-th tile (failed tiles hold
    places of their own)."""
    order = sorted([(image.index, "image", i) for i, image in enumerate(entry.images)]
                   + [(f.index, "failure", -1) for f in entry.failures])
    if not 0 <= gallery_index < len(order):
        return None
    _, kind, position = order[gallery_index]
    return position if kind == "image" else None


def _selected_text(entry: HistoryEntry, position: int, lang: str) -> str:
    image = entry.images[position]
    return tr("selected_image", lang, index=image.index + 1, seed=image.seed, width=image.width, height=image.height)


def _image_download(downloads, entry: HistoryEntry, image) -> Path | None:
    """The image's download copy (a hard link: no bytes); None, and no button, where even that fails (a full disk)."""
    try:
        return downloads.image(entry, image)
    except OSError:
        return None


def _download_update(path: Path | None):
    return gr.update(value=str(path), visible=True) if path is not None else gr.update(value=None, visible=False)


def _file_size(path: str | None) -> int:
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0
