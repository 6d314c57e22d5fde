"""The Compare tab: one prompt over an X (and optional Y) axis of seeds, guidance, steps, samplers, sizes,
backends or prompt search/replace, as one clickable grid whose cells fill in as they finish.

Its base settings (prompt, backend, size, seed) sit at its top, taken from the Generate tab when it opens
and editable here; the rest (steps, guidance, sampler, negative prompt) follow the Generate tab for that
backend. The plan says how many cells, the cost and a time learned from this backend's recent runs; a
grid over the threshold asks to be confirmed. Any two cells go side by side in the A/B slider.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.events import Dependency

from backends.base import GenerationRequest
from backends.compare import AXIS_KINDS, parse_axis_kind, suggested_values
from backends.errors import PlaygroundError
from backends.history import HistoryEntry
from backends.playground import Playground
from backends.schedulers import scheduler_label

from .api import NO_AXIS, NO_IMAGE, ApiEndpoints
from .compare_text import axis_help, cell_title, grid_progress, outcome_of, plan_line
from .form import FormValues, adapt_to_backend, size_choices, without_unsupported
from .form_controls import FormNumber
from .generate_tab import GenerateTab
from .history_tab import HistoryTab
from .i18n import i18n, tr
from .session import SessionContext
from .streaming import JobEvents, PagePictures
from .text_safety import literal, literal_error, tr_literal

__all__ = ["CompareTab", "build_compare_tab"]

PROGRESS_EVERY_S = 0.25


@dataclass(frozen=True)
class CompareTab:
    grid: gr.Gallery
    event: Dependency


def build_compare_tab(
    playground: Playground,
    context: SessionContext,
    generate: GenerateTab,
    history: HistoryTab,
    api: ApiEndpoints,
    *,
    tab_item: gr.Tab,
    confirm_above: int,
) -> CompareTab:
    registry = playground.registry
    form = generate.form
    grids, jobs = api.grids, api.jobs
    pictures = PagePictures()
    gr.set_static_paths([pictures.root])
    # Labels through gr.I18n: the browser's locale renders them, so the choices never change under a value.
    kinds = [(i18n(f"axis_title_{kind.value}"), kind.value) for kind in AXIS_KINDS]

    gr.Markdown(i18n("compare_intro"), elem_id="compare-intro")
    with gr.Column(variant="panel", elem_id="compare-base"):
        with gr.Row(equal_height=True):
            base_prompt = gr.Textbox(label=i18n("prompt"), lines=2, max_lines=6, scale=4, min_width=240,
                                     elem_id="compare-prompt")
            # Plain names: a backend that cannot run says so in the plan line, in the visitor's language.
            base_backend = gr.Dropdown([(e.backend.label, e.id) for e in registry.entries()], label=i18n("backend"), scale=2,
                                       min_width=180, elem_id="compare-backend", allow_custom_value=True)
            base_size = gr.Dropdown(label=i18n("size"), scale=2, min_width=150, elem_id="compare-size",
                                    allow_custom_value=True)
            base_seed = FormNumber(label=i18n("seed"), precision=0, value=-1, scale=1, min_width=110,
                                   elem_id="compare-seed")
        with gr.Row(equal_height=True):
            base_note = gr.Markdown(elem_id="compare-base-note")
            from_generate = gr.Button(i18n("compare_from_generate"), size="sm", scale=0, min_width=200,
                                      elem_id="compare-from-generate")
    with gr.Row(equal_height=True):
        x_type = gr.Dropdown(kinds, value="seed", label=i18n("x_axis"), elem_id="x-type", scale=1, min_width=140)
        x_values = gr.Textbox(value="4", label=i18n("x_values"), elem_id="x-values", scale=3, min_width=200)
        x_fill = gr.Button(i18n("fill"), size="sm", scale=0, min_width=90, elem_id="x-fill")
    with gr.Row(equal_height=True):
        y_type = gr.Dropdown([(i18n("no_axis"), NO_AXIS), *kinds], value=NO_AXIS, label=i18n("y_axis"),
                             elem_id="y-type", scale=1, min_width=140)
        y_values = gr.Textbox(value="", label=i18n("y_values"), elem_id="y-values", scale=3, min_width=200)
        y_fill = gr.Button(i18n("fill"), size="sm", scale=0, min_width=90, elem_id="y-fill")
    syntax = gr.Markdown(elem_id="axis-help")
    plan_text = gr.Markdown(elem_id="compare-plan")
    confirm = gr.Checkbox(label=i18n("confirm_large"), value=False, visible=False, elem_id="compare-confirm")
    with gr.Row():
        run_button = gr.Button(i18n("run_grid"), variant="primary", elem_id="compare-run", scale=3)
        stop_button = gr.Button(i18n("stop"), variant="secondary", elem_id="compare-stop", scale=1)
    status = gr.Markdown(elem_id="compare-status")
    grid = gr.Gallery(
        label=i18n("grid"), columns=4, height="auto", object_fit="contain", allow_preview=False, fit_columns=False,
        elem_id="compare-grid", interactive=False, buttons=[], format="webp",
    )
    cell_details = gr.Markdown(elem_id="compare-cell")
    with gr.Accordion(i18n("ab"), open=True, elem_id="ab-section"):
        gr.Markdown(i18n("ab_help"), elem_id="ab-help")
        slider = gr.ImageSlider(label="A / B", type="filepath", interactive=False, elem_id="ab-slider",
                                max_height=640, buttons=["fullscreen"])
    export = gr.DownloadButton(i18n("export"), visible=False, size="sm", elem_id="compare-export")
    with gr.Accordion(i18n("raw_json"), open=False):
        result_json = gr.JSON(label=i18n("raw_json"), elem_id="compare-info")
    pair = gr.State([])  # up to two (preview path, title): what the A/B slider shows

    # --- the base settings ------------------------------------------------------------------------

    def base_values(data: dict) -> dict[str, Any]:
        """The Generate tab's form with the Compare tab's base settings in place, fitted to that backend."""
        generate_values = form.values_from(data)
        backend = data[base_backend] if data[base_backend] in registry else generate_values.backend
        merged = FormValues(**{**generate_values.__dict__, "prompt": data[base_prompt] or "",
                               "size": data[base_size] or generate_values.size, "seed": data[base_seed], "n": 1})
        old = registry.get(generate_values.backend).capabilities if generate_values.backend in registry else None
        adapted, _ = adapt_to_backend(merged, backend, registry.get(backend).capabilities, old)
        adapted = FormValues(**{**adapted.__dict__, "size": merged.size, "seed": merged.seed})
        caps = registry.get(backend).capabilities
        values = without_unsupported(adapted.request_values(), caps)
        values.pop("n", None)
        return {"backend": backend, **{k: v for k, v in values.items() if v is not None}}

    def other_settings_note(values: dict[str, Any], lang: str) -> str:
        parts = [tr("steps_n", lang, n=values.get("steps")), tr("guidance_n", lang, n=values.get("guidance"))]
        if values.get("scheduler"):
            parts.append(literal(scheduler_label(values["scheduler"])))
        if values.get("negative_prompt"):
            parts.append(tr_literal("negative_short", lang, text=values["negative_prompt"][:40]))
        return "ℹ️ " + tr("compare_other_settings", lang, settings=" · ".join(str(p) for p in parts))

    def take_from_generate(data: dict, request: gr.Request, *, only_if_empty: bool = False):
        if only_if_empty and (data[base_prompt] or "").strip():
            return gr.skip()
        values = form.values_from(data)
        caps = registry.get(values.backend).capabilities if values.backend in registry else None
        return {
            base_prompt: values.prompt, base_backend: values.backend,
            base_size: gr.update(choices=size_choices(caps) if caps else [], value=values.size),
            base_seed: values.seed,
        }

    def on_base_backend(backend: str, size: str):
        if backend not in registry:
            return gr.skip()
        caps = registry.get(backend).capabilities
        choices = size_choices(caps)
        keep = size if any(size == value for _, value in choices) or caps.size_range is not None else choices[0][1]
        return gr.update(choices=choices, value=keep)

    # --- the plan ---------------------------------------------------------------------------------

    def estimate(data: dict, request: gr.Request):
        session = context.session(request)
        lang = session.language
        values = base_values(data)
        note = other_settings_note(values, lang)
        help_text = axis_help(data[x_type], data[y_type], lang)
        try:
            plan = grids.plan(session, backend=values.pop("backend"), values=values, x_type=data[x_type],
                              x_values=data[x_values], y_type=data[y_type], y_values=data[y_values])
        except PlaygroundError as exc:
            return {plan_text: "⚠️ " + literal_error(exc, lang), confirm: gr.update(visible=False), base_note: note,
                    syntax: help_text}
        line = plan_line(plan, grids.learned_runs(session, plan), lang)
        large = plan.needs_confirmation(above=confirm_above)
        return {
            plan_text: line + (" — " + tr("compare_confirm_hint", lang) if large else ""),
            confirm: gr.update(visible=True) if large else gr.update(visible=False, value=False),
            base_note: note, syntax: help_text,
        }

    def fill(kind: str, data: dict, request: gr.Request):
        backend = data[base_backend] if data[base_backend] in registry else form.values_from(data).backend
        try:
            parse_axis_kind(kind)
        except PlaygroundError:
            return gr.skip()
        available = [backend_.id for backend_ in registry.available()]
        text = suggested_values(kind, registry.get(backend).capabilities, available)
        return text if text else gr.skip()

    # --- running ----------------------------------------------------------------------------------

    async def run(data: dict, request: gr.Request):
        session = context.session(request)
        async for update in context.within_cap(session, request, run_within_cap(data, session), status=status):
            yield update

    async def run_within_cap(data: dict, session):
        lang = session.language
        values = base_values(data)
        x_kind, y_kind = data[x_type], data[y_type] if data[y_type] not in (None, "", NO_AXIS) else None
        try:
            plan = grids.plan(session, backend=values.pop("backend"), values=values, x_type=x_kind,
                              x_values=data[x_values], y_type=data[y_type], y_values=data[y_values])
        except PlaygroundError as exc:
            yield {status: "⚠️ " + literal_error(exc, lang)}
            return
        if plan.needs_confirmation(above=confirm_above) and not data[confirm]:
            yield {status: "⚠️ " + tr("compare_needs_confirmation", lang, cells=len(plan.cells)),
                   confirm: gr.update(visible=True)}
            return
        token = jobs.try_start(session.job_key)
        if token is None:
            yield {status: gr.skip()}
            return
        x_kind_value = str(parse_axis_kind(x_kind))
        y_kind_value = str(parse_axis_kind(y_kind, field="y_axis", optional=True) or "") or None
        titles = [cell_title(cell.to_dict(), x_kind_value, y_kind_value, lang) for cell in plan.cells]
        tiles: list[tuple[str, str]] = [(str(NO_IMAGE), title) for title in titles]
        events = JobEvents()
        task = asyncio.ensure_future(grids.run(session, plan, cancel=token, progress=events.put))
        yield {
            grid: gr.update(value=list(tiles), columns=plan.cols), status: grid_progress(0, len(plan.cells), lang),
            export: gr.update(visible=False), cell_details: "", result_json: None,
        }
        try:
            last = 0.0
            async for progress in events.until(task):
                if progress.cell is not None and progress.cell.image is not None:
                    preview = await asyncio.to_thread(_preview_of, pictures, progress.cell.image)
                    tiles[progress.cell.cell.index] = (preview, titles[progress.cell.cell.index])
                    yield {grid: list(tiles), status: grid_progress(progress.done, progress.total, lang)}
                    last = time.monotonic()
                elif time.monotonic() - last >= PROGRESS_EVERY_S:
                    yield {status: grid_progress(progress.done, progress.total, lang)}
                    last = time.monotonic()
            result = task.result()
        except PlaygroundError as exc:
            yield {status: "⚠️ " + literal_error(exc, lang)}
            return
        finally:
            jobs.finish(session.job_key, token)
            if not task.done():
                task.cancel()
        for index, cell in enumerate(result.cells):
            if cell.image is not None and tiles[index][0] == str(NO_IMAGE):
                tiles[index] = (await asyncio.to_thread(_preview_of, pictures, cell.image), titles[index])
            elif cell.image is None:
                tiles[index] = (str(NO_IMAGE), f"{titles[index]} — {cell.error_in(lang) or tr('outcome_' + outcome_of(cell.status), lang)}")
        info = result.to_dict()
        for cell, title in zip(info["cells"], titles, strict=False):
            cell["title"] = title
        ok = sum(1 for cell in result.cells if cell.ok)
        line = ("⏹ " if token.cancelled else "✅ " if ok == len(result.cells) else "⚠️ ") + tr(
            "compare_done", lang, ok=ok, total=len(result.cells), seconds=f"{result.elapsed_s:.1f}")
        pair_now = await asyncio.to_thread(_two_cells, result, titles, pictures) if len(result.cells) == 2 else None
        updates: dict[Any, Any] = {
            grid: list(tiles), status: line, result_json: info,
            export: gr.update(value=str(await grids.export(result)), visible=True),
        }
        if pair_now:
            updates[pair] = pair_now
            updates[slider] = _ab_update(pair_now, lang)
        yield updates

    def stop(request: gr.Request) -> None:
        jobs.stop(context.session(request).job_key)

    # --- looking at cells ---------------------------------------------------------------------------

    def select_cell(info: dict | None, chosen: list, request: gr.Request, evt: gr.SelectData):
        session = context.session(request)
        lang = session.language
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        if not info or index is None or index >= len(info["cells"]):
            return gr.skip()
        cell = info["cells"][index]
        req = GenerationRequest.from_dict(cell.get("request") or {})
        title = cell.get("title") or ""
        text = (  # Markdown: the page's bold and quote around values that others supplied, shown literally
            f"**{literal(title)}** · {literal(cell.get('backend_label') or '')} · {tr('caption_seed', lang, seed=cell.get('seed'))}"
            f" · {req.width}×{req.height} · {tr('steps_n', lang, n=req.steps)} · {tr('guidance_n', lang, n=f'{req.guidance:g}')}"
            + (f" · {literal(scheduler_label(req.scheduler))}" if req.scheduler else "")
            + f"\n\n> {literal(req.prompt)}"
            + (f"\n\n❌ {literal(cell['error'])}" if cell.get("error") else "")
        )
        entry = playground.history.get(cell["generation_id"], visitor=session.visitor) if cell.get("generation_id") else None
        if entry is None or not entry.images:
            return {cell_details: text}
        chosen = [*chosen, (str(_preview_of(pictures, entry.images[0])), title)][-2:]
        updates: dict[Any, Any] = {cell_details: text, pair: chosen}
        if len(chosen) == 2:
            updates[slider] = _ab_update(chosen, lang)
        return updates

    def add_history_entry(entry_id: str | None, chosen: list, request: gr.Request):
        session = context.session(request)
        entry: HistoryEntry | None = playground.history.get(entry_id, visitor=session.visitor) if entry_id else None
        if entry is None or not entry.images:
            return gr.skip()
        title = f"{entry.backend_label} · {tr('caption_seed', session.language, seed=entry.images[0].seed)}"
        chosen = [*chosen, (str(_preview_of(pictures, entry.images[0])), title)][-2:]
        if len(chosen) < 2:
            return {pair: chosen}
        return {pair: chosen, slider: _ab_update(chosen, session.language)}

    def localize(request: gr.Request):
        return axis_help("seed", None, context.session(request).language)

    def take_if_empty(data: dict, request: gr.Request):
        return take_from_generate(data, request, only_if_empty=True)

    def fill_x(data: dict, request: gr.Request):
        return fill(data[x_type], data, request)

    def fill_y(data: dict, request: gr.Request):
        return fill(data[y_type], data, request)

    # --- wiring -----------------------------------------------------------------------------------

    values_in = {*form.value_inputs()}
    base_in = {base_prompt, base_backend, base_size, base_seed}
    plan_in = {x_type, x_values, y_type, y_values, *base_in, *values_in}
    tab_item.select(take_if_empty,
                    inputs={base_prompt, *values_in}, outputs=[base_prompt, base_backend, base_size, base_seed],
                    api_visibility="private").then(
        estimate, inputs=plan_in, outputs=[plan_text, confirm, base_note, syntax], api_visibility="private")
    from_generate.click(take_from_generate, inputs={base_prompt, *values_in},
                        outputs=[base_prompt, base_backend, base_size, base_seed], api_visibility="private").then(
        estimate, inputs=plan_in, outputs=[plan_text, confirm, base_note, syntax], api_visibility="private")
    base_backend.input(on_base_backend, inputs=[base_backend, base_size], outputs=base_size,
                       api_visibility="private", queue=False)
    gr.on(
        [x_type.change, y_type.change, x_values.blur, y_values.blur, x_values.submit, y_values.submit,
         base_prompt.blur, base_backend.change, base_size.change, base_seed.blur],
        estimate, inputs=plan_in, outputs=[plan_text, confirm, base_note, syntax], api_visibility="private",
        trigger_mode="always_last",
    )
    x_fill.click(fill_x, inputs={x_type, base_backend, *values_in},
                 outputs=x_values, api_visibility="private").then(
        estimate, inputs=plan_in, outputs=[plan_text, confirm, base_note, syntax], api_visibility="private")
    y_fill.click(fill_y, inputs={y_type, base_backend, *values_in},
                 outputs=y_values, api_visibility="private").then(
        estimate, inputs=plan_in, outputs=[plan_text, confirm, base_note, syntax], api_visibility="private")
    event = run_button.click(
        run, inputs={*plan_in, confirm},
        outputs=[grid, status, export, cell_details, result_json, confirm, pair, slider],
        api_visibility="private", concurrency_limit=context.generate_concurrency, concurrency_id="compare",
        show_progress="hidden", trigger_mode="once", validator=context.page_job_validator(),
    )
    history.reload_after(event)
    stop_button.click(stop, queue=False, api_visibility="private")
    grid.select(select_cell, inputs=[result_json, pair], outputs=[cell_details, pair, slider], api_visibility="private")
    history.ab_button.click(add_history_entry, inputs=[history.selected_id, pair], outputs=[pair, slider],
                            api_visibility="private")
    context.on_load(localize, outputs=syntax)
    return CompareTab(grid=grid, event=event)


def _preview_of(pictures: PagePictures, image) -> str:
    return str(pictures.of_stored(image))


def _two_cells(result, titles: list[str], pictures: PagePictures) -> list[tuple[str, str]] | None:
    cells = [(cell, title) for cell, title in zip(result.cells, titles, strict=False) if cell.image is not None]
    if len(cells) != 2:
        return None
    return [(_preview_of(pictures, cell.image), title) for cell, title in cells]


AB_MAX_HEIGHT = 640
AB_MAX_WIDTH = 1100


def _ab_update(chosen: list, lang: str):
    """The slider with the two pictures, labelled with both cells' values, and exactly as large as the
    picture (no letterbox), so its handle can only travel across the image."""
    from PIL import Image

    with Image.open(chosen[0][0]) as first:
        width, height = first.size
    scale = min(AB_MAX_HEIGHT / height, AB_MAX_WIDTH / width, 1.0 if max(width, height) > AB_MAX_HEIGHT else 2.0)
    return gr.update(
        value=(chosen[0][0], chosen[1][0]), label=f"A: {chosen[0][1]}  |  B: {chosen[1][1]}",
        width=round(width * scale), height=round(height * scale),
    )
