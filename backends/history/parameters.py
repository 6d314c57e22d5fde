"""The playground's own record of an image's parameters, and what reading a file back gives.

``kolors_playground`` is JSON with the full request of one image (its own seed, ``n`` = 1), the backend
and the generation it came from, so dropping the file back in restores every control exactly. It goes
into a PNG ``iTXt`` chunk (:mod:`.png_chunks`) or a JPEG/WebP XMP packet (:mod:`.exif_xmp`); the A1111
text beside it is :mod:`.a1111`'s. Nothing here ever sees an API key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from ..base import GenerationRequest
from ..schedulers import a1111_sampler

__all__ = ["JSON_KEY", "METADATA_VERSION", "PARAMETERS_KEY", "RestoredParameters", "parse_playground_json", "playground_metadata"]

PARAMETERS_KEY = "parameters"
JSON_KEY = "kolors_playground"
METADATA_VERSION = 1


@dataclass(frozen=True)
class RestoredParameters:
    """Parameters read back from an image file. A field is None when the file did not say.

    ``source`` is ``"kolors_playground"`` (our JSON: every field exact) or ``"a1111"`` (parsed
    from a ``parameters`` text). ``scheduler`` is our name for the sampler when known (the local
    backend's A1111-style name, or exactly what the request had for our own files); pass it through
    :func:`match_scheduler` to get a given backend's spelling. ``sampler`` is the raw A1111 name.
    ``extra`` keeps the other A1111 settings ("Model hash", ...) as (key, value) pairs.
    """

    source: str
    prompt: str
    negative_prompt: str = ""
    steps: int | None = None
    sampler: str | None = None
    scheduler: str | None = None
    guidance: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    model: str | None = None
    backend_id: str | None = None
    backend_label: str | None = None
    n: int | None = None
    output_format: str | None = None
    output_quality: int | None = None
    generation_id: str | None = None
    image_index: int | None = None
    base_seed: int | None = None
    preset: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def request_fields(self) -> dict[str, Any]:
        """The request fields this file specified (prompt always; the rest when set), by request field name."""
        fields: dict[str, Any] = {"prompt": self.prompt, "negative_prompt": self.negative_prompt}
        for name in ("width", "height", "n", "seed", "steps", "guidance", "scheduler", "output_format", "output_quality"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return fields


def playground_metadata(
    request: GenerationRequest,
    *,
    seed: int,
    image_index: int,
    backend_id: str,
    backend_label: str,
    model: str,
    generation_id: str,
    created_at: float,
    preset: str | None = None,
) -> str:
    """The ``kolors_playground`` JSON for image ``image_index`` of a generation (its own seed, n=1)."""
    return json.dumps(
        {
            "version": METADATA_VERSION,
            "request": replace(request, seed=seed, n=1).to_dict(),
            "backend_id": backend_id,
            "backend_label": backend_label,
            "model": model,
            "generation_id": generation_id,
            "image_index": image_index,
            "base_seed": request.seed,
            "created_at": created_at,
            **({"preset": preset} if preset else {}),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        result = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_playground_json(text: str) -> RestoredParameters | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("version") != METADATA_VERSION:
        return None
    request = data.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("prompt"), str):
        return None
    scheduler = _str(request.get("scheduler"))
    return RestoredParameters(
        source=JSON_KEY,
        prompt=request["prompt"],
        negative_prompt=_str(request.get("negative_prompt")) or "",
        steps=_int(request.get("steps")),
        sampler=a1111_sampler(scheduler),
        scheduler=scheduler,
        guidance=_float(request.get("guidance")),
        seed=_int(request.get("seed")),
        width=_int(request.get("width")),
        height=_int(request.get("height")),
        model=_str(data.get("model")),
        backend_id=_str(data.get("backend_id")),
        backend_label=_str(data.get("backend_label")),
        n=_int(request.get("n")),
        output_format=_str(request.get("output_format")),
        output_quality=_int(request.get("output_quality")),
        generation_id=_str(data.get("generation_id")),
        image_index=_int(data.get("image_index")),
        base_seed=_int(data.get("base_seed")),
        preset=_str(data.get("preset")),
    )
