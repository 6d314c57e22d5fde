"""The files a write transaction has in flight, named on disk before it touches them.

Every write transaction of the history store that creates or removes image files (a save, deferred
thumbnails and previews, a delete) first writes a note in ``pending/`` naming those files, while it
holds SQLite's write lock and before the first of them is created (or, for a delete, before its
commit). The note is removed once the transaction is over and its files are as its rows say: after the
commit and the removal of what it made obsolete, or after a rollback and the removal of what it wrote.

So the notes name every file a crash can leave behind, and recovery reads the notes instead of listing
every stored file. A note that recovery finds while it holds the write lock belongs to a transaction
that is over (committed, rolled back, or its process killed), because notes are only begun under that
lock; each file it names is debris exactly when no row names it. Notes hold relative paths, one a
line (``images/<name>``); a note cut short by a crash lost only names of files not yet created.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["FileJournal", "FileNote"]

_NOTE_SUFFIX = ".files"


class FileNote:
    """The note of one transaction; created on disk by the first :meth:`add`."""

    def __init__(self, journal: FileJournal, path: Path, paths: Iterable[Path] = (), *, on_disk: bool = False) -> None:
        self._journal = journal
        self.path = path
        self.paths: list[Path] = list(paths)
        self._created = on_disk

    def add(self, paths: Iterable[Path]) -> None:
        """Name ``paths`` before they are created or removed (one write, so a kill keeps it whole or
        cuts only the last name)."""
        paths = list(paths)
        if not paths:
            return
        lines = "".join(self._journal.relative(path) + "\n" for path in paths)
        with open(self.path, "a" if self._created else "x", encoding="utf-8") as handle:
            handle.write(lines)
        self._created = True
        self.paths += paths

    def discard(self) -> None:
        """The transaction is over and its files are as its rows say."""
        if self._created:
            try:
                self.path.unlink()
            except FileNotFoundError:  # recovery in another process took it
                pass
            self._created = False


class FileJournal:
    """The folder of notes, for the data directory ``root`` whose files live in ``folders``."""

    def __init__(self, root: Path, folders: Iterable[str], *, name: str = "pending") -> None:
        self.root = Path(root)
        self.folder = self.root / name
        self.folders = frozenset(folders)
        self.folder.mkdir(parents=True, exist_ok=True)

    def note(self) -> FileNote:
        return FileNote(self, self.folder / (secrets.token_urlsafe(12) + _NOTE_SUFFIX))

    def relative(self, path: Path) -> str:
        relative = Path(path).relative_to(self.root)
        if len(relative.parts) != 2 or relative.parts[0] not in self.folders:
            raise ValueError(f"{path} is not a stored file of {self.root}")
        return relative.as_posix()

    def has_notes(self) -> bool:
        """Whether any note is there (one directory read; the folder holds one note per write in flight)."""
        with os.scandir(self.folder) as entries:
            return any(entry.name.endswith(_NOTE_SUFFIX) for entry in entries)

    def notes(self) -> Iterator[FileNote]:
        """Every note, with the stored files it names (names that are not a stored file are skipped)."""
        with os.scandir(self.folder) as entries:
            found = [Path(entry.path) for entry in entries if entry.name.endswith(_NOTE_SUFFIX)]
        for path in found:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:  # its transaction just ended
                continue
            yield FileNote(self, path, self._stored_paths(text.splitlines()), on_disk=True)

    def _stored_paths(self, lines: Iterable[str]) -> Iterator[Path]:
        for line in lines:
            folder, _, name = line.partition("/")
            if folder in self.folders and name and "/" not in name and "\\" not in name and not name.startswith("."):
                yield self.root / folder / name
