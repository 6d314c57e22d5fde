"""AUTOMATIC1111's ``parameters`` text: written into every saved image, parsed from dropped-in files.

The text A1111 writes, which other tools (A1111, ComfyUI loaders, Civitai, image viewers) show::

    a cat on a windowsill
    Negative prompt: blurry
    Steps: 20, Sampler: Euler, CFG scale: 7.5, Seed: 123, Size: 1024x1024, Model: Kwai-Kolors/Kolors
"""

from __future__ import annotations

import json
import re

from ..base import GenerationRequest
from ..schedulers import a1111_sampler, sampler_for
from .parameters import RestoredParameters, _float, _int

__all__ = ["MAX_PARAMETERS_CHARS", "a1111_parameters", "a1111_quote", "parse_a1111_parameters"]


def a1111_quote(value: str) -> str:
    # A1111's own rule (modules/infotext_utils.quote): quote values that would break the line.
    if "," not in value and "\n" not in value and ":" not in value:
        return value
    return json.dumps(value, ensure_ascii=False)


def a1111_parameters(
    request: GenerationRequest,
    *,
    seed: int,
    model: str,
    backend_label: str = "",
    sampler: str | None = None,
) -> str:
    """The A1111 ``parameters`` text for one image made with ``seed``.

    ``sampler`` defaults to ``request.scheduler``; either is mapped to the A1111 name where one exists
    (``EulerAncestralDiscreteScheduler`` → ``Euler a``), unknown names pass through, no scheduler is
    ``Euler``. The Negative prompt line is left out when there is none.
    """
    lines = [request.prompt.strip()]
    if request.negative_prompt.strip():
        lines.append(f"Negative prompt: {request.negative_prompt.strip()}")
    settings = [
        ("Steps", str(request.steps)),
        ("Sampler", a1111_sampler(sampler if sampler is not None else request.scheduler)),
        ("CFG scale", f"{request.guidance:g}"),
        ("Seed", str(seed)),
        ("Size", f"{request.width}x{request.height}"),
        ("Model", model),
    ]
    if backend_label:
        settings.append(("Backend", backend_label))
    lines.append(", ".join(f"{key}: {a1111_quote(value)}" for key, value in settings if value != ""))
    return "\n".join(lines)


# A1111's own pattern (modules/infotext_utils.re_param_code): key: value, where value is either a
# JSON-style quoted string (which may hold commas) or runs to the next comma. Two changes make its
# time linear in the line (a dropped file's text is anyone's): no leading \s* (the key is stripped
# anyway) and keys of at most 128 characters. A1111's own took 22 s for a 30,000-character line.
_PARAM = re.compile(r'(\w[\w \-/]{1,127}):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
MAX_PARAMETERS_CHARS = 65_536  # far beyond any real infotext (prompts are capped at 2,000 characters)
_SIZE = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*$")
_KNOWN_KEYS = {"steps", "sampler", "cfg scale", "seed", "size"}


def _settings(line: str) -> list[tuple[str, str]]:
    pairs = []
    for key, value in _PARAM.findall(line):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError:
                value = value[1:-1]
        pairs.append((key.strip(), str(value)))
    return pairs


def parse_a1111_parameters(text: str) -> RestoredParameters | None:
    """Parse A1111 ``parameters`` text; None when it has no settings line with a known key, or when it
    is longer than :data:`MAX_PARAMETERS_CHARS`."""
    if len(text) > MAX_PARAMETERS_CHARS:
        return None
    lines = text.strip().replace("\r\n", "\n").split("\n")
    pairs = _settings(lines[-1]) if lines else []
    if not any(key.lower() in _KNOWN_KEYS for key, _ in pairs):
        return None
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines[:-1]:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative_lines if in_negative else prompt_lines).append(line)

    settings: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for key, value in pairs:
        if key.lower() in _KNOWN_KEYS | {"model", "schedule type", "backend"} and key.lower() not in settings:
            settings[key.lower()] = value
        else:
            extra.append((key, value))

    width = height = None
    size = _SIZE.match(settings.get("size", ""))
    if size:
        width, height = int(size.group(1)), int(size.group(2))
    sampler = settings.get("sampler") or None
    scheduler = None
    if sampler:
        schedule_type = settings.get("schedule type", "")
        combined = (
            f"{sampler} {schedule_type}"
            if schedule_type and schedule_type.lower() != "automatic"
            else sampler
        )
        for candidate in (combined, sampler):
            known = sampler_for(candidate)
            if known:
                scheduler = known.name
                break
    if "schedule type" in settings:
        extra.insert(0, ("Schedule type", settings["schedule type"]))
    return RestoredParameters(
        source="a1111",
        prompt="\n".join(prompt_lines).strip(),
        negative_prompt="\n".join(negative_lines).strip(),
        steps=_int(settings.get("steps")),
        sampler=sampler,
        scheduler=scheduler,
        guidance=_float(settings.get("cfg scale")),
        seed=_int(settings.get("seed")),
        width=width,
        height=height,
        model=settings.get("model") or None,
        backend_label=settings.get("backend") or None,
        extra=tuple(extra),
    )
