"""Originals to download, under names a person can read: ``kolors-20261130-1542-seed42.png``.

Stored files have random names (so a URL tells nothing); a download gets the entry's local date and
time and the image's seed instead, ASCII only. The bytes are the stored original, metadata included.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from .store import HistoryEntry, StoredImage

__all__ = ["DownloadFolder", "download_name", "zip_name"]

MAX_AGE_S = 3600.0
"""Prepared downloads older than this are removed when the next one is prepared."""


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
    """Where prepared downloads wait to be fetched: one random subfolder per download, so two entries
    with the same readable name never collide; anything older than an hour goes."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="kolors-downloads-"))
        self.root.mkdir(parents=True, exist_ok=True)

    def image(self, entry: HistoryEntry, image: StoredImage) -> Path:
        """The original of ``image`` under its readable name (a hard link where the filesystem allows)."""
        target = self._fresh_folder() / download_name(entry, image)
        try:
            os.link(image.path, target)
        except OSError:
            shutil.copyfile(image.path, target)
        return target

    def zip(self, entry: HistoryEntry) -> Path:
        """Every original of ``entry`` in one zip (stored, not recompressed: they are images already)."""
        target = self._fresh_folder() / zip_name(entry)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
            for image in entry.images:
                archive.write(image.path, arcname=download_name(entry, image))
        return target

    def _fresh_folder(self) -> Path:
        self._prune()
        return Path(tempfile.mkdtemp(dir=self.root))

    def _prune(self) -> None:
        cutoff = time.time() - MAX_AGE_S
        for folder in self.root.iterdir():
            try:
                if folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass
