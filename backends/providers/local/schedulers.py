"""Building the local backend's samplers with diffusers, from the one table in :mod:`backends.schedulers`.

Each is built with ``Class.from_config(kolors_config, **overrides)``, so it keeps Kolors' own noise
schedule (``beta_end=0.014``, 1100 training steps, "leading" spacing).

"DPM++ SDE Karras" is diffusers' ``DPMSolverSDEScheduler``, which needs ``torchsde``; without it the
backend falls back to ``DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++",
use_karras_sigmas=True)`` and logs so. Its Brownian noise is seeded from the image's seed, so it is as
reproducible as the others.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from typing import Any

from ...schedulers import SAMPLERS, Sampler

__all__ = ["DEFAULT_SCHEDULER", "SCHEDULER_NAMES", "build_scheduler", "spec_for"]

logger = logging.getLogger(__name__)

SCHEDULER_NAMES: tuple[str, ...] = tuple(sampler.name for sampler in SAMPLERS)
DEFAULT_SCHEDULER = SCHEDULER_NAMES[0]

_SDE_FALLBACK = Sampler(
    "DPM++ SDE Karras",
    "DPMSolverMultistepScheduler",
    25,
    {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True},
)


def spec_for(name: str | None) -> Sampler:
    """The sampler ``name`` (None: the default) as it will be built here. KeyError for an unknown name."""
    wanted = name or DEFAULT_SCHEDULER
    for sampler in SAMPLERS:
        if sampler.name == wanted:
            if sampler.diffusers_class == "DPMSolverSDEScheduler" and importlib.util.find_spec("torchsde") is None:
                return _SDE_FALLBACK
            return sampler
    raise KeyError(wanted)


def build_scheduler(name: str | None, base_config: Mapping[str, Any]):
    """A new scheduler for ``name`` with Kolors' schedule (``base_config``, the loaded scheduler's config)."""
    import diffusers

    spec = spec_for(name)
    if spec is _SDE_FALLBACK:
        logger.warning(
            "torchsde is not installed: 'DPM++ SDE Karras' runs as DPMSolverMultistepScheduler"
            "(algorithm_type='sde-dpmsolver++'). pip install torchsde for the original sampler."
        )
    scheduler_class = getattr(diffusers, spec.diffusers_class)
    return scheduler_class.from_config(base_config, **spec.overrides)
