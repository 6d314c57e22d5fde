"""What the history holds, as the store hands it out: a stored image, an entry, a page of entries.

An entry's outcome is ``ok``, ``partial``, ``failed`` or ``stopped``; :func:`outcome_of` is the one rule,
which the store writes in the ``outcome`` column (migration m007) and :attr:`HistoryEntry.outcome` reads.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..base import GenerationRequest, ImageFailure, Price
from ..messages import Message, keyed, text_in
from .previews import needs_preview

__all__ = [
    "IMAGES", "OUTCOMES", "PREVIEWS", "STOPPED_ERROR_TYPE", "THUMBS", "HistoryEntry", "HistoryPage", "StoredImage",
    "outcome_of", "status_of",
]

IMAGES, THUMBS, PREVIEWS = "images", "thumbs", "previews"  # the folders of the data directory
OUTCOMES = ("ok", "partial", "failed", "stopped")
STOPPED_ERROR_TYPE = "GenerationCancelled"


def status_of(images: int, failures: Sequence[ImageFailure]) -> str:
    """``ok`` (every image came back), ``partial`` (some did) or ``failed`` (none did): what ``status`` records."""
    return "failed" if not images else ("partial" if failures else "ok")


def outcome_of(status: str, failures: Iterable[ImageFailure]) -> str:
    """``status``, or ``stopped`` when Stop ended the generation (one of its failures is a cancellation)."""
    return "stopped" if any(failure.error_type == STOPPED_ERROR_TYPE for failure in failures) else status


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
        return self.outcome == "stopped"

    @property
    def outcome(self) -> str:
        """``ok``, ``partial``, ``failed`` or ``stopped``: what the history panel shows and filters by."""
        return outcome_of(self.status, self.failures)

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


def _new_token(nbytes: int = 16) -> str:
    return secrets.token_urlsafe(nbytes)


def _check_visitor(visitor: str) -> str:
    if not isinstance(visitor, str):
        raise TypeError(f"visitor must be a string, not {type(visitor).__name__}")
    return visitor

