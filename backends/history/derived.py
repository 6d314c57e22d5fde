"""The files the store derives from each image: the check that it is whole, its thumbnail and its preview.

Thumbnails and previews cost a full decode of each image (35 ms for a 1024x1024 photograph) and a
preview as much again to encode. ``save(..., defer_thumbnails=True)`` commits the entry without them
and makes them on a background thread, which writes the files and names them in the rows the same way
(write lock, note, files, rows, commit); until then an image's ``thumb_path`` and ``preview_path`` are
the image itself, and reads of that entry wait for them. ``defer_previews=False`` makes the previews
before the entry is committed instead (and the thumbnails of those images with them, from the same
decode), so the answer's gallery can show them at once.

:class:`DerivedFiles` is a part of :class:`~backends.history.store.HistoryStore` (it uses the store's
connection, lock and folders, and the writes' transaction); use the store.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import GeneratedImage, GenerationResult, ImageFailure
from ..messages import Message
from .a1111 import a1111_parameters
from .entries import HistoryEntry, StoredImage
from .image_files import PNG, WEBP, ImageKind, embed_metadata, image_kind
from .png_chunks import to_png
from .previews import PREVIEW_EXTENSION, make_preview, needs_preview
from .thumbnails import make_thumbnail, yield_the_cpu

__all__ = ["PAGE_THUMBNAIL_WAIT_S", "THUMBNAIL_WAIT_S", "DerivedFiles"]

THUMBNAIL_WAIT_S = 10.0  # at most, for a read of an entry whose thumbnails are being made
# A page does not wait that long: the thumbnail thread runs at a low priority, and until it is done an
# entry shows its image itself (already in the browser's cache from the gallery that just showed it).
PAGE_THUMBNAIL_WAIT_S = 0.5

log = logging.getLogger(__name__)


@dataclass
class _PreparedImage:
    source: GeneratedImage
    data: bytes  # what is stored, before its metadata: the provider's bytes, or a PNG made from them
    kind: ImageKind
    parameters: str  # the A1111 text
    width: int
    height: int
    thumb: bytes | None
    preview: bytes | None


@dataclass
class _Prepared:
    result: GenerationResult
    images: list[_PreparedImage]
    failures: list[ImageFailure]
    error: str | None


class DerivedFiles:
    """Decoding each image of a save, and its thumbnail and preview: made before the commit, or after it
    on a background thread."""

    def _prepare(
        self, result: GenerationResult, error: str | None, *, thumbnails: bool, previews: bool, made: Mapping[int, bytes]
    ) -> _Prepared:
        ordered = sorted(result.images, key=lambda im: im.index)

        def prepare(image: GeneratedImage) -> _PreparedImage | ImageFailure:
            return self._prepare_image(image, result, thumbnail=thumbnails, preview=previews, made=made.get(image.index))

        if len(ordered) > 1 and (thumbnails or previews):
            # Decoding is most of a save (35 ms for a 1024x1024 photograph) and Pillow lets go of the
            # GIL while it decodes, resizes and encodes, so a batch's images are prepared side by side.
            with ThreadPoolExecutor(max_workers=min(len(ordered), os.cpu_count() or 1)) as pool:
                outcomes = list(pool.map(prepare, ordered))
        else:
            outcomes = [prepare(image) for image in ordered]
        images = [item for item in outcomes if isinstance(item, _PreparedImage)]
        failures = list(result.failures) + [item for item in outcomes if isinstance(item, ImageFailure)]
        failures.sort(key=lambda f: f.index)
        if not images and not error:
            error = failures[0].error if failures else str(Message("no_image_came_back"))
        return _Prepared(result, images, failures, error)

    def _prepare_image(
        self,
        image: GeneratedImage,
        result: GenerationResult,
        *,
        thumbnail: bool = True,
        preview: bool = True,
        made: bytes | None = None,
    ) -> _PreparedImage | ImageFailure:
        from PIL import Image

        parameters = a1111_parameters(
            result.request, seed=image.seed, model=result.model, backend_label=result.backend_label
        )
        try:
            # 1. The provider's bytes when the metadata can be spliced into them (PNG, and JPEG or WebP
            #    whose container we can walk); otherwise a PNG made from the pixels.
            #    A JPEG or WebP is then opened with our EXIF in place of the provider's: Pillow reads a
            #    JPEG's EXIF as it opens it, and a crafted one can cost it gigabytes (exif_is_safe).
            data, kind = image.data, image_kind(image.data)
            opened = data
            if kind is not None and kind is not PNG:
                try:
                    opened = embed_metadata(data, parameters=parameters, playground_json="")
                except ValueError as problem:
                    log.info("image %d is stored as PNG: %s", image.index, problem)
                    kind = None
            if kind is None:
                data, kind = to_png(data, image.mime_type), PNG
                opened = data
            # 2. Size from the header; then the check that the file is whole. An image decoded for its
            #    preview gets its thumbnail from the same decode (5 ms more).
            thumb = preview_data = None
            with Image.open(io.BytesIO(opened)) as decoded:
                width, height = decoded.size
                wants_preview = needs_preview(width, height, len(data))
                if wants_preview and made is not None and image_kind(made) is WEBP:
                    preview_data, wants_preview = made, False
                wants_preview = wants_preview and preview
                if thumbnail or wants_preview:
                    decoded.load()
                    thumb = self._thumbnail(decoded)
                    if wants_preview:
                        preview_data = make_preview(decoded)
                elif kind is PNG:  # every chunk's CRC (0.5 ms); the pixels are decoded later
                    decoded.verify()
                else:
                    # JPEG and WebP carry no checksum: decoding is the check that they are whole (5 ms
                    # for a 1024x1024 JPEG, 16 ms for a WebP; re-encoding one as PNG costs 330 ms).
                    decoded.load()
        except Exception as exc:
            return ImageFailure(
                index=image.index,
                seed=image.seed,
                error=Message("image_not_stored", index=image.index + 1, error=str(exc)),
                error_type="BadProviderResponse",
            )
        return _PreparedImage(image, data, kind, parameters, width, height, thumb, preview_data)

    def _thumbnail(self, image: Any) -> bytes | None:
        return make_thumbnail(image, size=self.thumb_size, image_format=self._thumb_format)

    def _derive_later(self, entry: HistoryEntry, *, thumbnails: bool, previews: bool) -> None:
        """Make ``entry``'s missing thumbnails (and previews) on the background thread (called under the
        lock, after the commit)."""
        wanted = [
            image for image in entry.images
            if (thumbnails and image.thumb_name is None and max(image.width, image.height) > self.thumb_size)
            or (previews and image.preview_name is None and needs_preview(image.width, image.height, image.size_bytes))
        ]
        if not wanted:
            return
        done = self._pending[entry.id] = threading.Event()
        if self._thumbnailer is None:
            workers = os.cpu_count() or 1
            self._thumbnailer = ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="thumbnails", initializer=yield_the_cpu
            )
        self._thumbnailer.submit(self._add_derived, entry.id, wanted, previews, done)

    def _add_derived(self, entry_id: str, images: list[StoredImage], previews: bool, done: threading.Event) -> None:
        """Thumbnails and previews for ``images`` of a committed entry, named in their rows."""
        from PIL import Image

        try:
            made: list[tuple[str, Path, str, bytes]] = []  # (column, file, image id, bytes)
            for image in images:
                try:
                    with Image.open(self.image_path(image)) as decoded:
                        decoded.load()
                        if image.thumb_name is None and (thumb := self._thumbnail(decoded)) is not None:
                            made.append(("thumb_name", self.thumbs_dir / (image.id + self._thumb_ext), image.id, thumb))
                        if (
                            previews
                            and image.preview_name is None
                            and needs_preview(image.width, image.height, image.size_bytes)
                            and (preview := make_preview(decoded)) is not None
                        ):
                            made.append(("preview_name", self.previews_dir / (image.id + PREVIEW_EXTENSION), image.id, preview))
                except FileNotFoundError:  # the entry was deleted meanwhile
                    return
            with self._lock:
                if not made or self._conn is None:
                    return
                # As in a save: under the write lock, so no other process's recover() takes them for debris.
                with self._write_transaction() as transaction:
                    transaction.note.add(path for _, path, _, _ in made)
                    for column, path, image_id, data in made:
                        self._write_file(path, data, transaction.written)
                        named = self._conn.execute(
                            f"UPDATE images SET {column} = ? WHERE id = ? AND {column} IS NULL", (path.name, image_id)
                        ).rowcount
                        if not named:  # the entry was deleted meanwhile
                            transaction.obsolete.append(path)
        except Exception:
            log.warning("thumbnails or previews of %s could not be made; its images stand in", entry_id, exc_info=True)
        finally:
            with self._lock:
                self._pending.pop(entry_id, None)
            done.set()

    def _await_derived(self, ids: Iterable[str], within: float = THUMBNAIL_WAIT_S) -> None:
        """Wait (outside the lock, which the thumbnail thread needs) up to ``within`` seconds in all for
        thumbnails and previews being made for ``ids``."""
        with self._lock:
            pending = [self._pending[i] for i in ids if i in self._pending]
        deadline = time.monotonic() + within
        for done in pending:
            done.wait(max(0.0, deadline - time.monotonic()))

