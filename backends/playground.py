"""The playground's one operation, below any UI: validate, generate, save to history.

The Gradio handlers and the public API both call :meth:`Playground.generate`; it is the only path
from raw form values to a stored generation, so validation, seeds and history cannot drift apart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .base import Backend, CancelToken, GenerationRequest, GenerationResult
from .errors import BackendUnavailable, InvalidRequest, PlaygroundError
from .history import HistoryEntry, HistoryStore
from .registry import Registry
from .runner import JobRunner, ProgressHandler
from .validation import validate_request

__all__ = ["Playground", "GenerationOutcome"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationOutcome:
    """A finished generation and its history entry (images on disk, with metadata)."""

    result: GenerationResult
    entry: HistoryEntry


class Playground:
    """Registry + runner + history, shared by every session of the app."""

    def __init__(self, *, registry: Registry, history: HistoryStore, runner: JobRunner | None = None) -> None:
        self.registry = registry
        self.history = history
        self.runner = runner or JobRunner()

    def backend_for(self, backend_id: str, *, api_key: str | None = None) -> Backend:
        """The backend, with a visitor's own key when given; unavailable ones raise with the fix."""
        backend = self.registry.get(backend_id)
        if api_key and hasattr(backend, "with_api_key"):
            backend = backend.with_api_key(api_key)
        availability = backend.availability()
        if not availability.available:
            raise BackendUnavailable(availability.reason)
        return backend

    def prepare(self, backend_id: str, values: Mapping[str, Any], *, api_key: str | None = None) -> tuple[Backend, GenerationRequest]:
        """Everything that can be refused before any network or GPU work."""
        backend = self.backend_for(backend_id, api_key=api_key)
        return backend, validate_request(values, backend.capabilities)

    async def generate(
        self,
        backend_id: str,
        values: Mapping[str, Any],
        *,
        visitor: str = "",
        api_key: str | None = None,
        progress: ProgressHandler | None = None,
        cancel: CancelToken | None = None,
    ) -> GenerationOutcome:
        """Validate, run and save. Raises :class:`InvalidRequest`/:class:`BackendUnavailable` before any
        work; provider failures are saved as failed entries and come back inside the outcome."""
        backend, request = self.prepare(backend_id, values, api_key=api_key)
        request = self.runner.with_seed(request, backend)
        started = time.perf_counter()
        try:
            result = await self.runner.run(backend, request, progress=progress, cancel=cancel)
        except PlaygroundError as exc:  # the runner turns per-image failures into results; this is the rest
            result = GenerationResult(
                backend_id=backend.id, backend_label=backend.label, model=backend.model, request=request,
                images=(), failures=(), elapsed_s=time.perf_counter() - started,
            )
            entry = await asyncio.to_thread(self.history.save, result, visitor=visitor, error=str(exc))
            return GenerationOutcome(result, entry)
        error = None
        if not result.images and result.failures:
            error = result.failures[0].error
        # Writing PNGs and thumbnails takes tens of ms per image: off the event loop every visitor shares.
        entry = await asyncio.to_thread(self.history.save, result, visitor=visitor, error=error)
        return GenerationOutcome(result, entry)


def describe_failures(result: GenerationResult) -> str:
    """One line per failed image: which, its seed, and why."""
    return "\n".join(f"Image {f.index + 1} (seed {f.seed}): {f.error}" for f in result.failures)


__all__ += ["describe_failures", "InvalidRequest"]
