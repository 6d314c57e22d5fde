"""The samplers the local backend offers, by the names the UI shows.

Each is built with ``Class.from_config(kolors_config, **overrides)``, so it keeps Kolors' own noise
schedule (``beta_end=0.014``, 1100 training steps, "leading" spacing). Default step counts follow the
Kolors README: 50 for Euler, 25 for the DPM++ family and the other multistep solvers.

"DPM++ SDE Karras" is diffusers' ``DPMSolverSDEScheduler``, which needs ``torchsde``; without it the
backend falls back to ``DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++",
use_karras_sigmas=True)`` and logs so. Its Brownian noise is seeded from the image's seed, so it is as
reproducible as the others.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_SCHEDULER",
    "SCHEDULERS",
    "SCHEDULER_NAMES",
    "SchedulerSpec",
    "build_scheduler",
    "spec_for",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerSpec:
    """One sampler: the name shown, the diffusers class, the config overrides, the default step count."""

    name: str
    class_name: str
    default_steps: int
    overrides: Mapping[str, Any] = field(default_factory=dict)


SCHEDULERS: tuple[SchedulerSpec, ...] = (
    SchedulerSpec("Euler", "EulerDiscreteScheduler", 50),
    SchedulerSpec("Euler a", "EulerAncestralDiscreteScheduler", 50),
    SchedulerSpec("DPM++ 2M", "DPMSolverMultistepScheduler", 25),
    SchedulerSpec("DPM++ 2M Karras", "DPMSolverMultistepScheduler", 25, {"use_karras_sigmas": True}),
    SchedulerSpec("DPM++ SDE Karras", "DPMSolverSDEScheduler", 25, {"use_karras_sigmas": True}),
    SchedulerSpec("UniPC", "UniPCMultistepScheduler", 25),
    SchedulerSpec("DEIS", "DEISMultistepScheduler", 25),
)
SCHEDULER_NAMES: tuple[str, ...] = tuple(spec.name for spec in SCHEDULERS)
DEFAULT_SCHEDULER = SCHEDULER_NAMES[0]

_SDE_FALLBACK = SchedulerSpec(
    "DPM++ SDE Karras",
    "DPMSolverMultistepScheduler",
    25,
    {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True},
)


def spec_for(name: str | None) -> SchedulerSpec:
    """The spec for ``name`` (None: the default). Raises KeyError for an unknown name."""
    wanted = name or DEFAULT_SCHEDULER
    for spec in SCHEDULERS:
        if spec.name == wanted:
            if spec.class_name == "DPMSolverSDEScheduler" and importlib.util.find_spec("torchsde") is None:
                return _SDE_FALLBACK
            return spec
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
    scheduler_class = getattr(diffusers, spec.class_name)
    return scheduler_class.from_config(base_config, **spec.overrides)
