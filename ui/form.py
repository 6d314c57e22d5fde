"""The generation form as plain values: what each control offers for a backend, and how values follow
when the backend changes. No gradio here, so every rule is unit-tested directly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from math import gcd
from typing import Any
from urllib.parse import urlencode

from backends.base import Capabilities
from backends.schedulers import scheduler_label
from backends.seeds import highest_seed
from backends.validation import parse_size

__all__ = [
    "CUSTOM_SIZE",
    "FIELDS",
    "SHARE_FIELDS",
    "FormValues",
    "Note",
    "SizeControl",
    "adapt_to_backend",
    "defaults_for",
    "form_from_query",
    "share_query",
    "size_choices",
    "size_control",
    "size_from_control",
    "size_label",
    "without_unsupported",
]

FIELDS = (
    "backend", "prompt", "negative_prompt", "size", "n", "seed", "steps", "guidance",
    "scheduler", "output_format", "output_quality",
)
SHARE_FIELDS = FIELDS
CUSTOM_SIZE = "custom"
"""The size dropdown's value for "Custom W×H" on backends that take a range."""

Note = tuple[str, dict[str, Any]]
"""A change the form made on its own, as a message key and its parameters (rendered in ui/i18n.py)."""

# Presets offered for backends that take a range; all multiples of 64, near one megapixel.
RANGE_PRESETS = ((1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216), (1344, 768), (768, 1344), (1536, 640), (640, 1536))


@dataclass(frozen=True)
class FormValues:
    """Every control of the generation form, as the page holds it."""

    backend: str = ""
    prompt: str = ""
    negative_prompt: str = ""
    size: str = "1024x1024"
    n: int = 1
    seed: int = -1
    steps: int = 20
    guidance: float = 7.5
    scheduler: str | None = None
    output_format: str | None = None
    output_quality: int | None = None

    def request_values(self) -> dict[str, Any]:
        """The fields :func:`backends.validation.validate_request` takes (no backend, no empty options)."""
        values = {name: getattr(self, name) for name in FIELDS if name != "backend"}
        return {k: v for k, v in values.items() if v is not None}


def size_label(width: int, height: int) -> str:
    """"1:1 · 1024×1024": the ratio first (what a designer picks), then the pixels."""
    divisor = gcd(width, height)
    return f"{width // divisor}:{height // divisor} · {width}×{height}"


def size_choices(caps: Capabilities) -> list[tuple[str, str]]:
    """(label, "WxH") pairs: the backend's fixed sizes, or presets within its range."""
    if caps.sizes is not None:
        sizes = caps.sizes
    else:
        sizes = tuple(s for s in RANGE_PRESETS if caps.accepts_size(*s)) or (caps.default_size,)
    return [(size_label(w, h), f"{w}x{h}") for w, h in sizes]


@dataclass(frozen=True)
class SizeControl:
    """What the one size control shows for a size: the dropdown's value, and the custom W×H fields
    (shown only for "Custom" on a backend that takes a range)."""

    choice: str
    width: int
    height: int
    custom: bool


def size_control(size: str, caps: Capabilities) -> SizeControl:
    """The control's state for ``size`` ("WxH") on a backend: a preset when it is one, else "Custom"
    with the pixels in the W×H fields (range backends), else the odd size as its own choice."""
    width, height = parse_size(size or "") or caps.default_size
    value = f"{width}x{height}"
    if value in [choice for _, choice in size_choices(caps)]:
        return SizeControl(value, width, height, custom=False)
    if caps.size_range is not None:
        return SizeControl(CUSTOM_SIZE, width, height, custom=True)
    return SizeControl(value, width, height, custom=False)


def size_from_control(choice: str | None, width: Any, height: Any) -> str:
    """The "WxH" the control means: the chosen preset, or the custom fields as typed."""
    if choice == CUSTOM_SIZE:
        return f"{_whole(width)}x{_whole(height)}"
    return choice or ""


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def without_unsupported(values: Mapping[str, Any], caps: Capabilities | None) -> dict[str, Any]:
    """``values`` with the options ``caps`` lacks set to None. The page always sends its hidden scheduler,
    format and quality controls; for a backend without those settings they are placeholders, not
    choices, so they are dropped rather than refused (an API caller's explicit value is refused by the
    validator, which names the field)."""
    if caps is None:
        return dict(values)
    lacks = {"scheduler": not caps.schedulers, "output_format": not caps.output_formats,
             "output_quality": caps.output_quality is None}
    return {key: (None if lacks.get(key) else value) for key, value in values.items()}


def defaults_for(backend_id: str, caps: Capabilities) -> FormValues:
    width, height = caps.default_size
    return FormValues(
        backend=backend_id,
        size=f"{width}x{height}",
        steps=caps.default_steps_for(caps.default_scheduler),
        guidance=caps.guidance[2],
        scheduler=caps.default_scheduler,
        output_format=caps.default_output_format,
        output_quality=caps.output_quality[2] if caps.output_quality else None,
    )


def adapt_to_backend(
    values: FormValues, new_backend: str, new: Capabilities, old: Capabilities | None
) -> tuple[FormValues, list[Note]]:
    """Move the form to another backend. Values still at the old backend's default take the new
    default; values that no longer fit are clamped, and each change is described in a note."""
    notes: list[Note] = []
    fresh = defaults_for(new_backend, new)
    old_defaults = defaults_for(values.backend, old) if old is not None else None

    def at_old_default(name: str) -> bool:
        return old_defaults is not None and getattr(values, name) == getattr(old_defaults, name)

    result = replace(values, backend=new_backend)
    # Size: keep it when the new backend accepts it.
    parsed = parse_size(values.size or "")
    if parsed is None or not new.accepts_size(*parsed):
        if parsed is not None and not at_old_default("size"):
            notes.append(("note_size", {"old": values.size, "new": fresh.size}))
        result = replace(result, size=fresh.size)
    # n
    if values.n > new.max_images:
        notes.append(("note_images", {"old": values.n, "new": new.max_images}))
        result = replace(result, n=new.max_images)
    # scheduler / output format / quality: options that exist or not per backend
    if values.scheduler not in new.schedulers:
        if values.scheduler and new.schedulers:
            notes.append(
                ("note_scheduler", {"old": scheduler_label(values.scheduler), "new": scheduler_label(fresh.scheduler)})
            )
        result = replace(result, scheduler=fresh.scheduler)
    if values.output_format not in new.output_formats:
        result = replace(result, output_format=fresh.output_format)
    if new.output_quality is None:
        result = replace(result, output_quality=None)
    elif values.output_quality is None or not new.output_quality[0] <= values.output_quality <= new.output_quality[1]:
        result = replace(result, output_quality=fresh.output_quality)
    # steps and guidance: follow defaults, else clamp
    low, high, _ = new.steps
    if at_old_default("steps") or old is None:
        result = replace(result, steps=new.default_steps_for(result.scheduler))
    elif not low <= values.steps <= high:
        clamped = min(max(values.steps, low), high)
        notes.append(("note_steps", {"old": values.steps, "new": clamped, "low": low, "high": high}))
        result = replace(result, steps=clamped)
    g_low, g_high, _ = new.guidance
    if at_old_default("guidance") or old is None:
        result = replace(result, guidance=fresh.guidance)
    elif not g_low <= values.guidance <= g_high:
        clamped = min(max(values.guidance, g_low), g_high)
        notes.append(
            ("note_guidance", {"old": f"{values.guidance:g}", "new": f"{clamped:g}", "low": f"{g_low:g}", "high": f"{g_high:g}"})
        )
        result = replace(result, guidance=clamped)
    # seed: keep a fixed seed only where it fits
    if values.seed is not None and values.seed > highest_seed(new.seed_max, result.n):
        notes.append(("note_seed", {"old": values.seed, "max": new.seed_max}))
        result = replace(result, seed=-1)
    return result, notes


def form_from_query(query: Mapping[str, str], known_backends: list[str]) -> dict[str, Any]:
    """Share-link query parameters → form fields. Unknown or malformed values are dropped, never
    trusted; validation happens again when the person presses Generate."""
    values: dict[str, Any] = {}
    if query.get("backend") in known_backends:
        values["backend"] = query["backend"]
    for name in ("prompt", "negative_prompt"):
        if isinstance(query.get(name), str):
            values[name] = query[name][:2000]
    if parse_size(query.get("size", "")):
        width, height = parse_size(query["size"])  # type: ignore[misc]
        values["size"] = f"{width}x{height}"
    for name, kind in (("n", int), ("seed", int), ("steps", int), ("guidance", float), ("output_quality", int)):
        try:
            values[name] = kind(query[name])
        except (KeyError, ValueError, TypeError, OverflowError):
            pass
    for name in ("scheduler", "output_format"):
        if isinstance(query.get(name), str) and 0 < len(query[name]) <= 64:
            values[name] = query[name]
    return values


def share_query(values: FormValues) -> str:
    """The query string that :func:`form_from_query` reads back into the same form."""
    pairs = {name: getattr(values, name) for name in SHARE_FIELDS}
    return urlencode({k: v for k, v in pairs.items() if v not in (None, "")})
