"""Light pictures for the page while a run is in flight: each image, as it arrives, becomes a WebP of at
most 1024 px on its long side, written where Gradio serves files in place. No gradio here.

The originals (with their metadata) are what the history keeps and what downloads give; these are only
for looking, and are made once per image.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

__all__ = ["PREVIEW_LONG_SIDE", "PREVIEW_QUALITY", "JobEvents", "PagePictures"]

PREVIEW_LONG_SIDE = 1024
PREVIEW_QUALITY = 80
MAX_AGE_S = 3600.0


class PagePictures:
    """A folder of page-only pictures with unguessable names, pruned after an hour."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="kolors-page-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._last_prune = 0.0

    def preview_of(self, data: bytes) -> Path:
        """A WebP preview of an encoded image (blocking: call it off the event loop)."""
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE))  # JPEG decodes at a fraction of the size
            picture = image.convert("RGBA" if image.mode in ("RGBA", "LA", "PA") else "RGB")
        return self.save(picture)

    def save(self, picture: Any) -> Path:
        """A PIL image as a WebP of at most PREVIEW_LONG_SIDE pixels on its long side."""
        picture = picture.copy()
        picture.thumbnail((PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE), reducing_gap=2.0)
        self._prune()
        path = self.root / f"{secrets.token_urlsafe(16)}.webp"
        picture.save(path, format="WEBP", quality=PREVIEW_QUALITY, method=2)
        return path

    def _prune(self) -> None:
        now = time.time()
        if now - self._last_prune < 60:
            return
        self._last_prune = now
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
