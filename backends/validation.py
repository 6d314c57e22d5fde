"""The one place a request is checked against a backend's capabilities, before any network or GPU work.

:func:`validate_request` takes loosely typed values as a form or an API call sends them (strings,
floats for ints, ``-1`` for a random seed, "WxH" sizes) and returns a :class:`GenerationRequest`, or
raises :class:`InvalidRequest` listing every bad field with the value given and what is allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .base import Capabilities, GenerationRequest
from .errors import FieldProblem, InvalidRequest

__all__ = ["MAX_PROMPT_CHARS", "RANDOM_SEED", "parse_size", "validate_request"]

MAX_PROMPT_CHARS = 2000
RANDOM_SEED = -1
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[x×X*]\s*(\d{1,5})\s*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # half of a pair: only a broken client sends one


def parse_size(text: str) -> tuple[int, int] | None:
    """``"1024x768"`` → ``(1024, 768)``; None when it is not of that form."""
    match = _SIZE.match(text) if isinstance(text, str) else None
    return (int(match[1]), int(match[2])) if match else None


def validate_request(values: Mapping[str, Any], capabilities: Capabilities) -> GenerationRequest:
    """Check every field of ``values`` against ``capabilities``; return the request or raise.

    Accepted keys: prompt, negative_prompt, size ("WxH") or width and height, n, seed (None, "" or
    -1 for random), steps, guidance, scheduler, output_format, output_quality. Missing optional
    fields take the backend's defaults. Unknown keys are an error, so a misspelt field is not
    silently ignored.
    """
    checker = _Checker(values, capabilities)
    request = checker.build()
    if checker.problems:
        raise InvalidRequest(checker.problems)
    return request


_KNOWN = {
    "prompt", "negative_prompt", "size", "width", "height", "n", "seed", "steps", "guidance",
    "scheduler", "output_format", "output_quality",
}


class _Checker:
    def __init__(self, values: Mapping[str, Any], caps: Capabilities) -> None:
        self.values = values
        self.caps = caps
        self.problems: list[FieldProblem] = []

    def problem(self, field: str, value: object, allowed: str) -> None:
        self.problems.append(FieldProblem(field, value, allowed))

    def build(self) -> GenerationRequest:
        caps = self.caps
        for key in self.values:
            if key not in _KNOWN:
                self.problem(key, self.values[key], f"unknown field; known fields are {', '.join(sorted(_KNOWN))}")
        prompt = self.text("prompt", required=True)
        negative = self.text("negative_prompt", required=False)
        if negative and not caps.supports_negative_prompt:
            self.problem("negative_prompt", negative, "this backend does not accept a negative prompt; leave it empty")
        width, height = self.size()
        n = self.integer("n", 1, caps.max_images, default=1)
        scheduler = self.choice("scheduler", caps.schedulers)
        steps_default = caps.default_steps_for(scheduler)
        steps = self.integer("steps", caps.steps[0], caps.steps[1], default=steps_default)
        guidance = self.number("guidance", caps.guidance[0], caps.guidance[1], default=caps.guidance[2])
        output_format = self.choice("output_format", caps.output_formats)
        quality = None
        if caps.output_quality is not None:
            low, high, default = caps.output_quality
            quality = self.integer("output_quality", low, high, default=default)
        elif self.present("output_quality"):
            self.problem("output_quality", self.values["output_quality"], "this backend has no quality setting; leave it out")
        seed = self.seed(n)
        return GenerationRequest(
            prompt=prompt, negative_prompt=negative, width=width, height=height, n=n or 1, seed=seed,
            steps=steps or 0, guidance=guidance if guidance is not None else 0.0, scheduler=scheduler,
            output_format=output_format, output_quality=quality,
        )

    def present(self, field: str) -> bool:
        value = self.values.get(field)
        return value is not None and not (isinstance(value, str) and value.strip() == "")

    def text(self, field: str, *, required: bool) -> str:
        value = self.values.get(field)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.problem(field, value, "it must be text")
            return ""
        value = _CONTROL.sub("", value).strip()
        if _SURROGATE.search(value):
            self.problem(field, value, "it contains a broken character (half of a UTF-16 pair); type or paste it again")
            return ""
        if required and not value:
            self.problem(field, value, "type a description of the image you want")
        elif len(value) > MAX_PROMPT_CHARS:
            self.problem(field, f"<{len(value)} characters>", f"at most {MAX_PROMPT_CHARS} characters")
        return value

    def integer(self, field: str, low: int, high: int, *, default: int) -> int | None:
        if not self.present(field):
            return default
        value = _as_int(self.values[field])
        if value is None or not low <= value <= high:
            self.problem(field, self.values[field], f"a whole number from {low} to {high}")
            return None
        return value

    def number(self, field: str, low: float, high: float, *, default: float) -> float | None:
        if not self.present(field):
            return default
        value = _as_float(self.values[field])
        if value is None or not low <= value <= high:
            self.problem(field, self.values[field], f"a number from {low:g} to {high:g}")
            return None
        return value

    def choice(self, field: str, options: tuple[str, ...]) -> str | None:
        if not self.present(field):
            return options[0] if options else None
        value = self.values[field]
        if not options:
            self.problem(field, value, "this backend has no such setting; leave it out")
            return None
        if value not in options:
            self.problem(field, value, f"one of {', '.join(options)}")
            return None
        return value

    def size(self) -> tuple[int, int]:
        caps = self.caps
        if self.present("size"):
            raw = self.values["size"]
            parsed = parse_size(raw)
            if parsed is None:
                self.problem("size", raw, f"width x height, like {caps.default_size[0]}x{caps.default_size[1]}")
                return caps.default_size
            width, height = parsed
        elif self.present("width") or self.present("height"):
            width = _as_int(self.values.get("width", caps.default_size[0]))
            height = _as_int(self.values.get("height", caps.default_size[1]))
            if width is None or height is None:
                self.problem("size", (self.values.get("width"), self.values.get("height")), "whole numbers")
                return caps.default_size
        else:
            return caps.default_size
        if not caps.accepts_size(width, height):
            self.problem("size", f"{width}x{height}", _allowed_sizes(caps))
        return width, height

    def seed(self, n: int | None) -> int | None:
        if not self.present("seed"):
            return None
        raw = self.values["seed"]
        value = _as_int(raw)
        if value == RANDOM_SEED:
            return None
        top = self.caps.seed_max - max((n or 1) - 1, 0)
        if value is None or not 0 <= value <= top:
            extra = f" (image i of a batch uses seed+i, so with n={n} the largest start is {top})" if (n or 1) > 1 else ""
            self.problem("seed", raw, f"-1 for random, or a whole number from 0 to {top}{extra}")
            return None
        return value


def _allowed_sizes(caps: Capabilities) -> str:
    if caps.sizes is not None:
        return "one of " + ", ".join(f"{w}x{h}" for w, h in caps.sizes)
    low, high = caps.size_range  # type: ignore[misc]
    return f"width and height from {low} to {high}, each a multiple of {caps.size_multiple}"


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d{1,20}", text):
            return int(text)
        number = _as_float(text)
        return int(number) if number is not None and number.is_integer() else None
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None
