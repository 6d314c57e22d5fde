"""What each parameter of ``/generate`` and ``/compare`` means, in one place: the Gradio API page, the
``view_api()`` listing, the MCP tools' schemas and the REST routes all read it. No gradio here.

Ranges and choices are those of the backends configured (the union; each backend's own rule is in
the text), so the descriptions say what this server accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backends.base import Capabilities
from backends.compare.axes import AxisKind
from backends.registry import Registry, default_backend_id
from backends.schedulers import scheduler_label

__all__ = ["ApiFacts", "compare_description", "docstring", "generate_description", "parameter_descriptions"]

DEFAULT_RULE = "Leave it out for the chosen backend's own default"


@dataclass(frozen=True)
class ApiFacts:
    """The configured backends, as the descriptions need them: (id, label, capabilities), the default first."""

    backends: tuple[tuple[str, str, Capabilities], ...]
    default_backend: str

    @classmethod
    def of(cls, registry: Registry) -> ApiFacts:
        entries = registry.entries()
        default = default_backend_id(registry) or (entries[0].id if entries else "")
        return cls(tuple((e.id, e.backend.label, e.backend.capabilities) for e in entries), default)

    def each(self, describe) -> str:
        parts = [f"{bid} {text}" for bid, _, caps in self.backends if (text := describe(caps))]
        return "; ".join(parts)


def _range(low: float, high: float, default: float) -> str:
    return f"{low:g}-{high:g}, default {default:g}"


def _sizes(caps: Capabilities) -> str:
    if caps.sizes is not None:
        return "one of " + ", ".join(f"{w}x{h}" for w, h in caps.sizes)
    low, high = caps.size_range  # type: ignore[misc]
    return f"any WxH from {low} to {high} in steps of {caps.size_multiple}"


def parameter_descriptions(facts: ApiFacts) -> dict[str, str]:
    """One sentence or two per parameter name, for both endpoints (``compare`` has no ``n``, ``download``, ``preset``)."""
    ids = ", ".join(bid for bid, _, _ in facts.backends)
    schedulers = facts.each(
        lambda c: "(" + ", ".join(s if scheduler_label(s) == s else f"{scheduler_label(s)} = {s}" for s in c.schedulers) + ")"
        if c.schedulers else ""
    )
    formats = facts.each(lambda c: "(" + ", ".join(c.output_formats) + ")" if c.output_formats else "")
    quality = facts.each(lambda c: f"({_range(*c.output_quality)})" if c.output_quality else "")
    lacking = "Backends without it refuse it, naming themselves."
    axes = ", ".join(kind.value for kind in AxisKind)
    return {
        "backend": f"Which backend generates: {ids}. Default {facts.default_backend}.",
        "prompt": "What to draw, in Chinese or English (Kolors reads both). Required; at most 2000 characters.",
        "negative_prompt": "What to keep out of the image. Optional; empty for none.",
        "size": f"Width x height in pixels, like 1024x1024. {DEFAULT_RULE} (1024x1024 on each here). Per backend: "
        + facts.each(lambda c: f"{_sizes(c)}") + ".",
        "n": "How many images, a whole number from 1 to each backend's maximum ("
        + facts.each(lambda c: str(c.max_images)) + "). Image i is made with seed + i. Default 1.",
        "seed": "A whole number from 0 for a reproducible image (the same seed, prompt and settings give the same "
        "image), or -1 for a random one, which the answer reports. Default -1.",
        "steps": f"Denoising steps, a whole number. {DEFAULT_RULE}: "
        + facts.each(lambda c: f"{_range(*c.steps)}") + ".",
        "guidance": f"Guidance (CFG), how closely to follow the prompt. {DEFAULT_RULE}: "
        + facts.each(lambda c: f"{_range(*c.guidance)}") + ".",
        "scheduler": "Sampling method, in the A1111 spelling (Euler a) or the provider's (EulerAncestralDiscreteScheduler). "
        f"{DEFAULT_RULE}. Only {schedulers or 'no backend here'}. {lacking}",
        "output_format": f"The file format the provider sends. {DEFAULT_RULE}. Only {formats or 'no backend here'}. {lacking}",
        "output_quality": f"Compression quality, a whole number. {DEFAULT_RULE}. Only {quality or 'no backend here'}. {lacking}",
        "download": "true to let the local backend download its weights (about 16.6 GB) if they are missing; never on a "
        "hosted demo. Default false.",
        "preset": "A style preset by name (built-in or your own, English or Chinese), whose template wraps the prompt "
        "and whose settings replace the ones given; empty for none.",
        "x_type": f"What the grid's columns vary: {axes}. Default seed.",
        "x_values": "The column values, comma-separated: numbers (4, 7.5), ranges (1-4, 10-50 (+10), 4-12 [3]), "
        "sizes, scheduler or backend names, or for prompt_sr the words to replace and their replacements. "
        "For seed a single count (4) means that many seeds. Default 4.",
        "y_type": "What the rows vary, the same kinds as x_type, or none. Default none.",
        "y_values": "The row values, as x_values; empty with y_type none.",
        "confirm": "true to run a grid larger than this server asks to confirm; without it such a grid is refused "
        "with its cell count. Default false.",
    }


def generate_description() -> str:
    return (
        "Generate images with Kolors. Give a prompt and, optionally, a backend and settings; every setting left out "
        "is that backend's own default. Returns the stored images (PNG, JPEG or WebP as the provider sent them, "
        "each carrying its parameters) and a JSON info whose 'request' holds the settings that reproduce them."
    )


def compare_description() -> str:
    return (
        "Run a comparison grid: the same prompt with one or two settings varied (x_type/x_values, y_type/y_values). "
        "Returns the labelled grid PNG, its cells and a JSON description of every cell's settings."
    )


def docstring(summary: str, names: Sequence[str], descriptions: dict[str, str]) -> str:
    """A docstring in the form Gradio reads for its API page and MCP tools (``Args:`` lines)."""
    return summary + "\n\nArgs:\n" + "\n".join(f"    {name}: {descriptions[name]}" for name in names)
