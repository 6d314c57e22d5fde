"""How the local backend finds its weights and runs them: a frozen view of the ``KOLORS_*`` settings.

    KOLORS_MODEL         a Hub id (default ``Kwai-Kolors/Kolors-diffusers``) or a diffusers-layout folder
    KOLORS_DEVICE        ``cuda``, ``cuda:1``, ``mps``, ``cpu`` or ``auto`` (CUDA, then MPS, then CPU)
    KOLORS_CPU_OFFLOAD   ``1`` keeps each model on the CPU until it is needed (far less GPU memory, slower)
    KOLORS_VAE_TILING    ``1`` decodes large images tile by tile (less GPU memory at 1536 px and up)
    KOLORS_GPU_DURATION  seconds asked of ZeroGPU per call, i.e. per image (default 60), on HF Spaces
    KOLORS_PRELOAD       ``1`` downloads the weights if needed and loads them when the app starts (the
                         operator's consent to the download; otherwise the first Generate asks first)

They are read and checked by :class:`backends.settings.PlaygroundSettings`. Nothing here imports torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import ConfigurationError
from ...messages import Message

if TYPE_CHECKING:
    from ...settings import PlaygroundSettings

__all__ = [
    "DEFAULT_MODEL",
    "ENV_CPU_OFFLOAD",
    "ENV_DEVICE",
    "ENV_GPU_DURATION",
    "ENV_MODEL",
    "ENV_PRELOAD",
    "ENV_VAE_TILING",
    "LocalSettings",
]

DEFAULT_MODEL = "Kwai-Kolors/Kolors-diffusers"
ENV_MODEL = "KOLORS_MODEL"
ENV_DEVICE = "KOLORS_DEVICE"
ENV_CPU_OFFLOAD = "KOLORS_CPU_OFFLOAD"
ENV_VAE_TILING = "KOLORS_VAE_TILING"
ENV_GPU_DURATION = "KOLORS_GPU_DURATION"
ENV_PRELOAD = "KOLORS_PRELOAD"

_DEVICE = re.compile(r"^(cpu|mps|(cuda|xpu)(:\d+)?)$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class LocalSettings:
    """How to load and run Kolors. Equal settings share one loaded pipeline.

    ``device`` None means "pick one": CUDA, then Apple MPS, then the CPU (with a warning).
    ``zero_gpu`` is set on a Hugging Face ZeroGPU Space. ``preload``: download and load when the app starts.
    """

    model: str = DEFAULT_MODEL
    device: str | None = None
    cpu_offload: bool = False
    vae_tiling: bool = False
    gpu_duration: int = 60
    zero_gpu: bool = False
    preload: bool = False

    def __post_init__(self) -> None:
        if self.device is not None and not _DEVICE.match(self.device):
            raise ConfigurationError(
                f"{ENV_DEVICE}={self.device!r} is not a device: use cuda, cuda:N, mps, cpu or auto."
            )
        if self.gpu_duration <= 0:
            raise ConfigurationError(
                f"{ENV_GPU_DURATION}={self.gpu_duration!r} must be a positive number of seconds."
            )

    @classmethod
    def from_settings(cls, settings: PlaygroundSettings) -> LocalSettings:
        device = settings.kolors_device.strip().lower()
        return cls(
            model=settings.kolors_model.strip() or DEFAULT_MODEL,
            device=None if device in ("", "auto") else device,
            cpu_offload=settings.kolors_cpu_offload,
            vae_tiling=settings.kolors_vae_tiling,
            gpu_duration=settings.kolors_gpu_duration,
            zero_gpu=settings.spaces_zero_gpu,
            preload=settings.kolors_preload,
        )

    @property
    def model_folder(self) -> Path | None:
        """The weights folder when ``model`` names one (existing or not), None for a Hub id."""
        path = Path(self.model).expanduser()
        if path.exists() or not _REPO_ID.match(self.model) or self.model.startswith((".", "~")):
            return path
        return None

    def model_problem(self) -> Message | None:
        """Why ``model`` cannot be a weights folder, or None when it looks fine (or is a Hub id)."""
        folder = self.model_folder
        if folder is None:
            return None
        if not folder.is_dir():
            return Message("local_model_not_a_folder", env=ENV_MODEL, model=self.model, default=DEFAULT_MODEL)
        if not (folder / "model_index.json").is_file():
            return Message("local_model_no_index", env=ENV_MODEL, model=self.model, default=DEFAULT_MODEL)
        return None
