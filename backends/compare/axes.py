"""Grid axes: which setting an axis varies, and the value lists a person types for it.

Syntax, by kind (every list is comma-separated; spaces around items are ignored):

============  ===================================================================================
seed          ``4`` or ``[4]``: 4 seeds counted up from the base seed (the form's seed, or one
              random seed shared by the whole grid when it is -1). Otherwise a list of seeds,
              where each item is a seed or a range: ``1, 7, 42``, ``100-103``,
              ``100-200 (+25)``, ``0-1000 [5]``. A lone number is always a count; a list of one
              seed is written with a comma: ``1234,``.
guidance      numbers, each item a number or a range: ``4.5, 6, 7.5``; ``3-7`` (step 1);
              ``3-7 (+0.5)`` (stepped); ``4-8 [3]`` (3 values, evenly spaced: 4, 6, 8).
steps         whole numbers, same items as guidance: ``20, 30, 50``; ``10-50 (+10)``;
              ``10-50 [3]`` (counted ranges are rounded to whole numbers).
scheduler     names: ``Euler, Euler a, DPM++ 2M``; A1111 and diffusers spellings both work.
size          ``WIDTHxHEIGHT`` items: ``1024x1024, 768x1024``.
backend       backend ids (or labels): ``dieyuyun, siliconflow``.
prompt_sr     prompt search/replace: ``cat, dog, fox``. The first value is searched for in the
              prompt (and negative prompt) and each value replaces it, the first giving the
              prompt as typed.
============  ===================================================================================

Ranges: ``a-b`` counts from a to b in steps of 1 (down when b < a); ``a-b (+s)`` steps by s and
stops at or before b (the sign is optional, and must point from a to b when given);
``a-b [n]`` gives n values evenly spaced from a to b, both ends included. Text items (scheduler,
size, backend, prompt_sr) follow CSV rules: quote an item that holds a comma, ``"red, round", blue``.
Empty items are skipped; a value given twice is an error, as is an axis with more than
:data:`MAX_AXIS_VALUES` values.

Every mistake raises :class:`AxisSyntaxError` (an :class:`~backends.errors.InvalidRequest`) whose one
problem names the axis field (``x_axis``/``y_axis``), quotes the text given, says what is wrong
with which item, and repeats the syntax of that kind.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from ..base import Capabilities
from ..errors import FieldProblem, InvalidRequest
from ..messages import Message
from ..seeds import seed_run
from ..validation import parse_size

__all__ = [
    "AXIS_KINDS",
    "MAX_AXIS_VALUES",
    "Axis",
    "AxisKind",
    "AxisKindInfo",
    "AxisSyntaxError",
    "AxisValue",
    "axis_choices",
    "format_number",
    "parse_axes",
    "parse_axis",
    "parse_axis_kind",
    "suggested_values",
]

MAX_AXIS_VALUES = 100
"""The most values one axis may have (the grid as a whole is bounded in plan.py)."""

AxisValue = int | float | str


class AxisKind(str, Enum):
    """What an axis varies. The value is the stable name used by the API and in grid metadata."""

    SEED = "seed"
    GUIDANCE = "guidance"
    STEPS = "steps"
    SCHEDULER = "scheduler"
    SIZE = "size"
    BACKEND = "backend"
    PROMPT_SR = "prompt_sr"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class AxisKindInfo:
    """How an axis kind is shown and typed. ``request_field`` is the request field it sets (None for
    backend, which picks the backend instead)."""

    kind: AxisKind
    title: str
    request_field: str | None
    syntax: str
    example: str

    @property
    def title_message(self) -> Message:
        """:attr:`title` as a message (``axis_title_<kind>``), to say in another language."""
        return Message(f"axis_title_{self.kind.value}")

    @property
    def syntax_message(self) -> Message:
        """:attr:`syntax` as a message (``axis_syntax_<kind>``)."""
        return Message(f"axis_syntax_{self.kind.value}")


def _kind(kind: AxisKind, request_field: str | None, example: str) -> AxisKindInfo:
    """An axis kind whose title and syntax are the English of its messages."""
    title, syntax = Message(f"axis_title_{kind.value}"), Message(f"axis_syntax_{kind.value}")
    return AxisKindInfo(kind, str(title), request_field, str(syntax), example)


AXIS_KINDS: dict[AxisKind, AxisKindInfo] = {
    info.kind: info
    for info in (
        _kind(AxisKind.SEED, "seed", "4"),
        _kind(AxisKind.GUIDANCE, "guidance", "4.5, 6, 7.5"),
        _kind(AxisKind.STEPS, "steps", "20, 30, 50"),
        _kind(AxisKind.SCHEDULER, "scheduler", "Euler, Euler a"),
        _kind(AxisKind.SIZE, "size", "1024x1024, 768x1024"),
        _kind(AxisKind.BACKEND, None, "dieyuyun, siliconflow"),
        _kind(AxisKind.PROMPT_SR, "prompt", "cat, dog, fox"),
    )
}

_ALIASES = {
    "seeds": AxisKind.SEED,
    "cfg": AxisKind.GUIDANCE,
    "cfg scale": AxisKind.GUIDANCE,
    "guidance scale": AxisKind.GUIDANCE,
    "step": AxisKind.STEPS,
    "schedulers": AxisKind.SCHEDULER,
    "sampler": AxisKind.SCHEDULER,
    "samplers": AxisKind.SCHEDULER,
    "sizes": AxisKind.SIZE,
    "backends": AxisKind.BACKEND,
    "prompt s/r": AxisKind.PROMPT_SR,
    "prompt sr": AxisKind.PROMPT_SR,
    "prompt": AxisKind.PROMPT_SR,
    "prompt search/replace": AxisKind.PROMPT_SR,
}
_NO_AXIS = {"", "none", "-", "nothing"}


def axis_choices() -> list[tuple[str, str]]:
    """(title, kind value) pairs for a dropdown, in the order above."""
    return [(info.title, info.kind.value) for info in AXIS_KINDS.values()]


def parse_axis_kind(name: AxisKind | str | None, *, field: str = "x_axis", optional: bool = False) -> AxisKind | None:
    """``"guidance"``, ``"Guidance"``, ``"cfg"``, ``"Prompt S/R"`` … → the kind. None/"" /"none" give
    None when ``optional`` (an absent Y axis), else an :class:`InvalidRequest` naming the kinds."""
    if isinstance(name, AxisKind):
        return name
    key = name.strip().casefold() if isinstance(name, str) else ""
    if name is None or key in _NO_AXIS:
        if optional:
            return None
    else:
        for kind, info in AXIS_KINDS.items():
            if key in (kind.value, info.title.casefold()):
                return kind
        if key in _ALIASES:
            return _ALIASES[key]
    kinds = ", ".join(kind.value for kind in AXIS_KINDS)
    raise InvalidRequest([FieldProblem(field, name, Message("allowed_axis_kind", kinds=kinds))])


@dataclass(frozen=True)
class Axis:
    """One axis of a grid: what it varies and its values, in order.

    ``values`` are ints (seed, steps), floats (guidance) or strings (scheduler and backend names,
    ``WxH`` sizes, prompt replacements); ``labels`` show them. ``text`` is what was typed. For a
    seed count (``"4"``), ``seed_count`` is set and ``values`` stay empty until
    :meth:`with_seeds_from` fills them in (plan.py does, with the grid's base seed).
    """

    kind: AxisKind
    text: str
    values: tuple[AxisValue, ...]
    labels: tuple[str, ...]
    field: str = "x_axis"
    seed_count: int | None = None

    @property
    def info(self) -> AxisKindInfo:
        return AXIS_KINDS[self.kind]

    @property
    def title(self) -> str:
        return self.info.title

    @property
    def title_message(self) -> Message:
        return self.info.title_message

    @property
    def resolved(self) -> bool:
        return self.seed_count is None or len(self.values) == self.seed_count

    def __len__(self) -> int:
        return self.seed_count if self.seed_count is not None else len(self.values)

    @property
    def headings(self) -> tuple[str, ...]:
        """``"Guidance: 4.5"``, … one per value: the column or row headings of a grid."""
        return tuple(f"{self.title}: {label}" for label in self.labels)

    @property
    def search(self) -> str | None:
        """For prompt S/R, the text searched for in the prompt (the first value)."""
        return str(self.values[0]) if self.kind is AxisKind.PROMPT_SR and self.values else None

    def with_seeds_from(self, base: int) -> Axis:
        """A seed-count axis with its values: base, base+1, …"""
        if self.seed_count is None:
            return self
        seeds = tuple(seed_run(base, self.seed_count))
        return replace(self, values=seeds, labels=tuple(str(s) for s in seeds))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "title": self.title,
            "text": self.text,
            "values": list(self.values),
            "labels": list(self.labels),
            "seed_count": self.seed_count,
        }


class AxisSyntaxError(InvalidRequest):
    """An axis's text does not follow its kind's syntax. ``field`` is ``x_axis``/``y_axis``,
    ``text`` what was typed, ``reason`` what is wrong (naming the item), in English."""

    def __init__(self, *, field: str, kind: AxisKind, text: str, reason: str | Message) -> None:
        self.field = field
        self.kind = kind
        self.text = text
        self.reason = str(reason)
        info = AXIS_KINDS[kind]
        allowed = Message("axis_syntax_problem", axis=info.title_message, reason=reason, syntax=info.syntax_message)
        super().__init__([FieldProblem(field, text, allowed)])


def parse_axes(
    x_kind: AxisKind | str,
    x_text: str,
    y_kind: AxisKind | str | None = None,
    y_text: str | None = None,
) -> tuple[Axis, Axis | None]:
    """Both axes of a grid, with every problem of either reported at once. An empty ``y_kind``
    (None, "", "none") means no Y axis; the two axes must vary different things."""
    problems: list[FieldProblem] = []
    axes: list[Axis | None] = []
    for field, kind_name, text, optional in (("x_axis", x_kind, x_text, False), ("y_axis", y_kind, y_text, True)):
        try:
            kind = parse_axis_kind(kind_name, field=field, optional=optional)
            axes.append(parse_axis(kind, text, field=field) if kind is not None else None)
        except InvalidRequest as exc:
            problems.extend(exc.problems)
            axes.append(None)
    x, y = axes
    if x is not None and y is not None and x.kind is y.kind:
        problems.append(FieldProblem("y_axis", y.kind.value, Message("axis_same_kind", axis=x.title_message)))
    if problems:
        raise InvalidRequest(problems)
    assert x is not None
    return x, y


def parse_axis(kind: AxisKind | str, text: str, *, field: str = "x_axis") -> Axis:
    """Parse what was typed for one axis; raise :class:`AxisSyntaxError` when it breaks the syntax."""
    kind = parse_axis_kind(kind, field=field)  # type: ignore[assignment]
    assert kind is not None
    if not isinstance(text, str):
        text = "" if text is None else str(text)

    def fail(reason: Message) -> AxisSyntaxError:
        return AxisSyntaxError(field=field, kind=kind, text=text, reason=reason)

    if not text.strip():
        raise fail(Message("axis_no_values"))
    if kind is AxisKind.SEED:
        count = _SEED_COUNT.fullmatch(text)
        if count:
            n = int(count["n"]) if len(count["n"]) <= 6 else None  # int() refuses 4,300+ digits
            if n is None:
                raise fail(Message("axis_seed_count", max=MAX_AXIS_VALUES))
            if not 1 <= n <= MAX_AXIS_VALUES:
                raise fail(Message("axis_seed_count_or_list", max=MAX_AXIS_VALUES, n=n))
            return Axis(kind, text, (), (), field, seed_count=n)
        values: list[AxisValue] = list(_numbers(text, integer=True, fail=fail, what=Message("axis_what_seed")))
    elif kind is AxisKind.GUIDANCE:
        values = list(_numbers(text, integer=False, fail=fail, what=Message("axis_what_number")))
    elif kind is AxisKind.STEPS:
        values = list(_numbers(text, integer=True, fail=fail, what=Message("axis_what_whole_number")))
    else:
        items = _text_items(text, fail)
        if kind is AxisKind.SIZE:
            values = []
            for item in items:
                size = parse_size(item)
                if size is None:
                    raise fail(Message("axis_not_a_size", item=_shown(item)))
                values.append(f"{size[0]}x{size[1]}")
        else:
            values = list(items)
    _check_count_and_duplicates(values, fail, casefold=kind in (AxisKind.SCHEDULER, AxisKind.BACKEND))
    labels = tuple(format_number(v) if isinstance(v, (int, float)) else str(v) for v in values)
    return Axis(kind, text, tuple(values), labels, field)


# -- numbers ----------------------------------------------------------------------------------

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
_ITEM = re.compile(
    rf"""\s*(?P<a>{_NUM})\s*
        (?:-\s*(?P<b>{_NUM})\s*
            (?:\(\s*(?P<sign>[+-]?)\s*(?P<step>{_NUM})\s*\)
              |\[\s*(?P<count>\d+)\s*\])?
        )?\s*""",
    re.VERBOSE,
)
_SEED_COUNT = re.compile(r"\s*(?P<open>\[)?\s*(?P<n>\d+)\s*(?(open)\])\s*")


_MAX_NUMBER_ITEM = 60  # "0.123456-0.654321 [10]" is 22; longer is a paste gone wrong, and int() balks


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short: an axis may be pasted 100,000 characters long."""
    quoted = repr(text)
    return quoted if len(quoted) <= 40 else quoted[:36] + "...'"


def format_number(value: float) -> str:
    """4 → "4", 4.5 → "4.5", 0.30000000000000004 → "0.3" (at most 6 decimals)."""
    if isinstance(value, int):
        return str(value)
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _numbers(text: str, *, integer: bool, fail, what: Message) -> Iterable[float | int]:
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        if len(item) > _MAX_NUMBER_ITEM:
            raise fail(Message("axis_item_too_long", item=_shown(item), what=what))
        match = _ITEM.fullmatch(item)
        if match is None:
            raise fail(_explain_bad_number(item, what))
        a = _to_number(match["a"], integer, fail, item)
        if match["b"] is None:
            yield a
            continue
        b = _to_number(match["b"], integer, fail, item)
        if match["count"] is not None:
            yield from _counted(a, b, int(match["count"]), integer, fail, item)
        else:
            step = _to_number(match["step"], integer, fail, item) if match["step"] is not None else 1
            yield from _stepped(a, b, step, match["sign"] or "", integer, fail, item)


def _explain_bad_number(item: str, what: Message) -> Message:
    if item.startswith("-"):
        return Message("axis_negative", item=repr(item))
    if re.fullmatch(rf"{_NUM}\s*-\s*", item):
        return Message("axis_range_without_end", item=repr(item))
    if re.search(r"\d\s+\d", item):
        return Message("axis_two_values", item=repr(item))
    if "(" in item or "[" in item:
        return Message("axis_bad_range", item=repr(item))
    return Message("axis_not_a_value", item=repr(item), what=what)


def _to_number(text: str, integer: bool, fail, item: str) -> float | int:
    number = float(text)
    if not math.isfinite(number):
        raise fail(Message("axis_not_finite", item=repr(item)))
    if integer:
        if not number.is_integer():
            if text == item:
                raise fail(Message("axis_not_whole", text=repr(text)))
            raise fail(Message("axis_not_whole_in", text=repr(text), item=repr(item)))
        return int(text) if text.isdigit() else int(number)
    return number


def _counted(a: float, b: float, count: int, integer: bool, fail, item: str) -> list[float | int]:
    if count < 2:
        raise fail(Message("axis_counted_too_few", item=repr(item), count=count))
    if count > MAX_AXIS_VALUES:
        raise fail(Message("axis_counted_too_many", item=repr(item), count=count, max=MAX_AXIS_VALUES))
    out: list[float | int] = []
    for i in range(count):
        value = a + (b - a) * i / (count - 1)
        out.append(round(value) if integer else round(value, 6))
    if integer and len(set(out)) < len(out):
        raise fail(Message("axis_counted_collapses", item=repr(item), distinct=len(set(out))))
    return out


def _stepped(a: float, b: float, step: float, sign: str, integer: bool, fail, item: str) -> list[float | int]:
    if step == 0:
        raise fail(Message("axis_zero_step", item=repr(item)))
    direction = 1 if b >= a else -1
    if sign and (1 if sign == "+" else -1) != direction and a != b:
        raise fail(Message("axis_step_away", item=repr(item), step=f"{sign}{format_number(step)}", end=format_number(b)))
    count = math.floor(abs(b - a) / step + 1e-9) + 1
    if count > MAX_AXIS_VALUES:
        raise fail(Message("axis_stepped_too_many", item=repr(item), count=count, max=MAX_AXIS_VALUES))
    values = [a + direction * step * i for i in range(count)]
    return [int(v) for v in values] if integer else [round(v, 6) for v in values]


# -- text items ---------------------------------------------------------------------------------


def _text_items(text: str, fail) -> list[str]:
    try:
        rows = list(csv.reader(io.StringIO(text), skipinitialspace=True, strict=True))
    except csv.Error as exc:
        raise fail(Message("axis_unpaired_quotes", error=str(exc))) from None
    items = [item.strip() for row in rows for item in row]
    return [item for item in items if item]


def _check_count_and_duplicates(values: list[AxisValue], fail, *, casefold: bool) -> None:
    if not values:
        raise fail(Message("axis_no_values"))
    if len(values) > MAX_AXIS_VALUES:
        raise fail(Message("axis_too_many_values", count=len(values), max=MAX_AXIS_VALUES))
    seen: set[Any] = set()
    for value in values:
        key = value.casefold() if casefold and isinstance(value, str) else value
        if key in seen:
            shown = format_number(value) if isinstance(value, (int, float)) else value
            raise fail(Message("axis_given_twice", value=_shown(shown)))
        seen.add(key)


def suggested_values(kind: AxisKind | str, caps: Capabilities, backend_ids: list[str]) -> str:
    """The valid values of an axis, as its text box takes them, for the base backend's capabilities
    (A1111's X/Y/Z plot "fill"): every scheduler, size or available backend; for numbers, five values
    spread around the backend's default within its limits; for seeds, a count of four. "" for prompt
    search/replace, which has no list of its own."""
    kind = parse_axis_kind(kind)
    if kind is AxisKind.SEED:
        return "4"
    if kind is AxisKind.SCHEDULER:
        from ..schedulers import scheduler_label

        return ", ".join(scheduler_label(name) for name in caps.schedulers)
    if kind is AxisKind.SIZE:
        if caps.sizes is not None:
            return ", ".join(f"{w}x{h}" for w, h in caps.sizes)
        from ..validation import parse_size as _parse

        presets = ((1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216), (1344, 768), (768, 1344))
        return ", ".join(f"{w}x{h}" for w, h in presets if caps.accepts_size(w, h) and _parse(f"{w}x{h}"))
    if kind is AxisKind.BACKEND:
        return ", ".join(backend_ids)
    if kind is AxisKind.GUIDANCE:
        low, high, default = caps.guidance
        return ", ".join(format_number(v) for v in _spread(low, high, default, whole=False))
    if kind is AxisKind.STEPS:
        low, high, default = caps.steps
        return ", ".join(str(int(v)) for v in _spread(low, high, default, whole=True))
    return ""


def _spread(low: float, high: float, default: float, *, whole: bool) -> list[float]:
    """Five values from half the default to twice it (or to the limits), rounded as the field takes them."""
    start, stop = max(low, default / 2), min(high, default * 2)
    values = [start + (stop - start) * i / 4 for i in range(5)]
    # Steps to a multiple of 5 (as people count them) when the default allows, guidance to a half.
    rounded = [float(round(v / 5) * 5 if default >= 10 else round(v)) if whole else round(v * 2) / 2 for v in values]
    return sorted(dict.fromkeys(min(max(v, low), high) for v in rounded))
