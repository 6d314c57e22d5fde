"""Loading Kolors once per process and running it one job at a time.

:data:`LOADER` holds the one ``KolorsPipeline`` of the process, shared by every session and every
:class:`~backends.providers.local.LocalBackend`. Its lock covers loading and denoising, so two jobs never use the
pipeline at once; a job waiting for it still notices Stop. Equal :class:`LocalSettings` reuse the loaded
pipeline; different ones replace it (two copies of Kolors rarely fit in memory).

:func:`render` is the blocking call. It makes the images one at a time, each with its own CPU
``torch.Generator`` seeded ``seed + i``: batching them would be faster on a GPU but is not
pixel-identical to a single image with the same seed (the UNet's numerics depend on the batch size), and
reproducing an image from its seed is the point of the playground. CPU generators give the same starting
noise on CUDA, MPS and the CPU.

On ZeroGPU (Hugging Face Spaces) the denoising runs in a function wrapped with ``spaces.GPU``; the
pipeline is loaded outside it, in the main process, as ZeroGPU requires. There the call happens in another
process, so per-step progress and Stop during denoising are not available.

Loading never downloads: a Hub id is loaded from its complete snapshot in the local cache, and one that is
not there raises DownloadRequired (:mod:`.weights` downloads, with consent). Before anything is loaded, the
memory the pipeline needs is checked against the memory that is free (:mod:`.memory`).

torch and diffusers are imported inside functions only: importing this module costs nothing.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ...base import GenerationRequest, StepProgress
from ...errors import (
    BackendUnavailable,
    FieldProblem,
    GenerationCancelled,
    InvalidRequest,
    PlaygroundError,
    ProviderError,
    RequestRejected,
)
from ...messages import Message
from ...seeds import image_seeds
from .device import DEVICES, DeviceInfo
from .memory import FreeMemoryProbe, check_memory, estimate_footprint, measure_free_memory
from .schedulers import SCHEDULER_NAMES, build_scheduler, spec_for
from .settings import DEFAULT_MODEL, ENV_CPU_OFFLOAD, ENV_DEVICE, ENV_MODEL, ENV_VAE_TILING, LocalSettings
from .sizes import human_size
from .weights import Hub, cached_snapshot, download_required, missing_parts, plan_download, variant_for

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "LOADER",
    "PROVIDER",
    "LoadedPipeline",
    "OutOfMemory",
    "PipelineLoader",
    "load_pipeline",
    "prepare_zero_gpu",
    "render",
    "render_on_device",
    "weights_folder",
]

logger = logging.getLogger(__name__)

PROVIDER = "Kolors (local)"

_LOCK_POLL_S = 0.1

ProgressCallback = Callable[[StepProgress], None]


class OutOfMemory(ProviderError):
    """The GPU (or the machine) ran out of memory; the message says what to turn down or on."""


class _Cancellable(Protocol):
    @property
    def cancelled(self) -> bool: ...


class _Interrupted(Exception):
    """Raised from the step callback to leave the denoising loop at once (no VAE decode of a half image)."""


@dataclass
class LoadedPipeline:
    """A pipeline on its device, with the scheduler config it came with and the samplers built so far."""

    settings: LocalSettings
    pipe: Any
    device: str
    dtype: str
    scheduler_config: Mapping[str, Any]
    load_seconds: float
    load_reported: bool = False
    """Whether a job has reported ``load_seconds`` already (only the job that waited for the load does)."""
    _schedulers: dict[str, Any] = field(default_factory=dict)

    def scheduler(self, name: str | None, seed: int) -> Any:
        """The sampler ``name``, reused between calls (``set_timesteps`` resets its state each run)."""
        spec = spec_for(name)
        scheduler = self._schedulers.get(spec.name)
        if scheduler is None:
            scheduler = self._schedulers[spec.name] = build_scheduler(spec.name, self.scheduler_config)
        if hasattr(scheduler, "noise_sampler_seed"):
            # DPMSolverSDEScheduler draws its Brownian noise from this seed, not from the generator.
            scheduler.noise_sampler_seed = seed
        return scheduler


class PipelineLoader:
    """Loads the pipeline on first use and serialises every use of it. One per process: :data:`LOADER`.

    ``status`` says what it is doing or did last, for the page and ``--check``: "", a download or load in
    progress ("Downloading the Kolors weights: 3.2 of 16.6 GB at 45 MB/s"), "Loaded ..." or "Not loaded: ...".
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: LoadedPipeline | None = None
        self.loads = 0
        """How many times a pipeline was loaded (for logs and tests)."""
        self.status = ""

    @property
    def loaded(self) -> LoadedPipeline | None:
        return self._loaded

    def is_loaded(self, settings: LocalSettings) -> bool:
        loaded = self._loaded
        return loaded is not None and _load_key(loaded.settings) == _load_key(settings)

    @contextmanager
    def use(
        self,
        settings: LocalSettings,
        *,
        cancel: _Cancellable | None = None,
        load: Callable[[], LoadedPipeline] | None = None,
    ) -> Iterator[LoadedPipeline]:
        """Hold the pipeline for one job, loading it first if needed. Raises GenerationCancelled on Stop.

        ``load`` makes the pipeline when it is not loaded yet (default: :func:`load_pipeline` of ``settings``);
        it runs while the lock is held, so one job loads and the others wait for it.
        """
        while not self._lock.acquire(timeout=_LOCK_POLL_S):
            if cancel is not None and cancel.cancelled:
                raise GenerationCancelled()
        try:
            yield self._ensure(settings, load or (lambda: load_pipeline(settings)))
        finally:
            self._lock.release()

    def unload(self) -> None:
        """Drop the pipeline (frees its memory once nothing else refers to it)."""
        with self._lock:
            self._drop()

    def _ensure(self, settings: LocalSettings, load: Callable[[], LoadedPipeline]) -> LoadedPipeline:
        loaded = self._loaded
        if self.is_loaded(settings):
            return loaded  # type: ignore[return-value]
        self._drop()
        try:
            self._loaded = load()
        except BaseException as exc:
            self.status = f"Not loaded: {exc}" if str(exc) else "Not loaded."
            raise
        self.loads += 1
        self.status = (
            f"Loaded from {settings.model} on {self._loaded.device} ({self._loaded.dtype}) "
            f"in {self._loaded.load_seconds:.1f} s."
        )
        return self._loaded

    def _drop(self) -> None:
        if self._loaded is None:
            return
        device = self._loaded.device
        self._loaded = None
        gc.collect()  # the modules hold reference cycles; free them before emptying the GPU cache
        _empty_cache(device)


LOADER = PipelineLoader()


def _load_key(settings: LocalSettings) -> tuple:
    return (settings.model, settings.device, settings.cpu_offload, settings.vae_tiling)


# -- loading --------------------------------------------------------------------------------------


def load_pipeline(
    settings: LocalSettings,
    *,
    folder: Path | None = None,
    device: DeviceInfo | None = None,
    free_memory: FreeMemoryProbe | None = None,
    progress: ProgressCallback | None = None,
) -> LoadedPipeline:
    """Load ``KolorsPipeline`` as ``settings`` say, from ``folder`` (default: the settings' folder, or the
    Hub id's complete snapshot in the local cache; never a download). Raises BackendUnavailable with what to
    fix: :class:`~backends.errors.DownloadRequired` when the weights are not here, and
    :class:`~backends.errors.NotEnoughMemory` when they would not fit, before anything is loaded.
    """
    # 1. Check what can be checked without torch.
    problem = settings.model_problem()
    if problem:
        raise BackendUnavailable(problem)

    # 2. `spaces` must be imported before torch initialises CUDA (ZeroGPU patches it).
    _import_spaces()
    try:
        import torch
        from diffusers import KolorsPipeline
    except ImportError as exc:
        raise BackendUnavailable(Message("local_install", error=str(exc))) from exc

    # 3. Device and precision: float16 on a GPU, float32 on the CPU.
    if device is None:
        device = DEVICES.result(settings.device, zero_gpu=settings.zero_gpu)
    dtype = torch.float32 if device.runs_on_cpu else torch.float16
    dtype_name = str(dtype).removeprefix("torch.")

    # 4. The weights on disk, whole; then whether they fit in the memory that is free.
    if folder is None:
        folder = weights_folder(settings, variant=variant_for(dtype_name), hub=Hub())
    incomplete = missing_parts(folder)
    if incomplete:
        raise BackendUnavailable(
            Message("local_weights_incomplete", model=settings.model, problem=incomplete, env=ENV_MODEL, default=DEFAULT_MODEL)
        )
    footprint = estimate_footprint(folder, dtype_name)
    if device.runs_on_cpu and settings.device is None:
        logger.warning(
            "No GPU found (neither CUDA nor Apple MPS): Kolors will run on the CPU in float32, which needs "
            "about %s of memory and minutes per image. Set %s to choose a device.",
            human_size(footprint.total_bytes), ENV_DEVICE,
        )
    verdict = check_memory(
        footprint,
        device,
        (free_memory or measure_free_memory)(device),
        cpu_offload=settings.cpu_offload and not device.runs_on_cpu,
    )
    refusal = verdict.error()
    if refusal is not None:
        raise refusal
    if progress is not None:
        warning = verdict.warning()
        phase = (Message("phase_loading_tight", model=settings.model, warning=warning) if warning
                 else Message("phase_loading", model=settings.model))
        progress(StepProgress(0, 0, phase=phase))
    # float16 weights on a GPU; on the CPU too when they are all the folder has (they load as float32).
    fp16 = _offers_fp16_variant(folder)
    variant = "fp16" if fp16 and (dtype == torch.float16 or not _offers_full_precision(folder)) else None
    where = device.torch_device
    logger.info(
        "Loading Kolors from %s onto %s (%s%s); the first load takes a while.",
        settings.model,
        device.describe(),
        dtype_name,
        ", CPU offload" if settings.cpu_offload else "",
    )
    started = time.perf_counter()

    # 5. Weights, then placement.
    try:
        pipe = _from_pretrained(KolorsPipeline, str(folder), dtype=dtype, variant=variant)
        if settings.cpu_offload and not device.runs_on_cpu:
            pipe.enable_model_cpu_offload(device=where)
        else:
            if settings.cpu_offload:
                logger.warning("%s=1 has no effect on the CPU; ignoring it.", ENV_CPU_OFFLOAD)
            pipe.to(where)
    except Exception as exc:
        if _is_out_of_memory(exc):
            _empty_cache(where)
            raise BackendUnavailable(Message("local_does_not_fit", device=where, env=ENV_CPU_OFFLOAD)) from exc
        if isinstance(exc, ImportError):
            raise BackendUnavailable(Message("local_install", error=str(exc))) from exc
        raise BackendUnavailable(
            Message("local_load_failed", model=settings.model, error=_brief(exc), env=ENV_MODEL, default=DEFAULT_MODEL)
        ) from exc

    # 6. Options and quiet progress bars (progress goes through the step callback).
    if settings.vae_tiling:
        pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    seconds = time.perf_counter() - started
    logger.info("Kolors loaded in %.1f s.", seconds)
    return LoadedPipeline(
        settings=settings,
        pipe=pipe,
        device=where,
        dtype=dtype_name,
        scheduler_config=pipe.scheduler.config,
        load_seconds=seconds,
    )


def weights_folder(settings: LocalSettings, *, variant: str | None, hub: Hub) -> Path:
    """The folder to load: ``KOLORS_MODEL``'s folder, or the Hub id's complete snapshot in the local cache.

    Never downloads: a Hub id that is not cached raises :class:`~backends.errors.DownloadRequired` (or
    BackendUnavailable when no download could help), naming the size and where it would go.
    """
    folder = settings.model_folder
    if folder is not None:
        return folder
    cached = cached_snapshot(settings.model, hub)
    if cached is not None:
        return cached
    raise download_required(plan_download(settings.model, variant=variant, hub=hub), offline=hub.offline)


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def _offers_fp16_variant(folder: Path) -> bool:
    """Kolors' Hub repo ships ``*.fp16.*`` weights (the GPU download takes only those); a folder may not."""
    return any(".fp16." in p.name or ".fp16-" in p.name for p in folder.rglob("*fp16*"))


def _offers_full_precision(folder: Path) -> bool:
    return any(
        p.suffix in (".safetensors", ".bin") and ".fp16" not in p.name for p in folder.glob("*/*") if p.is_file()
    )


def _from_pretrained(pipeline_class: Any, source: str, *, dtype: Any, variant: str | None) -> Any:
    kwargs = {_dtype_keyword(): dtype}
    try:
        return pipeline_class.from_pretrained(source, variant=variant, **kwargs)
    except ValueError as exc:
        if variant is None or "variant" not in str(exc):
            raise
        logger.info("%s has no %s weights; loading the default ones as %s.", source, variant, dtype)
        return pipeline_class.from_pretrained(source, **kwargs)


def _dtype_keyword() -> str:
    """diffusers renamed ``torch_dtype`` to ``dtype`` (the old name warns, then goes away in 1.0)."""
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401
    except ImportError:
        return "torch_dtype"
    return "dtype"


def _import_spaces() -> Any:
    """Hugging Face's ``spaces`` package where installed (it must come before CUDA is touched), else None."""
    try:
        import spaces
    except ImportError:
        return None
    return spaces


# -- running --------------------------------------------------------------------------------------


def render(
    loaded: LoadedPipeline,
    request: GenerationRequest,
    *,
    progress: ProgressCallback | None = None,
    cancel: _Cancellable | None = None,
) -> list[Image]:
    """Make ``request.n`` images, image *i* from seed ``request.seed + i``. Blocking; hold the loader's lock.

    Progress is reported after every model evaluation, as ``StepProgress(done, total)`` over all images;
    for first-order samplers that is once per step (second-order ones such as DPM++ SDE evaluate about
    twice per step). Stop is checked at the same points and raises GenerationCancelled.
    """
    import torch

    seeds = image_seeds(request)
    try:
        spec_for(request.scheduler)
    except KeyError:
        raise InvalidRequest(
            [FieldProblem("scheduler", request.scheduler, Message("allowed_choose_one_of", options=", ".join(SCHEDULER_NAMES)))]
        ) from None

    pipe = loaded.pipe
    images = []
    for index, seed in enumerate(seeds):
        if cancel is not None and cancel.cancelled:
            raise GenerationCancelled()
        pipe.scheduler = loaded.scheduler(request.scheduler, seed)
        on_step_end = _step_callback(index, request.n, progress, cancel)
        try:
            output = pipe(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt or None,
                width=request.width,
                height=request.height,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                num_images_per_prompt=1,
                generator=torch.Generator("cpu").manual_seed(seed),
                callback_on_step_end=on_step_end,
                output_type="pil",
            )
        except _Interrupted:
            pipe.maybe_free_model_hooks()  # with CPU offload, put the UNet back where it belongs
            raise GenerationCancelled() from None
        except PlaygroundError:
            raise
        except Exception as exc:
            raise _translate(exc, request, loaded) from exc
        images.append(output.images[0])
    return images


# How SDXL-family latents (Kolors uses SDXL's VAE) map to RGB, fitted linearly (ComfyUI's
# latent_formats.SDXL): a rough picture of the work so far, at 1/8 size, for the cost of a matrix product.
LATENT_RGB_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
LATENT_RGB_BIAS = (0.1084, -0.0175, -0.0011)
PREVIEWS_PER_IMAGE = 4
"""How many live previews a person sees while one image is being denoised."""


def latent_preview(latents: Any) -> Image:
    """A small RGB picture of the first latent of ``latents`` (B, 4, H/8, W/8), by the fixed projection."""
    import torch
    from PIL import Image as PILImage

    latent = latents[0].detach().to("cpu", torch.float32)
    factors = torch.tensor(LATENT_RGB_FACTORS, dtype=torch.float32)
    bias = torch.tensor(LATENT_RGB_BIAS, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latent, factors) + bias
    pixels = ((rgb.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).numpy()
    return PILImage.fromarray(pixels, mode="RGB")


def _step_callback(
    index: int, count: int, progress: ProgressCallback | None, cancel: _Cancellable | None
) -> Callable[..., dict]:
    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        if progress is not None:
            per_image = pipe.num_timesteps
            every = max(1, per_image // PREVIEWS_PER_IMAGE)
            preview = None
            if (step + 1) % every == 0 and step + 1 < per_image and "latents" in tensors:
                try:
                    preview = latent_preview(tensors["latents"])
                except Exception:  # a preview is a nicety; the image itself must not suffer
                    logger.debug("latent preview failed", exc_info=True)
            progress(StepProgress(done=index * per_image + step + 1, total=count * per_image, preview=preview))
        if cancel is not None and cancel.cancelled:
            pipe._interrupt = True  # what diffusers checks; raising as well skips the VAE decode
            raise _Interrupted()
        return tensors

    return on_step_end


def _translate(exc: Exception, request: GenerationRequest, loaded: LoadedPipeline) -> PlaygroundError:
    if _is_out_of_memory(exc):
        _empty_cache(loaded.device)
        hints = [Message("oom_smaller_size", size=request.size)]
        if not loaded.settings.cpu_offload:
            hints.append(Message("oom_restart_cpu_offload", env=ENV_CPU_OFFLOAD))
        if not loaded.settings.vae_tiling:
            hints.append(Message("oom_restart_vae_tiling", env=ENV_VAE_TILING))
        return OutOfMemory(Message("local_out_of_memory", device=loaded.device, hints=hints), provider=PROVIDER)
    if isinstance(exc, ValueError):
        return RequestRejected(Message("local_rejected", error=_brief(exc)), provider=PROVIDER)
    return ProviderError(Message("local_failed", error_type=type(exc).__name__, error=_brief(exc)), provider=PROVIDER)


def _is_out_of_memory(exc: BaseException) -> bool:
    oom_type = None
    try:
        import torch

        oom_type = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    except ImportError:
        pass
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()
    )


def _empty_cache(device: str) -> None:
    try:
        import torch
    except ImportError:
        return
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and _mps_available(torch):
        torch.mps.empty_cache()


def _brief(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text if text.endswith((".", "!", "?")) else text + "."


# -- ZeroGPU --------------------------------------------------------------------------------------

_gpu_render: Callable[..., list] | None = None
"""`_render_current`, wrapped once with ``spaces.GPU`` where that package imports."""


def _render_current(
    request: GenerationRequest, progress: ProgressCallback | None, cancel: _Cancellable | None
) -> list[Image]:
    # Takes only picklable arguments on ZeroGPU; the pipeline comes from this process's LOADER.
    loaded = LOADER.loaded
    if loaded is None:
        raise BackendUnavailable(Message("local_not_loaded"))
    return render(loaded, request, progress=progress, cancel=cancel)


def render_on_device(
    request: GenerationRequest,
    settings: LocalSettings,
    *,
    progress: ProgressCallback | None = None,
    cancel: _Cancellable | None = None,
) -> list[Image]:
    """:func:`render` with the loaded pipeline, through ``spaces.GPU`` where ``spaces`` is installed.

    Off ZeroGPU ``spaces.GPU`` changes nothing. On ZeroGPU the function runs in a worker process, so
    progress and cancel (not picklable) are left out.
    """
    gpu_render = prepare_zero_gpu(settings)
    if settings.zero_gpu:
        return gpu_render(request, None, None)
    return gpu_render(request, progress, cancel)


def prepare_zero_gpu(settings: LocalSettings) -> Callable[..., list]:
    """The render function, wrapped once with ``spaces.GPU`` where that package imports. On a ZeroGPU
    Space this must happen while the app starts, and ``spaces`` must come before torch touches CUDA."""
    global _gpu_render
    if _gpu_render is None:
        _gpu_render = _wrap_for_gpu(settings.gpu_duration)
    return _gpu_render


def _wrap_for_gpu(duration: int) -> Callable[..., list]:
    spaces = _import_spaces()
    return _render_current if spaces is None else spaces.GPU(duration=duration)(_render_current)
