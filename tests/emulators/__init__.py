"""HTTP emulators of the Kolors providers, used by the tests in place of the real services.

Each emulator is a Starlette app with state (request log, fault queue, image files); serve it with
``emulator.running()`` or :class:`EmulatorServer`, or take the pytest fixtures in ``fixtures.py``.
"""

from .common import FAULT_KINDS, Fault, ProviderEmulator, RecordedRequest
from .images import PHOTOS, decompression_bomb_png, render_image, render_photo, truncated
from .openai_images import DIEYUYUN_SIZES, OpenAIImagesEmulator
from .segmind import SEGMIND_FORMATS, SEGMIND_SCHEDULERS, SegmindEmulator
from .server import EmulatorServer
from .siliconflow import SILICONFLOW_SIZES, SiliconFlowEmulator

__all__ = [
    "DIEYUYUN_SIZES",
    "FAULT_KINDS",
    "PHOTOS",
    "PROVIDERS",
    "SEGMIND_FORMATS",
    "SEGMIND_SCHEDULERS",
    "SILICONFLOW_SIZES",
    "EmulatorServer",
    "Fault",
    "OpenAIImagesEmulator",
    "ProviderEmulator",
    "RecordedRequest",
    "SegmindEmulator",
    "SiliconFlowEmulator",
    "decompression_bomb_png",
    "make_emulator",
    "render_image",
    "render_photo",
    "truncated",
]

PROVIDERS = ("dieyuyun", "openai", "segmind", "siliconflow")


def make_emulator(provider: str, **kwargs) -> ProviderEmulator:
    """The emulator the fixtures and ``python -m tests.emulators`` use for ``provider``."""
    if provider == "dieyuyun":
        return OpenAIImagesEmulator(**kwargs)
    if provider == "openai":  # a self-hosted server: free sizes, its own model name, local paths for URLs
        return OpenAIImagesEmulator(model="kolors", sizes=None, url_style="local_path", **kwargs)
    if provider == "segmind":
        return SegmindEmulator(**kwargs)
    if provider == "siliconflow":
        return SiliconFlowEmulator(**kwargs)
    raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
