"""Will Kolors fit? The memory the pipeline needs against the memory that is free, before loading it.

1. :func:`estimate_footprint` sizes the text encoder, UNet and VAE from the model's own files where they are
   on disk: the safetensors headers give every tensor's shape (a few kilobytes read, no weights), else a
   weights index's ``total_size``, else the weight files' sizes, converted to the precision the pipeline will
   use (float16 on a GPU, float32 on the CPU). Components not on disk take Kolors' published sizes
   (:data:`KOLORS_PARAMETERS`). Working memory for a 1024x1024 generation comes on top.
2. :func:`measure_free_memory` asks the machine: MemAvailable for the CPU, ``torch.cuda.mem_get_info`` for
   CUDA, the unified memory (capped by what Metal recommends) for Apple MPS.
3. :func:`check_memory` compares them: too little is :class:`~backends.errors.NotEnoughMemory`, naming both
   figures and the ways out; within :data:`TIGHT_MARGIN` of the limit is a warning for the progress line.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import NotEnoughMemory
from ...messages import Message
from .device import DeviceInfo, available_ram
from .settings import ENV_CPU_OFFLOAD, ENV_DEVICE
from .sizes import human_size

__all__ = [
    "KOLORS_PARAMETERS",
    "TIGHT_MARGIN",
    "WORKING_FRACTION",
    "Footprint",
    "FreeMemory",
    "FreeMemoryProbe",
    "MemoryCheck",
    "MemoryVerdict",
    "check_memory",
    "estimate_footprint",
    "measure_free_memory",
]

KOLORS_PARAMETERS: tuple[tuple[str, str, int], ...] = (
    ("text encoder", "text_encoder", 6_243_584_000),
    ("UNet", "unet", 2_579_458_820),
    ("VAE", "vae", 83_653_863),
)
"""(label, folder, parameters) of Kwai-Kolors/Kolors-diffusers, counted by building each model from its
config on torch's meta device. The text encoder is ChatGLM3-6B (28 layers, hidden size 4096, FFN 13696,
vocabulary 65024, two key-value groups): 6,243,584,000 parameters, 12,487,168,064 bytes in float16, the
``total_size`` of ChatGLM3-6B's published weights index. The UNet is SDXL's (2.57 billion parameters) with
Kolors' 4096-to-2048 text projection; the VAE is SDXL's. In float16 the three come to 17.8e9 bytes
(16.6 GB), the size quoted for Kolors' fp16 download."""

WORKING_FRACTION = 0.2
"""Memory a 1024x1024 generation needs besides the weights (the UNet's activations for a batch of two with
guidance, the VAE decode, the runtime), as a fraction of the weights: about 3 GB next to Kolors' 16.6 GB in
float16, which puts the float16 total near the 19-20 GB Kolors is reported to use on a GPU, and the float32
total on the CPU near 40 GB."""

TIGHT_MARGIN = 0.15
"""Within this fraction of the free memory the load goes ahead, with a warning in the progress line."""

_BYTES_PER_ELEMENT = {"float32": 4, "float16": 2, "bfloat16": 2}
_MAX_SAFETENSORS_HEADER = 100 * 2**20
_COMPONENT_MESSAGES = {"text encoder": "component_text_encoder", "UNet": "component_unet", "VAE": "component_vae"}


@dataclass(frozen=True)
class Footprint:
    """Memory the pipeline needs in ``dtype``: each component's weights, plus ``working_bytes``.

    ``documented`` names the components sized from Kolors' published figures rather than from files.
    """

    dtype: str
    components: tuple[tuple[str, int], ...]
    working_bytes: int
    documented: tuple[str, ...] = ()

    @property
    def weights_bytes(self) -> int:
        return sum(size for _, size in self.components)

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.working_bytes

    @property
    def largest_bytes(self) -> int:
        """The biggest component plus working memory: what a GPU holds at once with CPU offload."""
        return max(size for _, size in self.components) + self.working_bytes

    @property
    def source(self) -> str:
        return str(self.source_message())

    def source_message(self) -> Message:
        if not self.documented:
            return Message("memory_source_files")
        if len(self.documented) == len(self.components):
            return Message("memory_source_documented")
        return Message("memory_source_mixed", documented=[_component(label) for label in self.documented])

    def breakdown(self) -> str:
        """"text encoder 11.6 GB, UNet 4.8 GB, VAE 0.3 GB and working memory 3.3 GB in float16, from the model's files"."""
        return str(self.breakdown_message())

    def breakdown_message(self) -> Message:
        parts = [Message("memory_part", component=_component(label), size=human_size(size)) for label, size in self.components]
        return Message(
            "memory_breakdown", parts=parts, working=human_size(self.working_bytes), dtype=self.dtype, source=self.source_message()
        )


def _component(label: str) -> str | Message:
    key = _COMPONENT_MESSAGES.get(label)
    return Message(key) if key else label


def estimate_footprint(folder: Path | None, dtype: str) -> Footprint:
    """What Kolors needs in ``dtype`` (``float16`` or ``float32``), from ``folder`` where it holds the weights."""
    components = []
    documented = []
    for label, subfolder, parameters in KOLORS_PARAMETERS:
        component_dtype = dtype
        if subfolder == "vae" and dtype == "float16" and _vae_upcasts(folder):
            component_dtype = "float32"  # diffusers decodes in float32 when the VAE's config says force_upcast
        elements = _elements_on_disk(folder / subfolder) if folder is not None else None
        if elements is None:
            elements = parameters
            documented.append(label)
        components.append((label, elements * _BYTES_PER_ELEMENT[component_dtype]))
    weights = sum(size for _, size in components)
    return Footprint(
        dtype=dtype,
        components=tuple(components),
        working_bytes=int(weights * WORKING_FRACTION),
        documented=tuple(documented),
    )


def _vae_upcasts(folder: Path | None) -> bool:
    if folder is None:
        return True  # Kolors' VAE is SDXL's, whose config sets force_upcast
    try:
        return bool(json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8")).get("force_upcast", True))
    except (OSError, ValueError):
        return True


def _elements_on_disk(folder: Path) -> int | None:
    """How many weights (elements) a component folder holds, or None when it has no weights to read."""
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.is_file())
    safetensors = _one_weight_set([p for p in files if p.name.endswith(".safetensors")])
    if safetensors:
        counts = [_safetensors_elements(p) for p in safetensors]
        if all(count is not None for count in counts):
            return sum(counts)  # type: ignore[arg-type]
    stored_bytes = _stored_bytes_per_element(folder)
    for index in _one_weight_set([p for p in files if ".index" in p.name and p.name.endswith(".json")]):
        try:
            total = int(json.loads(index.read_text(encoding="utf-8"))["metadata"]["total_size"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return total // _stored_bytes(index.name, stored_bytes)
    pickles = _one_weight_set([p for p in files if p.suffix == ".bin"])
    if pickles:
        return sum(p.stat().st_size // _stored_bytes(p.name, stored_bytes) for p in pickles)
    return None


def _one_weight_set(paths: list[Path]) -> list[Path]:
    """The fp16 variant's files where there are some, else the others: both sets hold the same tensors."""
    variant = [p for p in paths if _is_fp16_variant(p.name)]
    return variant or paths


def _is_fp16_variant(name: str) -> bool:
    return ".fp16." in name or ".fp16-" in name


def _stored_bytes_per_element(folder: Path) -> int:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 4
    return _BYTES_PER_ELEMENT.get(str(config.get("torch_dtype") or config.get("dtype") or "float32"), 4)


def _stored_bytes(name: str, default: int) -> int:
    return 2 if _is_fp16_variant(name) else default


def _safetensors_elements(path: Path) -> int | None:
    """Elements in a safetensors file, from its JSON header alone (the first kilobytes)."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _MAX_SAFETENSORS_HEADER:
                return None
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error):
        return None
    return sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")


# -- free memory ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreeMemory:
    """Free memory where the weights go (``device``: RAM for the CPU) and in RAM (``host``); None if unknown."""

    device: int | None
    host: int | None


FreeMemoryProbe = Callable[[DeviceInfo], FreeMemory]


def measure_free_memory(device: DeviceInfo) -> FreeMemory:
    """What is free now. Blocking; imports torch for a GPU."""
    host = available_ram()
    if device.runs_on_cpu:
        return FreeMemory(device=host, host=host)
    if device.zero_gpu:
        return FreeMemory(device=None, host=host)  # the GPU is attached per call, in another process
    import torch

    if device.kind == "cuda":
        free, _total = torch.cuda.mem_get_info(device.index or 0)
        return FreeMemory(device=int(free), host=host)
    if device.kind == "xpu" and hasattr(torch.xpu, "mem_get_info"):
        free, _total = torch.xpu.mem_get_info(device.index or 0)
        return FreeMemory(device=int(free), host=host)
    if device.kind == "mps":
        free = host
        recommended = getattr(torch.mps, "recommended_max_memory", None)
        if recommended is not None and free is not None:
            # Metal caps what one process may use below the machine's memory.
            free = min(free, int(recommended() - torch.mps.driver_allocated_memory()))
        return FreeMemory(device=free, host=host)
    return FreeMemory(device=None, host=host)


# -- the check ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryCheck:
    """``needed`` bytes against ``free`` bytes in one place.

    ``where`` reads after "needs about 20 GB": "in RAM", "on the GPU (CUDA, RTX 4090, 24 GB)"; ``counts`` says
    what the figure covers when that is not the whole pipeline.
    """

    where: str | Message
    needed: int
    free: int | None
    on_gpu: bool = False
    counts: str | Message = ""

    @property
    def short(self) -> bool:
        return self.free is not None and self.needed > self.free

    @property
    def tight(self) -> bool:
        return self.free is not None and not self.short and self.needed > self.free * (1 - TIGHT_MARGIN)

    def summary(self) -> str:
        """"needs about 19.9 GB on the GPU (...), 21.0 GB free there" for facts."""
        free = f"{human_size(self.free)} free there" if self.free is not None else "free memory unknown"
        counts = f" ({self.counts})" if self.counts else ""
        return f"needs about {human_size(self.needed)} {self.where}{counts}, {free}"


@dataclass(frozen=True)
class MemoryVerdict:
    """The checks for one load: :meth:`error` to refuse, :meth:`warning` for the progress line."""

    footprint: Footprint
    device: DeviceInfo
    checks: tuple[MemoryCheck, ...]
    cpu_offload: bool

    @property
    def short(self) -> MemoryCheck | None:
        return next((check for check in self.checks if check.short), None)

    def error(self) -> NotEnoughMemory | None:
        """The refusal to raise before loading, or None when it fits."""
        check = self.short
        if check is None or check.free is None:
            return None
        counts = Message("memory_counts", counts=check.counts) if check.counts else ""
        return NotEnoughMemory(
            Message(
                "not_enough_memory", needed=human_size(check.needed), where=check.where, counts=counts,
                free=human_size(check.free), breakdown=self.footprint.breakdown_message(), ways=self._ways_out(check),
            ),
            needed_bytes=check.needed,
            free_bytes=check.free,
        )

    def warning(self) -> Message | None:
        """A sentence for the progress line when memory is tight, else None."""
        tight = [check for check in self.checks if check.tight and check.free is not None]
        if not tight:
            return None
        detail = [
            Message("memory_tight_item", needed=human_size(c.needed), free=human_size(c.free), where=c.where)  # type: ignore[arg-type]
            for c in tight
        ]
        return Message("memory_tight", detail=detail)

    def _ways_out(self, check: MemoryCheck) -> list[Message]:
        ways = []
        if self.device.runs_on_cpu:
            ways.append(Message("way_gpu", env=ENV_DEVICE))
        elif check.on_gpu:
            if not self.cpu_offload:
                ways.append(Message("way_cpu_offload", env=ENV_CPU_OFFLOAD, size=human_size(self.footprint.largest_bytes)))
            ways.append(Message("way_other_gpu", env=ENV_DEVICE))
        elif self.cpu_offload:
            ways.append(Message("way_no_offload", env=ENV_CPU_OFFLOAD, size=human_size(self.footprint.total_bytes)))
        ways.append(Message("way_hosted"))
        ways.append(Message("way_close_programs"))
        return ways


def check_memory(footprint: Footprint, device: DeviceInfo, free: FreeMemory, *, cpu_offload: bool = False) -> MemoryVerdict:
    """Compare ``footprint`` with ``free`` on ``device`` (and in RAM too when the models wait there, offloaded)."""
    in_ram = Message("memory_in_ram")
    if device.runs_on_cpu:
        checks = [MemoryCheck(in_ram, footprint.total_bytes, free.device)]
    else:
        where = Message("memory_in_unified" if device.kind == "mps" else "memory_on_gpu", device=device.description())
        if cpu_offload:
            checks = [
                MemoryCheck(where, footprint.largest_bytes, free.device, on_gpu=True,
                            counts=Message("memory_counts_largest")),
                MemoryCheck(in_ram, footprint.weights_bytes, free.host,
                            counts=Message("memory_counts_all_wait")),
            ]
        else:
            checks = [MemoryCheck(where, footprint.total_bytes, free.device, on_gpu=True)]
    return MemoryVerdict(footprint=footprint, device=device, checks=tuple(checks), cpu_offload=cpu_offload)
