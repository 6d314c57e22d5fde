"""Declarative field checks shared by the emulators, strict the way the providers document them.

A JSON ``null`` counts as a value of the wrong type, never as "absent": backends must leave out what
they do not set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ApiError", "Field", "coerce_form", "validate_fields"]


class ApiError(Exception):
    """An error answer, before an emulator dresses it in its provider's error shape.

    ``code`` is a provider-neutral reason ("invalid_value", "unknown_parameter", "model_not_found",
    "invalid_api_key", "content_policy_violation", ...); each emulator maps it to its own codes.
    """

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


@dataclass(frozen=True)
class Field:
    kind: Literal["int", "number", "str", "bool"]
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    required: bool = False
    nonempty: bool = False

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        noun = {"int": "an integer", "number": "a number", "str": "a string", "bool": "true or false"}[
            self.kind
        ]
        if self.nonempty:
            noun = "a non-empty string"
        if self.low is not None and self.high is not None:
            return f"{noun} between {_num(self.low)} and {_num(self.high)}"
        if self.low is not None:
            return f"{noun} >= {_num(self.low)}"
        return noun

    def accepts(self, value: Any) -> bool:
        if self.kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif self.kind == "str":
            ok = isinstance(value, str) and (not self.nonempty or bool(value.strip()))
        else:
            ok = isinstance(value, bool)
        if not ok:
            return False
        if self.choices is not None and value not in self.choices:
            return False
        if self.low is not None and value < self.low:
            return False
        return self.high is None or value <= self.high


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_fields(body: Mapping[str, Any], schema: Mapping[str, Field]) -> dict[str, Any]:
    """Check ``body`` against ``schema``; return the values with defaults filled in, or raise a 400."""
    for name in body:
        if name not in schema:
            raise ApiError(400, f"Unknown parameter: '{name}'.", code="unknown_parameter", param=name)
    values: dict[str, Any] = {}
    for name, field in schema.items():
        if name not in body:
            if field.required:
                raise ApiError(
                    400, f"Missing required parameter: '{name}'.", code="missing_parameter", param=name
                )
            if field.default is not None:
                values[name] = field.default
            continue
        value = body[name]
        if not field.accepts(value):
            raise ApiError(
                400,
                f"Invalid value for '{name}': expected {field.describe()}, got {_show(value)}.",
                code="invalid_value",
                param=name,
            )
        values[name] = value
    return values


def coerce_form(form: Mapping[str, str], schema: Mapping[str, Field]) -> dict[str, Any]:
    """Turn form strings into the schema's types; a string that does not convert is kept, to fail validation."""
    values: dict[str, Any] = {}
    for name, text in form.items():
        field = schema.get(name)
        values[name] = text if field is None else _convert(text, field.kind)
    return values


def _convert(text: str, kind: str) -> Any:
    try:
        if kind == "int":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "bool":
        return {"true": True, "1": True, "false": False, "0": False}.get(text.strip().lower(), text)
    return text
