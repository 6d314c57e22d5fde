"""The rows a save writes, by column name: one place for what goes in each column of ``generations`` and
``images``, used by the store's writes and by the benchmark that seeds large histories in bulk.

    conn.execute(INSERT_GENERATION, generation_row(id=..., request=request, images=2, failures=[], ...))
    conn.executemany(INSERT_IMAGE, [image_row(id=..., generation_id=..., ...), ...])

The statements name their parameters (``:prompt``), and each row is a dict with exactly those keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..base import GenerationRequest, ImageFailure, Price
from .entries import outcome_of, status_of

__all__ = ["GENERATION_COLUMNS", "IMAGE_COLUMNS", "INSERT_GENERATION", "INSERT_IMAGE", "generation_row", "image_row"]

# Every column a save names, in the order of the statement (``seq`` and ``starred`` keep their defaults).
GENERATION_COLUMNS = (
    "id", "created_at", "visitor", "backend_id", "backend_label", "model", "request",
    "prompt", "negative_prompt", "width", "height", "n", "seed", "steps", "guidance", "scheduler", "output_format",
    "status", "outcome", "error", "failures", "elapsed_s", "cost_amount", "cost_currency", "info", "preset",
)
IMAGE_COLUMNS = (
    "id", "generation_id", "idx", "seed", "width", "height", "mime_type", "source_mime_type",
    "file_name", "thumb_name", "preview_name", "bytes",
)


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + column for column in columns)})"


INSERT_GENERATION = _insert("generations", GENERATION_COLUMNS)
INSERT_IMAGE = _insert("images", IMAGE_COLUMNS)

_SECRET_KEY = re.compile(r"api[_-]?key|secret|passw|authorization|bearer|credential", re.IGNORECASE)


def _scrub(value: Any) -> Any:
    """A JSON-able copy of provider info without key-like fields."""
    if isinstance(value, Mapping):
        return {str(k): _scrub(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def generation_row(
    *,
    id: str,
    created_at: float,
    visitor: str,
    backend_id: str,
    backend_label: str,
    model: str,
    request: GenerationRequest,
    images: int,
    failures: Sequence[ImageFailure] = (),
    error: str | None = None,
    elapsed_s: float = 0.0,
    cost: Price | None = None,
    info: Mapping[str, Any] | None = None,
    preset: str | None = None,
) -> dict[str, Any]:
    """The ``generations`` row of one generation that stored ``images`` images (``info`` is scrubbed of
    key-like fields; ``status`` and ``outcome`` follow from the images and the failures)."""
    status = status_of(images, failures)
    failure_records = [
        {"index": f.index, "seed": f.seed, "error": f.error, "error_type": f.error_type}
        | ({"error_key": f.error_key, "error_params": f.error_params} if f.error_key else {})
        for f in failures
    ]
    return {
        "id": id,
        "created_at": created_at,
        "visitor": visitor,
        "backend_id": backend_id,
        "backend_label": backend_label,
        "model": model,
        "request": json.dumps(request.to_dict(), ensure_ascii=False),
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "width": request.width,
        "height": request.height,
        "n": request.n,
        "seed": request.seed,
        "steps": request.steps,
        "guidance": request.guidance,
        "scheduler": request.scheduler,
        "output_format": request.output_format,
        "status": status,
        "outcome": outcome_of(status, failures),
        "error": error,
        "failures": json.dumps(failure_records, ensure_ascii=False),
        "elapsed_s": float(elapsed_s),
        "cost_amount": cost.amount if cost else None,
        "cost_currency": cost.currency if cost else None,
        "info": json.dumps(_scrub({} if info is None else info), ensure_ascii=False, default=str),
        "preset": preset,
    }


def image_row(
    *,
    id: str,
    generation_id: str,
    index: int,
    seed: int,
    width: int,
    height: int,
    mime_type: str,
    source_mime_type: str,
    file_name: str,
    thumb_name: str | None,
    preview_name: str | None,
    size_bytes: int,
) -> dict[str, Any]:
    """The ``images`` row of one stored image (the names are of its files in images/, thumbs/, previews/)."""
    return {
        "id": id,
        "generation_id": generation_id,
        "idx": index,
        "seed": seed,
        "width": width,
        "height": height,
        "mime_type": mime_type,
        "source_mime_type": source_mime_type,
        "file_name": file_name,
        "thumb_name": thumb_name,
        "preview_name": preview_name,
        "bytes": size_bytes,
    }
