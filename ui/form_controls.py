"""The generation form's components, held together by name (never as a positional list), and the one
function that turns plain form values plus a backend's capabilities into component updates.

What most people touch is in view (prompt, backend, size, count, seed); the rest sits in "Advanced",
whose open or closed state the browser remembers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import gradio as gr
from gradio.components import Component

from backends.base import Capabilities
from backends.schedulers import scheduler_choices

from .form import CUSTOM_SIZE, FormValues, Note, size_choices, size_control, size_from_control
from .i18n import i18n, render_notes, tr
from .text_safety import literal

__all__ = [
    "FormControls", "FormNumber", "FormSlider", "backend_choices", "build_form_controls", "build_prompt", "form_updates",
]

MAX_PROMPT_BOX_CHARS = 100_000
"""MultimodalTextbox turns a longer paste into a file; the validator, not the box, says what is too long."""


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
    """Every control of the form. ``prompt`` takes text and dropped or pasted images."""

    backend: gr.Dropdown
    prompt: gr.MultimodalTextbox
    negative_prompt: gr.Textbox
    size: gr.Dropdown
    width: gr.Number
    height: gr.Number
    n: gr.Slider
    seed: gr.Number
    steps: gr.Slider
    guidance: gr.Slider
    scheduler: gr.Dropdown
    output_format: gr.Dropdown
    output_quality: gr.Slider
    note: gr.Markdown
    undo: gr.Button
    random_seed: gr.Button
    reuse_seed: gr.Button
    advanced: gr.Accordion
    style: gr.Dropdown
    """The style preset whose template wraps the prompt when it is sent ("" for none)."""

    def value_inputs(self) -> list[Component]:
        """The components whose values make up :class:`FormValues` (the size control's three included)."""
        return [
            self.backend, self.prompt, self.negative_prompt, self.size, self.width, self.height, self.n, self.seed,
            self.steps, self.guidance, self.scheduler, self.output_format, self.output_quality,
        ]

    def values_from(self, data: dict[Component, Any]) -> FormValues:
        """Read the form out of a set-inputs event's dict (keyed by component)."""
        prompt = data[self.prompt]
        text = prompt.get("text", "") if isinstance(prompt, dict) else (prompt or "")
        return FormValues(
            backend=data[self.backend],
            prompt=text,
            negative_prompt=data[self.negative_prompt] or "",
            size=size_from_control(data[self.size], data[self.width], data[self.height]),
            n=data[self.n],
            seed=data[self.seed],
            steps=data[self.steps],
            guidance=data[self.guidance],
            scheduler=data[self.scheduler],
            output_format=data[self.output_format],
            output_quality=data[self.output_quality],
        )

    def dropped_files(self, data: dict[Component, Any]) -> list[str]:
        prompt = data.get(self.prompt)
        files = prompt.get("files", []) if isinstance(prompt, dict) else []
        return [f if isinstance(f, str) else (f.get("path") or "") for f in files]

    def values_outputs(self) -> list[Component]:
        """Every component :func:`form_updates` sets."""
        skip = {"random_seed", "reuse_seed", "advanced", "undo", "style"}
        return [getattr(self, f.name) for f in fields(self) if f.name not in skip]


def backend_choices(entries, lang: str | None = None, *, keys: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(label, id) per backend; one that cannot run says so, unless the visitor pasted its key."""
    choices = []
    for entry in entries:
        label = entry.backend.label
        if not entry.availability.available and not (keys or {}).get(entry.id):
            label = f"{label} — {tr('unavailable', lang or 'en')}"
        choices.append((label, entry.id))
    return choices


def build_prompt() -> gr.MultimodalTextbox:
    """The prompt box: text, and PNG/JPEG/WebP files dropped or pasted on it (their settings are read)."""
    return gr.MultimodalTextbox(
        label=i18n("prompt"), placeholder=i18n("prompt_placeholder"), lines=3, max_lines=12, elem_id="prompt",
        file_types=[".png", ".jpg", ".jpeg", ".webp"], file_count="single", sources=["upload"], submit_btn=False,
        max_plain_text_length=MAX_PROMPT_BOX_CHARS, autofocus=False,
    )


def build_form_controls(
    prompt: gr.MultimodalTextbox, choices: list[tuple[str, str]], default: str, caps: Capabilities, values: FormValues
) -> FormControls:
    """The basics (backend, size, count, seed) and the Advanced section, inside the current Blocks context."""
    with gr.Column(elem_id="basics", variant="panel"):
        with gr.Row(equal_height=True, elem_classes=["tight-row"]):
            backend = gr.Dropdown(
                choices=choices, value=default, label=i18n("backend"), elem_id="backend", interactive=True,
                allow_custom_value=True, scale=3, min_width=200,
            )
            size = gr.Dropdown(
                label=i18n("size"), elem_id="size", interactive=True, allow_custom_value=True, scale=2, min_width=170,
            )
        with gr.Row(equal_height=True, elem_id="custom-size", elem_classes=["tight-row"]):
            width = FormNumber(label=i18n("width"), precision=0, step=8, elem_id="width", min_width=90)
            height = FormNumber(label=i18n("height"), precision=0, step=8, elem_id="height", min_width=90)
        style = gr.Dropdown(
            choices=[(tr("style_none", "en"), "")], value="", label=i18n("style"), elem_id="style", interactive=True,
            allow_custom_value=True, min_width=200,
        )
        with gr.Row(equal_height=True, elem_id="count-seed", elem_classes=["tight-row"]):
            n = FormSlider(label=i18n("n"), minimum=1, step=1, elem_id="n", scale=1, min_width=130)
            with gr.Row(elem_id="seed-row", equal_height=True, scale=1):
                seed = FormNumber(label=i18n("seed"), precision=0, value=-1, elem_id="seed", min_width=90, scale=1)
                random_seed = gr.Button("🎲", elem_id="random-seed", size="sm", scale=0, min_width=40,
                                        elem_classes=["icon-btn"])
                reuse_seed = gr.Button("♻", elem_id="reuse-seed", size="sm", scale=0, min_width=40,
                                       elem_classes=["icon-btn"])
    with gr.Accordion(i18n("advanced"), open=False, elem_id="advanced") as advanced:
        negative = gr.Textbox(
            label=i18n("negative_prompt"), placeholder=i18n("negative_placeholder"), lines=1, max_lines=6,
            elem_id="negative-prompt",
        )
        with gr.Row():
            steps = FormSlider(label=i18n("steps"), step=1, elem_id="steps", min_width=160)
            guidance = FormSlider(label=i18n("guidance"), step=0.5, elem_id="guidance", min_width=160)
        with gr.Row():
            scheduler = gr.Dropdown(label=i18n("scheduler"), elem_id="scheduler", interactive=True, allow_custom_value=True,
                                    min_width=160)
            output_format = gr.Dropdown(label=i18n("output_format"), elem_id="output-format", interactive=True,
                                        allow_custom_value=True, min_width=100)
            output_quality = FormSlider(label=i18n("output_quality"), step=1, elem_id="output-quality", min_width=140)
    with gr.Row(elem_id="form-note-row", equal_height=True):
        note = gr.Markdown(elem_id="form-note")
        undo = gr.Button(i18n("undo"), size="sm", visible=False, elem_id="form-undo", scale=0, min_width=80)
    controls = FormControls(
        backend=backend, prompt=prompt, negative_prompt=negative, size=size, width=width, height=height, n=n, seed=seed,
        steps=steps, guidance=guidance, scheduler=scheduler, output_format=output_format, output_quality=output_quality,
        note=note, undo=undo, random_seed=random_seed, reuse_seed=reuse_seed, advanced=advanced, style=style,
    )
    for component, update in form_updates(controls, values, caps, notes=[], lang="en").items():
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


def form_updates(
    controls: FormControls, values: FormValues, caps: Capabilities, *, notes: list[Note], lang: str,
    prompt_files: bool = False,
) -> dict[Component, Any]:
    """Updates that show ``values`` with the ranges, choices and visibility ``caps`` allows."""
    control = size_control(values.size, caps)
    sizes = size_choices(caps)
    if caps.size_range is not None:
        sizes = [*sizes, (tr("size_custom", lang), CUSTOM_SIZE)]
    elif control.choice not in [v for _, v in sizes]:
        sizes = [*sizes, (control.choice.replace("x", "×"), control.choice)]
    low, high = caps.size_range if caps.size_range is not None else (64, 4096)
    prompt_value: dict[str, Any] = {"text": values.prompt, "files": []}
    updates: dict[Component, Any] = {
        controls.backend: gr.update(value=values.backend),
        controls.prompt: gr.update(value=prompt_value) if not prompt_files else gr.update(),
        controls.negative_prompt: gr.update(value=values.negative_prompt, visible=caps.supports_negative_prompt),
        controls.size: gr.update(choices=sizes, value=control.choice),
        controls.width: gr.update(value=control.width, minimum=low, maximum=high, visible=control.custom),
        controls.height: gr.update(value=control.height, minimum=low, maximum=high, visible=control.custom),
        controls.n: gr.update(minimum=1, maximum=max(caps.max_images, 2), value=values.n, visible=caps.max_images > 1),
        controls.seed: gr.update(value=values.seed, maximum=caps.seed_max, minimum=-1),
        controls.steps: gr.update(minimum=caps.steps[0], maximum=caps.steps[1], value=values.steps),
        controls.guidance: gr.update(minimum=caps.guidance[0], maximum=caps.guidance[1], value=values.guidance),
        # (label, value) pairs: readable names shown, the provider's values sent and stored.
        controls.scheduler: gr.update(
            choices=scheduler_choices(caps.schedulers), value=values.scheduler, visible=bool(caps.schedulers)
        ),
        controls.output_format: gr.update(
            choices=[(name.upper(), name) for name in caps.output_formats], value=values.output_format,
            visible=bool(caps.output_formats),
        ),
        controls.output_quality: gr.update(
            minimum=caps.output_quality[0] if caps.output_quality else 0,
            maximum=caps.output_quality[1] if caps.output_quality else 100,
            value=values.output_quality if values.output_quality is not None else 0,
            visible=caps.output_quality is not None,
        ),
        controls.note: gr.update(value=render_notes(notes, lang, quote=literal)),
    }
    return updates
