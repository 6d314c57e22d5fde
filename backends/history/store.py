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

The store is one class, :class:`HistoryStore`, made of its parts by job:

    store.py     opening the data directory and the database (migrations, checks), closing it
    writes.py    save, star, delete, presets; the write transaction, its notes, crash recovery
    derived.py   decoding each image of a save; thumbnails and previews, before the commit or after it
    queries.py   get, list and search, counts, a visitor's backends and presets
    entries.py   what the reads return: HistoryEntry, StoredImage, HistoryPage; the outcome rule
    rows.py      the rows a save inserts, by column name
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import ConfigurationError
from ..messages import Message
from .derived import DerivedFiles
from .entries import IMAGES, OUTCOMES, PREVIEWS, THUMBS, HistoryEntry, HistoryPage, StoredImage
from .journal import FileJournal
from .migrations import has_prompt_index, migrate
from .queries import COUNT_UP_TO, MAX_SEARCH_TERMS, MAX_TERM_CHARS, HistoryQueries, search_terms
from .thumbnails import THUMB_SIZE, thumbnail_format
from .writes import HistoryWrites, storage_failure

__all__ = [
    "COUNT_UP_TO", "DB_NAME", "MAX_SEARCH_TERMS", "MAX_TERM_CHARS", "OUTCOMES", "THUMB_SIZE", "HistoryEntry",
    "HistoryPage", "HistoryStore", "StoredImage", "search_terms", "storage_failure",
]

DB_NAME = "history.sqlite3"
BUSY_TIMEOUT_MS = 5000

log = logging.getLogger(__name__)


class HistoryStore(HistoryWrites, DerivedFiles, HistoryQueries):
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

