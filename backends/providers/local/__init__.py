"""Kolors running on this machine through diffusers (the ``local`` backend).

Optional: needs ``pip install -r requirements-local.txt``. Importing this package does not import torch;
the pipeline is loaded on the first generation. Configured by environment variables, see
:mod:`backends.providers.local.settings`.
"""

from .backend import CAPABILITIES, LocalBackend
from .pipeline import LOADER, OutOfMemory, PipelineLoader
from .schedulers import DEFAULT_SCHEDULER, SCHEDULER_NAMES
from .settings import DEFAULT_MODEL, LocalSettings

__all__ = [
    "CAPABILITIES",
    "DEFAULT_MODEL",
    "DEFAULT_SCHEDULER",
    "LOADER",
    "SCHEDULER_NAMES",
    "LocalBackend",
    "LocalSettings",
    "OutOfMemory",
    "PipelineLoader",
]
