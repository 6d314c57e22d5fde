"""The steps of a comparison grid that ``/compare`` and the Compare tab share: plan it (with a time
estimate learned from this visitor's history), run it, export it as one PNG. No gradio here."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from backends.base import CancelToken
from backends.compare import GridPlan, GridProgress, GridResult, plan_compare, recent_latencies, run_grid
from backends.compare.export import export_grid_png
from backends.playground import Playground

from .session import Session

__all__ = ["Grids"]


class Grids:
    def __init__(
        self, playground: Playground, *, hosted: bool, font: str | None = None, max_pixels: int | None = None,
    ) -> None:
        self.playground = playground
        self.hosted = hosted
        self.font = font
        self.max_pixels = max_pixels
        self.exports = Path(tempfile.mkdtemp(prefix="kolors-grids-"))

    def plan(
        self, session: Session, *, backend: Any, values: Mapping[str, Any], x_type: Any, x_values: Any,
        y_type: Any, y_values: Any,
    ) -> GridPlan:
        """The grid, checked, with its cost and a time learned from this backend's recent runs.
        Raises :class:`~backends.errors.InvalidRequest` or :class:`~backends.errors.BackendUnavailable`."""
        latencies = recent_latencies(self.playground.history, self.playground.registry.ids(), visitor=session.visitor)
        return plan_compare(
            self.playground, backend_id=backend, values=values, x_kind=x_type, x_text=x_values, y_kind=y_type,
            y_text=y_values, api_keys=session.keys,
            latency_s={backend_id: latency.seconds for backend_id, latency in latencies.items()},
            max_pixels=self.max_pixels,
        )

    def learned_runs(self, session: Session, plan: GridPlan) -> int:
        """How many recent runs the estimate rests on (0: a guess, this history has none of these backends)."""
        latencies = recent_latencies(self.playground.history, plan.backend_ids, visitor=session.visitor)
        return min((latencies[b].runs for b in plan.backend_ids if b in latencies), default=0) if all(
            b in latencies for b in plan.backend_ids) else 0

    async def run(
        self, session: Session, plan: GridPlan, *, cancel: CancelToken, progress: Callable[[GridProgress], None]
    ) -> GridResult:
        return await run_grid(
            self.playground, plan, visitor=session.visitor, quota_keys=session.quota_keys if self.hosted else (),
            api_keys=session.keys, cancel=cancel, progress=progress,
        )

    async def export(self, result: GridResult) -> Path:
        """The grid as one PNG file, drawn in a worker thread: decoding and drawing a big grid takes seconds,
        and on the event loop every visitor's page would wait for it."""
        return await asyncio.to_thread(self._export, result)

    def _export(self, result: GridResult) -> Path:
        path = self.exports / f"grid-{uuid.uuid4().hex}.png"
        path.write_bytes(export_grid_png(result, self.playground.history, font=self.font))
        return path
