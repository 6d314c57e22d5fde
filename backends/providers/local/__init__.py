"""Kolors running on this machine through diffusers (the ``local`` backend).

Optional: needs ``pip install "kolors-playground[local]"`` (``requirements-local.txt`` in a checkout). Importing this package does not import torch;
the pipeline is loaded on the first generation (or at start-up with ``KOLORS_PRELOAD=1``). Configured by
environment variables, see :mod:`backends.providers.local.settings`. Before it costs anything it says what
it will cost: the device (:mod:`.device`), the memory (:mod:`.memory`) and the download (:mod:`.weights`).
"""

from .backend import CAPABILITIES, LocalBackend, LocalEnvironment
from .device import DEVICES, DeviceDetection, DeviceInfo
from .memory import Footprint, FreeMemory, check_memory, estimate_footprint
from .pipeline import LOADER, OutOfMemory, PipelineLoader
from .schedulers import DEFAULT_SCHEDULER, SCHEDULER_NAMES
from .settings import DEFAULT_MODEL, LocalSettings
from .startup import start_local_backends
from .weights import Hub

__all__ = [
    "CAPABILITIES",
    "DEFAULT_MODEL",
    "DEFAULT_SCHEDULER",
    "DEVICES",
    "LOADER",
    "SCHEDULER_NAMES",
    "DeviceDetection",
    "DeviceInfo",
    "Footprint",
    "FreeMemory",
    "Hub",
    "LocalBackend",
    "LocalEnvironment",
    "LocalSettings",
    "OutOfMemory",
    "PipelineLoader",
    "check_memory",
    "estimate_footprint",
    "start_local_backends",
]
