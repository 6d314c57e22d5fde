"""Writing the history: saves, stars, deletes, presets, and the crash recovery that every write relies on.

Crash safety: a save takes SQLite's write lock (``BEGIN IMMEDIATE``), names the files it is about to
write in a note (journal.py), writes them, inserts the rows and commits, then drops the note. Until the
commit no row names the files; a crash at any moment before it leaves only files that no row names, and
the note names them. A delete names its files in a note and commits first, and removes the files after,
so a crash leaves orphans that the note names, never rows without files. :meth:`HistoryWrites.recover`
(run at every open, under the same write lock, so it never sees another process's save in flight)
reads the notes and deletes the files they name that no row names: its cost follows what was in flight,
not the size of the history. Files are not fsynced: the scheme holds against a killed process, not a
power cut.

The rows are made by rows.py, by column name. :class:`HistoryWrites` is a part of
:class:`~backends.history.store.HistoryStore` (it uses the store's connection, lock, folders and journal);
use the store.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base import GenerationResult
from ..errors import StorageFailed
from ..messages import Message
from .derived import _Prepared
from .entries import HistoryEntry, _check_visitor, _new_token
from .image_files import embed_metadata
from .journal import FileNote
from .parameters import playground_metadata
from .previews import PREVIEW_EXTENSION
from .rows import INSERT_GENERATION, INSERT_IMAGE, generation_row, image_row

__all__ = ["RESERVE_BYTES", "RESERVE_NAME", "HistoryWrites", "storage_failure"]

RESERVE_NAME = ".disk-reserve"
RESERVE_BYTES = 256 * 1024  # a delete of a 16-image entry writes ~60 KB (its note and SQLite's log)

log = logging.getLogger(__name__)


@dataclass
class _Transaction:
    """What one write transaction does to files: ``note`` names them before they are touched; ``written``
    are created (removed again on rollback), ``obsolete`` are no longer named once it commits (removed
    after the commit)."""

    note: FileNote
    written: list[Path] = field(default_factory=list)
    obsolete: list[Path] = field(default_factory=list)


class HistoryWrites:
    """The store's writes, each one transaction under the write lock, and the recovery after a crash."""

    # -- the disk reserve -----------------------------------------------------------------------------

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

    # -- crash recovery -------------------------------------------------------------------------------

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


    # -- saving ---------------------------------------------------------------------------------------

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
                image_row(
                    id=token,
                    generation_id=generation_id,
                    index=source.index,
                    seed=source.seed,
                    width=prepared.width,
                    height=prepared.height,
                    mime_type=prepared.kind.mime_type,
                    source_mime_type=source.mime_type,
                    file_name=file_name,
                    thumb_name=thumb_name,
                    preview_name=preview_name,
                    size_bytes=len(stored),
                )
            )
        self._conn.execute(
            INSERT_GENERATION,
            generation_row(
                id=generation_id,
                created_at=created_at,
                visitor=visitor,
                backend_id=result.backend_id,
                backend_label=result.backend_label,
                model=result.model,
                request=request,
                images=len(item.images),
                failures=item.failures,
                error=item.error,
                elapsed_s=result.elapsed_s,
                cost=result.cost,
                info=result.info,
                preset=preset,
            ),
        )
        self._conn.executemany(INSERT_IMAGE, image_rows)
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

    # -- stars and deletes ----------------------------------------------------------------------------

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


    # -- style presets --------------------------------------------------------------------------------

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

