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
from .messages import Message
from .schedulers import match_scheduler, scheduler_label
from .seeds import highest_seed

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


def validate_request(values: Mapping[str, Any], capabilities: Capabilities, *, backend: str = "") -> GenerationRequest:
    """Check every field of ``values`` against ``capabilities``; return the request or raise.

    Accepted keys: prompt, negative_prompt, size ("WxH") or width and height, n, seed (None, "" or
    -1 for random), steps, guidance, scheduler, output_format, output_quality. Missing optional
    fields (None or empty) take the backend's defaults. Unknown keys are an error, so a misspelt field is
    not silently ignored, and so is a setting the backend lacks (``backend``, its label, names it). A
    scheduler may be given in any spelling of :mod:`backends.schedulers` ("Euler a" or
    "EulerAncestralDiscreteScheduler"); the request carries the backend's own.
    """
    checker = _Checker(values, capabilities, backend=backend)
    request = checker.build()
    if checker.problems:
        raise InvalidRequest(checker.problems)
    return request


_KNOWN = {
    "prompt", "negative_prompt", "size", "width", "height", "n", "seed", "steps", "guidance",
    "scheduler", "output_format", "output_quality",
}


class _Checker:
    def __init__(self, values: Mapping[str, Any], caps: Capabilities, *, backend: str = "") -> None:
        self.values = values
        self.caps = caps
        self.backend = backend
        self.problems: list[FieldProblem] = []

    def problem(self, field: str, value: object, allowed: Message) -> None:
        self.problems.append(FieldProblem(field, value, allowed))

    def build(self) -> GenerationRequest:
        caps = self.caps
        for key in self.values:
            if key not in _KNOWN:
                self.problem(key, self.values[key], Message("allowed_unknown_field", known=", ".join(sorted(_KNOWN))))
        prompt = self.text("prompt", required=True)
        negative = self.text("negative_prompt", required=False)
        if negative and not caps.supports_negative_prompt:
            self.problem("negative_prompt", negative, Message("allowed_no_negative_prompt"))
        width, height = self.size()
        n = self.integer("n", 1, caps.max_images, default=1)
        scheduler = self.scheduler()
        steps_default = caps.default_steps_for(scheduler)
        steps = self.integer("steps", caps.steps[0], caps.steps[1], default=steps_default)
        guidance = self.number("guidance", caps.guidance[0], caps.guidance[1], default=caps.guidance[2])
        output_format = self.choice("output_format", caps.output_formats)
        quality = None
        if caps.output_quality is not None:
            low, high, default = caps.output_quality
            quality = self.integer("output_quality", low, high, default=default)
        elif self.present("output_quality"):
            self.problem("output_quality", self.values["output_quality"], self.lacking("allowed_no_quality"))
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
            self.problem(field, value, Message("allowed_text"))
            return ""
        value = _CONTROL.sub("", value).strip()
        if _SURROGATE.search(value):
            self.problem(field, value, Message("allowed_broken_character"))
            return ""
        if required and not value:
            self.problem(field, value, Message("allowed_describe_image"))
        elif len(value) > MAX_PROMPT_CHARS:
            self.problem(field, Message("value_characters", count=len(value)), Message("allowed_max_characters", limit=MAX_PROMPT_CHARS))
        return value

    def integer(self, field: str, low: int, high: int, *, default: int) -> int | None:
        if not self.present(field):
            return default
        value = _as_int(self.values[field])
        if value is None or not low <= value <= high:
            self.problem(field, self.values[field], Message("allowed_whole_number_range", low=low, high=high))
            return None
        return value

    def number(self, field: str, low: float, high: float, *, default: float) -> float | None:
        if not self.present(field):
            return default
        value = _as_float(self.values[field])
        if value is None or not low <= value <= high:
            self.problem(field, self.values[field], Message("allowed_number_range", low=low, high=high))
            return None
        return value

    def choice(self, field: str, options: tuple[str, ...]) -> str | None:
        if not self.present(field):
            return options[0] if options else None
        value = self.values[field]
        if not options:
            self.problem(field, value, self.lacking("allowed_no_such_setting"))
            return None
        if value not in options:
            self.problem(field, value, Message("allowed_one_of", options=", ".join(options)))
            return None
        return value

    def scheduler(self) -> str | None:
        options = self.caps.schedulers
        if not self.present("scheduler") or not options:
            return self.choice("scheduler", options)
        value = self.values["scheduler"]
        matched = match_scheduler(value, options) if isinstance(value, str) else None
        if matched is None:
            spelled = ", ".join(f"{scheduler_label(o)} ({o})" if scheduler_label(o) != o else o for o in options)
            self.problem("scheduler", value, Message("allowed_one_of", options=spelled))
        return matched

    def lacking(self, generic: str) -> Message:
        """What to say of a setting this backend does not have: by name, when the backend is known."""
        return Message("allowed_backend_lacks", backend=self.backend) if self.backend else Message(generic)

    def size(self) -> tuple[int, int]:
        caps = self.caps
        if self.present("size"):
            raw = self.values["size"]
            parsed = parse_size(raw)
            if parsed is None:
                self.problem("size", raw, Message("allowed_size_format", example=f"{caps.default_size[0]}x{caps.default_size[1]}"))
                return caps.default_size
            width, height = parsed
        elif self.present("width") or self.present("height"):
            width = _as_int(self.values.get("width", caps.default_size[0]))
            height = _as_int(self.values.get("height", caps.default_size[1]))
            if width is None or height is None:
                self.problem("size", (self.values.get("width"), self.values.get("height")), Message("allowed_whole_numbers"))
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
        top = highest_seed(self.caps.seed_max, n or 1)
        if value is None or not 0 <= value <= top:
            in_batch = (n or 1) > 1
            self.problem("seed", raw, Message("allowed_seed_in_batch", top=top, n=n) if in_batch else Message("allowed_seed", top=top))
            return None
        return value


def _allowed_sizes(caps: Capabilities) -> Message:
    if caps.sizes is not None:
        return Message("allowed_one_of", options=", ".join(f"{w}x{h}" for w, h in caps.sizes))
    low, high = caps.size_range  # type: ignore[misc]
    return Message("allowed_size_range", low=low, high=high, multiple=caps.size_multiple)


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
