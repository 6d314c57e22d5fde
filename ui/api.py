"""The public API: ``/generate`` and ``/compare``, on components of their own that the page never shows.

Their parameters, defaults and answers are what ``gradio_client`` callers have always had (the page's
controls can change without changing them): ``/generate`` returns the stored originals (PNG, JPEG or
WebP as the provider sent them, each with its parameters) and a JSON info; ``/compare`` the labelled
grid PNG, its cells and a JSON description. Every other event of the page is private.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from backends.errors import GenerationCancelled, PlaygroundError
from backends.playground import Playground, describe_failures
from backends.registry import default_backend_id
from backends.schedulers import scheduler_choices

from .form import defaults_for, size_choices, without_unsupported
from .form_controls import FormNumber, FormSlider
from .grids import Grids
from .results import generation_json
from .session import JobBoard, SessionContext

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

    def drop_hidden(values: dict[str, Any], backend_id: object) -> dict[str, Any]:
        return without_unsupported(values, registry.get(backend_id).capabilities if backend_id in registry else None)

    entries = registry.entries()
    default_id = default_backend_id(registry) or (entries[0].id if entries else "")
    caps = registry.get(default_id).capabilities
    defaults = defaults_for(default_id, caps)
    jobs = JobBoard()
    grids = Grids(playground, hosted=context.hosted, font=font, max_pixels=grid_max_pixels)

    with gr.Column(visible=False, elem_id="api-only"):
        backend = gr.Dropdown(choices=[(e.backend.label, e.id) for e in entries], value=default_id, label="Backend",
                              allow_custom_value=True)
        prompt = gr.Textbox(value="", label="Prompt")
        negative_prompt = gr.Textbox(value="", label="Negative prompt")
        size = gr.Dropdown(choices=size_choices(caps), value=defaults.size, label="Size", allow_custom_value=True)
        n = FormSlider(label="Images", minimum=1, maximum=max(caps.max_images, 2), step=1, value=1)
        seed = FormNumber(label="Seed", precision=0, value=-1)
        steps = FormSlider(label="Steps", minimum=caps.steps[0], maximum=caps.steps[1], step=1, value=defaults.steps)
        guidance = FormSlider(label="Guidance (CFG)", minimum=caps.guidance[0], maximum=caps.guidance[1], step=0.5,
                              value=defaults.guidance)
        scheduler = gr.Dropdown(choices=scheduler_choices(caps.schedulers), value=defaults.scheduler, label="Scheduler",
                                allow_custom_value=True)
        output_format = gr.Dropdown(choices=[(f, f) for f in caps.output_formats], value=defaults.output_format,
                                    label="Output format", allow_custom_value=True)
        output_quality = FormSlider(label="Quality", minimum=0, maximum=100, step=1,
                                    value=defaults.output_quality if defaults.output_quality is not None else 0)
        x_type = gr.Dropdown(value="seed", label="X axis", allow_custom_value=True)
        x_values = gr.Textbox(value="4", label="X values")
        y_type = gr.Dropdown(value=NO_AXIS, label="Y axis (optional)", allow_custom_value=True)
        y_values = gr.Textbox(value="", label="Y values")
        confirm = gr.Checkbox(value=False, label="Yes, run this large grid")
        download = gr.Checkbox(value=False, label="Download the local weights if they are missing")
        preset = gr.Textbox(value="", label="Style preset (a name, or empty for none)")
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
        size: str = "1024x1024",
        n: float = 1,
        seed: float = -1,
        steps: float | None = None,
        guidance: float | None = None,
        scheduler: str | None = None,
        output_format: str | None = None,
        output_quality: float | None = None,
        download: bool = False,
        preset: str = "",
        request: gr.Request = None,  # type: ignore[assignment]
        progress: gr.Progress = gr.Progress(),
    ):
        """Generate images. Returns the gallery (the stored files, PNG, JPEG or WebP as the provider sent them, each with its parameters) and a JSON info."""
        values = {
            "prompt": prompt, "negative_prompt": negative_prompt, "size": size, "n": n, "seed": seed,
            "steps": steps, "guidance": guidance, "scheduler": scheduler, "output_format": output_format,
            "output_quality": output_quality,
        }
        values = drop_hidden(values, backend)
        session = context.session(request)
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
        size: str = "1024x1024",
        seed: float = -1,
        steps: float | None = None,
        guidance: float | None = None,
        scheduler: str | None = None,
        output_format: str | None = None,
        output_quality: float | None = None,
        x_type: str = "seed",
        x_values: str = "4",
        y_type: str = NO_AXIS,
        y_values: str = "",
        confirm: bool = False,
        request: gr.Request = None,  # type: ignore[assignment]
        progress: gr.Progress = gr.Progress(),
    ):
        """Run a comparison grid. Returns the labelled grid PNG, the cells, and a JSON description."""
        session = context.session(request)
        values = {
            "prompt": prompt, "negative_prompt": negative_prompt, "size": size, "seed": seed, "steps": steps,
            "guidance": guidance, "scheduler": scheduler, "output_format": output_format, "output_quality": output_quality,
        }
        values = {k: v for k, v in drop_hidden(values, backend).items() if v is not None}
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
