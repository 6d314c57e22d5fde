"""A history store in a process of its own that a crash test kills part way through a write.

``run_and_crash(data_dir, script)`` runs ``script`` in a child with ``store`` (a HistoryStore on
``data_dir``), ``S`` (the class, to patch a step into ``os._exit(77)``), ``result`` and
``photo_result`` (results to save), and asserts that the child died with 77, as a killed process does:
no cleanup, no ``finally``, no atexit. Children are forked from one forkserver that has imported the
store and Pillow once, so each costs milliseconds rather than a new interpreter.
"""

from __future__ import annotations

import io
import multiprocessing
import os  # noqa: F401  (the scripts call os._exit)
import sys  # noqa: F401
import textwrap
from pathlib import Path

from PIL import Image

from backends.base import GeneratedImage, GenerationRequest, GenerationResult
from backends.history import HistoryStore
from backends.history.store import HistoryStore as S  # noqa: F401  (the scripts patch it)
from tests.emulators.images import render_photo

KILLED = 77
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload([__name__])


def png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), color).save(out, format="PNG")
    return out.getvalue()


def result(prompt: str) -> GenerationResult:
    request = GenerationRequest(prompt=prompt, seed=1, n=2, width=300, height=300)
    images = tuple(GeneratedImage(png((i * 90, 0, 0)), "image/png", 300, 300, 1 + i, i) for i in range(2))
    return GenerationResult("dieyuyun", "Dieyuyun", "m", request, images, (), 1.0)


def photo_result(prompt: str) -> GenerationResult:
    """Heavy enough to get previews: each image makes three files."""
    request = GenerationRequest(prompt=prompt, seed=1, n=2, width=512, height=512)
    images = tuple(
        GeneratedImage(render_photo(width=512, height=512, variant=i), "image/png", 512, 512, 1 + i, i)
        for i in range(2)
    )
    return GenerationResult("dieyuyun", "Dieyuyun", "m", request, images, (), 1.0)


def _child(data_dir: str, script: str) -> None:
    exec(textwrap.dedent(script), {**globals(), "store": HistoryStore(data_dir)})


def run_and_crash(data_dir: Path, script: str) -> None:
    child = _context.Process(target=_child, args=(str(data_dir), script))
    child.start()
    child.join(timeout=60)
    if child.exitcode is None:
        child.kill()
    assert child.exitcode == KILLED, f"the child ended with {child.exitcode}, not killed at the crash point"
