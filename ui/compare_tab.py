"""The Compare tab: one prompt over an X (and optional Y) axis of seeds, guidance, steps, schedulers,
sizes, backends or prompt search/replace, shown as a labelled grid; cells open their parameters,
any two images go side by side in an A/B slider, and the grid exports as one PNG with its axes.

``compare`` is the public ``/compare`` endpoint. It takes the Generate tab's settings (its prompt,
backend, size, seed…) plus the axes, so a grid is always "these settings, varied along the axes".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.events import Dependency

from backends.compare import (
    AXIS_KINDS,
    axis_choices,
    parse_axis_kind,
    plan_compare,
)
from backends.errors import PlaygroundError
from backends.playground import Playground

from .api import NO_AXIS, ApiEndpoints
from .generate_tab import GenerateTab
from .history_tab import HistoryTab
from .i18n import i18n
from .session import SessionContext

__all__ = ["build_compare_tab"]



@dataclass(frozen=True)
class CompareTab:
    gallery: gr.Gallery
    event: Dependency


def axis_help(x_kind: str | None, y_kind: str | None) -> str:
    lines = []
    for label, kind in (("X", x_kind), ("Y", y_kind)):
        try:
            parsed = parse_axis_kind(kind, optional=True)
        except PlaygroundError:
            continue
        if parsed is not None:
            info = AXIS_KINDS[parsed]
            lines.append(f"**{label} · {info.title}**: {info.syntax} Example: `{info.example}`")
    return "\n\n".join(lines)


def build_compare_tab(
    playground: Playground,
    context: SessionContext,
    generate: GenerateTab,
    history: HistoryTab,
    api: ApiEndpoints,
    *,
    confirm_above: int,
) -> CompareTab:
    form = generate.form
    jobs = api.jobs
    kinds = axis_choices()

    gr.Markdown(i18n("compare_intro"))
    with gr.Row():
        x_type = gr.Dropdown(kinds, value="seed", label=i18n("x_axis"), elem_id="x-type", scale=1, allow_custom_value=True)
        x_values = gr.Textbox(value="4", label=i18n("x_values"), elem_id="x-values", scale=3)
    with gr.Row():
        y_type = gr.Dropdown(
            [(i18n("no_axis"), NO_AXIS), *kinds], value=NO_AXIS, label=i18n("y_axis"), elem_id="y-type", scale=1,
            allow_custom_value=True,  # parse_axes, not Gradio's choice check, answers an unknown kind naming the axis
        )
        y_values = gr.Textbox(value="", label=i18n("y_values"), elem_id="y-values", scale=3)
    syntax = gr.Markdown(axis_help("seed", None), elem_id="axis-help")
    plan_text = gr.Markdown(elem_id="compare-plan")
    confirm = gr.Checkbox(label=i18n("confirm_large"), value=False, elem_id="compare-confirm")
    with gr.Row():
        run_button = gr.Button(i18n("run_grid"), variant="primary", elem_id="compare-run", scale=3)
        stop_button = gr.Button(i18n("stop"), variant="stop", elem_id="compare-stop", scale=1)
    status = gr.Markdown(elem_id="compare-status")
    grid_image = gr.Image(label=i18n("grid"), type="filepath", format="png", interactive=False, elem_id="compare-grid")
    cells = gr.Gallery(
        label=i18n("cells"), format="png", columns=4, height=420, object_fit="contain", allow_preview=False,
        fit_columns=False, elem_id="compare-cells", interactive=False,
    )
    cell_details = gr.Markdown(elem_id="compare-cell")
    with gr.Accordion(i18n("ab"), open=True):
        gr.Markdown(i18n("ab_help"))
        slider = gr.ImageSlider(label="A / B", type="filepath", interactive=False, elem_id="ab-slider")
    export_file = gr.File(label=i18n("export"), interactive=False, elem_id="compare-export")
    with gr.Accordion(i18n("info"), open=False):
        result_json = gr.JSON(label=i18n("info"), elem_id="compare-info")
    ab_paths = gr.State([])

    # --- handlers ---------------------------------------------------------------------------

    def form_values(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None}

    def estimate(data: dict, request: gr.Request) -> str:
        values = form.values_from(data)
        try:
            plan = plan_compare(
                playground, backend_id=values.backend,
                values=form_values(generate.drop_hidden(values.request_values(), values.backend)),
                x_kind=data[x_type], x_text=data[x_values], y_kind=data[y_type], y_text=data[y_values],
                api_keys=context.session(request).keys,
            )
        except PlaygroundError as exc:
            return f"⚠️ {exc}"
        ask = " — **tick the box below to run it**" if plan.needs_confirmation(above=confirm_above) else ""
        return f"📐 {plan.summary}{ask}"

    async def compare(data: dict, request: gr.Request, progress: gr.Progress = gr.Progress()):
        values = form.values_from(data)
        return await api.compare(
            backend=values.backend, prompt=values.prompt, negative_prompt=values.negative_prompt, size=values.size,
            seed=values.seed, steps=values.steps, guidance=values.guidance, scheduler=values.scheduler,
            output_format=values.output_format, output_quality=values.output_quality, x_type=data[x_type],
            x_values=data[x_values], y_type=data[y_type], y_values=data[y_values], confirm=data[confirm],
            request=request, progress=progress,
        )

    def after_run(info: dict | None, grid_path: str | None, request: gr.Request):
        """The status line, the export download, and the A/B pair of a two-cell grid."""
        if not info:
            return "", None, [], gr.update()
        visitor = context.session(request).visitor
        paths = []
        for cell in info["cells"]:
            entry = playground.history.get(cell["generation_id"], visitor=visitor) if cell.get("generation_id") else None
            if entry is not None and entry.images:
                paths.append(str(entry.images[0].path))
        pair = paths if len(info["cells"]) == 2 and len(paths) == 2 else []
        columns = len(info.get("x", {}).get("values") or []) or 4
        return f"✅ {info['result_summary']}", grid_path, pair, gr.update(columns=columns)

    def select_cell(info: dict | None, pair: list, request: gr.Request, evt: gr.SelectData):
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        if not info or index is None or index >= len(info["cells"]):
            return "", pair, gr.update()
        cell = info["cells"][index]
        req = cell.get("request") or {}
        text = (
            f"**{cell.get('title') or 'Cell'}** · {cell.get('backend_label', cell.get('backend_id'))} · seed `{cell.get('seed')}`"
            f" · status {cell['status']}" + (f" · generation `{cell['generation_id']}`" if cell.get("generation_id") else "")
            + f"\n\n{req.get('width')}×{req.get('height')} · steps {req.get('steps')} · guidance {req.get('guidance')}"
            + (f" · {req['scheduler']}" if req.get("scheduler") else "")
            + f"\n\n> {req.get('prompt', '')}"
            + (f"\n\nNegative: {req['negative_prompt']}" if req.get("negative_prompt") else "")
            + (f"\n\n❌ {cell['error']}" if cell.get("error") else "")
        )
        entry = playground.history.get(cell["generation_id"], visitor=context.session(request).visitor) if cell.get("generation_id") else None
        if entry is None or not entry.images:
            return text, pair, gr.update()
        pair = [*pair, str(entry.images[0].path)][-2:]
        return text, pair, (tuple(pair) if len(pair) == 2 else gr.update())

    def add_history_entry(entry_id: str | None, pair: list, request: gr.Request):
        entry = playground.history.get(entry_id, visitor=context.session(request).visitor) if entry_id else None
        if entry is None or not entry.images:
            gr.Warning("Select a history entry with an image first.")
            return pair, gr.update()
        pair = [*pair, str(entry.images[0].path)][-2:]
        return pair, (tuple(pair) if len(pair) == 2 else gr.update())

    def stop(request: gr.Request) -> None:
        jobs.stop(context.session(request).job_key)

    # --- wiring -----------------------------------------------------------------------------

    axis_inputs = {x_type, x_values, y_type, y_values, *form.value_inputs()}
    gr.on(
        [x_type.change, y_type.change], axis_help, inputs=[x_type, y_type], outputs=syntax, api_visibility="private",
    )
    gr.on(
        [x_type.change, y_type.change, x_values.submit, y_values.submit, x_values.blur, y_values.blur, form.prompt.blur,
         form.backend.change],
        estimate, inputs=axis_inputs, outputs=plan_text, api_visibility="private",
    )
    event = run_button.click(
        compare,
        inputs={x_type, x_values, y_type, y_values, confirm, *form.value_inputs()},
        outputs=[grid_image, cells, result_json],
        api_visibility="private",
        concurrency_limit=context.generate_concurrency,
        concurrency_id="compare",
    )
    event.success(
        after_run, inputs=[result_json, grid_image], outputs=[status, export_file, ab_paths, cells], api_visibility="private"
    ).then(
        lambda pair: tuple(pair) if len(pair) == 2 else gr.update(), inputs=ab_paths, outputs=slider, api_visibility="private",
    )
    history.reload_after(event)
    stop_button.click(stop, queue=False, api_visibility="private")
    cells.select(select_cell, inputs=[result_json, ab_paths], outputs=[cell_details, ab_paths, slider], api_visibility="private")
    history.ab_button.click(add_history_entry, inputs=[history.selected_id, ab_paths], outputs=[ab_paths, slider], api_visibility="private")
    context.on_load(estimate, inputs=axis_inputs, outputs=plan_text)
    return CompareTab(gallery=cells, event=event)
