"""What the local backend does when the app starts: find its device, and with ``KOLORS_PRELOAD=1`` get ready.

Both run in background threads, so the page comes up at once: the device shows in the backend's label
when the probe answers, and the download and load show in :meth:`LocalBackend.status` (and ``--check``).
``KOLORS_PRELOAD=1`` is the operator's consent to download the weights; nobody is asked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from ...base import Backend
from ...errors import PlaygroundError
from .backend import LocalBackend

__all__ = ["start_local_backends"]

logger = logging.getLogger(__name__)


def start_local_backends(backends: Iterable[Backend]) -> list[threading.Thread]:
    """For each local backend among ``backends`` (the available ones: ``Registry.available()``): start
    finding its device; preload it if its settings say so.

    Returns the preload threads (daemons), so a caller may wait for them.
    """
    threads = []
    for backend in backends:
        if not isinstance(backend, LocalBackend):
            continue
        backend.start_detection()
        if backend.settings.preload:
            thread = threading.Thread(
                target=_preload, args=(backend.allowing_download(),), name="kolors-preload", daemon=True
            )
            thread.start()
            threads.append(thread)
    return threads


def _preload(backend: LocalBackend) -> None:
    logger.info("KOLORS_PRELOAD=1: getting Kolors (%s) ready in the background.", backend.model)
    try:
        backend.load()
    except PlaygroundError as exc:
        logger.warning("Kolors could not be preloaded: %s", exc)
    except Exception:
        logger.exception("Kolors could not be preloaded")
    else:
        logger.info("Kolors preloaded: %s", backend.status())
