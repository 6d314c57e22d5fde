"""The ``local`` backend: Kolors through diffusers' ``KolorsPipeline`` on this machine's GPU (or CPU)."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...base import (
    Availability,
    BackendOutput,
    CancelToken,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    ProgressCallback,
    Readiness,
    StepProgress,
)
from ...errors import BackendUnavailable, DownloadRequired, GenerationCancelled
from ...messages import Message
from ...schedulers import SAMPLERS
from ...seeds import image_seeds
from .device import DEVICES, DeviceDetection, DeviceInfo
from .memory import FreeMemoryProbe, check_memory, estimate_footprint, measure_free_memory
from .pipeline import (
    LOADER,
    PROVIDER,
    LoadedPipeline,
    load_pipeline,
    prepare_zero_gpu,
    render_on_device,
    weights_folder,
)
from .schedulers import SCHEDULER_NAMES, spec_for
from .settings import ENV_DEVICE, LocalSettings
from .sizes import human_size
from .weights import Hub, cached_snapshot, download, download_required, missing_parts, plan_download, variant_for

if TYPE_CHECKING:
    from PIL.Image import Image

    from ...settings import PlaygroundSettings

__all__ = ["CAPABILITIES", "REQUIRED_PACKAGES", "LocalBackend", "LocalEnvironment"]

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
    typical_latency_s=30.0,
)
"""Any width and height from 256 to 2048 in steps of 8 (Kolors is trained around 1024x1024); Kolors
README defaults: Euler, 50 steps, guidance 5.0. Seeds stay within 32 bits so they mean the same
everywhere. n > 1 works (one image after another, each exactly as its own seed alone would make it), but
the runner asks for one image per call, which keeps progress and failures per image."""


@dataclass(frozen=True)
class LocalEnvironment:
    """What the backend asks of the machine, replaceable in tests: which device (``devices``), how much
    memory is free (``free_memory``), and which Hub and cache the weights come from (``hub``)."""

    devices: DeviceDetection = field(default_factory=lambda: DEVICES)
    free_memory: FreeMemoryProbe = measure_free_memory
    hub: Hub = field(default_factory=Hub)


class LocalBackend:
    """Kolors on this machine. Weights, device and memory options come from :class:`LocalSettings`.

    The pipeline is loaded on the first ``generate`` and shared by every instance in the process; calls
    wait their turn for it (``max_concurrency`` is 1), and Stop is honoured while waiting, while
    downloading and between denoising steps.

    Before it costs anything it says what it will cost: :attr:`label` names the device once it is known
    (:meth:`start_detection` finds it in the background), :meth:`readiness` lists device, memory and
    weights, loading is refused when the memory is short, and weights missing from the cache are downloaded
    only by a backend made with :meth:`allowing_download`; otherwise :meth:`check_weights` and ``generate``
    raise :class:`~backends.errors.DownloadRequired` with the size and the destination.
    """

    id = "local"
    max_concurrency = 1
    capabilities = CAPABILITIES

    def __init__(
        self,
        settings: LocalSettings | None = None,
        *,
        environment: LocalEnvironment | None = None,
        download_allowed: bool = False,
    ) -> None:
        self.settings = settings if settings is not None else LocalSettings()
        self.model = self.settings.model
        self.environment = environment if environment is not None else LocalEnvironment()
        self.download_allowed = download_allowed
        self._cpu_need: int | None = None
        if self.settings.zero_gpu:
            # ZeroGPU looks for spaces.GPU functions while the app starts, before any request.
            prepare_zero_gpu(self.settings)

    @classmethod
    def from_settings(cls, settings: PlaygroundSettings) -> LocalBackend:
        """The backend as the ``KOLORS_*`` settings configure it."""
        return cls(LocalSettings.from_settings(settings))

    def allowing_download(self) -> LocalBackend:
        """The same backend, allowed to download missing weights (the person or the operator said yes)."""
        consenting = type(self)(self.settings, environment=self.environment, download_allowed=True)
        consenting.capabilities = self.capabilities
        consenting._cpu_need = self._cpu_need
        return consenting

    def __repr__(self) -> str:
        return f"LocalBackend(model={self.model!r}, device={self.settings.device or 'auto'!r})"

    def availability(self) -> Availability:
        """Whether the packages are installed and ``KOLORS_MODEL`` can be a model. Does not import torch."""
        needed = REQUIRED_PACKAGES + (("accelerate",) if self.settings.cpu_offload else ())
        missing = [name for name in needed if not _installed(name)]
        if missing:
            return Availability(False, Message("local_install_missing", packages=", ".join(missing)))
        problem = self.settings.model_problem()
        if problem:
            return Availability(False, problem)
        return Availability(True)

    # -- what the page shows, without waiting ------------------------------------------------------

    def start_detection(self) -> None:
        """Start finding the device in the background (once per process); returns at once."""
        self.environment.devices.start(self.settings.device, zero_gpu=self.settings.zero_gpu)

    def device(self) -> DeviceInfo | None:
        """The device, if it is known already (see :meth:`start_detection`); never waits."""
        return self.environment.devices.peek(self.settings.device, zero_gpu=self.settings.zero_gpu)

    def runs_on_cpu(self) -> bool | None:
        """True when Kolors would run on the CPU here, None while that is not known yet."""
        device = self.device()
        return None if device is None else device.runs_on_cpu

    @property
    def label(self) -> str:
        """"Local (CUDA, RTX 4090, 24 GB)", "Local (Apple MPS)", "Local (CPU: minutes per image, ~40 GB
        memory)"; "Kolors (local)" until the device is known."""
        device = self.device()
        if device is None:
            return PROVIDER
        if device.zero_gpu:
            return "Local (ZeroGPU)"
        if device.kind == "mps":
            return "Local (Apple MPS)"
        if device.runs_on_cpu:
            return f"Local (CPU: {self.cpu_cost()})"
        return f"Local ({device.describe()})"

    def cpu_cost(self) -> str:
        """What running on the CPU costs: "minutes per image, ~40 GB memory" (the estimate for this model)."""
        return str(self.cpu_cost_message())

    def cpu_cost_message(self) -> Message:
        """:meth:`cpu_cost` as a message, to say in another language."""
        return Message("cpu_cost", memory=human_size(self.cpu_memory_need(), whole=True))

    def cpu_memory_need(self) -> int:
        """Bytes of memory Kolors needs on the CPU (float32), from the model's files where they are on disk."""
        if self._cpu_need is None:
            self._cpu_need = estimate_footprint(self._weights_on_disk(), "float32").total_bytes
        return self._cpu_need

    def status(self) -> str:
        """What loading is doing or did last ("Downloading the Kolors weights: ...", "Loaded ...",
        "Not loaded: ..."), empty before the first load."""
        return LOADER.status

    # -- what it will cost, blocking -----------------------------------------------------------------

    def readiness(self) -> Readiness:
        """Device, memory needed against memory free, and whether the weights are here (blocking: it may
        wait for the device probe and ask the Hub for the download size)."""
        availability = self.availability()
        if not availability.available:
            return Readiness(problem=availability.reason, can_generate=False)
        facts = [f"model: {self.settings.model}"]
        try:
            device = self._device()
        except BackendUnavailable as exc:
            return Readiness(tuple(facts), problem=str(exc), can_generate=False)
        chosen = f" ({ENV_DEVICE}={self.settings.device})" if self.settings.device else ""
        facts.append(f"device: {device.describe()}{chosen}")
        problem = ""
        can_generate = True
        folder = self._weights_on_disk()
        if self.settings.model_folder is not None:
            broken = missing_parts(self.settings.model_folder)
            facts.append(f"weights: folder {self.settings.model_folder}")
            if broken:
                problem = f"The model folder {self.settings.model_folder} is incomplete: {broken}."
                folder = None
        elif folder is not None:
            facts.append(f"weights: in the Hugging Face cache ({folder})")
        else:
            plan = plan_download(self.settings.model, variant=variant_for(device.dtype), hub=self.environment.hub)
            facts.append(
                f"weights: not in the Hugging Face cache; {human_size(plan.size_bytes)} to download "
                f"({plan.size_source}) into {plan.destination}"
            )
            can_generate = False
        if LOADER.is_loaded(self.settings):
            facts.append(f"memory: the pipeline is loaded on {LOADER.loaded.device}")  # type: ignore[union-attr]
        elif not problem:
            verdict = check_memory(
                estimate_footprint(folder, device.dtype),
                device,
                self.environment.free_memory(device),
                cpu_offload=self.settings.cpu_offload and not device.runs_on_cpu,
            )
            facts.extend(f"memory: {check.summary()}" for check in verdict.checks)
            refusal = verdict.error()
            if refusal is not None:
                problem = str(refusal)
            elif verdict.warning():
                facts.append(f"memory: {verdict.warning()}")
        if device.runs_on_cpu:
            facts.append(f"speed: {self.cpu_cost()}")
        if self.status():
            facts.append(f"status: {self.status()}")
        return Readiness(tuple(facts), problem=problem, can_generate=can_generate and not problem)

    def check_weights(self) -> None:
        """Raise :class:`~backends.errors.DownloadRequired` (the size, where it goes, how to confirm) when the
        first generation would have to download, and this backend was not allowed to; BackendUnavailable when
        no download could help (offline, not enough disk), consent or not. Blocking: waits for the device, and
        asks the Hub for the size while the weights are missing.
        """
        if LOADER.is_loaded(self.settings) or self.settings.model_folder is not None:
            return
        hub = self.environment.hub
        if cached_snapshot(self.settings.model, hub) is not None:
            return
        device = self._device()
        refusal = download_required(
            plan_download(self.settings.model, variant=variant_for(device.dtype), hub=hub), offline=hub.offline
        )
        if self.download_allowed and isinstance(refusal, DownloadRequired):
            return  # consent given, and the download can happen (online, enough disk)
        raise refusal

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Load the pipeline now (blocking, minutes for the real weights) rather than on the first call,
        downloading the weights first if this backend is allowed to. For an app that wants to be ready before
        its first visitor (``KOLORS_PRELOAD=1``)."""
        with LOADER.use(self.settings, load=lambda: self._load(progress, None)) as loaded:
            loaded.load_reported = True

    # -- generating ----------------------------------------------------------------------------------

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
        with LOADER.use(self.settings, cancel=stop, load=lambda: self._load(progress, stop)) as loaded:
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
                seed=seed,
                index=index,
            )
            for index, (seed, picture) in enumerate(zip(image_seeds(request), pictures))
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

    def _load(self, progress: ProgressCallback | None, cancel: _Stop | None) -> LoadedPipeline:
        """Runs under the loader's lock: device, weights (downloaded only if allowed), memory check, load."""

        def report(step: StepProgress) -> None:
            if step.phase:
                LOADER.status = str(step.phase)
            if progress is not None:
                progress(step)

        problem = self.settings.model_problem()
        if problem:
            raise BackendUnavailable(problem)
        device = self._device()
        folder = self.settings.model_folder or cached_snapshot(self.settings.model, self.environment.hub)
        if folder is None and self.download_allowed:
            folder = download(
                self.settings, variant=variant_for(device.dtype), hub=self.environment.hub, progress=report,
                cancel=cancel,
            )
            self._cpu_need = None  # the files on disk now say what the model needs
        elif folder is None:
            folder = weights_folder(self.settings, variant=variant_for(device.dtype), hub=self.environment.hub)
        return load_pipeline(
            self.settings, folder=folder, device=device, free_memory=self.environment.free_memory, progress=report
        )

    def _device(self) -> DeviceInfo:
        return self.environment.devices.result(self.settings.device, zero_gpu=self.settings.zero_gpu)

    def _weights_on_disk(self) -> Path | None:
        """The folder holding complete weights, if there is one here (reads the disk only)."""
        folder = self.settings.model_folder
        if folder is not None:
            return folder if folder.is_dir() and missing_parts(folder) is None else None
        return cached_snapshot(self.settings.model, self.environment.hub)


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
