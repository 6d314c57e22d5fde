"""The ``local`` backend: Kolors through diffusers' ``KolorsPipeline`` on this machine's GPU (or CPU)."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import threading
import time
from typing import TYPE_CHECKING

from ...base import (
    Availability,
    BackendOutput,
    CancelToken,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    ProgressCallback,
    StepProgress,
)
from ...errors import GenerationCancelled
from ...schedulers import SAMPLERS
from .pipeline import INSTALL_HINT, LOADER, PROVIDER, prepare_zero_gpu, render_on_device
from .schedulers import SCHEDULER_NAMES, spec_for
from .settings import LocalSettings

if TYPE_CHECKING:
    from PIL.Image import Image

    from ...settings import PlaygroundSettings

__all__ = ["CAPABILITIES", "REQUIRED_PACKAGES", "LocalBackend"]

REQUIRED_PACKAGES = ("torch", "diffusers", "transformers", "sentencepiece")
"""Import names the backend needs; ``accelerate`` too when CPU offload is on."""

PNG_COMPRESS_LEVEL = 1
"""Fast zlib level: about 10% larger files than level 6, in half the time (~0.1 s at 1024x1024)."""

CAPABILITIES = Capabilities(
    size_range=(256, 2048),
    size_multiple=8,
    default_size=(1024, 1024),
    max_images=8,
    steps=(1, 100, 50),
    guidance=(0.0, 20.0, 5.0),
    seed_max=2**32 - 1,
    schedulers=SCHEDULER_NAMES,
    default_steps_by_scheduler=tuple((s.name, s.default_steps) for s in SAMPLERS),
    output_formats=("png",),
    supports_negative_prompt=True,
    batch_is_per_image_reproducible=False,
)
"""Any width and height from 256 to 2048 in steps of 8 (Kolors is trained around 1024x1024); Kolors
README defaults: Euler, 50 steps, guidance 5.0. Seeds stay within 32 bits so they mean the same
everywhere. n > 1 works (one image after another, each exactly as its own seed alone would make it), but
the runner asks for one image per call, which keeps progress and failures per image."""


class LocalBackend:
    """Kolors on this machine. Weights, device and memory options come from :class:`LocalSettings`.

    The pipeline is loaded on the first ``generate`` and shared by every instance in the process; calls
    wait their turn for it (``max_concurrency`` is 1), and Stop is honoured while waiting and between
    denoising steps.
    """

    id = "local"
    label = PROVIDER
    max_concurrency = 1
    capabilities = CAPABILITIES

    def __init__(self, settings: LocalSettings | None = None) -> None:
        self.settings = settings if settings is not None else LocalSettings()
        self.model = self.settings.model
        if self.settings.zero_gpu:
            # ZeroGPU looks for spaces.GPU functions while the app starts, before any request.
            prepare_zero_gpu(self.settings)

    @classmethod
    def from_settings(cls, settings: PlaygroundSettings) -> LocalBackend:
        """The backend as the ``KOLORS_*`` settings configure it."""
        return cls(LocalSettings.from_settings(settings))

    def __repr__(self) -> str:
        return f"LocalBackend(model={self.model!r}, device={self.settings.device or 'auto'!r})"

    def availability(self) -> Availability:
        """Whether the packages are installed and ``KOLORS_MODEL`` can be a model. Does not import torch."""
        needed = REQUIRED_PACKAGES + (("accelerate",) if self.settings.cpu_offload else ())
        missing = [name for name in needed if not _installed(name)]
        if missing:
            return Availability(False, f"{INSTALL_HINT} (missing: {', '.join(missing)}).")
        problem = self.settings.model_problem()
        if problem:
            return Availability(False, problem)
        return Availability(True)

    def load(self) -> None:
        """Load the pipeline now (blocking, minutes for the real weights) rather than on the first call.

        For an app that wants to be ready before its first visitor, e.g. a Space at start-up.
        """
        with LOADER.use(self.settings) as loaded:
            loaded.load_reported = True

    async def generate(
        self,
        request: GenerationRequest,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> BackendOutput:
        stop = _Stop(cancel)
        try:
            return await asyncio.to_thread(self._generate_blocking, request, progress, stop)
        except asyncio.CancelledError:
            stop.set()  # the worker thread stops at its next step instead of running to the end
            raise

    def _generate_blocking(
        self, request: GenerationRequest, progress: ProgressCallback | None, stop: _Stop
    ) -> BackendOutput:
        if progress is not None and not LOADER.is_loaded(self.settings):
            progress(StepProgress(0, 0, phase=f"Loading the Kolors weights from {self.settings.model} (first use only)"))
        with LOADER.use(self.settings, cancel=stop) as loaded:
            if stop.cancelled:
                raise GenerationCancelled()
            paid_for_load, loaded.load_reported = not loaded.load_reported, True
            started = time.perf_counter()
            pictures = render_on_device(request, self.settings, progress=progress, cancel=stop)
            inference_s = time.perf_counter() - started
        images = tuple(
            GeneratedImage(
                data=_png(picture),
                mime_type="image/png",
                width=picture.width,
                height=picture.height,
                seed=request.seed + index,  # type: ignore[operator]
                index=index,
            )
            for index, picture in enumerate(pictures)
        )
        info = {
            "device": loaded.device,
            "dtype": loaded.dtype,
            "scheduler": request.scheduler or SCHEDULER_NAMES[0],
            "scheduler_class": spec_for(request.scheduler).diffusers_class,
            "inference_s": round(inference_s, 3),
        }
        info.update(
            {option: True for option in ("cpu_offload", "vae_tiling") if getattr(loaded.settings, option)}
        )
        if paid_for_load:
            info["load_s"] = round(loaded.load_seconds, 3)
        return BackendOutput(images=images, info=info)


class _Stop:
    """Stop requested by the person (their CancelToken) or by the event loop (the task was cancelled)."""

    def __init__(self, outer: CancelToken | None) -> None:
        self._outer = outer
        self._own = threading.Event()

    def set(self) -> None:
        self._own.set()

    @property
    def cancelled(self) -> bool:
        return self._own.is_set() or (self._outer is not None and self._outer.cancelled)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken install, or a module without a spec
        return False


def _png(picture: Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()
