"""The playground's one operation, below any UI: validate, generate, save to history.

The Gradio handlers and the public API both call :meth:`Playground.generate`; it is the only path
from raw form values to a stored generation, so validation, seeds and history cannot drift apart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from .base import Backend, CancelToken, GenerationRequest, GenerationResult, KeyedBackend, SentImages, WeightsDownload
from .errors import BackendUnavailable, FieldProblem, InvalidRequest, StorageFailed
from .history import HistoryEntry, HistoryStore
from .history.downloads import DownloadFolder
from .messages import Message, keyed
from .presets import Preset, PresetLibrary
from .quota import HourlyQuota, Reservation
from .registry import Registry
from .runner import ImageHandler, JobRunner, ProgressHandler
from .validation import validate_request

__all__ = ["GenerationOutcome", "Playground"]

log = logging.getLogger(__name__)

DOWNLOADS = "downloads"
"""The folder of the data directory where downloads are prepared (backends/history/downloads.py)."""


@dataclass(frozen=True)
class GenerationOutcome:
    """A finished generation and its history entry (images on disk, with metadata)."""

    result: GenerationResult
    entry: HistoryEntry


class Playground:
    """Registry + runner + history, shared by every session of the app."""

    def __init__(
        self,
        *,
        registry: Registry,
        history: HistoryStore,
        runner: JobRunner | None = None,
        quota: HourlyQuota | None = None,
        presets: PresetLibrary | None = None,
    ) -> None:
        self.registry = registry
        self.history = history
        self.runner = runner or JobRunner()
        self.quota = quota
        self.presets = presets if presets is not None else PresetLibrary(history)
        # Every page's download copies in one place beside the history (hard links cost no bytes there),
        # removed the moment their entry is deleted.
        self.downloads = DownloadFolder(history.data_dir / DOWNLOADS, clear=True)
        history.on_delete(self.downloads.forget)

    def backend_for(self, backend_id: str, *, api_key: str | None = None) -> Backend:
        """The backend, with a visitor's own key when given; unavailable ones raise with the fix."""
        backend = self.registry.get(backend_id)
        if api_key and isinstance(backend, KeyedBackend):
            backend = backend.with_api_key(api_key)
        availability = backend.availability()
        if not availability.available:
            raise BackendUnavailable(keyed(availability.reason, availability.reason_key, availability.reason_params))
        return backend

    def prepare(
        self, backend_id: str, values: Mapping[str, Any], *, api_key: str | None = None, preset: Preset | None = None,
        preset_settings: bool = True,
    ) -> tuple[Backend, GenerationRequest]:
        """Everything that can be refused before any network or GPU work. With a ``preset``, its template and
        negative prompt make the prompts sent; ``preset_settings`` says whether its settings replace the
        given ones (the page puts them in the form when the style is chosen, so a change made after wins)."""
        backend = self.backend_for(backend_id, api_key=api_key)
        if preset is not None:
            applied = preset.applied(values, backend.capabilities.schedulers)
            if not preset_settings:
                applied = {**values, "prompt": applied["prompt"], "negative_prompt": applied["negative_prompt"]}
            values = applied
        return backend, validate_request(values, backend.capabilities, backend=backend.label)

    def find_preset(self, name: str | None, *, visitor: str = "") -> Preset | None:
        """The preset called ``name`` (built-in or this visitor's own), None for none; an unknown name is an
        :class:`InvalidRequest` naming the presets there are."""
        if not name or not str(name).strip():
            return None
        preset = self.presets.find(str(name), visitor=visitor)
        if preset is None:
            names = ", ".join(p.name for p in self.presets.all(visitor))
            raise InvalidRequest([FieldProblem("preset", name, Message("allowed_preset", names=names))])
        return preset

    async def generate(
        self,
        backend_id: str,
        values: Mapping[str, Any],
        *,
        visitor: str = "",
        quota_keys: tuple[str, ...] = (),
        api_key: str | None = None,
        progress: ProgressHandler | None = None,
        cancel: CancelToken | None = None,
        on_image: ImageHandler | None = None,
        download: bool = False,
        preset: Preset | None = None,
        preset_settings: bool = True,
        previews: Mapping[int, Future] | None = None,
    ) -> GenerationOutcome:
        """Validate, check the quota, run and save.

        Raises :class:`InvalidRequest`, :class:`BackendUnavailable` or :class:`QuotaExceeded` before any
        work; provider failures are saved as failed entries and come back inside the outcome. A save the
        disk refuses raises :class:`StorageFailed` after refunding the quota for every image.
        ``quota_keys`` name the visitor for the hourly quota (its id, its address); every image whose
        request was sent counts, only the unsent ones are refunded; a visitor's own
        ``api_key`` spends its own credits and is not counted. A backend whose weights are not on this
        machine raises :class:`~backends.errors.DownloadRequired` (size, destination) unless ``download``
        is True, the caller's consent; then the download runs first, reported through ``progress``, and
        Stop cancels it. ``previews``: the WebP previews (bytes, or None) the caller is making of the
        images as they arrive, as futures by index, filled while the run goes: the save waits for them
        and keeps them, so no image is decoded and encoded twice.
        """
        backend, request = self.prepare(
            backend_id, values, api_key=api_key, preset=preset, preset_settings=preset_settings
        )
        backend = await self._with_weights(backend, download=download)
        request = self.runner.with_seed(request, backend)
        reservation = self._reserve(quota_keys or (visitor,), request.n, own_key=bool(api_key))
        # Every image whose request went to the provider counts, delivered or not (a request stopped or
        # timed out in flight may be billed all the same); only those never sent, or refused (4xx), go back.
        sent = SentImages()
        try:
            result = await self.runner.run(
                backend, request, progress=progress, cancel=cancel, on_image=on_image, sent=sent
            )
        except BaseException:  # cancelled from outside
            reservation.refund(request.n - sent.count)
            raise
        reservation.refund(request.n - max(sent.count, len(result.images)))
        error = result.failures[0].error if not result.images and result.failures else None
        # Writing the images with their metadata takes milliseconds: off the event loop every visitor shares. Thumbnails
        # (a 35 ms decode per image) are made after the commit, while the gallery is already on its way.
        made = {}
        for index, preview in list((previews or {}).items()):
            try:
                made[index] = await asyncio.wrap_future(preview)
            except Exception:
                continue
        try:
            entry = await asyncio.to_thread(
                self.history.save, result, visitor=visitor, error=error, defer_thumbnails=True,
                preset=preset.name if preset is not None else None, previews={i: p for i, p in made.items() if p},
            )
        except StorageFailed:  # the disk is full or read-only: the images that came back were not kept
            reservation.refund(len(result.images))
            raise
        return GenerationOutcome(result, entry)

    async def _with_weights(self, backend: Backend, *, download: bool) -> Backend:
        """The backend to run: allowed to download where the caller consented; otherwise one whose weights
        would need a download is refused here, before quota, runner or history are touched."""
        if not isinstance(backend, WeightsDownload):
            return backend
        ready = backend.allowing_download() if download else backend
        await asyncio.to_thread(ready.check_weights)  # may wait for the device probe and ask the Hub for a size
        return ready

    def _reserve(self, keys: tuple[str, ...], count: int, *, own_key: bool) -> Reservation:
        if self.quota is None or own_key:
            return Reservation(None, (), [])
        return self.quota.reserve(keys, count)


def describe_failures(result: GenerationResult) -> str:
    """One line per failed image: which, its seed, and why."""
    return "\n".join(f"Image {f.index + 1} (seed {f.seed}): {f.error}" for f in result.failures)


__all__ += ["describe_failures"]
