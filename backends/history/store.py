"""The persistent history: one SQLite file plus image files, under one data directory.

::

    data_dir/
        history.sqlite3        generations and images (WAL mode); schema in migrations.py
        images/<token>.webp    every image in the provider's format (.webp, .jpg or .png), its bytes kept
                               and its parameters spliced in (image_files.py); other formats as PNG
        thumbs/<token>.webp    thumbnails, at most 256 px a side (none for images already that small)
        previews/<token>.webp  what the page shows: a light WebP, at most 1024 px a side (previews.py;
                               none for images already light, which the page shows as they are)
        pending/<note>.files   the files of the writes in flight (journal.py)
        .disk-reserve          256 KB set aside, given up so that deletes work on a full disk

Every generation is stored, failed ones too (status ``failed``, no images). File names are random
tokens, so knowing one file's name tells nothing about another's. In hosted mode each browser has its
own ``visitor`` key; every read and write filters by it, and an entry of another visitor behaves as if
it did not exist. Local mode uses the empty visitor.

Crash safety: a save takes SQLite's write lock (``BEGIN IMMEDIATE``), names the files it is about to
write in a note (journal.py), writes them, inserts the rows and commits, then drops the note. Until the
commit no row names the files; a crash at any moment before it leaves only files that no row names, and
the note names them. A delete names its files in a note and commits first, and removes the files after,
so a crash leaves orphans that the note names, never rows without files. :meth:`HistoryStore.recover`
(run at every open, under the same write lock, so it never sees another process's save in flight)
reads the notes and deletes the files they name that no row names: its cost follows what was in flight,
not the size of the history. Files are not fsynced: the scheme holds against a killed process, not a
power cut.

Thumbnails and previews cost a full decode of each image (35 ms for a 1024x1024 photograph) and a
preview as much again to encode. ``save(..., defer_thumbnails=True)`` commits the entry without them
and makes them on a background thread, which writes the files and names them in the rows the same way
(write lock, note, files, rows, commit); until then an image's ``thumb_path`` and ``preview_path`` are
the image itself, and reads of that entry wait for them. ``defer_previews=False`` makes the previews
before the entry is committed instead (and the thumbnails of those images with them, from the same
decode), so the answer's gallery can show them at once.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..base import GeneratedImage, GenerationRequest, GenerationResult, ImageFailure, Price
from ..errors import ConfigurationError, StorageFailed
from ..messages import Message, keyed, text_in
from .a1111 import a1111_parameters
from .image_files import PNG, WEBP, ImageKind, embed_metadata, image_kind
from .journal import FileJournal, FileNote
from .migrations import has_prompt_index, migrate
from .parameters import playground_metadata
from .png_chunks import to_png
from .previews import PREVIEW_EXTENSION, make_preview, needs_preview
from .thumbnails import THUMB_SIZE, make_thumbnail, thumbnail_format, yield_the_cpu

__all__ = [
    "COUNT_UP_TO", "DB_NAME", "MAX_SEARCH_TERMS", "MAX_TERM_CHARS", "OUTCOMES", "THUMB_SIZE", "HistoryEntry",
    "HistoryPage", "HistoryStore", "StoredImage", "search_terms",
]

DB_NAME = "history.sqlite3"
IMAGES, THUMBS, PREVIEWS = "images", "thumbs", "previews"  # the folders of the data directory
OUTCOMES = ("ok", "partial", "failed", "stopped")
STOPPED_ERROR_TYPE = "GenerationCancelled"
_STOPPED_SQL = "g.failures LIKE '%\"error_type\": \"GenerationCancelled\"%'"
BUSY_TIMEOUT_MS = 5000
# A search or a starred filter counts its matches exactly up to this many, then says "at least" (the
# page shows "200+"). Counting reads every match it counts: for a word in one prompt in 20 of 100,000,
# counting up to 200 adds 0.4 ms to the page's 2 ms, up to 1000 adds 15 ms (fastest of 21, busy 2-CPU
# machine), and all 5,000 took 14-40 ms.
COUNT_UP_TO = 200
# A search in a history (of one visitor, one backend) of at most this many entries reads them all,
# newest first; in a larger one it walks the prompt index, newest match first. The walk costs what it
# reads of every visitor's matches, so a small history among many large ones is cheaper read whole.
SEARCH_READS_UP_TO = 2000
# A search uses its first MAX_SEARCH_TERMS different words, each cut to MAX_TERM_CHARS: every word is a
# clause of the query (1,000 of them passed SQLite's expression depth and raised OperationalError).
MAX_SEARCH_TERMS = 16
MAX_TERM_CHARS = 100

RESERVE_NAME = ".disk-reserve"
RESERVE_BYTES = 256 * 1024  # a delete of a 16-image entry writes ~60 KB (its note and SQLite's log)
THUMBNAIL_WAIT_S = 10.0  # at most, for a read of an entry whose thumbnails are being made
# A page does not wait that long: the thumbnail thread runs at a low priority, and until it is done an
# entry shows its image itself (already in the browser's cache from the gallery that just showed it).
PAGE_THUMBNAIL_WAIT_S = 0.5

log = logging.getLogger(__name__)

_SECRET_KEY = re.compile(r"api[_-]?key|secret|passw|authorization|bearer|credential", re.IGNORECASE)


@dataclass(frozen=True)
class StoredImage:
    """One stored image. ``path`` is the image file (with metadata): WebP, JPEG or PNG, the format the
    provider sent, which ``mime_type`` names (``source_mime_type`` is what the provider declared); it is
    what every download gives. ``thumb_path`` is its thumbnail, or the image itself when the image is no
    larger than a thumbnail. ``preview_path`` is what the page shows: a light WebP without metadata, or
    the image itself when it is light already (or its preview is not made yet). The paths are made
    from ``data_dir``, the history's folder, and the names. ``seed`` made this image alone, with n=1."""

    id: str
    index: int
    seed: int
    width: int
    height: int
    file_name: str
    thumb_name: str | None
    mime_type: str
    source_mime_type: str
    size_bytes: int
    preview_name: str | None
    data_dir: Path
    # The paths are made when asked for: a page of 24 entries holds up to 96 images, and making their
    # 288 Path objects up front was a third of the page's time.

    @property
    def path(self) -> Path:
        return self.data_dir / IMAGES / self.file_name

    @property
    def thumb_path(self) -> Path:
        return self.data_dir / THUMBS / self.thumb_name if self.thumb_name else self.path

    @property
    def preview_path(self) -> Path:
        return self.data_dir / PREVIEWS / self.preview_name if self.preview_name else self.path

    @property
    def preview_ready(self) -> bool:
        """Whether ``preview_path`` is light enough for the page: a preview, or an original light enough to
        be its own. False while a deferred preview is still to be made (or could not be made): the page
        should then make its own picture rather than send the original."""
        return self.preview_name is not None or not needs_preview(self.width, self.height, self.size_bytes)


@dataclass(frozen=True)
class HistoryEntry:
    """One generation, as stored.

    ``request`` has the resolved base seed (None only for a failure before a seed was drawn).
    ``status`` is ``ok`` (every image came back), ``partial`` (some did; see ``failures``) or
    ``failed`` (none did; ``error`` says why). ``info`` is what the provider reported, minus any
    key-like fields.
    """

    id: str
    created_at: float
    visitor: str
    backend_id: str
    backend_label: str
    model: str
    request: GenerationRequest
    status: str
    error: str | None
    elapsed_s: float
    cost: Price | None
    info: Mapping[str, Any] = field(default_factory=dict)
    starred: bool = False
    images: tuple[StoredImage, ...] = ()
    failures: tuple[ImageFailure, ...] = ()
    preset: str | None = None
    """The name of the style preset the prompt was made with, if any."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def stopped(self) -> bool:
        """Stop ended it before every image came back (the images made before it are kept)."""
        return any(failure.error_type == STOPPED_ERROR_TYPE for failure in self.failures)

    @property
    def outcome(self) -> str:
        """``ok``, ``partial``, ``failed`` or ``stopped``: what the history panel shows and filters by."""
        return "stopped" if self.stopped else self.status

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(image.seed for image in self.images)

    @property
    def error_message(self) -> str | Message | None:
        """``error`` as the message it was made from, where that is known. It is stored as English text: the
        first failure's (whose key is stored with it), or that no image came back."""
        if not self.error:
            return self.error
        for failure in self.failures:
            if failure.error == self.error:
                return keyed(failure.error, failure.error_key, failure.error_params)
        if self.error == str(Message("no_image_came_back")):
            return Message("no_image_came_back")
        return self.error

    def error_in(self, lang: str) -> str | None:
        """``error`` in ``lang`` ("en" or "zh"); the stored English where it cannot be said otherwise."""
        message = self.error_message
        if not isinstance(message, Message):
            return message
        stored = message.to_json()
        return text_in(self.error or "", stored["key"], stored["params"], lang)

    def image_request(self, image: StoredImage) -> GenerationRequest:
        """The request that makes ``image`` again on its own: its seed, n=1."""
        return replace(self.request, seed=image.seed, n=1)


@dataclass(frozen=True)
class HistoryPage:
    """A page of entries, newest first. ``total`` counts the entries matching the filters: exactly, or,
    when ``total_is_lower_bound`` is True, at least that many (a search, the starred filter or an
    outcome filter stops counting at ``count_up_to``; show it as "200+"). The whole history, or one
    backend's, is always counted exactly. Pass ``next_cursor`` as ``before=`` to get the next page (None
    when there is none)."""

    entries: tuple[HistoryEntry, ...]
    total: int
    has_more: bool
    next_cursor: str | None = None
    total_is_lower_bound: bool = False


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


@dataclass
class _Transaction:
    """What one write transaction does to files: ``note`` names them before they are touched; ``written``
    are created (removed again on rollback), ``obsolete`` are no longer named once it commits (removed
    after the commit)."""

    note: FileNote
    written: list[Path] = field(default_factory=list)
    obsolete: list[Path] = field(default_factory=list)


def _new_token(nbytes: int = 16) -> str:
    return secrets.token_urlsafe(nbytes)


def _scrub(value: Any) -> Any:
    """A JSON-able copy of provider info without key-like fields."""
    if isinstance(value, Mapping):
        return {str(k): _scrub(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _check_visitor(visitor: str) -> str:
    if not isinstance(visitor, str):
        raise TypeError(f"visitor must be a string, not {type(visitor).__name__}")
    return visitor


class HistoryStore:
    """The history of one data directory. Thread-safe; open once and share.

    Opening creates the directory, applies pending migrations and runs :meth:`recover`.
    """

    def __init__(self, data_dir: Path | str, *, thumb_size: int = THUMB_SIZE) -> None:
        self.data_dir = Path(data_dir)
        self.images_dir = self.data_dir / IMAGES
        self.thumbs_dir = self.data_dir / THUMBS
        self.previews_dir = self.data_dir / PREVIEWS
        self.db_path = self.data_dir / DB_NAME
        self.thumb_size = thumb_size
        self._check_data_dir()
        self._journal = FileJournal(self.data_dir, (IMAGES, THUMBS, PREVIEWS))
        self._lock = threading.RLock()
        self._on_delete: list[Callable[[str], None]] = []
        self._pending: dict[str, threading.Event] = {}  # generation id -> set once its thumbnails and previews exist
        self._thumbnailer: ThreadPoolExecutor | None = None
        self._thumb_format, self._thumb_ext = thumbnail_format()
        conn = sqlite3.connect(
            self.db_path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn)
            conn.execute("BEGIN IMMEDIATE")  # a database that can be read but not written is refused now, not after a paid run
            conn.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._unusable_database(exc) from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._conn.row_factory = sqlite3.Row
        self._fts = has_prompt_index(conn)
        self.recover()
        self._keep_reserve()

    # -- lifecycle -----------------------------------------------------------------------------

    def _check_data_dir(self) -> None:
        """Refuse, with one :class:`ConfigurationError` naming the fix, a data directory this process cannot
        write (read-only, not ours) or whose database file is empty; a corrupt one is refused on opening it."""
        try:
            for folder in (self.data_dir, self.images_dir, self.thumbs_dir, self.previews_dir):
                folder.mkdir(parents=True, exist_ok=True)
            for folder in (self.data_dir, self.images_dir):
                with tempfile.TemporaryFile(dir=folder):
                    pass
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
            raise ConfigurationError(Message("data_dir_not_writable", path=str(self.data_dir), reason=reason)) from exc
        try:
            empty = self.db_path.stat().st_size == 0
        except FileNotFoundError:
            empty = False
        if empty:
            # SQLite would take an empty file for a new database and start an empty history beside the images of
            # the old one. A zero-length file is what a full disk or a crash mid-restore leaves: ask, do not guess.
            raise ConfigurationError(Message("history_database_empty", path=str(self.db_path)))

    def _unusable_database(self, exc: sqlite3.DatabaseError) -> ConfigurationError:
        failure = storage_failure(exc)
        if failure is not None and not failure.disk_full:
            return ConfigurationError(Message("data_dir_not_writable", path=str(self.data_dir),
                                              reason=getattr(exc, "sqlite_errorname", str(exc))))
        if failure is not None:
            return ConfigurationError(Message("data_dir_full", path=str(self.data_dir)))
        return ConfigurationError(Message("history_database_corrupt", path=str(self.db_path), reason=str(exc)))

    # A few hundred kilobytes kept aside in the data directory, so that on a full disk a visitor can still
    # delete entries (a delete writes a small note and a few pages of SQLite's log before it frees anything).
    def _keep_reserve(self) -> None:
        """(Best effort.) Make the reserve file if it is missing and the disk has room."""
        path = self.data_dir / RESERVE_NAME
        try:
            if path.exists() and path.stat().st_size >= RESERVE_BYTES:
                return
            with open(path, "wb") as handle:
                handle.write(b"\0" * RESERVE_BYTES)
        except OSError:
            path.unlink(missing_ok=True)

    def _release_reserve(self) -> bool:
        try:
            (self.data_dir / RESERVE_NAME).unlink()
            return True
        except OSError:
            return False

    def close(self) -> None:
        """Finish deferred thumbnails, then checkpoint SQLite's log into the database file and close it, so
        that ``history.sqlite3`` alone is a complete copy of the history (a backup needs no ``-wal``)."""
        if self._thumbnailer is not None:
            self._thumbnailer.shutdown(wait=True)  # deferred thumbnails finish first
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    self._conn.execute("PRAGMA optimize")
                except sqlite3.Error as exc:  # a full or read-only disk: the log stays, SQLite replays it next time
                    log.warning("history: could not checkpoint on closing (%s)", exc)
                finally:
                    self._conn.close()
                    self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def has_prompt_index(self) -> bool:
        """Whether prompt search uses the FTS5 trigram index (else LIKE alone)."""
        return self._fts

    def recover(self) -> int:
        """Delete the files a crash left behind; return how many.

        They are the files named by the notes of writes in flight (journal.py) that no row names: what
        a crash mid-save leaves, and what a crash between a delete's commit and its file removal leaves.
        Only the notes are read, so the cost follows what was in flight, not the size of the history
        (an upgraded store pays for one :meth:`sweep` at its first open). Runs under the database's
        write lock, so a save in flight in another process (which holds that lock from its note to its
        commit) is never mistaken for debris. If the lock cannot be had within the busy timeout,
        nothing is deleted this time.
        """
        with self._lock:
            sweep_owed = self._conn.execute("SELECT 1 FROM chores WHERE name = 'sweep_files'").fetchone()
            if not sweep_owed and not self._journal.has_notes():
                return 0
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return 0
            try:
                if sweep_owed:
                    removed = self._sweep_files()
                    self._conn.execute("DELETE FROM chores WHERE name = 'sweep_files'")
                    return removed
                removed = 0
                for note in self._journal.notes():
                    unlinked, left = self._unlink(path for path in note.paths if not self._names(path))
                    removed += unlinked
                    if not left:
                        note.discard()
                return removed
            finally:
                self._conn.execute("COMMIT")

    def sweep(self) -> int:
        """Delete every stored file that no row names, listing every folder; return how many.

        :meth:`recover` finds a crash's debris without this; it is for a data directory whose files
        were touched by hand or by another program. Same write lock as :meth:`recover`.
        """
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return 0
            try:
                return self._sweep_files()
            finally:
                self._conn.execute("COMMIT")

    def _sweep_files(self) -> int:
        """(Under the write lock.) Every file of images/, thumbs/ and previews/ that no row names, and
        every note, which this covers."""
        named = {
            self.images_dir: "SELECT file_name FROM images",
            self.thumbs_dir: "SELECT thumb_name FROM images WHERE thumb_name IS NOT NULL",
            self.previews_dir: "SELECT preview_name FROM images WHERE preview_name IS NOT NULL",
        }
        removed = 0
        for folder, sql in named.items():
            keep = {row[0] for row in self._conn.execute(sql)}
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name not in keep and entry.is_file(follow_symlinks=False):
                        try:
                            os.unlink(entry.path)
                            removed += 1
                        except OSError:
                            pass
        for note in self._journal.notes():
            note.discard()
        return removed

    def _names(self, path: Path) -> bool:
        """Whether a row names this stored file."""
        column = {self.images_dir: "file_name", self.thumbs_dir: "thumb_name", self.previews_dir: "preview_name"}
        sql = f"SELECT 1 FROM images WHERE {column[path.parent]} = ?"
        return self._conn.execute(sql, (path.name,)).fetchone() is not None

    # -- writing -------------------------------------------------------------------------------

    def save(
        self,
        result: GenerationResult,
        *,
        visitor: str = "",
        error: str | None = None,
        defer_thumbnails: bool = False,
        defer_previews: bool | None = None,
        previews: Mapping[int, bytes] | None = None,
        preset: str | None = None,
    ) -> HistoryEntry:
        """Store one generation with its images (each in its own format, its parameters embedded).

        A result without images is stored as ``failed``; ``error`` (or its first failure) says why.
        An image whose bytes cannot be decoded is recorded as a failure of that image.
        ``defer_thumbnails``: return without waiting for the thumbnails; ``defer_previews`` (by default
        the same): nor for the previews (see the module's docstring). ``previews``: WebP previews the
        caller has made already (the page, as each image arrived), by image index, kept instead of made
        again; :func:`~backends.history.previews.make_preview` makes them as the store does.
        """
        return self.save_many(
            [result], visitor=visitor, errors=[error], defer_thumbnails=defer_thumbnails, defer_previews=defer_previews,
            previews=[previews], preset=preset,
        )[0]

    def save_many(
        self,
        results: Iterable[GenerationResult],
        *,
        visitor: str = "",
        errors: Sequence[str | None] | None = None,
        defer_thumbnails: bool = False,
        defer_previews: bool | None = None,
        previews: Sequence[Mapping[int, bytes] | None] | None = None,
        preset: str | None = None,
    ) -> list[HistoryEntry]:
        """Store several generations in one transaction (all or none); same rules as :meth:`save`
        (``previews``: one mapping, or None, per result)."""
        _check_visitor(visitor)
        results = list(results)
        errors = list(errors) if errors is not None else [None] * len(results)
        made = list(previews) if previews is not None else [None] * len(results)
        if len(errors) != len(results) or len(made) != len(results):
            raise ValueError("errors and previews must have one entry per result")
        if defer_previews is None:
            defer_previews = defer_thumbnails
        # 1. Decode, thumbnail and preview outside the lock: the slow part, and it touches nothing shared.
        prepared = [
            self._prepare(result, error, thumbnails=not defer_thumbnails, previews=not defer_previews, made=given or {})
            for result, error, given in zip(results, errors, made)
        ]
        # 2. Under the write lock: the note, files, rows, commit. A disk that is full or read-only rolls it
        # all back (files included) and says so in one StorageFailed.
        ids: list[str] = []
        with self._lock:
            try:
                with self._write_transaction() as transaction:
                    for item in prepared:
                        ids.append(self._write(item, visitor, transaction, preset))
            except (OSError, sqlite3.OperationalError) as exc:
                failure = storage_failure(exc)
                if failure is None:
                    raise
                log.error("history not saved: %s", exc)
                raise failure from exc
            entries = self._load(ids, visitor)
            if defer_thumbnails or defer_previews:
                for entry_id in ids:
                    self._derive_later(entries[entry_id], thumbnails=defer_thumbnails, previews=defer_previews)
        return [entries[i] for i in ids]

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

    def _next_created_at(self) -> float:
        """(In the write transaction.) Now, or just after the entry written last, so that ``created_at``
        grows with ``seq`` whichever process writes (searches rely on it: migration m005)."""
        now = self._wall_clock()
        row = self._conn.execute("SELECT created_at FROM generations ORDER BY seq DESC LIMIT 1").fetchone()
        if row is not None and now <= row[0]:
            now = row[0] + 1e-6
        return now

    @staticmethod
    def _wall_clock() -> float:
        """The time an entry is dated with (a separate method so tests can set the clock back)."""
        return time.time()

    def _write(self, item: _Prepared, visitor: str, transaction: _Transaction, preset: str | None = None) -> str:
        result = item.result
        request = result.request
        generation_id = _new_token(12)
        created_at = self._next_created_at()
        image_rows = []
        for prepared in item.images:
            source = prepared.source
            stored = embed_metadata(
                prepared.data,
                parameters=prepared.parameters,
                playground_json=playground_metadata(
                    request,
                    seed=source.seed,
                    image_index=source.index,
                    backend_id=result.backend_id,
                    backend_label=result.backend_label,
                    model=result.model,
                    generation_id=generation_id,
                    created_at=created_at,
                    preset=preset,
                ),
            )
            token = _new_token(16)
            file_name = token + prepared.kind.extension
            thumb_name = token + self._thumb_ext if prepared.thumb is not None else None
            preview_name = token + PREVIEW_EXTENSION if prepared.preview is not None else None
            files = [(self.images_dir / file_name, stored)]
            if thumb_name:
                files.append((self.thumbs_dir / thumb_name, prepared.thumb))
            if preview_name:
                files.append((self.previews_dir / preview_name, prepared.preview))
            transaction.note.add(path for path, _ in files)
            for path, data in files:
                self._write_file(path, data, transaction.written)
            image_rows.append(
                (
                    token,
                    generation_id,
                    source.index,
                    source.seed,
                    prepared.width,
                    prepared.height,
                    prepared.kind.mime_type,
                    source.mime_type,
                    file_name,
                    thumb_name,
                    preview_name,
                    len(stored),
                )
            )
        status = "failed" if not item.images else ("partial" if item.failures else "ok")
        failures = [
            {"index": f.index, "seed": f.seed, "error": f.error, "error_type": f.error_type}
            | ({"error_key": f.error_key, "error_params": f.error_params} if f.error_key else {})
            for f in item.failures
        ]
        self._conn.execute(
            """
            INSERT INTO generations (
                id, created_at, visitor, backend_id, backend_label, model, request,
                prompt, negative_prompt, width, height, n, seed, steps, guidance, scheduler, output_format,
                status, error, failures, elapsed_s, cost_amount, cost_currency, info, preset
            ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                generation_id,
                created_at,
                visitor,
                result.backend_id,
                result.backend_label,
                result.model,
                json.dumps(request.to_dict(), ensure_ascii=False),
                request.prompt,
                request.negative_prompt,
                request.width,
                request.height,
                request.n,
                request.seed,
                request.steps,
                request.guidance,
                request.scheduler,
                request.output_format,
                status,
                item.error,
                json.dumps(failures, ensure_ascii=False),
                float(result.elapsed_s),
                result.cost.amount if result.cost else None,
                result.cost.currency if result.cost else None,
                json.dumps(_scrub(result.info), ensure_ascii=False, default=str),
                preset,
            ),
        )
        self._conn.executemany(
            """
            INSERT INTO images (id, generation_id, idx, seed, width, height, mime_type, source_mime_type,
                                file_name, thumb_name, preview_name, bytes)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            image_rows,
        )
        return generation_id

    @staticmethod
    def _write_file(path: Path, data: bytes, written: list[Path]) -> None:
        written.append(path)  # before opening: a partial file is cleaned up too
        with open(path, "xb") as fh:
            fh.write(data)

    def _commit(self) -> None:
        """The moment an entry starts to exist (a separate method so tests can crash right here)."""
        self._conn.execute("COMMIT")

    @staticmethod
    def _unlink(paths: Iterable[Path]) -> tuple[int, int]:
        """Remove ``paths``; return how many were removed and how many are still there."""
        removed = left = 0
        for path in paths:
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError:
                left += 1  # e.g. still open elsewhere on Windows; its note keeps it for recover()
        return removed, left

    def set_starred(self, entry_id: str, starred: bool, *, visitor: str = "") -> bool:
        """Star or unstar an entry; False when there is no such entry for this visitor."""
        _check_visitor(visitor)
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE generations SET starred = ? WHERE id = ? AND visitor = ?",
                (1 if starred else 0, entry_id, visitor),
            )
            return cursor.rowcount > 0

    def delete(self, entry_id: str, *, visitor: str = "") -> bool:
        """Delete an entry and its files; False when there is no such entry for this visitor. Works on a full
        disk: the reserve file is given up for it (and made again once there is room)."""
        deleted = self._delete_where("g.id = ? AND g.visitor = ?", (entry_id, _check_visitor(visitor))) > 0
        if deleted:
            for listener in list(self._on_delete):
                try:
                    listener(entry_id)
                except Exception:  # a listener's failure does not undo the delete
                    log.exception("history: a delete listener failed")
        return deleted

    def on_delete(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(entry_id)`` after each entry is deleted (e.g. to drop its download copies)."""
        self._on_delete.append(listener)

    def _delete_where(self, where: str, params: tuple[Any, ...]) -> int:
        try:
            return self._delete_rows(where, params)
        except (OSError, sqlite3.OperationalError) as exc:
            failure = storage_failure(exc)
            if failure is None or not failure.disk_full or not self._release_reserve():
                raise
            log.warning("history: the disk is full; the reserve file was given up for a delete")
            return self._delete_rows(where, params)
        finally:
            if not (self.data_dir / RESERVE_NAME).exists():
                self._keep_reserve()

    def _delete_rows(self, where: str, params: tuple[Any, ...]) -> int:
        with self._lock, self._write_transaction() as transaction:
            ids = [
                row[0]
                for row in self._conn.execute(f"SELECT g.id FROM generations g WHERE {where}", params)
            ]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._conn.execute(
                    f"SELECT file_name, thumb_name, preview_name FROM images WHERE generation_id IN ({marks})", chunk
                ):
                    transaction.obsolete.append(self.images_dir / row[0])
                    if row[1]:
                        transaction.obsolete.append(self.thumbs_dir / row[1])
                    if row[2]:
                        transaction.obsolete.append(self.previews_dir / row[2])
                self._conn.execute(f"DELETE FROM generations WHERE id IN ({marks})", chunk)
            # Named before the commit: a crash after it leaves orphan files that recover() finds here.
            transaction.note.add(transaction.obsolete)
        return len(ids)

    @contextmanager
    def _write_transaction(self) -> Iterator[_Transaction]:
        """One write transaction (call under ``self._lock``): committed when the block ends, then the
        files it made obsolete removed; on any error rolled back, and the files it wrote removed. Either
        way its note is dropped once its files are as its rows say."""
        transaction = _Transaction(self._journal.note())
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield transaction
            self._commit()
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if not self._unlink(transaction.written)[1]:
                transaction.note.discard()
            raise
        if not self._remove_files(transaction.obsolete):
            transaction.note.discard()

    def _remove_files(self, files: list[Path]) -> int:
        """Remove the files a commit left unnamed; return how many are still there (a separate method so
        tests can crash right here)."""
        return self._unlink(files)[1]

    # -- style presets -------------------------------------------------------------------------

    def list_presets(self, *, visitor: str = "") -> list[tuple[str, dict[str, Any]]]:
        """(id, fields) of this visitor's own presets, newest first."""
        _check_visitor(visitor)
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, fields FROM presets WHERE visitor = ? ORDER BY created_at DESC, id", (visitor,)
            ).fetchall()
        return [(row[0], json.loads(row[1])) for row in rows]

    def save_preset(self, fields: Mapping[str, Any], *, visitor: str = "") -> str:
        """Store a preset of this visitor's (one of theirs with the same name is replaced); return its id."""
        _check_visitor(visitor)
        preset_id = "preset:" + _new_token(9)
        with self._lock, self._write_transaction():
            self._conn.execute("DELETE FROM presets WHERE visitor = ? AND name = ?", (visitor, fields["name"]))
            self._conn.execute(
                "INSERT INTO presets (id, visitor, name, fields, created_at) VALUES (?, ?, ?, ?, ?)",
                (preset_id, visitor, fields["name"], json.dumps(dict(fields), ensure_ascii=False), time.time()),
            )
        return preset_id

    def delete_preset(self, preset_id: str, *, visitor: str = "") -> bool:
        """Delete one of this visitor's presets; False when they have none by that id."""
        _check_visitor(visitor)
        with self._lock, self._write_transaction():
            deleted = self._conn.execute(
                "DELETE FROM presets WHERE id = ? AND visitor = ?", (preset_id, visitor)
            ).rowcount
        return deleted > 0

    # -- reading -------------------------------------------------------------------------------

    def image_path(self, image: StoredImage) -> Path:
        return image.path

    def thumb_path(self, image: StoredImage) -> Path:
        return image.thumb_path

    def preview_path(self, image: StoredImage) -> Path:
        return image.preview_path

    def get(self, entry_id: str, *, visitor: str = "") -> HistoryEntry | None:
        """The entry, or None when it does not exist for this visitor."""
        _check_visitor(visitor)
        self._await_derived([entry_id])
        with self._lock:
            return self._load([entry_id], visitor).get(entry_id)

    def count(self, *, visitor: str = "") -> int:
        _check_visitor(visitor)
        with self._lock:
            return self._count_entries(visitor)

    def _count_entries(self, visitor: str, backend_id: str | None = None) -> int:
        """Entries of a visitor (of one backend), from the counts the triggers keep (migration m003)."""
        sql = "SELECT coalesce(sum(entries), 0) FROM entry_counts WHERE visitor = ?"
        params: list[Any] = [visitor]
        if backend_id:
            sql += " AND backend_id = ?"
            params.append(backend_id)
        return self._conn.execute(sql, params).fetchone()[0]

    def backends(self, *, visitor: str = "") -> list[tuple[str, str]]:
        """(backend_id, latest label) of every backend this visitor's history uses, by label."""
        _check_visitor(visitor)
        with self._lock:
            rows = self._conn.execute(
                "SELECT backend_id, backend_label, max(created_at) FROM generations WHERE visitor = ? "
                "GROUP BY backend_id",
                (visitor,),
            ).fetchall()
        return sorted(((r[0], r[1]) for r in rows), key=lambda pair: (pair[1].casefold(), pair[0]))

    def list_entries(
        self,
        *,
        visitor: str = "",
        query: str = "",
        backend_id: str | None = None,
        starred_only: bool = False,
        outcome: str | None = None,
        limit: int = 24,
        before: str | None = None,
        offset: int = 0,
        count_up_to: int = COUNT_UP_TO,
    ) -> HistoryPage:
        """A page of entries, newest first.

        ``query`` matches prompts and negative prompts: every whitespace-separated word must occur
        as a substring, case-insensitively (ASCII). ``before`` is a previous page's ``next_cursor``
        (stable while entries are added or deleted); ``offset`` skips entries instead. A search, the
        starred filter or an outcome filter counts its matches up to ``count_up_to`` (see
        :class:`HistoryPage`).
        """
        _check_visitor(visitor)
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if count_up_to < 1:
            raise ValueError("count_up_to must be at least 1")
        where = ["g.visitor = ?"]
        params: list[Any] = [visitor]
        if backend_id:
            where.append("g.backend_id = ?")
            params.append(backend_id)
        if starred_only:
            where.append("g.starred = 1")
        if outcome:
            if outcome not in OUTCOMES:
                raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
            where.append(_STOPPED_SQL if outcome == "stopped" else f"g.status = '{outcome}' AND NOT {_STOPPED_SQL}")
        terms, _ = search_terms(query)
        cursor = _parse_cursor(before) if before else None
        offset = max(0, offset)
        with self._lock:
            history = self._count_entries(visitor, backend_id)
            if self._fts and history > SEARCH_READS_UP_TO and any(len(term) >= 3 for term in terms):
                rows, total, more = self._search_newest_match_first(where, params, terms, cursor, limit, offset, count_up_to)
            else:
                for term in terms:
                    where.append(_LIKE_TERM)
                    params += [_like_pattern(term)] * 2
                counted = bool(terms) or starred_only or bool(outcome)
                rows, total, more = self._page_and_count(
                    f"FROM generations g WHERE {' AND '.join(where)}", params, "g.created_at DESC, g.id DESC",
                    cursor_sql="(g.created_at, g.id) < (?, ?)" if cursor else "", cursor_values=list(cursor or ()),
                    limit=limit, offset=offset, count_up_to=count_up_to if counted else 0,
                )
                if not counted:
                    total, more = history, False
            has_more = len(rows) > limit
        ids = [row[0] for row in rows[:limit]]
        self._await_derived(ids, within=PAGE_THUMBNAIL_WAIT_S)
        with self._lock:
            loaded = self._load(ids, visitor)
        entries = tuple(loaded[i] for i in ids if i in loaded)
        next_cursor = f"{entries[-1].created_at!r}|{entries[-1].id}" if has_more and entries else None
        return HistoryPage(
            entries=entries, total=total, has_more=has_more, next_cursor=next_cursor, total_is_lower_bound=more
        )

    def _search_newest_match_first(
        self,
        where: list[str],
        params: list[Any],
        terms: list[str],
        cursor: tuple[float, str] | None,
        limit: int,
        offset: int,
        count_up_to: int,
    ) -> tuple[list[Any], int, bool]:
        """(Under the lock.) A search through the prompt index (FTS5, trigrams): its matches newest
        first, read only as far as the page and the capped count need.

        The index yields matches by rowid (``seq``), newest first and a page at a time, and
        ``created_at`` grows with ``seq`` (migration m005 and :meth:`_next_created_at`), so that is also
        the history's order. Words shorter than a trigram are matched with LIKE on the rows found.
        """
        matching = [_unindexed(clause) for clause in where]
        values = list(params)
        indexed = []
        for term in terms:
            if len(term) >= 3:
                indexed.append('"' + term.replace('"', '""') + '"')
            else:
                matching.append(_LIKE_TERM)
                values += [_like_pattern(term)] * 2
        base = "FROM generations_fts f CROSS JOIN generations g ON g.seq = f.rowid WHERE generations_fts MATCH ?"
        base += "".join(f" AND {clause}" for clause in matching)
        values = [" AND ".join(indexed), *values]
        cursor_sql, cursor_values = "", []
        if cursor:
            # Matches older than the cursor have a seq no larger than the visitor's newest entry at or
            # before its time: where the walk starts, instead of at the newest match.
            bound = self._conn.execute(
                "SELECT seq FROM generations WHERE visitor = ? AND created_at <= ? ORDER BY created_at DESC LIMIT 1",
                (params[0], cursor[0]),
            ).fetchone()
            cursor_sql = "f.rowid <= ? AND (g.created_at, g.id) < (?, ?)"
            cursor_values = [bound[0] if bound else 0, *cursor]
        return self._page_and_count(
            base, values, "f.rowid DESC", cursor_sql=cursor_sql, cursor_values=cursor_values,
            limit=limit, offset=offset, count_up_to=count_up_to,
        )

    def _page_and_count(
        self,
        from_where: str,
        values: list[Any],
        order: str,
        *,
        cursor_sql: str,
        cursor_values: list[Any],
        limit: int,
        offset: int,
        count_up_to: int,
    ) -> tuple[list[Any], int, bool]:
        """(Under the lock.) The ids of a page (``limit`` + 1, to tell whether there are more) of the rows
        ``from_where`` selects in ``order``, after the cursor; and how many rows it selects (cursor aside),
        exactly up to ``count_up_to`` (0: not counted), and whether there are more than that.

        A first page and its count are one walk: the rows read for the count are the page's too."""
        if not cursor_sql and not offset:
            wanted = max(limit, count_up_to) + 1
            rows = self._conn.execute(
                f"SELECT g.id {from_where} ORDER BY {order} LIMIT ?", [*values, wanted]
            ).fetchall()
            return rows[: limit + 1], min(len(rows), count_up_to), len(rows) > count_up_to
        total, more = 0, False
        if count_up_to:
            found = self._conn.execute(
                f"SELECT count(*) FROM (SELECT 1 {from_where} LIMIT ?)", [*values, count_up_to + 1]
            ).fetchone()[0]
            total, more = min(found, count_up_to), found > count_up_to
        if cursor_sql:
            from_where += f" AND {cursor_sql}"
        rows = self._conn.execute(
            f"SELECT g.id {from_where} ORDER BY {order} LIMIT ? OFFSET ?", [*values, *cursor_values, limit + 1, offset]
        ).fetchall()
        return rows, total, more

    def _load(self, ids: Sequence[str], visitor: str) -> dict[str, HistoryEntry]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        # ``+visitor``: find the rows by their unique id. Without it SQLite walks the visitor's whole
        # history through a (visitor, ...) index, and a page of 24 costs 4 ms at 10,000 entries.
        rows = self._conn.execute(
            f"SELECT * FROM generations WHERE id IN ({marks}) AND +visitor = ?", [*ids, visitor]
        ).fetchall()
        images: dict[str, list[StoredImage]] = {}
        for row in self._conn.execute(
            f"SELECT * FROM images WHERE generation_id IN ({marks}) ORDER BY generation_id, idx", list(ids)
        ):
            images.setdefault(row["generation_id"], []).append(
                StoredImage(
                    id=row["id"],
                    index=row["idx"],
                    seed=row["seed"],
                    width=row["width"],
                    height=row["height"],
                    file_name=row["file_name"],
                    thumb_name=row["thumb_name"],
                    mime_type=row["mime_type"],
                    source_mime_type=row["source_mime_type"],
                    size_bytes=row["bytes"],
                    preview_name=row["preview_name"],
                    data_dir=self.data_dir,
                )
            )
        entries = {}
        for row in rows:
            cost = (
                Price(row["cost_amount"], row["cost_currency"])
                if row["cost_amount"] is not None and row["cost_currency"]
                else None
            )
            entries[row["id"]] = HistoryEntry(
                id=row["id"],
                created_at=row["created_at"],
                visitor=row["visitor"],
                backend_id=row["backend_id"],
                backend_label=row["backend_label"],
                model=row["model"],
                request=GenerationRequest.from_dict(json.loads(row["request"])),
                status=row["status"],
                error=row["error"],
                elapsed_s=row["elapsed_s"],
                cost=cost,
                info=json.loads(row["info"]),
                starred=bool(row["starred"]),
                images=tuple(images.get(row["id"], ())),
                failures=tuple(ImageFailure(**f) for f in json.loads(row["failures"])),
                preset=row["preset"],
            )
        return entries



_LIKE_TERM = "(g.prompt LIKE ? ESCAPE '\\' OR g.negative_prompt LIKE ? ESCAPE '\\')"


def search_terms(query: str) -> tuple[list[str], bool]:
    """The words a search matches: its first :data:`MAX_SEARCH_TERMS` different words,
    each cut to :data:`MAX_TERM_CHARS` characters; and whether anything of the query was left out."""
    terms: list[str] = []
    seen: set[str] = set()
    capped = False
    for word in query.split():
        term = word[:MAX_TERM_CHARS]
        capped = capped or term != word
        if term in seen:
            continue
        if len(terms) == MAX_SEARCH_TERMS:
            return terms, True
        seen.add(term)
        terms.append(term)
    return terms, capped


_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
_SQLITE_FULL_CODES = {sqlite3.SQLITE_FULL}
_SQLITE_UNWRITABLE_CODES = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM}


def storage_failure(exc: BaseException) -> StorageFailed | None:
    """The :class:`StorageFailed` that a write's OSError or SQLite error means (a full disk, a read-only
    or vanished data directory), or None for an error that is not about the disk."""
    if isinstance(exc, OSError) and not isinstance(exc, sqlite3.Error):
        if exc.errno in _FULL_ERRNOS:
            return StorageFailed(Message("storage_full"), disk_full=True)
        return StorageFailed(Message("storage_not_writable", reason=os.strerror(exc.errno) if exc.errno else type(exc).__name__),
                             disk_full=False)
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary in _SQLITE_FULL_CODES:
        return StorageFailed(Message("storage_full"), disk_full=True)
    if primary in _SQLITE_UNWRITABLE_CODES:
        return StorageFailed(Message("storage_not_writable", reason=getattr(exc, "sqlite_errorname", str(exc))),
                             disk_full=False)
    return None


def _like_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _unindexed(sql: str) -> str:
    """``sql`` with the visitor and backend comparisons kept off the (visitor, ...) indexes."""
    return sql.replace("g.visitor = ?", "+g.visitor = ?").replace("g.backend_id = ?", "+g.backend_id = ?")


def _parse_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, entry_id = cursor.split("|", 1)
        return float(created_at), entry_id
    except (AttributeError, ValueError):
        raise ValueError(f"not a history cursor: {cursor!r}") from None
