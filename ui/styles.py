"""Style presets on the page: choosing one puts its settings in the form and shows the prompt that will be
sent; the editor saves the form as a style of one's own, and edits and deletes those. Built-ins are
read-only. A visitor's styles are kept with their history (per visitor on a hosted demo)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.components import Component

from backends.errors import PlaygroundError
from backends.playground import Playground
from backends.presets import PROMPT_SLOT, Preset
from backends.schedulers import scheduler_label

from .form import FormValues
from .form_controls import FormControls
from .i18n import i18n, tr
from .results import final_prompt_line
from .session import SessionContext
from .text_safety import literal_error, tr_literal

__all__ = ["StyleControls", "build_style_editor", "final_prompt_line", "style_choices"]

SAVED_SETTINGS = ("size", "steps", "guidance", "scheduler")


@dataclass(frozen=True)
class StyleControls:
    final_prompt: gr.Markdown
    """Under the prompt: what will be sent while a style is chosen."""


def style_choices(presets: list[Preset], lang: str) -> list[tuple[str, str]]:
    own = [(f"★ {p.label(lang)}", p.id) for p in presets if not p.builtin]
    return [(tr("style_none", lang), ""), *own, *[(p.label(lang), p.id) for p in presets if p.builtin]]


def build_style_editor(
    playground: Playground, context: SessionContext, form: FormControls, *, apply_settings, settings_outputs: list,
    final_prompt: gr.Markdown,
) -> None:
    """The "Styles" section: choose one of your own to edit, or write a new one from the form."""
    library = playground.presets
    with gr.Accordion(i18n("styles_editor"), open=False, elem_id="styles-editor"):
        mine = gr.Dropdown(choices=[(tr("style_new", "en"), "")], value="", label=i18n("style_yours"),
                           elem_id="style-mine", interactive=True, allow_custom_value=True)
        name = gr.Textbox(label=i18n("style_name"), elem_id="style-name", max_lines=1)
        template = gr.Textbox(label=i18n("style_template"), placeholder=f"{PROMPT_SLOT}, watercolour, soft light",
                              info=i18n("style_template_info"), lines=2, elem_id="style-template")
        negative = gr.Textbox(label=i18n("negative_prompt"), lines=1, elem_id="style-negative")
        keep = gr.CheckboxGroup(
            choices=[(tr(f"style_keep_{name_}", "en"), name_) for name_ in SAVED_SETTINGS], value=[],
            label=i18n("style_keep"), elem_id="style-keep",
        )
        with gr.Row():
            save = gr.Button(i18n("style_save"), variant="primary", size="sm", elem_id="style-save")
            delete = gr.Button(i18n("delete"), variant="stop", size="sm", elem_id="style-delete")
        note = gr.Markdown(elem_id="style-note")
    values_in = set(form.value_inputs())

    def refresh(request: gr.Request, selected: str | None = None, editing: str | None = None) -> dict[Component, Any]:
        session = context.session(request)
        presets = library.all(session.visitor)
        own = [(p.label(session.language), p.id) for p in presets if not p.builtin]
        return {
            form.style: gr.update(choices=style_choices(presets, session.language),
                                  **({"value": selected} if selected is not None else {})),
            mine: gr.update(choices=[(tr("style_new", session.language), ""), *own],
                            **({"value": editing} if editing is not None else {})),
            keep: gr.update(choices=[(tr(f"style_keep_{n}", session.language), n) for n in SAVED_SETTINGS]),
        }

    def choose(data: dict, request: gr.Request):
        """Choosing a style puts its settings in the form (with one Undo) and shows what will be sent."""
        session = context.session(request)
        preset = library.find(data[form.style], visitor=session.visitor) if data[form.style] else None
        values = form.values_from(data)
        line = final_prompt_line(preset, values.prompt, values.negative_prompt, session.language)
        if preset is None:
            return {final_prompt: line}
        updates = apply_settings(values, preset.settings(), "note_style", session.language) if preset.settings() else {}
        return {**updates, final_prompt: line}

    def load_into_editor(preset_id: str, request: gr.Request):
        session = context.session(request)
        preset = library.find(preset_id, visitor=session.visitor) if preset_id else None
        if preset is None or preset.builtin:
            return {name: "", template: "", negative: "", keep: [], note: ""}
        return {name: preset.name, template: preset.template, negative: preset.negative_prompt,
                keep: [n for n in SAVED_SETTINGS if getattr(preset, n) is not None], note: ""}

    def save_style(data: dict, request: gr.Request):
        session = context.session(request)
        values: FormValues = form.values_from(data)
        fields: dict[str, Any] = {"name": data[name], "template": data[template] or PROMPT_SLOT,
                                  "negative_prompt": data[negative] or ""}
        for setting in data[keep] or []:
            value = getattr(values, setting)
            fields[setting] = scheduler_label(value) if setting == "scheduler" and value else value
        existing = data[mine]
        try:
            if existing:
                library.delete(existing, visitor=session.visitor)  # an edit replaces the style it started from
            preset = library.save(fields, visitor=session.visitor)
        except PlaygroundError as exc:
            return {note: "⚠️ " + literal_error(exc, session.language)}
        return {**refresh(request, editing=preset.id), note: "✓ " + tr_literal("style_saved", session.language, style=preset.name)}

    def delete_style(preset_id: str, request: gr.Request):
        session = context.session(request)
        if not preset_id:
            return {note: ""}
        library.delete(preset_id, visitor=session.visitor)
        return {**refresh(request, selected="", editing=""), name: "", template: "", negative: "", keep: [],
                note: "🗑 " + tr("style_deleted", session.language)}

    def on_load(request: gr.Request):
        return refresh(request)

    refresh_outputs = [form.style, mine, keep]
    form.style.input(choose, inputs={form.style, *values_in}, outputs=[*settings_outputs, final_prompt],
                     api_visibility="private")
    mine.input(load_into_editor, inputs=mine, outputs=[name, template, negative, keep, note], api_visibility="private")
    save.click(save_style, inputs={name, template, negative, keep, mine, *values_in},
               outputs=[*refresh_outputs, note], api_visibility="private")
    delete.click(delete_style, inputs=mine, outputs=[*refresh_outputs, name, template, negative, keep, note],
                 api_visibility="private")
    context.on_load(on_load, outputs=refresh_outputs)
