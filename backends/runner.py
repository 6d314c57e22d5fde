"""The job runner: one request in, every image out, each with the seed that made it.

1. A missing seed is drawn within the backend's ``seed_max`` (leaving room for seed + n - 1); from here
   on image *i* has seed ``seed + i`` (:mod:`backends.seeds`, the one place that says so).
2. Where the backend's own batch would not make image *i* reproducible alone, the request becomes
   n single-image calls with seeds s, s+1, … s+n-1, run concurrently under the backend's
   ``max_concurrency`` (one semaphore per backend, shared by every job in the process).
3. Progress is reported per image (and per step where the backend reports steps).
4. A failed image is recorded with its index, seed and message; the others still come back.
5. Stop (a :class:`CancelToken`, or cancelling the task) ends the job: calls not yet started never
   start, the backend is told to stop, and the images already finished are kept.
6. Which images' requests were sent to the provider (so may be billed) goes into ``sent``, as the job
   runs: a call waiting for its turn, or stopped before its request went out, was not sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .base import (
    Backend,
    BackendOutput,
    CancelToken,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ImageFailure,
    ReportsSending,
    SentImages,
    StepProgress,
    mark_sent,
    sending,
)
from .errors import GenerationCancelled, PlaygroundError
from .messages import Message
from .seeds import draw_seed, image_seeds

__all__ = ["JobProgress", "JobRunner", "draw_seed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobProgress:
    """``images_done`` of ``images_total`` finished (successfully or not); ``fraction`` includes steps."""

    images_done: int
    images_total: int
    fraction: float
    phase: str = ""
    preview: tuple[int, Any] | None = None
    """(index of the image, a small PIL image of it so far), when the backend shows work in progress."""
    steps: tuple[int, int] | None = None
    """(done, total) denoising steps of the call that reported last, when the backend counts steps."""

    @property
    def label(self) -> str:
        counted = f"{self.images_done}/{self.images_total} images"
        return f"{self.phase} · {counted}" if self.phase else counted


ProgressHandler = Callable[[JobProgress], None]
ImageHandler = Callable[[GeneratedImage], None]
"""Called with each image as soon as it is back (its final index and seed), before the job ends."""


class JobRunner:
    """Runs requests against backends; one instance is shared by the whole app."""

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self._rng = rng or random.SystemRandom()
        self._semaphores: dict[tuple[int, str], asyncio.Semaphore] = {}

    def _semaphore(self, backend: Backend) -> asyncio.Semaphore:
        key = (id(asyncio.get_running_loop()), backend.id)
        semaphore = self._semaphores.get(key)
        if semaphore is None:
            semaphore = self._semaphores[key] = asyncio.Semaphore(max(1, backend.max_concurrency))
        return semaphore

    def with_seed(self, request: GenerationRequest, backend: Backend) -> GenerationRequest:
        if request.seed is not None:
            return request
        return replace(request, seed=draw_seed(backend.capabilities.seed_max, request.n, self._rng))

    async def run(
        self,
        backend: Backend,
        request: GenerationRequest,
        *,
        progress: ProgressHandler | None = None,
        cancel: CancelToken | None = None,
        on_image: ImageHandler | None = None,
        sent: SentImages | None = None,
    ) -> GenerationResult:
        cancel = cancel or CancelToken()
        sent = sent if sent is not None else SentImages()
        request = self.with_seed(request, backend)
        started = time.perf_counter()
        calls = self._split(request, backend)
        tracker = _Tracker(request.n, progress, on_image)
        tasks = [asyncio.ensure_future(self._call(backend, sub, first, cancel, tracker, sent)) for first, sub in calls]
        watcher = asyncio.ensure_future(_cancel_when_stopped(cancel, tasks))
        try:
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        except asyncio.CancelledError:
            cancel.cancel()
            for task in tasks:
                task.cancel()
            raise
        finally:
            watcher.cancel()
        images: list[GeneratedImage] = []
        failures: list[ImageFailure] = []
        info: dict[str, Any] = {}
        for (first, sub), outcome in zip(calls, outcomes):
            if isinstance(outcome, BackendOutput):
                images.extend(outcome.images)
                info.update(outcome.info)
            elif isinstance(outcome, list):
                failures.extend(outcome)
            else:  # stopped while in flight
                stopped = GenerationCancelled()
                failures.extend(
                    ImageFailure(first + k, seed, stopped.localizable, type(stopped).__name__)
                    for k, seed in enumerate(image_seeds(sub))
                )
        images.sort(key=lambda image: image.index)
        failures.sort(key=lambda failure: failure.index)
        price = backend.capabilities.price_per_image
        return GenerationResult(
            backend_id=backend.id,
            backend_label=backend.label,
            model=backend.model,
            request=request,
            images=tuple(images),
            failures=tuple(failures),
            elapsed_s=time.perf_counter() - started,
            cost=price.times(len(images)) if price else None,
            info=info,
            cancelled=cancel.cancelled,
        )

    @staticmethod
    def _split(request: GenerationRequest, backend: Backend) -> list[tuple[int, GenerationRequest]]:
        if request.n == 1 or backend.capabilities.batch_is_per_image_reproducible:
            return [(0, request)]
        return [(i, replace(request, n=1, seed=seed)) for i, seed in enumerate(image_seeds(request))]

    async def _call(
        self, backend: Backend, request: GenerationRequest, first: int, cancel: CancelToken, tracker: _Tracker,
        sent: SentImages,
    ) -> BackendOutput | list[ImageFailure]:
        indexes = range(first, first + request.n)
        seeds = image_seeds(request)
        try:
            async with self._semaphore(backend):
                cancel.raise_if_cancelled()
                with sending() as dispatch:
                    try:
                        if not (isinstance(backend, ReportsSending) and backend.reports_sending):
                            mark_sent()
                        output = await backend.generate(
                            request, progress=lambda step: tracker.step(first, step), cancel=cancel
                        )
                    finally:
                        if dispatch.sent:
                            sent.record(indexes)
            if len(output.images) != request.n:
                raise PlaygroundError(
                    Message("wrong_image_count", provider=backend.label, count=len(output.images), expected=request.n)
                )
            images = tuple(
                replace(image, index=index, seed=seed) for index, seed, image in zip(indexes, seeds, output.images)
            )
            tracker.arrived(images)
            return BackendOutput(images=images, info=output.info)
        except PlaygroundError as exc:
            return [ImageFailure(i, seed, exc.localizable, type(exc).__name__) for i, seed in zip(indexes, seeds)]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s failed with an unexpected error", backend.id)
            message = Message("unexpected_failure", provider=backend.label, error_type=type(exc).__name__)
            return [ImageFailure(i, seed, message, "InternalError") for i, seed in zip(indexes, seeds)]
        finally:
            tracker.finished(first, request.n)


async def _cancel_when_stopped(cancel: CancelToken, tasks: list[asyncio.Future]) -> None:
    """Stop calls already in flight as soon as the token is set (a remote call may take a minute)."""
    while not cancel.cancelled:
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()


class _Tracker:
    """Turns per-call step reports and completions into job progress."""

    def __init__(self, total: int, handler: ProgressHandler | None, on_image: ImageHandler | None = None) -> None:
        self.total = total
        self.handler = handler
        self.on_image = on_image
        self.done = 0
        self.partial: dict[int, float] = {}
        self.phase = ""

    def step(self, first: int, step: StepProgress) -> None:
        self.phase = step.phase
        if step.total > 0:
            self.partial[first] = min(step.done / step.total, 1.0)
        steps = (step.done, step.total) if step.total > 0 else None
        self._emit(preview=(first, step.preview) if step.preview is not None else None, steps=steps)

    def arrived(self, images: tuple[GeneratedImage, ...]) -> None:
        if self.on_image is None:
            return
        for image in images:
            try:
                self.on_image(image)
            except Exception:  # a display must never break a job
                log.debug("image handler failed", exc_info=True)

    def finished(self, first: int, count: int) -> None:
        self.partial.pop(first, None)
        self.done += count
        self._emit()

    def _emit(self, preview: tuple[int, Any] | None = None, steps: tuple[int, int] | None = None) -> None:
        if self.handler is None:
            return
        fraction = (self.done + sum(self.partial.values())) / self.total
        try:
            self.handler(JobProgress(self.done, self.total, min(fraction, 1.0), self.phase, preview, steps))
        except Exception:  # a progress display must never break a job
            log.debug("progress handler failed", exc_info=True)
