"""Originals to download, under names a person can read: ``kolors-20261130-1542-seed42.png``.

Stored files have random names (so a URL tells nothing); a download gets the entry's local date and
time and the image's seed instead, ASCII only. The bytes are the stored original, metadata included.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from .store import HistoryEntry, StoredImage

__all__ = ["DownloadFolder", "download_name", "zip_name"]

MAX_AGE_S = 3600.0
"""An entry's prepared downloads not asked for in this long are removed when the next ones are prepared."""


def _stamp(entry: HistoryEntry) -> str:
    return time.strftime("%Y%m%d-%H%M", time.localtime(entry.created_at))


def download_name(entry: HistoryEntry, image: StoredImage) -> str:
    """``kolors-<date>-<time>-seed<seed><ext>`` for one image of ``entry``."""
    return f"kolors-{_stamp(entry)}-seed{image.seed}{image.path.suffix}"


def zip_name(entry: HistoryEntry) -> str:
    """``kolors-<date>-<time>-seed<first>-<last>.zip`` (one seed when the entry has one image)."""
    seeds = [image.seed for image in entry.images] or [entry.request.seed or 0]
    span = f"seed{seeds[0]}" if len(seeds) == 1 else f"seed{seeds[0]}-{seeds[-1]}"
    return f"kolors-{_stamp(entry)}-{span}.zip"


class DownloadFolder:
    """Where prepared downloads wait to be fetched: one folder per entry (``<entry id>/<random>/``, so a URL
    tells nothing and two entries with the same readable name never collide), its files made once and
    reused, and removed with the entry (:meth:`forget`). A single image is a hard link to the stored
    original (no bytes written, when ``root`` is on the history's disk); a zip is written when asked for.
    Anything not asked for in an hour goes."""

    def __init__(self, root: Path | None = None, *, clear: bool = False) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="kolors-downloads-"))
        if clear:  # at start-up: what a previous run prepared is derived and made again on demand
            shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._last_prune = 0.0

    def image(self, entry: HistoryEntry, image: StoredImage) -> Path:
        """The original of ``image`` under its readable name (a hard link where the filesystem allows)."""
        with self._lock:
            target = self._folder(entry) / download_name(entry, image)
            if not target.exists():
                try:
                    os.link(image.path, target)
                except OSError:
                    shutil.copyfile(image.path, target)
            return target

    def zip(self, entry: HistoryEntry) -> Path:
        """Every original of ``entry`` in one zip (stored, not recompressed: they are images already), made
        the first time it is asked for and reused after. Raises OSError (a full disk) leaving nothing behind."""
        with self._lock:
            target = self._folder(entry) / zip_name(entry)
            if target.exists():
                return target
            partial = target.with_name(f".{target.name}.partial")
            try:
                with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
                    for image in entry.images:
                        archive.write(image.path, arcname=download_name(entry, image))
                os.replace(partial, target)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            return target

    def forget(self, entry_id: str) -> None:
        """Remove every prepared download of an entry (it was deleted): its URLs answer 404 at once."""
        with self._lock:
            shutil.rmtree(self.root / entry_id, ignore_errors=True)

    def _folder(self, entry: HistoryEntry) -> Path:
        self._prune()
        parent = self.root / entry.id
        try:
            folder = next(child for child in parent.iterdir() if child.is_dir())
            os.utime(folder)  # asked for again: kept another hour
            return folder
        except (FileNotFoundError, StopIteration):
            folder = parent / secrets.token_urlsafe(16)  # 128 random bits, as the stored files' names
            folder.mkdir(parents=True)
            return folder

    def _prune(self) -> None:
        now = time.time()
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        cutoff = now - MAX_AGE_S
        for parent in self.root.iterdir():
            try:
                for folder in parent.iterdir():
                    if folder.stat().st_mtime < cutoff:
                        shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass
