"""The Generate tab: the form, Generate/Stop, the gallery, and what selecting an image offers.

``generate`` is the public ``/generate`` endpoint. Its parameters are the form's fields by name; the
visitor's pasted keys come from session state, which the API does not expose, so a
``gradio_client`` call needs nothing but the fields.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr

from backends.errors import GenerationCancelled, PlaygroundError
from backends.history import read_image_parameters
from backends.playground import Playground, describe_failures
from backends.schedulers import match_scheduler

from .controls import FormControls, backend_choices, build_form_controls, form_updates
from .form import FormValues, adapt_to_backend, defaults_for, form_from_query, share_query
from .i18n import i18n
from .session import JobBoard, SessionContext

__all__ = ["GenerateTab", "build_generate_tab", "png_fields"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateTab:
    form: FormControls
    generate_button: gr.Button
    stop_button: gr.Button
    gallery: gr.Gallery
    info: gr.JSON
    status: gr.Markdown
    selected: gr.Markdown
    selected_seed: gr.State
    generate_event: Any
    restore: Any  # (FormValues, fields, note=) -> updates of every form control
    drop_hidden: Any  # (values dict, backend id) -> values without options that backend lacks
    previous_backend: gr.State


def png_fields(restored, registry) -> dict[str, Any]:
    """Form fields from an image's stored parameters; the scheduler is matched to the target backend's names."""
    backend_id = restored.backend_id if restored.backend_id in registry else None
    fields: dict[str, Any] = {"prompt": restored.prompt, "negative_prompt": restored.negative_prompt}
    if backend_id:
        fields["backend"] = backend_id
    if restored.width and restored.height:
        fields["size"] = f"{restored.width}x{restored.height}"
    for name in ("seed", "steps", "guidance", "n", "output_format", "output_quality"):
        if getattr(restored, name) is not None:
            fields[name] = getattr(restored, name)
    if restored.scheduler or restored.sampler:
        fields["scheduler"] = restored.scheduler or restored.sampler
    return fields


def build_generate_tab(playground: Playground, context: SessionContext) -> GenerateTab:
    registry = playground.registry
    entries = registry.entries()
    choices = backend_choices(entries)
    available = [entry.id for entry in entries if entry.availability.available]
    default_id = available[0] if available else (entries[0].id if entries else "")
    default_caps = registry.get(default_id).capabilities
    jobs = JobBoard()

    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=360):
            backend_status = gr.Markdown(elem_id="backend-status")
            form = build_form_controls(choices, default_id, default_caps, defaults_for(default_id, default_caps))
            with gr.Row():
                generate_button = gr.Button(i18n("generate"), variant="primary", elem_id="generate-btn", scale=3)
                stop_button = gr.Button(i18n("stop"), variant="stop", elem_id="stop-btn", scale=1)
            with gr.Accordion(i18n("drop_png"), open=False):
                png_drop = gr.File(
                    label=i18n("drop_png"), file_types=[".png", ".jpg", ".jpeg", ".webp"], type="filepath", elem_id="png-drop",
                )
            with gr.Row(equal_height=True):
                copy_link = gr.Button(i18n("copy_link"), size="sm", elem_id="copy-link", scale=1)
                share_link = gr.Textbox(label=i18n("share_link"), interactive=False, buttons=["copy"], elem_id="share-link", scale=3)
        with gr.Column(scale=3, min_width=420):
            status = gr.Markdown(elem_id="status")
            gallery = gr.Gallery(
                label=i18n("gallery"), format="png", columns=2, height=560, object_fit="contain", fit_columns=False,
                buttons=["download", "fullscreen"], elem_id="gallery", interactive=False,
            )
            with gr.Row(equal_height=True):
                selected = gr.Markdown(elem_id="selected-info")
                use_seed = gr.Button(i18n("use_seed"), size="sm", elem_id="use-seed", scale=0)
            with gr.Accordion(i18n("info"), open=False):
                info = gr.JSON(label=i18n("info"), elem_id="generation-info")
    selected_seed = gr.State(None)
    previous_backend = gr.State(default_id)

    # --- handlers: plain functions of plain values ---------------------------------------------

    def status_of_backends_for_session(request: gr.Request) -> str:
        return status_of_backends(context.session(request).keys)

    def status_of_backends(keys: dict | None) -> str:
        lines = []
        for entry in registry.entries():
            has_key = bool((keys or {}).get(entry.id))
            if not entry.availability.available and not has_key:
                lines.append(f"- **{entry.backend.label}**: {entry.availability.reason}")
        if not available and not any((keys or {}).values()):
            return (
                "⚠️ **No backend is configured yet.** Set one of `DIEYUYUN_API_KEY`, `SEGMIND_API_KEY`, "
                "`SILICONFLOW_API_KEY` (or `PLAYGROUND_BACKENDS`) and restart, or paste a key in Settings below.\n"
                + "\n".join(lines)
            )
        return ""

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
        request: gr.Request = None,  # type: ignore[assignment]
        progress: gr.Progress = gr.Progress(),
    ):
        """Generate images. Returns the gallery (the stored files, PNG, JPEG or WebP as the provider sent them, each with its parameters) and a JSON info."""
        values = {
            "prompt": prompt, "negative_prompt": negative_prompt, "size": size, "n": n, "seed": seed,
            "steps": steps, "guidance": guidance, "scheduler": scheduler, "output_format": output_format,
            "output_quality": output_quality,
        }
        values = without_options_the_backend_lacks(values, backend)
        session = context.session(request)
        token = jobs.start(session.job_key)
        progress(0, desc="starting")

        def report(job_progress) -> None:
            progress(job_progress.fraction, desc=job_progress.label)

        try:
            outcome = await playground.generate(
                backend, {k: v for k, v in values.items() if v is not None}, visitor=session.visitor,
                quota_keys=session.quota_keys if context.hosted else (), api_key=session.api_key_for(backend),
                progress=report, cancel=token, download=download,
            )
        except PlaygroundError as exc:
            raise gr.Error(str(exc), duration=None, print_exception=False) from None
        finally:
            jobs.finish(session.job_key, token)
        result, entry = outcome.result, outcome.entry
        images = [
            (str(playground.history.image_path(image)), f"seed {image.seed}") for image in entry.images
        ]
        info = {
            "generation_id": entry.id,
            "backend": result.backend_id,
            "model": result.model,
            "seeds": [image.seed for image in entry.images],
            "elapsed_s": round(result.elapsed_s, 3),
            "request": result.request.to_dict(),
            "cost": str(result.cost) if result.cost else None,
            "failures": [{"index": f.index, "seed": f.seed, "error": f.error} for f in result.failures],
            "cancelled": result.cancelled,
            "provider": dict(result.info),
        }
        if not images:
            if result.cancelled:
                raise gr.Error(str(GenerationCancelled()), duration=5, print_exception=False)
            raise gr.Error(describe_failures(result) or entry.error or "No image came back.", duration=None, print_exception=False)
        if result.failures and not result.cancelled:
            gr.Warning(describe_failures(result), duration=None)
        return images, info

    def without_options_the_backend_lacks(values: dict, backend_id: str) -> dict:
        # The page always sends the hidden scheduler/format/quality controls; they mean nothing to a
        # backend without those settings, so they are dropped rather than refused.
        if backend_id not in registry:
            return values
        caps = registry.get(backend_id).capabilities
        lacks = {"scheduler": not caps.schedulers, "output_format": not caps.output_formats,
                 "output_quality": caps.output_quality is None}
        return {k: (None if lacks.get(k) else v) for k, v in values.items()}

    def without_placeholders(values: FormValues, backend_id: str) -> FormValues:
        # The hidden controls of options ``backend_id`` lacks hold placeholders (quality 0), not choices;
        # as None they take the next backend's defaults.
        return FormValues(**without_options_the_backend_lacks(values.__dict__, backend_id))

    def summarize(info: dict | None) -> str:
        if not info:
            return ""
        seeds = info.get("seeds") or []
        parts = [f"{len(seeds)} image{'s' if len(seeds) != 1 else ''} in {info.get('elapsed_s', 0):.1f} s"]
        if seeds:
            parts.append("seed " + (str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}…{seeds[-1]}"))
        if info.get("cost"):
            parts.append(str(info["cost"]))
        credits = (info.get("provider") or {}).get("remaining_credits")
        if credits is not None:
            parts.append(f"{credits:g} credits left")
        if info.get("cancelled"):
            parts.append("stopped early")
        return "✅ " + " · ".join(parts)

    def stop(request: gr.Request) -> None:
        jobs.stop(context.session(request).job_key)

    def on_backend_change(data: dict):
        values, previous = form.values_from(data), data[previous_backend]
        backend = values.backend
        if backend == previous:
            # Gradio's dropdown sends `input` on the choice and again on blur; the second, with the
            # form as it was before the first answer landed, must not undo the first.
            return {previous_backend: backend}
        values = without_placeholders(values, previous)
        old = registry.get(previous).capabilities if previous in registry else None
        new = registry.get(backend).capabilities
        adapted, notes = adapt_to_backend(values, backend, new, old)
        return {**form_updates(form, adapted, new, notes=notes), previous_backend: backend}

    def size_from_sliders(width: float, height: float) -> str:
        return f"{int(width)}x{int(height)}"

    def sliders_from_size(size: str):
        try:
            width, height = (int(v) for v in size.lower().replace("×", "x").split("x"))
        except ValueError:
            return gr.update(), gr.update()
        return gr.update(value=width), gr.update(value=height)

    def on_select(info: dict | None, request: gr.Request, evt: gr.SelectData):
        if not info or evt.index is None:
            return "", None
        seeds = info.get("seeds") or []
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        if index >= len(seeds):
            return "", None
        entry = playground.history.get(info["generation_id"], visitor=context.session(request).visitor)
        if entry is None:
            return "", None
        image = entry.images[index]
        req = entry.request
        text = (
            f"**Image {index + 1}** · seed `{image.seed}` · {image.width}×{image.height} · {entry.backend_label}\n\n"
            f"steps {req.steps} · guidance {req.guidance:g}"
            + (f" · {req.scheduler}" if req.scheduler else "")
            + f"\n\n> {req.prompt}"
            + (f"\n\nNegative: {req.negative_prompt}" if req.negative_prompt else "")
        )
        return text, image.seed

    def use_selected_seed(seed: int | None):
        if seed is None:
            return gr.update(), gr.update()
        return gr.update(value=seed), gr.update(value=1)

    def restore_from_png(data: dict):
        path = data[png_drop]
        if not path:
            return {form.note: gr.update()}
        restored = read_image_parameters(path)
        if restored is None:
            gr.Warning(
                "That file carries no generation parameters we can read (no 'parameters' text in a PNG, "
                "no EXIF UserComment in a JPEG or WebP)."
            )
            return {form.note: gr.update()}
        return restore_values(form.values_from(data), png_fields(restored, registry), note=f"Restored from {restored.source} metadata.")

    def restore_values(values: FormValues, fields: dict[str, Any], *, note: str):
        values = without_placeholders(values, values.backend)
        backend_id = fields.get("backend") if fields.get("backend") in registry else values.backend
        caps = registry.get(backend_id).capabilities
        fields = dict(fields)
        if fields.get("scheduler"):
            fields["scheduler"] = match_scheduler(fields["scheduler"], caps.schedulers)
        known = {k: v for k, v in fields.items() if k in FormValues.__dataclass_fields__ and v is not None}
        merged = FormValues(**{**values.__dict__, **known, "backend": backend_id})
        adapted, notes = adapt_to_backend(merged, backend_id, caps, caps)
        updates = form_updates(form, adapted, caps, notes=notes)
        if not notes:
            updates[form.note] = gr.update(value=f"ℹ️ {note}")
        return {**updates, previous_backend: backend_id}

    def prefill_from_link(data: dict, request: gr.Request):
        query = dict(request.query_params) if request is not None else {}
        fields = form_from_query(query, registry.ids())
        if not fields:
            return {form.note: gr.update()}
        return restore_values(form.values_from(data), fields, note="Filled in from the link.")

    def share_query_of(data: dict) -> str:
        return "?" + share_query(form.values_from(data))

    # --- wiring ---------------------------------------------------------------------------------

    values_in = set(form.value_inputs())
    values_out = [*form.values_outputs(), previous_backend]

    generate_event = generate_button.click(
        generate,
        inputs_kwargs=form.request_inputs(),
        outputs=[gallery, info],
        api_name="generate",
        concurrency_limit=context.generate_concurrency,
        concurrency_id="generate",
    )
    generate_event.success(summarize, inputs=info, outputs=status, api_visibility="private")
    stop_button.click(stop, queue=False, api_visibility="private")

    form.backend.input(
        on_backend_change, inputs={previous_backend, *values_in}, outputs=values_out, api_visibility="private"
    )
    gr.on(
        [form.width.release, form.height.release], size_from_sliders, inputs=[form.width, form.height],
        outputs=form.size, api_visibility="private",
    )
    form.size.input(sliders_from_size, inputs=form.size, outputs=[form.width, form.height], api_visibility="private")
    form.random_seed.click(lambda: -1, outputs=form.seed, api_visibility="private", queue=False)
    gallery.select(on_select, inputs=info, outputs=[selected, selected_seed], api_visibility="private")
    gr.on(
        [form.reuse_seed.click, use_seed.click], use_selected_seed, inputs=selected_seed, outputs=[form.seed, form.n],
        api_visibility="private",
    )
    png_drop.upload(restore_from_png, inputs={png_drop, *values_in}, outputs=values_out, api_visibility="private")
    copy_link.click(share_query_of, inputs=values_in, outputs=share_link, api_visibility="private").then(
        None, inputs=share_link, outputs=share_link, api_visibility="private",
        js="""(query) => {
            const url = window.location.origin + window.location.pathname + query;
            if (navigator.clipboard) { navigator.clipboard.writeText(url).catch(() => {}); }
            return url;
        }""",
    )
    context.on_load(prefill_from_link, inputs=values_in, outputs=values_out)
    context.on_load(status_of_backends_for_session, outputs=backend_status)
    context.on_keys_change(status_of_backends_for_session, outputs=backend_status)
    return GenerateTab(
        form=form, generate_button=generate_button, stop_button=stop_button, gallery=gallery, info=info,
        status=status, selected=selected, selected_seed=selected_seed, generate_event=generate_event,
        restore=restore_values, previous_backend=previous_backend, drop_hidden=without_options_the_backend_lacks,
    )
