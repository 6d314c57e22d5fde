"""Parameters inside PNG files: written into every saved image, read back from dropped-in files.

Two text chunks go into each PNG, right after ``IHDR`` (so readers find them without touching the
pixel data):

``parameters``
    The text AUTOMATIC1111's web UI writes, which other tools (A1111, ComfyUI loaders, Civitai,
    image viewers) know how to show::

        a cat on a windowsill
        Negative prompt: blurry
        Steps: 20, Sampler: Euler, CFG scale: 7.5, Seed: 123, Size: 1024x1024, Model: Kwai-Kolors/Kolors

``kolors_playground``
    JSON with the full request of that one image (its own seed, ``n`` = 1), the backend and the
    generation it came from, so dropping the file back in restores every control exactly.

Both are ``iTXt`` chunks, UTF-8, so Chinese prompts survive. Nothing here ever sees an API key.
JPEG and WebP files carry the same two texts in EXIF and XMP, spliced in by :mod:`.image_metadata`,
which also reads all three formats back (:func:`read_png_parameters` is its old name).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..base import GenerationRequest

__all__ = [
    "JSON_KEY",
    "METADATA_VERSION",
    "PARAMETERS_KEY",
    "RestoredParameters",
    "a1111_parameters",
    "a1111_sampler",
    "embed_png_metadata",
    "match_scheduler",
    "playground_metadata",
    "png_size",
    "read_png_parameters",
    "to_png",
]

PARAMETERS_KEY = "parameters"
JSON_KEY = "kolors_playground"
METADATA_VERSION = 1

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")

# Each group names one sampling method: the A1111 name first (also the local diffusers backend's
# name), then the other spellings we meet (Segmind's diffusers class names, A1111 variants).
_SCHEDULER_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Euler", "EulerDiscreteScheduler"),
    ("Euler a", "EulerAncestralDiscreteScheduler"),
    ("DPM++ 2M", "DPMSolverMultistepScheduler"),
    ("DPM++ 2M Karras",),
    ("DPM++ SDE Karras", "DPMSolverMultistepScheduler_SDE_karras", "DPM++ 2M SDE Karras"),
    ("UniPC", "UniPCMultistepScheduler"),
    ("DEIS", "DEISMultistepScheduler"),
)
_GROUP_OF = {name.casefold(): group for group in _SCHEDULER_GROUPS for name in group}


def a1111_sampler(scheduler: str | None) -> str:
    """The A1111 sampler name for one of our scheduler names; unknown names pass through, None is Euler."""
    if not scheduler:
        return "Euler"
    group = _GROUP_OF.get(scheduler.casefold())
    return group[0] if group else scheduler


def match_scheduler(name: str | None, available: Sequence[str]) -> str | None:
    """The entry of ``available`` (a backend's scheduler list) that means the same method as ``name``.

    ``name`` may be an A1111 sampler ("DPM++ 2M") or a diffusers class name
    ("DPMSolverMultistepScheduler"); the answer is spelled the way the backend spells it, or None when
    the backend has no such scheduler.
    """
    if not name:
        return None
    if name in available:
        return name
    group = _GROUP_OF.get(name.casefold(), (name,))
    wanted = {n.casefold() for n in group}
    return next((a for a in available if a.casefold() in wanted), None)


# ---------------------------------------------------------------------------------------------
# Writing


def _a1111_quote(value: str) -> str:
    # A1111's own rule (modules/infotext_utils.quote): quote values that would break the line.
    if "," not in value and "\n" not in value and ":" not in value:
        return value
    return json.dumps(value, ensure_ascii=False)


def a1111_parameters(
    request: GenerationRequest,
    *,
    seed: int,
    model: str,
    backend_label: str = "",
    sampler: str | None = None,
) -> str:
    """The A1111 ``parameters`` text for one image made with ``seed``.

    ``sampler`` defaults to ``request.scheduler``; either is mapped to the A1111 name where one exists
    (``EulerAncestralDiscreteScheduler`` → ``Euler a``), unknown names pass through, no scheduler is
    ``Euler``. The Negative prompt line is left out when there is none.
    """
    lines = [request.prompt.strip()]
    if request.negative_prompt.strip():
        lines.append(f"Negative prompt: {request.negative_prompt.strip()}")
    settings = [
        ("Steps", str(request.steps)),
        ("Sampler", a1111_sampler(sampler if sampler is not None else request.scheduler)),
        ("CFG scale", f"{request.guidance:g}"),
        ("Seed", str(seed)),
        ("Size", f"{request.width}x{request.height}"),
        ("Model", model),
    ]
    if backend_label:
        settings.append(("Backend", backend_label))
    lines.append(", ".join(f"{key}: {_a1111_quote(value)}" for key, value in settings if value != ""))
    return "\n".join(lines)


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
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _keyword(key: str) -> bytes:
    try:
        raw = key.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"PNG text keyword {key!r} must be Latin-1") from None
    if not 1 <= len(raw) <= 79 or key != key.strip() or "  " in key or any(not 32 <= b <= 255 for b in raw):
        raise ValueError(f"PNG text keyword {key!r} must be 1-79 printable Latin-1 characters")
    return raw


def _itxt(key: str, text: str) -> bytes:
    # keyword \0 compression-flag compression-method language-tag \0 translated-keyword \0 text
    return _chunk(b"iTXt", _keyword(key) + b"\0\0\0" + b"\0" + b"\0" + text.encode("utf-8"))


def _walk_chunks(png: bytes | memoryview):
    """Yield (type, start, end, data_start, data_end) for each chunk; raise ValueError when malformed."""
    view = memoryview(png)
    if bytes(view[:8]) != PNG_SIGNATURE:
        raise ValueError("not a PNG file (bad signature)")
    pos, size = 8, len(view)
    while pos < size:
        if pos + 12 > size:
            raise ValueError("truncated PNG chunk")
        (length,) = struct.unpack_from(">I", view, pos)
        kind = bytes(view[pos + 4 : pos + 8])
        end = pos + 12 + length
        if end > size:
            raise ValueError(f"truncated PNG chunk {kind!r}")
        yield kind, pos, end, pos + 8, pos + 8 + length
        pos = end
        if kind == b"IEND":
            return
    raise ValueError("PNG file has no IEND chunk")


def _text_keyword(kind: bytes, data: memoryview) -> str | None:
    if kind not in _TEXT_CHUNKS:
        return None
    raw = bytes(data[:80])
    return raw.split(b"\0", 1)[0].decode("latin-1")


def png_size(png_bytes: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk; ValueError when the bytes are not a PNG."""
    if len(png_bytes) < 24 or png_bytes[:8] != PNG_SIGNATURE or png_bytes[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", png_bytes[16:24])


def embed_png_metadata(png_bytes: bytes, chunks: Mapping[str, str]) -> bytes:
    """Return ``png_bytes`` with one UTF-8 ``iTXt`` chunk per entry of ``chunks``, right after IHDR.

    The image data is copied byte for byte (no decoding); existing text chunks with the same keywords
    are dropped so ours are the ones readers see. Raises ValueError for a malformed PNG or keyword.
    """
    new = b"".join(_itxt(key, text) for key, text in chunks.items())
    view = memoryview(png_bytes)
    parts: list[bytes | memoryview] = [PNG_SIGNATURE]
    seen_ihdr = False
    for kind, start, end, data_start, data_end in _walk_chunks(view):
        if not seen_ihdr:
            if kind != b"IHDR":
                raise ValueError("PNG file does not start with IHDR")
            parts += [view[start:end], new]
            seen_ihdr = True
            continue
        if _text_keyword(kind, view[data_start:data_end]) in chunks:
            continue
        parts.append(view[start:end])
    return b"".join(parts)


def to_png(data: bytes, mime_type: str) -> bytes:
    """The image as PNG bytes: a PNG is returned unchanged; anything else is decoded and re-saved.

    The history keeps JPEG and WebP as they came (:mod:`.image_metadata`); this is its fallback for
    files whose container it cannot splice metadata into, and for other formats.

    WebP and JPEG become a PNG whose pixels equal the decoded image exactly (the ICC profile is kept).
    Lossless PNG of a lossy source is larger, typically 3-10x the WebP/JPEG size (a 1024x1024 photo:
    ~150 KB JPEG → ~1.5 MB PNG). CMYK images are converted to RGB, the one lossy case.
    Raises ValueError when the bytes are not an image Pillow can read.
    """
    if data[:8] == PNG_SIGNATURE:
        return data
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
                image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            out = io.BytesIO()
            save_args: dict[str, Any] = {}
            if image.info.get("icc_profile"):
                save_args["icc_profile"] = image.info["icc_profile"]
            image.save(out, format="PNG", **save_args)
            return out.getvalue()
    except Exception as exc:
        raise ValueError(f"the {mime_type or 'image'} data could not be read as an image ({exc})") from exc


# ---------------------------------------------------------------------------------------------
# Reading


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
    extra: tuple[tuple[str, str], ...] = ()

    def apply_to(self, base: GenerationRequest) -> GenerationRequest:
        """``base`` with every field this file specified replaced (prompt always; the rest when set)."""
        changes: dict[str, Any] = {"prompt": self.prompt, "negative_prompt": self.negative_prompt}
        for name in (
            "width",
            "height",
            "n",
            "seed",
            "steps",
            "guidance",
            "scheduler",
            "output_format",
            "output_quality",
        ):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        return replace(base, **changes)


def read_png_parameters(data: bytes | os.PathLike[str] | str) -> RestoredParameters | None:
    """The old name of :func:`.image_metadata.read_image_parameters`, which reads JPEG and WebP too."""
    from .image_metadata import read_image_parameters  # that module builds on this one

    return read_image_parameters(data)


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


def _from_playground_json(text: str) -> RestoredParameters | None:
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
    )


# A1111's own pattern (modules/infotext_utils.re_param_code): key: value, where value is either a
# JSON-style quoted string (which may hold commas) or runs to the next comma. Two changes make its
# time linear in the line (a dropped file's text is anyone's): no leading \s* (the key is stripped
# anyway) and keys of at most 128 characters. A1111's own took 22 s for a 30,000-character line.
_PARAM = re.compile(r'(\w[\w \-/]{1,127}):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
MAX_PARAMETERS_CHARS = 65_536  # far beyond any real infotext (prompts are capped at 2,000 characters)
_SIZE = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*$")
_KNOWN_KEYS = {"steps", "sampler", "cfg scale", "seed", "size"}


def _settings(line: str) -> list[tuple[str, str]]:
    pairs = []
    for key, value in _PARAM.findall(line):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError:
                value = value[1:-1]
        pairs.append((key.strip(), str(value)))
    return pairs


def parse_a1111_parameters(text: str) -> RestoredParameters | None:
    """Parse A1111 ``parameters`` text; None when it has no settings line with a known key, or when it
    is longer than :data:`MAX_PARAMETERS_CHARS`."""
    if len(text) > MAX_PARAMETERS_CHARS:
        return None
    lines = text.strip().replace("\r\n", "\n").split("\n")
    pairs = _settings(lines[-1]) if lines else []
    if not any(key.lower() in _KNOWN_KEYS for key, _ in pairs):
        return None
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines[:-1]:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative_lines if in_negative else prompt_lines).append(line)

    settings: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for key, value in pairs:
        if key.lower() in _KNOWN_KEYS | {"model", "schedule type", "backend"} and key.lower() not in settings:
            settings[key.lower()] = value
        else:
            extra.append((key, value))

    width = height = None
    size = _SIZE.match(settings.get("size", ""))
    if size:
        width, height = int(size.group(1)), int(size.group(2))
    sampler = settings.get("sampler") or None
    scheduler = None
    if sampler:
        schedule_type = settings.get("schedule type", "")
        combined = (
            f"{sampler} {schedule_type}"
            if schedule_type and schedule_type.lower() != "automatic"
            else sampler
        )
        for candidate in (combined, sampler):
            group = _GROUP_OF.get(candidate.casefold())
            if group:
                scheduler = group[0]
                break
    if "schedule type" in settings:
        extra.insert(0, ("Schedule type", settings["schedule type"]))
    return RestoredParameters(
        source="a1111",
        prompt="\n".join(prompt_lines).strip(),
        negative_prompt="\n".join(negative_lines).strip(),
        steps=_int(settings.get("steps")),
        sampler=sampler,
        scheduler=scheduler,
        guidance=_float(settings.get("cfg scale")),
        seed=_int(settings.get("seed")),
        width=width,
        height=height,
        model=settings.get("model") or None,
        backend_label=settings.get("backend") or None,
        extra=tuple(extra),
    )
