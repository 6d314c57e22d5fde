"""The generation form's components, held together by name (never as a positional list), and the one
function that turns plain form values plus a backend's capabilities into component updates."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import gradio as gr
from gradio.components import Component

from backends.base import Capabilities

from .form import FormValues, size_choices
from .i18n import i18n

__all__ = ["FormControls", "FormNumber", "FormSlider", "backend_choices", "build_form_controls", "form_updates"]


class FormSlider(gr.Slider):
    """A slider whose value reaches :func:`backends.validation.validate_request` as sent.

    Gradio's own bound check answers "Value 500 is greater than maximum value 100" without naming
    the field, and its bounds are those of the backend the page started with; the validator knows
    the chosen backend and names the field, so it is the one place that checks.
    """

    def get_block_name(self) -> str:
        return "slider"

    def preprocess(self, payload: Any) -> Any:
        return payload


class FormNumber(gr.Number):
    """A number field whose value reaches the validator as sent (see :class:`FormSlider`)."""

    def get_block_name(self) -> str:
        return "number"

    def preprocess(self, payload: Any) -> Any:
        return payload


@dataclass(frozen=True)
class FormControls:
    backend: gr.Dropdown
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    size: gr.Dropdown
    width: gr.Slider
    height: gr.Slider
    n: gr.Slider
    seed: gr.Number
    steps: gr.Slider
    guidance: gr.Slider
    scheduler: gr.Dropdown
    output_format: gr.Dropdown
    output_quality: gr.Slider
    note: gr.Markdown
    random_seed: gr.Button
    reuse_seed: gr.Button

    def request_inputs(self) -> dict[str, Component]:
        """The components the generate function takes, keyed by its parameter names."""
        return {name: getattr(self, name) for name in FormValues.__dataclass_fields__}

    def value_inputs(self) -> list[Component]:
        """The form's value components in :class:`FormValues` field order (one canonical order)."""
        return [getattr(self, name) for name in FormValues.__dataclass_fields__]

    def values_from(self, data: dict[Component, Any]) -> FormValues:
        """Read the form out of a set-inputs event's dict (keyed by component)."""
        return FormValues(**{name: data[getattr(self, name)] for name in FormValues.__dataclass_fields__})

    def values_outputs(self) -> list[Component]:
        """Every component :func:`form_updates` sets."""
        return [getattr(self, f.name) for f in fields(self) if f.name not in ("random_seed", "reuse_seed")]


def backend_choices(entries) -> list[tuple[str, str]]:
    choices = []
    for entry in entries:
        label = entry.backend.label
        if not entry.availability.available:
            label = f"{label} — unavailable"
        choices.append((label, entry.id))
    return choices


def build_form_controls(choices: list[tuple[str, str]], default: str, caps: Capabilities, values: FormValues) -> FormControls:
    """Create the components (inside the current Blocks context) showing ``values`` for ``caps``."""
    backend = gr.Dropdown(
        choices=choices, value=default, label=i18n("backend"), elem_id="backend", interactive=True, allow_custom_value=True
    )
    prompt = gr.Textbox(label=i18n("prompt"), placeholder=i18n("prompt_placeholder"), lines=3, max_lines=12, elem_id="prompt")
    negative = gr.Textbox(label=i18n("negative_prompt"), placeholder=i18n("negative_placeholder"), lines=1, max_lines=6, elem_id="negative-prompt")
    with gr.Row():
        size = gr.Dropdown(label=i18n("size"), elem_id="size", scale=2, interactive=True, allow_custom_value=True)
        n = FormSlider(label=i18n("n"), minimum=1, step=1, elem_id="n", scale=1)
    with gr.Row():
        width = gr.Slider(label=i18n("width"), step=8, elem_id="width")
        height = gr.Slider(label=i18n("height"), step=8, elem_id="height")
    with gr.Row(equal_height=True):
        seed = FormNumber(label=i18n("seed"), info=i18n("seed_info"), precision=0, value=-1, elem_id="seed", scale=3)
        random_seed = gr.Button(i18n("random_seed"), elem_id="random-seed", scale=1, size="sm")
        reuse_seed = gr.Button(i18n("reuse_seed"), elem_id="reuse-seed", scale=1, size="sm")
    with gr.Row():
        steps = FormSlider(label=i18n("steps"), step=1, elem_id="steps")
        guidance = FormSlider(label=i18n("guidance"), step=0.5, elem_id="guidance")
    with gr.Row():
        scheduler = gr.Dropdown(label=i18n("scheduler"), elem_id="scheduler", interactive=True, allow_custom_value=True)
        output_format = gr.Dropdown(label=i18n("output_format"), elem_id="output-format", interactive=True, allow_custom_value=True)
        output_quality = FormSlider(label=i18n("output_quality"), step=1, elem_id="output-quality")
    note = gr.Markdown(elem_id="form-note")
    controls = FormControls(
        backend=backend, prompt=prompt, negative_prompt=negative, size=size, width=width, height=height, n=n, seed=seed,
        steps=steps, guidance=guidance, scheduler=scheduler, output_format=output_format, output_quality=output_quality,
        note=note, random_seed=random_seed, reuse_seed=reuse_seed,
    )
    for component, update in form_updates(controls, values, caps, notes=[]).items():
        _apply_initial(component, update)
    return controls


def _apply_initial(component: Component, update: dict[str, Any]) -> None:
    # Initial state is set through the same updates the events send, so the two cannot disagree.
    for key, value in update.items():
        if key == "__type__":
            continue
        if key == "value":
            component.value = value
        else:
            setattr(component, key, value)


def form_updates(controls: FormControls, values: FormValues, caps: Capabilities, *, notes: list[str]) -> dict[Component, Any]:
    """Updates that show ``values`` with the ranges, choices and visibility ``caps`` allows."""
    width, height = (int(v) for v in values.size.lower().split("x"))
    sizes = size_choices(caps)
    if values.size not in [v for _, v in sizes]:
        sizes = [*sizes, (values.size.replace("x", "×"), values.size)]
    ranged = caps.size_range is not None
    # Gradio refuses a slider whose minimum is not below its maximum, even a hidden one.
    low, high = caps.size_range if ranged else (0, max(width, height))
    updates: dict[Component, Any] = {
        controls.backend: gr.update(value=values.backend),
        controls.prompt: gr.update(value=values.prompt),
        controls.negative_prompt: gr.update(value=values.negative_prompt, visible=caps.supports_negative_prompt),
        controls.size: gr.update(choices=sizes, value=values.size),
        controls.width: gr.update(minimum=low, maximum=high, value=width, visible=ranged),
        controls.height: gr.update(minimum=low, maximum=high, value=height, visible=ranged),
        controls.n: gr.update(minimum=1, maximum=max(caps.max_images, 2), value=values.n, visible=caps.max_images > 1),
        controls.seed: gr.update(value=values.seed, maximum=caps.seed_max, minimum=-1),
        controls.steps: gr.update(minimum=caps.steps[0], maximum=caps.steps[1], value=values.steps),
        controls.guidance: gr.update(minimum=caps.guidance[0], maximum=caps.guidance[1], value=values.guidance),
        # (label, value) pairs: Gradio's preprocess unpacks each choice as one, and these are set directly.
        controls.scheduler: gr.update(
            choices=[(name, name) for name in caps.schedulers], value=values.scheduler, visible=bool(caps.schedulers)
        ),
        controls.output_format: gr.update(
            choices=[(name, name) for name in caps.output_formats], value=values.output_format, visible=bool(caps.output_formats)
        ),
        controls.output_quality: gr.update(
            minimum=caps.output_quality[0] if caps.output_quality else 0,
            maximum=caps.output_quality[1] if caps.output_quality else 100,
            value=values.output_quality if values.output_quality is not None else 0,
            visible=caps.output_quality is not None,
        ),
        controls.note: gr.update(value=("ℹ️ Adjusted for this backend: " + "; ".join(notes)) if notes else ""),
    }
    return updates
