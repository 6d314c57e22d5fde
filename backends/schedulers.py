"""The one table of sampling methods: the name a person reads, every spelling providers use, and how
the local backend builds each with diffusers.

The name shown is AUTOMATIC1111's ("Euler a", "DPM++ 2M Karras"), which is also what the local backend
accepts and what an A1111 ``parameters`` text carries. Segmind takes diffusers class names
("EulerAncestralDiscreteScheduler"); its values are what is sent and stored, and this table turns them
into the readable name wherever they are shown.

Nothing here imports torch or diffusers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SAMPLERS",
    "Sampler",
    "a1111_sampler",
    "match_scheduler",
    "sampler_for",
    "scheduler_choices",
    "scheduler_label",
]


@dataclass(frozen=True)
class Sampler:
    """One sampling method.

    ``name`` is the A1111 name; ``aliases`` are other spellings of the same method (diffusers class
    names as Segmind takes them, A1111 variants). ``diffusers_class``, ``overrides`` and
    ``default_steps`` say how the local backend builds it (``Class.from_config(config, **overrides)``);
    the step counts follow the Kolors README (50 for Euler, 25 for the multistep solvers).
    """

    name: str
    diffusers_class: str
    default_steps: int
    overrides: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


SAMPLERS: tuple[Sampler, ...] = (
    Sampler("Euler", "EulerDiscreteScheduler", 50, aliases=("EulerDiscreteScheduler",)),
    Sampler("Euler a", "EulerAncestralDiscreteScheduler", 50, aliases=("EulerAncestralDiscreteScheduler",)),
    Sampler("DPM++ 2M", "DPMSolverMultistepScheduler", 25, aliases=("DPMSolverMultistepScheduler",)),
    Sampler("DPM++ 2M Karras", "DPMSolverMultistepScheduler", 25, {"use_karras_sigmas": True}),
    Sampler(
        "DPM++ SDE Karras", "DPMSolverSDEScheduler", 25, {"use_karras_sigmas": True},
        aliases=("DPMSolverMultistepScheduler_SDE_karras", "DPM++ 2M SDE Karras"),
    ),
    Sampler("UniPC", "UniPCMultistepScheduler", 25, aliases=("UniPCMultistepScheduler",)),
    Sampler("DEIS", "DEISMultistepScheduler", 25, aliases=("DEISMultistepScheduler",)),
)

_BY_SPELLING = {spelling.casefold(): s for s in SAMPLERS for spelling in (s.name, *s.aliases)}


def sampler_for(name: str | None) -> Sampler | None:
    """The method any spelling names (case-insensitive), or None when the table does not know it."""
    return _BY_SPELLING.get(name.casefold()) if name else None


def a1111_sampler(scheduler: str | None) -> str:
    """The A1111 name for any spelling; unknown names pass through, None is Euler."""
    if not scheduler:
        return "Euler"
    known = sampler_for(scheduler)
    return known.name if known else scheduler


scheduler_label = a1111_sampler
"""What the page shows for a scheduler value: its A1111 name."""


def scheduler_choices(values: Sequence[str]) -> list[tuple[str, str]]:
    """(label, value) pairs for a backend's scheduler values: readable names, provider values sent."""
    return [(scheduler_label(value), value) for value in values]


def match_scheduler(name: str | None, available: Sequence[str]) -> str | None:
    """The entry of ``available`` (a backend's scheduler values) that means the same method as ``name``,
    spelled the way that backend spells it; None when it has no such method."""
    if not name:
        return None
    if name in available:
        return name
    known = sampler_for(name)
    wanted = {n.casefold() for n in ((known.name, *known.aliases) if known else (name,))}
    return next((a for a in available if a.casefold() in wanted), None)
