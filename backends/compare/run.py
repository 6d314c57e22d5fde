"""Running a planned grid: every cell through :meth:`Playground.generate`, side by side.

1. Each cell is one :meth:`Playground.generate` call, so it is validated again, gets its seed,
   runs through the shared :class:`~backends.runner.JobRunner` and is saved as its own history entry
   (a failed cell too), reproducible alone from the history panel.
2. Cells run concurrently. A cell is admitted when its backend has a free slot: at most
   ``max_concurrency`` cells of one backend are under way at once, and inside them the runner's
   per-backend semaphore (shared with every other job in the process) bounds the calls themselves.
   Cells are admitted in grid order.
3. Progress counts cells done (finished, failed or skipped), with the steps of the cells in flight
   in ``fraction``.
4. Stop (the :class:`CancelToken`): cells not yet admitted never start, never reach the provider and
   leave no history entry (status ``not_started``); cells in flight are stopped by the runner and come
   back ``stopped``; finished cells are kept.
5. A failed cell is recorded with its error, in place; the other cells complete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base import CancelToken, Price
from ..errors import GenerationCancelled, PlaygroundError
from ..history import HistoryEntry, StoredImage
from ..messages import KeyedError, Message, keyed
from ..runner import JobProgress
from .plan import GridCell, GridPlan

if TYPE_CHECKING:
    from ..playground import Playground

__all__ = ["CELL_STATUSES", "CellResult", "GridProgress", "GridResult", "run_grid"]

log = logging.getLogger(__name__)

CELL_STATUSES = ("ok", "failed", "stopped", "not_started")

NOT_STARTED = str(Message("cell_not_started"))


@dataclass(frozen=True)
class CellResult(KeyedError):
    """How one cell ended. ``status`` is one of :data:`CELL_STATUSES`: ``ok`` (its image is stored),
    ``failed`` (``error`` says why; the failure is in the history too), ``stopped`` (Stop ended it in
    flight) or ``not_started`` (Stop came first; no history entry). ``entry`` is its history entry.

    ``error`` may be given as a :class:`~backends.messages.Message`: it is kept as its English text, with
    ``error_key`` and ``error_params`` so :meth:`error_in` can say it in another language."""

    cell: GridCell
    status: str
    entry: HistoryEntry | None
    error: str | None = None
    error_type: str | None = None
    elapsed_s: float = 0.0
    error_key: str | None = field(default=None, compare=False, repr=False)
    error_params: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def image(self) -> StoredImage | None:
        return self.entry.images[0] if self.entry is not None and self.entry.images else None

    @property
    def path(self) -> Path | None:
        image = self.image
        return image.path if image is not None else None

    @property
    def seed(self) -> int:
        return self.cell.seed

    @property
    def generation_id(self) -> str | None:
        return self.entry.id if self.entry is not None else None

    @property
    def caption(self) -> str:
        """``"seed 123"``; for a cell without an image, ``"seed 123 — <why>"``."""
        if self.ok:
            return self.cell.caption
        return f"{self.cell.caption} — {self.error or self.status}"

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.cell.to_dict(),
            "status": self.status,
            "generation_id": self.generation_id,
            "image_id": self.image.id if self.image is not None else None,
            "error": self.error,
            "error_type": self.error_type,
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass(frozen=True)
class GridProgress:
    """``done`` of ``total`` cells finished (``failed`` of them without an image); ``fraction``
    includes the progress of cells in flight. ``cell`` is the cell that just finished, if any."""

    done: int
    total: int
    failed: int
    fraction: float
    cell: CellResult | None = None

    @property
    def label(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done}/{self.total} cells{failed}"


GridProgressHandler = Callable[[GridProgress], None]


@dataclass(frozen=True)
class GridResult:
    """A grid that ran: its plan and one :class:`CellResult` per cell, in the plan's order
    (row by row). ``cancelled`` is set when Stop ended it early."""

    plan: GridPlan
    cells: tuple[CellResult, ...]
    cancelled: bool
    elapsed_s: float

    @property
    def rows(self) -> int:
        return self.plan.rows

    @property
    def cols(self) -> int:
        return self.plan.cols

    def cell_at(self, row: int, col: int) -> CellResult:
        return self.cells[row * self.plan.cols + col]

    @property
    def ok_count(self) -> int:
        return sum(1 for cell in self.cells if cell.ok)

    @property
    def failed_count(self) -> int:
        return len(self.cells) - self.ok_count

    @property
    def cost(self) -> tuple[Price, ...]:
        """What the images that came back cost, one :class:`Price` per currency."""
        totals: dict[str, float] = {}
        for cell in self.cells:
            if cell.entry is not None and cell.entry.cost is not None:
                currency = cell.entry.cost.currency
                totals[currency] = totals.get(currency, 0.0) + cell.entry.cost.amount
        return tuple(Price(round(amount, 6), currency) for currency, amount in totals.items())

    def gallery(self) -> list[tuple[Path | None, str]]:
        """(image path or None, caption) per cell, row by row: what a gallery or grid view shows."""
        return [(cell.path, f"{cell.cell.title} — {cell.caption}" if cell.cell.title else cell.caption) for cell in self.cells]

    def ab_pair(self) -> tuple[Path, Path] | None:
        """The two image paths of a two-cell grid whose cells both succeeded (for an image slider)."""
        if len(self.cells) == 2 and all(cell.path is not None for cell in self.cells):
            return self.cells[0].path, self.cells[1].path  # type: ignore[return-value]
        return None

    @property
    def summary(self) -> str:
        parts = [f"{self.ok_count}/{len(self.cells)} cells"]
        if self.cancelled:
            parts.append("stopped")
        cost = " + ".join(str(price) for price in self.cost)
        if cost:
            parts.append(f"cost {cost}")
        parts.append(f"{self.elapsed_s:.1f} s")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan.to_dict()
        plan.pop("cells")
        return {
            **plan,
            "cancelled": self.cancelled,
            "elapsed_s": round(self.elapsed_s, 3),
            "spent": [{"amount": p.amount, "currency": p.currency} for p in self.cost],
            "result_summary": self.summary,
            "cells": [cell.to_dict() for cell in self.cells],
        }


async def run_grid(
    playground: Playground,
    plan: GridPlan,
    *,
    visitor: str = "",
    quota_keys: tuple[str, ...] = (),
    api_keys: Mapping[str, str] | None = None,
    progress: GridProgressHandler | None = None,
    cancel: CancelToken | None = None,
) -> GridResult:
    """Run every cell of ``plan`` (see the module docstring); never raises for a cell's failure.

    Raises :class:`BackendUnavailable` before anything runs when a backend stopped being available
    since the plan was made. Cancelling the task itself stops the cells in flight and propagates.
    """
    cancel = cancel or CancelToken()
    api_keys = api_keys or {}
    started = time.perf_counter()
    # 1. One admission semaphore per backend of this grid, as wide as the backend's concurrency.
    slots = {
        bid: asyncio.Semaphore(max(1, playground.backend_for(bid, api_key=api_keys.get(bid)).max_concurrency))
        for bid in plan.backend_ids
    }
    tracker = _Tracker(len(plan.cells), progress)
    tracker.emit(None)

    async def run_cell(cell: GridCell) -> CellResult:
        result = await _run_cell(
            playground, cell, slots[cell.backend_id], visitor, quota_keys, api_keys.get(cell.backend_id), cancel, tracker
        )
        tracker.finished(cell.index, result)
        return result

    tasks = [asyncio.ensure_future(run_cell(cell)) for cell in plan.cells]
    try:
        results = await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        cancel.cancel()
        for task in tasks:
            task.cancel()
        raise
    return GridResult(
        plan=plan, cells=tuple(results), cancelled=cancel.cancelled, elapsed_s=time.perf_counter() - started
    )


async def _run_cell(
    playground: Playground,
    cell: GridCell,
    slot: asyncio.Semaphore,
    visitor: str,
    quota_keys: tuple[str, ...],
    api_key: str | None,
    cancel: CancelToken,
    tracker: _Tracker,
) -> CellResult:
    async with slot:
        if cancel.cancelled:
            return CellResult(cell, "not_started", None, Message("cell_not_started"), GenerationCancelled.__name__)
        started = time.perf_counter()
        try:
            outcome = await playground.generate(
                cell.backend_id, cell.values, visitor=visitor, quota_keys=quota_keys, api_key=api_key,
                progress=lambda job: tracker.step(cell.index, job), cancel=cancel,
            )
        except PlaygroundError as exc:  # refused before any work (the plan was made earlier)
            return CellResult(cell, "failed", None, exc.localizable, type(exc).__name__, time.perf_counter() - started)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one broken cell must not take the grid down
            log.exception("grid cell %d failed unexpectedly", cell.index)
            message = Message("cell_failed_unexpectedly", error_type=type(exc).__name__)
            return CellResult(cell, "failed", None, message, "InternalError", time.perf_counter() - started)
    elapsed = time.perf_counter() - started
    entry = outcome.entry
    if entry.images:
        return CellResult(cell, "ok", entry, None, None, elapsed)
    failures = outcome.result.failures or entry.failures
    error_type = failures[0].error_type if failures else "PlaygroundError"
    error = _entry_error(entry, failures)
    status = "stopped" if error_type == GenerationCancelled.__name__ else "failed"
    return CellResult(cell, status, entry, error, error_type, elapsed)


def _entry_error(entry: HistoryEntry, failures: tuple) -> str | Message:
    """Why a cell's entry has no image: its stored error, else the first failure's, else that nothing came back."""
    if entry.error:
        return entry.error_message or entry.error
    if failures:
        return keyed(failures[0].error, failures[0].error_key, failures[0].error_params)
    return Message("no_image_came_back")


class _Tracker:
    def __init__(self, total: int, handler: GridProgressHandler | None) -> None:
        self.total = total
        self.handler = handler
        self.done = 0
        self.failed = 0
        self.partial: dict[int, float] = {}

    def step(self, index: int, job: JobProgress) -> None:
        self.partial[index] = min(max(job.fraction, 0.0), 1.0)
        self.emit(None)

    def finished(self, index: int, result: CellResult) -> None:
        self.partial.pop(index, None)
        self.done += 1
        if not result.ok:
            self.failed += 1
        self.emit(result)

    def emit(self, cell: CellResult | None) -> None:
        if self.handler is None:
            return
        fraction = (self.done + sum(self.partial.values())) / self.total if self.total else 1.0
        try:
            self.handler(GridProgress(self.done, self.total, self.failed, min(fraction, 1.0), cell))
        except Exception:  # a progress display must never break a grid
            log.debug("grid progress handler failed", exc_info=True)
