"""Download buttons for a whole entry: the zip is made when the button is pressed (once per entry, then
reused; backends/history/downloads.py), never when an entry is shown, so showing entries writes nothing
and still works on a full disk. The button asks the server for the zip, and the browser saves it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from backends.errors import StorageFailed
from backends.history import HistoryEntry
from backends.history.downloads import DownloadFolder
from backends.history.store import storage_failure
from backends.messages import Message

from .i18n import message_of

__all__ = ["ZipButton", "prepared_zip", "zip_button"]

# The prepared file's URL, saved as a download from the same origin (an <a download> click, as Gradio's own
# DownloadButton does); nothing when the preparation failed or there was nothing to zip.
SAVE_PREPARED = """(file) => {
  if (!file || !file.url) return;
  const link = document.createElement('a');
  link.href = file.url;
  link.download = file.orig_name || '';
  document.body.appendChild(link);
  link.click();
  link.remove();
}"""


@dataclass(frozen=True)
class ZipButton:
    button: gr.Button
    prepared: gr.File
    """Hidden: the zip the last press prepared (None when it could not be)."""

    def on_press(self, prepare: Callable[..., Any], *, inputs: Any) -> None:
        """``prepare(*inputs, request)`` returns the zip's path (or None); then the browser saves it."""
        self.button.click(prepare, inputs=inputs, outputs=self.prepared, api_visibility="private").then(
            None, inputs=self.prepared, js=SAVE_PREPARED, api_visibility="private",
        )


def zip_button(label: Any, *, elem_id: str, **options: Any) -> ZipButton:
    """The visible button and its hidden file, created where the caller lays out its row."""
    return ZipButton(
        button=gr.Button(label, size="sm", elem_id=elem_id, **options),
        prepared=gr.File(visible=False, elem_id=f"{elem_id}-file"),
    )


def prepared_zip(downloads: DownloadFolder, entry: HistoryEntry | None, lang: str) -> str | None:
    """The path of ``entry``'s zip, made now if it is not there yet; None (and a warning on the page) when the
    disk cannot hold it."""
    if entry is None or not entry.images:
        return None
    try:
        return str(downloads.zip(entry))
    except OSError as exc:
        failure = storage_failure(exc) or StorageFailed(Message("storage_download_full"), disk_full=True)
        if failure.disk_full:
            failure = StorageFailed(Message("storage_download_full"), disk_full=True)
        gr.Warning(message_of(failure, lang))
        return None
