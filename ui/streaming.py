"""Light pictures for the page while a run is in flight: each image, as it arrives, becomes the store's
WebP preview (backends/history/previews.py), written where Gradio serves files in place. No gradio here.

The originals (with their metadata) are what the history keeps and what downloads give; these are only
for looking, and are made once per image.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backends.history.previews import (
    PREVIEW_EXTENSION,
    PREVIEW_MAX_SIDE,
    PREVIEW_METHOD,
    PREVIEW_QUALITY,
    make_preview,
    needs_preview,
)

__all__ = ["JobEvents", "PagePictures"]

MAX_AGE_S = 3600.0


class PagePictures:
    """A folder of page-only pictures with unguessable names, pruned after an hour."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="kolors-page-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._last_prune = 0.0
        self._claimed: dict[str, set[Path]] = {}  # entry id -> the pictures made of it, removed with it
        self._claim_lock = threading.Lock()
        # Pillow lets go of the GIL while it decodes and encodes: a batch's previews are made side by side.
        self._workers = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="page-previews")

    def submit_preview(self, data: bytes) -> Future:
        """:meth:`preview_of` on a worker thread, started at once; safe to call from any thread."""
        return self._workers.submit(self.preview_of, data)

    def preview_of(self, data: bytes) -> tuple[Path, bytes | None]:
        """What the page shows of an encoded image, and the WebP preview made for it (None when the
        original is light enough to be its own, or no preview can be made): the store's previews, made
        the store's way, so the history can keep this one instead of encoding it again. Blocking: call it
        off the event loop."""
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            light = not needs_preview(image.width, image.height, len(data))
            extension = f".{(image.format or 'png').lower()}"
            preview = None if light else make_preview(image)
        self._prune()
        if preview is None:  # the original itself (a light WebP or JPEG, or one no preview fits)
            return self._write(data, extension), None
        return self._write(preview, PREVIEW_EXTENSION), preview

    def of_stored(self, image: Any) -> Path:
        """What the page shows of a stored image: the store's preview (or the light original it stands
        for); one made here from the original while a deferred preview is not ready (blocking)."""
        if image.preview_ready and image.preview_path.exists():
            return image.preview_path
        return self.preview_of(image.path.read_bytes())[0]

    def claim(self, entry_id: str, paths: Any) -> None:
        """Note that these pictures (of this folder; others are ignored) show entry ``entry_id``, so that
        :meth:`forget` removes them when it is deleted."""
        mine = {Path(path) for path in paths if Path(path).parent == self.root}
        if mine:
            with self._claim_lock:
                self._claimed.setdefault(entry_id, set()).update(mine)

    def forget(self, entry_id: str) -> None:
        """The entry was deleted: its pictures stop being served now, not when the hour is up."""
        with self._claim_lock:
            paths = self._claimed.pop(entry_id, set())
        for path in paths:
            path.unlink(missing_ok=True)

    def save(self, picture: Any) -> Path:
        """A PIL image the page made (a failure tile, a live sketch) as a WebP, at most PREVIEW_MAX_SIDE a side."""
        picture = picture.copy()
        picture.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), reducing_gap=2.0)
        self._prune()
        path = self.root / f"{secrets.token_urlsafe(16)}{PREVIEW_EXTENSION}"
        picture.save(path, format="WEBP", quality=PREVIEW_QUALITY, method=PREVIEW_METHOD)
        return path

    def _write(self, data: bytes, extension: str) -> Path:
        path = self.root / f"{secrets.token_urlsafe(16)}{extension}"
        path.write_bytes(data)
        return path

    def _prune(self) -> None:
        now = time.time()
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        with self._claim_lock:
            self._claimed = {entry: kept for entry, paths in self._claimed.items() if (kept := {p for p in paths if p.exists()})}
        for path in self.root.iterdir():
            try:
                if path.stat().st_mtime < now - MAX_AGE_S:
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink()
            except OSError:
                pass


class JobEvents:
    """What a job reports while it runs (progress, images), handed from any thread to the handler that
    streams it to the page, in order, until the job itself is done."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue = asyncio.Queue()

    def put(self, event: Any) -> None:
        """Report an event; safe from a worker thread (the local backend reports from one)."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def until(self, job: asyncio.Future) -> AsyncIterator[Any]:
        """Every event as it comes, until ``job`` ends; then the ones it left behind."""
        while True:
            getter = asyncio.ensure_future(self._queue.get())
            done, _ = await asyncio.wait({getter, job}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            yield getter.result()
        while not self._queue.empty():
            yield self._queue.get_nowait()
