"""Light pictures for the page while a run is in flight: each image, as it arrives, becomes a WebP of at
most 1024 px on its long side, written where Gradio serves files in place. No gradio here.

The originals (with their metadata) are what the history keeps and what downloads give; these are only
for looking, and are made once per image.
"""

from __future__ import annotations

import io
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["PREVIEW_LONG_SIDE", "PREVIEW_QUALITY", "PagePictures"]

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
