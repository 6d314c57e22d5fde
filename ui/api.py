"""The public API: ``/generate`` and ``/compare``, on components of their own that the page never shows.

Their parameters, defaults and answers are what ``gradio_client`` callers have always had (the page's
controls can change without changing them): ``/generate`` returns the stored originals (PNG, JPEG or
WebP as the provider sent them, each with its parameters) and a JSON info; ``/compare`` the labelled
grid PNG, its cells and a JSON description. Every other event of the page is private.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gradio as gr

from backends.compare.axes import AxisKind
from backends.errors import GenerationCancelled, PlaygroundError
from backends.playground import Playground, describe_failures
from backends.registry import default_backend_id
from backends.schedulers import scheduler_label

from .api_params import ApiFacts, compare_description, docstring, generate_description, parameter_descriptions
from .form import size_choices
from .form_controls import FormNumber
from .grids import Grids
from .results import generation_json
from .session import JobBoard, Session, SessionContext

__all__ = ["NO_AXIS", "NO_IMAGE", "ApiEndpoints", "build_api"]

NO_AXIS = "none"
NO_IMAGE = Path(__file__).resolve().parent.parent / "assets" / "no-image.png"


@dataclass(frozen=True)
class ApiEndpoints:
    grids: Grids
    """Plan, run and export a grid: what ``/compare`` does, for the Compare tab's page events too."""
    jobs: JobBoard


def build_api(
    playground: Playground, context: SessionContext, *, confirm_above: int, font: str | None,
    grid_max_pixels: int | None = None,
) -> ApiEndpoints:
    registry = playground.registry

    entries = registry.entries()
    default_id = default_backend_id(registry) or (entries[0].id if entries else "")
    all_caps = [e.backend.capabilities for e in entries]
    jobs = JobBoard()
    grids = Grids(playground, hosted=context.hosted, font=font, max_pixels=grid_max_pixels)

    # A setting left out (None) is the chosen backend's own default, resolved by the validator once the
    # backend is known; these components' values are only what a caller gets for a parameter it omits.
    # Each says what its parameter means (ui/api_params.py): the API page, view_api() and /gradio_api/info.
    about = parameter_descriptions(ApiFacts.of(registry))
    with gr.Column(visible=False, elem_id="api-only"):
        backend = Dropdown(choices=[(e.backend.label, e.id) for e in entries], value=default_id, label="Backend",
                            allow_custom_value=True).described(about["backend"])
        prompt = Textbox(value=None, label="Prompt").described(about["prompt"])
        negative_prompt = Textbox(value="", label="Negative prompt").described(about["negative_prompt"])
        size = Dropdown(choices=_union(c for caps in all_caps for c in size_choices(caps)), value=None,
                         label="Size", allow_custom_value=True).described(about["size"])
        n = Number(label="Images", precision=0, value=1).described(about["n"])
        seed = Number(label="Seed", precision=0, value=-1).described(about["seed"])
        steps = Number(label="Steps", precision=0, value=None).described(about["steps"])
        guidance = Number(label="Guidance (CFG)", value=None).described(about["guidance"])
        scheduler = Dropdown(choices=_union(_scheduler_spellings(caps.schedulers) for caps in all_caps), value=None,
                              label="Scheduler", allow_custom_value=True).described(about["scheduler"])
        output_format = Dropdown(choices=_union([(f, f) for f in caps.output_formats] for caps in all_caps), value=None,
                                  label="Output format", allow_custom_value=True).described(about["output_format"])
        output_quality = Number(label="Quality", precision=0, value=None).described(about["output_quality"])
        axes = [(kind.value, kind.value) for kind in AxisKind]
        x_type = Dropdown(choices=axes, value="seed", label="X axis", allow_custom_value=True).described(about["x_type"])
        x_values = Textbox(value="4", label="X values").described(about["x_values"])
        y_type = Dropdown(choices=[*axes, (NO_AXIS, NO_AXIS)], value=NO_AXIS, label="Y axis (optional)",
                           allow_custom_value=True).described(about["y_type"])
        y_values = Textbox(value="", label="Y values").described(about["y_values"])
        confirm = Checkbox(value=False, label="Yes, run this large grid").described(about["confirm"])
        download = Checkbox(value=False, label="Download the local weights if they are missing").described(about["download"])
        preset = Textbox(value="", label="Style preset (a name, or empty for none)").described(about["preset"])
        gallery = gr.Gallery(label="Images", format="png")
        info = gr.JSON(label="Generation info")
        grid_image = gr.Image(label="Grid", type="filepath", format="png")
        cells = gr.Gallery(label="Cells", format="png")
        grid_info = gr.JSON(label="Grid info")
        generate_trigger = gr.Button("generate", elem_id="api-generate")
        compare_trigger = gr.Button("compare", elem_id="api-compare")

    async def generate(
        backend: str,
        prompt: str,
        negative_prompt: str = "",
        size: str | None = None,
        n: int = 1,
        seed: int = -1,
        steps: int | None = None,
        guidance: float | None = None,
        scheduler: str | None = None,
        output_format: str | None = None,
        output_quality: int | None = None,
        download: bool = False,
        preset: str = "",
        request: gr.Request = None,  # type: ignore[assignment]
        progress: gr.Progress = gr.Progress(),
    ):
        values = {
            "prompt": prompt, "negative_prompt": negative_prompt, "size": size, "n": n, "seed": seed,
            "steps": steps, "guidance": guidance, "scheduler": scheduler, "output_format": output_format,
            "output_quality": output_quality,
        }
        session = with_header_key(context.session(request), request, backend)
        place = begin_job(session, request)
        token = jobs.start(session.job_key)
        progress(0, desc="starting")

        def report(job_progress) -> None:
            progress(job_progress.fraction, desc=job_progress.label)

        try:
            style = playground.find_preset(preset, visitor=session.visitor)
            outcome = await playground.generate(
                backend, {k: v for k, v in values.items() if v is not None}, visitor=session.visitor,
                quota_keys=session.quota_keys if context.hosted else (), api_key=session.api_key_for(backend),
                progress=report, cancel=token, download=bool(download) and not context.hosted, preset=style,
            )
        except PlaygroundError as exc:
            raise gr.Error(str(exc), duration=None, print_exception=False) from None
        finally:
            jobs.finish(session.job_key, token)
            context.end_job(place)
        result, entry = outcome.result, outcome.entry
        images = [(str(playground.history.image_path(image)), f"seed {image.seed}") for image in entry.images]
        answer = generation_json(entry, result)
        if not images:
            if result.cancelled:
                raise gr.Error(str(GenerationCancelled()), duration=5, print_exception=False)
            raise gr.Error(describe_failures(result) or entry.error or "No image came back.", duration=None,
                           print_exception=False)
        return images, answer

    async def compare(
        backend: str,
        prompt: str,
        negative_prompt: str = "",
        size: str | None = None,
        seed: int = -1,
        steps: int | None = None,
        guidance: float | None = None,
        scheduler: str | None = None,
        output_format: str | None = None,
        output_quality: int | None = None,
        x_type: str = "seed",
        x_values: str = "4",
        y_type: str = NO_AXIS,
        y_values: str = "",
        confirm: bool = False,
        request: gr.Request = None,  # type: ignore[assignment]
        progress: gr.Progress = gr.Progress(),
    ):
        session = with_header_key(context.session(request), request, backend)
        values = {
            "prompt": prompt, "negative_prompt": negative_prompt, "size": size, "seed": seed, "steps": steps,
            "guidance": guidance, "scheduler": scheduler, "output_format": output_format, "output_quality": output_quality,
        }
        values = {k: v for k, v in values.items() if v is not None}
        place = begin_job(session, request)
        try:
            try:
                plan = grids.plan(session, backend=backend, values=values, x_type=x_type, x_values=x_values,
                                  y_type=y_type, y_values=y_values)
            except PlaygroundError as exc:
                raise gr.Error(str(exc), duration=None, print_exception=False) from None
            if plan.needs_confirmation(above=confirm_above) and not confirm:
                raise gr.Error(
                    f"This grid has {len(plan.cells)} cells ({plan.summary}). Tick the confirmation box to run it, "
                    "or make an axis shorter.", duration=None, print_exception=False,
                )
            token = jobs.start(session.job_key)
            try:
                result = await grids.run(session, plan, cancel=token,
                                         progress=lambda p: progress(p.fraction, desc=p.label))
            except PlaygroundError as exc:
                raise gr.Error(str(exc), duration=None, print_exception=False) from None
            finally:
                jobs.finish(session.job_key, token)
            path = await grids.export(result)
        finally:
            context.end_job(place)
        items = [(str(p) if p else str(NO_IMAGE), caption) for p, caption in result.gallery()]
        return str(path), items, result.to_dict()

    generate.__doc__ = docstring(generate_description(), GENERATE_PARAMETERS, about)
    compare.__doc__ = docstring(compare_description(), COMPARE_PARAMETERS, about)

    def begin_job(session, request):
        """This visitor's place under the job cap, or the cap's message (cheap: nothing has started)."""
        try:
            return context.begin_job(session, request)
        except PlaygroundError as exc:
            raise gr.Error(str(exc), duration=None, print_exception=False) from None

    generate_inputs = {
        "backend": backend, "prompt": prompt, "negative_prompt": negative_prompt, "size": size, "n": n,
        "seed": seed, "steps": steps, "guidance": guidance, "scheduler": scheduler,
        "output_format": output_format, "output_quality": output_quality, "download": download,
        "preset": preset,
    }
    compare_inputs = {
        "backend": backend, "prompt": prompt, "negative_prompt": negative_prompt, "size": size, "seed": seed,
        "steps": steps, "guidance": guidance, "scheduler": scheduler, "output_format": output_format,
        "output_quality": output_quality, "x_type": x_type, "x_values": x_values, "y_type": y_type,
        "y_values": y_values, "confirm": confirm,
    }
    generate_trigger.click(
        generate,
        inputs_kwargs=generate_inputs, outputs=[gallery, info], api_name="generate",
        concurrency_limit=context.generate_concurrency, concurrency_id="generate",
        validator=context.api_job_validator(len(generate_inputs)),
    )
    compare_trigger.click(
        compare,
        inputs_kwargs=compare_inputs, outputs=[grid_image, cells, grid_info], api_name="compare",
        concurrency_limit=context.generate_concurrency, concurrency_id="compare",
        validator=context.api_job_validator(len(compare_inputs)),
    )
    return ApiEndpoints(grids=grids, jobs=jobs)


GENERATE_PARAMETERS = (
    "backend", "prompt", "negative_prompt", "size", "n", "seed", "steps", "guidance", "scheduler", "output_format",
    "output_quality", "download", "preset",
)
COMPARE_PARAMETERS = (
    "backend", "prompt", "negative_prompt", "size", "seed", "steps", "guidance", "scheduler", "output_format",
    "output_quality", "x_type", "x_values", "y_type", "y_values", "confirm",
)


class _Described:
    """An API-only component whose API info says what its parameter means; the page never shows it. The
    classes below keep Gradio's names, which the API page shows ("the "Size" Dropdown component")."""

    parameter_description = ""

    def described(self, text: str):
        self.parameter_description = text
        return self

    def api_info(self) -> dict[str, Any]:
        info = dict(super().api_info())  # type: ignore[misc]
        return {**info, "description": self.parameter_description, "additional_description": self.parameter_description}


class Textbox(_Described, gr.Textbox):
    pass


class Dropdown(_Described, gr.Dropdown):
    pass


class Number(_Described, FormNumber):
    """A number sent as is to the validator, which names the field (see FormNumber)."""


class Checkbox(_Described, gr.Checkbox):
    pass


PROVIDER_KEY_HEADER = "x-provider-key"


def with_header_key(session: Session, request: gr.Request | None, backend_id: object) -> Session:
    """A program's own key for the backend it calls, sent as the ``X-Provider-Key`` header (REST and MCP
    callers forward theirs): used like a key pasted on the page, never stored or logged."""
    headers = getattr(request, "headers", None) or {}
    key = (headers.get(PROVIDER_KEY_HEADER) or "").strip() if hasattr(headers, "get") else ""
    if not key or not isinstance(backend_id, str):
        return session
    return replace(session, keys={**session.keys, backend_id: key})


def _union(groups) -> list[tuple[str, str]]:
    """(label, value) pairs of every group, each value once, in first-seen order."""
    seen: dict[str, tuple[str, str]] = {}
    for group in groups:
        for label, value in (group if isinstance(group, list) else [group]):
            seen.setdefault(value, (label, value))
    return list(seen.values())


def _scheduler_spellings(values) -> list[tuple[str, str]]:
    """A backend's schedulers in both spellings the validator takes: the A1111 name and the provider's own."""
    pairs = []
    for value in values:
        label = scheduler_label(value)
        pairs += [(label, label), (label, value)]
    return pairs
