"""A grid's plan: every cell's backend and request, checked before anything runs, with its cost and time.

:func:`plan_grid` turns the form (one prompt, the shared settings, a base backend) and one or two
:class:`~backends.compare.axes.Axis` into a :class:`GridPlan`:

1. The backends: the axis's values when backend is an axis, else the form's backend; each must be
   available (with the visitor's key where one is given), else :class:`BackendUnavailable`.
2. The seed: a random form seed (``-1``/empty) becomes one base seed drawn within the smallest
   ``seed_max`` of those backends, shared by every cell, so only the axes differ between cells. A
   seed count (``"4"``) counts up from the base seed.
3. Every cell's values (n = 1, one image a cell) are validated against its backend's capabilities
   with :func:`backends.validation.validate_request`. Problems caused by an axis value are reported
   on that axis (``x_axis``/``y_axis``); the others on the form's field, naming the backend when the
   grid has several. All of them come back in one :class:`InvalidRequest`. The cells' pixels together
   (width × height, summed) must fit ``max_pixels`` (``PLAYGROUND_GRID_MAX_PIXELS``), else ``grid``'s problem.
4. The estimate: the price (``price_per_image`` where a backend has one, summed per currency) and the
   time (per backend: its cells in waves of ``max_concurrency`` times a typical latency; backends run
   side by side, so the slowest one sets the time).

Cells are numbered row by row: ``row`` follows the Y axis (a single row without one), ``col`` the X axis.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..base import Backend, GenerationRequest, Price
from ..errors import BackendUnavailable, FieldProblem, InvalidRequest
from ..messages import Message, keyed
from ..schedulers import match_scheduler
from ..seeds import draw_seed
from ..validation import RANDOM_SEED, validate_request
from .axes import Axis, AxisKind, _shown, format_number, parse_axes

if TYPE_CHECKING:
    from ..playground import Playground

__all__ = [
    "DEFAULT_CONFIRM_ABOVE",
    "DEFAULT_LATENCY_S",
    "MAX_GRID_CELLS",
    "GridCell",
    "GridPlan",
    "plan_compare",
    "plan_grid",
]

MAX_GRID_CELLS = 100
"""The most cells a grid may have, whatever the confirmation threshold."""

DEFAULT_CONFIRM_ABOVE = 16
"""Grids with more cells than this ask for confirmation first (the UI's default; configurable)."""

DEFAULT_LATENCY_S = 20.0
"""A single-image time for a backend that declares none (``Capabilities.typical_latency_s``) and has no
recent runs."""

_DROPPED = ("n", "backend", "backend_id")


@dataclass(frozen=True)
class GridCell:
    """One cell: where it sits, which backend makes it, and the form values it is generated from.

    ``values`` are plain form values (what :meth:`Playground.generate` takes; n = 1, an explicit
    seed); ``request`` is what they validate to. ``x_label``/``y_label`` are the axis values' labels.
    """

    index: int
    row: int
    col: int
    backend_id: str
    backend_label: str
    values: dict[str, Any] = field(compare=False)
    request: GenerationRequest
    x_label: str
    y_label: str | None = None

    @property
    def seed(self) -> int:
        return self.request.seed  # type: ignore[return-value]  # always set by plan_grid

    @property
    def caption(self) -> str:
        return f"seed {self.seed}"

    @property
    def title(self) -> str:
        """``"Guidance 4.5 · Seed 2"``-style text naming the cell by its axis values."""
        return " · ".join(label for label in (self.x_label, self.y_label) if label)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "row": self.row,
            "col": self.col,
            "backend": self.backend_id,
            "backend_label": self.backend_label,
            "seed": self.seed,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "request": self.request.to_dict(),
        }


@dataclass(frozen=True)
class GridPlan:
    """Everything about a grid that is known before it runs.

    ``cost`` holds one :class:`Price` per currency for the priced cells; ``unpriced_cells`` counts
    the cells whose backend has no known price. ``estimated_s`` is a rough wall time.
    ``base_seed`` is the seed every cell shares (or the first of a seed count), None when the seed
    axis lists its seeds; ``seed_was_random`` says whether it was drawn.
    """

    prompt: str
    negative_prompt: str
    base_backend_id: str
    x: Axis
    y: Axis | None
    cells: tuple[GridCell, ...]
    backend_ids: tuple[str, ...]
    base_seed: int | None
    seed_was_random: bool
    cost: tuple[Price, ...]
    unpriced_cells: int
    estimated_s: float
    concurrency: dict[str, int] = field(compare=False, default_factory=dict)

    @property
    def cols(self) -> int:
        return len(self.x)

    @property
    def rows(self) -> int:
        return len(self.y) if self.y is not None else 1

    def __len__(self) -> int:
        return len(self.cells)

    def cell_at(self, row: int, col: int) -> GridCell:
        return self.cells[row * self.cols + col]

    def needs_confirmation(self, above: int = DEFAULT_CONFIRM_ABOVE) -> bool:
        """Whether the grid has more cells than ``above`` and should be confirmed before it runs."""
        return len(self.cells) > above

    @property
    def cost_text(self) -> str:
        """``"¥0.16"``, ``"¥0.08 + 8 cells of unknown price"``, ``"unknown"``, or ``"free"``."""
        parts = [str(price) for price in self.cost]
        if self.unpriced_cells:
            if not parts:
                return "unknown"
            parts.append(f"{self.unpriced_cells} cell{'s' if self.unpriced_cells != 1 else ''} of unknown price")
        return " + ".join(parts) if parts else "free"

    @property
    def time_text(self) -> str:
        return _duration(self.estimated_s)

    @property
    def summary(self) -> str:
        """``"16 cells (4 × 4) · cost ¥0.16 · about 20 s"``: what to show before running."""
        shape = f"{self.cols} × {self.rows}" if self.y is not None else f"{self.cols} × 1"
        cells = len(self.cells)
        return f"{cells} cell{'s' if cells != 1 else ''} ({shape}) · cost {self.cost_text} · about {self.time_text}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "backend": self.base_backend_id,
            "backends": list(self.backend_ids),
            "x": self.x.to_dict(),
            "y": self.y.to_dict() if self.y is not None else None,
            "cols": self.cols,
            "rows": self.rows,
            "base_seed": self.base_seed,
            "seed_was_random": self.seed_was_random,
            "cost": [{"amount": p.amount, "currency": p.currency} for p in self.cost],
            "unpriced_cells": self.unpriced_cells,
            "estimated_s": round(self.estimated_s, 1),
            "summary": self.summary,
            "cells": [cell.to_dict() for cell in self.cells],
        }


def plan_compare(
    playground: Playground,
    *,
    backend_id: str,
    values: Mapping[str, Any],
    x_kind: str,
    x_text: str,
    y_kind: str | None = None,
    y_text: str | None = None,
    api_keys: Mapping[str, str] | None = None,
    latency_s: Mapping[str, float] | None = None,
    max_cells: int = MAX_GRID_CELLS,
    max_pixels: int | None = None,
    rng: random.Random | None = None,
) -> GridPlan:
    """:func:`parse_axes` then :func:`plan_grid`: from the Compare form's plain values to a plan."""
    x, y = parse_axes(x_kind, x_text, y_kind, y_text)
    return plan_grid(
        playground, backend_id=backend_id, values=values, x=x, y=y, api_keys=api_keys,
        latency_s=latency_s, max_cells=max_cells, max_pixels=max_pixels, rng=rng,
    )


def plan_grid(
    playground: Playground,
    *,
    backend_id: str,
    values: Mapping[str, Any],
    x: Axis,
    y: Axis | None = None,
    api_keys: Mapping[str, str] | None = None,
    latency_s: Mapping[str, float] | None = None,
    max_cells: int = MAX_GRID_CELLS,
    max_pixels: int | None = None,
    rng: random.Random | None = None,
) -> GridPlan:
    """Plan and validate a grid; raise :class:`InvalidRequest` or :class:`BackendUnavailable` before
    anything runs. ``values`` are the form's values as :func:`validate_request` takes them (``n`` is
    ignored: a cell is one image). ``backend_id`` is ignored when backend is an axis. ``latency_s``
    gives typical single-image seconds per backend id for the time estimate. ``max_pixels`` bounds the
    cells' width × height summed (None: no bound)."""
    api_keys = api_keys or {}
    x = replace(x, field="x_axis") if x.field != "x_axis" else x
    y = replace(y, field="y_axis") if y is not None and y.field != "y_axis" else y
    if y is not None and y.kind is x.kind:
        raise InvalidRequest([FieldProblem("y_axis", y.kind.value, Message("axis_same_kind", axis=x.title_message))])

    # 1. Backends, available ones only.
    backend_axis = next((axis for axis in (x, y) if axis is not None and axis.kind is AxisKind.BACKEND), None)
    if backend_axis is not None:
        ids = _resolve_backend_ids(playground, backend_axis)
        backend_axis_resolved = _with_backend_labels(playground, backend_axis, ids)
        x = backend_axis_resolved if backend_axis is x else x
        y = backend_axis_resolved if backend_axis is y else y
    else:
        playground.registry.get(backend_id)  # InvalidRequest naming the ids there are
        ids = [backend_id]
    backends: dict[str, Backend] = {}
    unavailable: dict[str, str | Message] = {}
    for bid in ids:
        try:
            backends[bid] = playground.backend_for(bid, api_key=api_keys.get(bid))
        except BackendUnavailable as exc:
            unavailable.setdefault(str(exc), exc.localizable)
    if unavailable:
        reasons = list(unavailable.values())
        raise BackendUnavailable(reasons[0] if len(reasons) == 1 else Message("sentences", items=reasons))

    cells_total = len(x) * (len(y) if y is not None else 1)
    if cells_total > max_cells:
        shape = f"{len(x)} × {len(y)}" if y is not None else f"{len(x)}"
        raise InvalidRequest([
            FieldProblem("grid", Message("grid_shape", shape=shape, cells=cells_total), Message("allowed_max_cells", max=max_cells))
        ])

    # 2. The seed shared by the cells (or the base of a seed count).
    seed_axis = next((axis for axis in (x, y) if axis is not None and axis.kind is AxisKind.SEED), None)
    form_seed = _form_seed(values.get("seed"))
    if form_seed is not None and not isinstance(form_seed, int):
        raise InvalidRequest([FieldProblem("seed", values.get("seed"), Message("allowed_seed_from_zero"))])
    seed_was_random = False
    base_seed: int | None = None
    if seed_axis is None or seed_axis.seed_count is not None:
        room = seed_axis.seed_count if seed_axis is not None else 1
        if form_seed is None:
            smallest = min(backend.capabilities.seed_max for backend in backends.values())
            base_seed = draw_seed(smallest, room or 1, rng)
            seed_was_random = True
        elif isinstance(form_seed, int):
            base_seed = form_seed
        if seed_axis is not None and base_seed is not None:
            resolved = seed_axis.with_seeds_from(base_seed)
            x = resolved if seed_axis is x else x
            y = resolved if seed_axis is y else y

    # 3. Every cell, validated.
    prompt = values.get("prompt") if isinstance(values.get("prompt"), str) else ""
    negative = values.get("negative_prompt") if isinstance(values.get("negative_prompt"), str) else ""
    problems: list[FieldProblem] = []
    for axis in (x, y):
        if axis is not None and axis.kind is AxisKind.PROMPT_SR:
            search = axis.search or ""
            if search not in (prompt or "") and search not in (negative or ""):
                missing = Message("prompt_sr_missing", search=_shown(search))
                problems.append(
                    FieldProblem(axis.field, axis.text, Message("axis_problem", axis=axis.title_message, allowed=missing, where=""))
                )
    if problems:
        raise InvalidRequest(problems)

    several = len(backends) > 1
    cells: list[GridCell] = []
    rows = len(y) if y is not None else 1
    for row in range(rows):
        for col in range(len(x)):
            placed = [(x, col)] + ([(y, row)] if y is not None else [])
            cell_backend_id = ids[0]
            for axis, i in placed:
                if axis.kind is AxisKind.BACKEND:
                    cell_backend_id = str(axis.values[i])
            backend = backends[cell_backend_id]
            cell_values, owner = _cell_values(values, backend, placed, base_seed, form_seed, backend_axis is not None, problems)
            try:
                request = validate_request(cell_values, backend.capabilities, backend=backend.label)
            except InvalidRequest as exc:
                for problem in exc.problems:
                    axis = owner.get(problem.field)
                    where = Message("with_backend", backend=backend.label) if several else ""
                    allowed = keyed(problem.allowed, problem.allowed_key, problem.allowed_params)
                    if axis is not None:
                        problems.append(FieldProblem(
                            axis.field, problem.value, Message("axis_problem", axis=axis.title_message, allowed=allowed, where=where)
                        ))
                    else:
                        problems.append(FieldProblem(
                            problem.field, problem.value, Message("allowed_with_backend", allowed=allowed, where=where)
                        ))
                continue
            cells.append(
                GridCell(
                    index=len(cells), row=row, col=col, backend_id=cell_backend_id, backend_label=backend.label,
                    values=cell_values, request=request, x_label=x.labels[col],
                    y_label=y.labels[row] if y is not None else None,
                )
            )
    if problems:
        unique = {(p.field, repr(p.value), p.allowed): p for p in problems}
        raise InvalidRequest(list(unique.values()))
    _check_pixels(cells, max_pixels)

    # 4. Cost and time.
    cost, unpriced = _cost(cells, backends)
    latency_s = latency_s or {}
    estimated = 0.0
    for bid, backend in backends.items():
        count = sum(1 for cell in cells if cell.backend_id == bid)
        waves = math.ceil(count / max(1, backend.max_concurrency))
        typical = latency_s.get(bid) or backend.capabilities.typical_latency_s or DEFAULT_LATENCY_S
        estimated = max(estimated, waves * typical)
    return GridPlan(
        prompt=(prompt or "").strip(),
        negative_prompt=(negative or "").strip(),
        base_backend_id=backend_id if backend_axis is None else ids[0],
        x=x,
        y=y,
        cells=tuple(cells),
        backend_ids=tuple(ids),
        base_seed=base_seed,
        seed_was_random=seed_was_random,
        cost=cost,
        unpriced_cells=unpriced,
        estimated_s=estimated,
        concurrency={bid: max(1, b.max_concurrency) for bid, b in backends.items()},
    )


def _check_pixels(cells: list[GridCell], max_pixels: int | None) -> None:
    """Every pixel of a grid is asked of a provider, downloaded, decoded and drawn: the sum is bounded."""
    pixels = sum(cell.request.width * cell.request.height for cell in cells)
    if max_pixels is None or pixels <= max_pixels:
        return
    sizes = list(dict.fromkeys(f"{cell.request.width}×{cell.request.height}" for cell in cells))
    largest = max(cells, key=lambda cell: cell.request.width * cell.request.height).request
    fit = max_pixels // (largest.width * largest.height)
    raise InvalidRequest([FieldProblem(
        "grid", Message("grid_pixels", cells=len(cells), sizes=sizes, pixels=pixels),
        Message("allowed_max_pixels", max=max_pixels, fit=fit, size=f"{largest.width}×{largest.height}"),
    )])


def _resolve_backend_ids(playground: Playground, axis: Axis) -> list[str]:
    known = playground.registry.ids()
    labels = {playground.registry.get(bid).label.casefold(): bid for bid in known}
    by_id = {bid.casefold(): bid for bid in known}
    ids: list[str] = []
    problems: list[FieldProblem] = []
    for value in axis.values:
        key = str(value).casefold()
        bid = by_id.get(key) or labels.get(key)
        if bid is None:
            allowed = Message("allowed_one_of", options=", ".join(known) or Message("none_configured"))
            problems.append(FieldProblem(axis.field, value, Message("axis_problem", axis=axis.title_message, allowed=allowed, where="")))
        elif bid in ids:
            allowed = Message("backend_listed_twice", backend=bid)
            problems.append(FieldProblem(axis.field, value, Message("axis_problem", axis=axis.title_message, allowed=allowed, where="")))
        else:
            ids.append(bid)
    if problems:
        raise InvalidRequest(problems)
    return ids


def _with_backend_labels(playground: Playground, axis: Axis, ids: list[str]) -> Axis:
    return replace(axis, values=tuple(ids), labels=tuple(playground.registry.get(bid).label for bid in ids))


def _form_seed(raw: Any) -> int | Any | None:
    """None for a random seed; the int for a whole number; anything else as given (validation reports it)."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    value: Any = raw
    if isinstance(raw, str):
        try:
            value = float(raw.strip()) if not raw.strip().lstrip("+-").isdigit() else int(raw.strip())
        except ValueError:
            return raw
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return None if value == RANDOM_SEED else value
    return raw


def _cell_values(
    form: Mapping[str, Any],
    backend: Backend,
    placed: list[tuple[Axis, int]],
    base_seed: int | None,
    form_seed: Any,
    across_backends: bool,
    problems: list[FieldProblem],
) -> tuple[dict[str, Any], dict[str, Axis]]:
    """The form values of one cell, and which axis set each field (to report problems on it)."""
    caps = backend.capabilities
    values = {k: v for k, v in form.items() if k not in _DROPPED and v is not None}
    values["n"] = 1
    if across_backends:
        # Settings only some backends have follow the backend: a scheduler by its meaning, else its default.
        if "scheduler" in values:
            matched = match_scheduler(values["scheduler"], caps.schedulers) if caps.schedulers else None
            if matched is None:
                values.pop("scheduler")
            else:
                values["scheduler"] = matched
        if values.get("output_format") not in caps.output_formats:
            values.pop("output_format", None)
        if caps.output_quality is None:
            values.pop("output_quality", None)
    values["seed"] = base_seed if base_seed is not None else form_seed
    if values["seed"] is None:
        values.pop("seed")
    owner: dict[str, Axis] = {}
    for axis, i in placed:
        value = axis.values[i]
        if axis.kind is AxisKind.SEED:
            values["seed"] = value
            owner["seed"] = axis
        elif axis.kind is AxisKind.GUIDANCE:
            values["guidance"] = value
            owner["guidance"] = axis
        elif axis.kind is AxisKind.STEPS:
            values["steps"] = value
            owner["steps"] = axis
        elif axis.kind is AxisKind.SIZE:
            values.pop("width", None)
            values.pop("height", None)
            values["size"] = value
            owner["size"] = axis
        elif axis.kind is AxisKind.SCHEDULER:
            owner["scheduler"] = axis
            matched = match_scheduler(str(value), caps.schedulers) if caps.schedulers else None
            if matched is None:
                allowed = (
                    Message("allowed_one_of", options=", ".join(caps.schedulers)) if caps.schedulers
                    else Message("no_scheduler_setting", backend=backend.label)
                )
                problems.append(FieldProblem(axis.field, value, Message("axis_problem", axis=axis.title_message, allowed=allowed, where="")))
                values.pop("scheduler", None)
            else:
                values["scheduler"] = matched
        elif axis.kind is AxisKind.PROMPT_SR:
            search = axis.search or ""
            for key in ("prompt", "negative_prompt"):
                if isinstance(values.get(key), str):
                    values[key] = values[key].replace(search, str(value))
            owner["prompt"] = owner["negative_prompt"] = axis
    return values, owner


def _cost(cells: list[GridCell], backends: Mapping[str, Backend]) -> tuple[tuple[Price, ...], int]:
    totals: dict[str, float] = {}
    unpriced = 0
    for cell in cells:
        price = backends[cell.backend_id].capabilities.price_per_image
        if price is None:
            unpriced += 1
        else:
            totals[price.currency] = totals.get(price.currency, 0.0) + price.amount
    return tuple(Price(round(amount, 6), currency) for currency, amount in totals.items()), unpriced


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{round(minutes)} min"
    return f"{format_number(round(minutes / 60, 1))} h"
