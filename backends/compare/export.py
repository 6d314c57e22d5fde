"""A grid as one PNG: column and row headings, each cell captioned, and the axes in its metadata.

Layout: the prompt on a band at the top; the X axis headings over the columns; the Y axis headings
left of the rows; under each image its caption (the seed), or the error in place of a failed cell.
Images are scaled down to at most ``cell_size`` pixels a side (never up).

Two text chunks (UTF-8 ``iTXt``):

``parameters``
    A1111-style text for the grid: the first image's settings line with the axes appended as
    ``X Type``/``X Values`` (and Y), as A1111's own X/Y plot writes it. Tools that read A1111
    parameters show it, and dropping the grid back in restores the first cell's settings.
``kolors_playground_grid``
    JSON (:data:`GRID_METADATA_VERSION`): the prompt, the axes (kind, text, values, labels), and
    each cell's row, col, backend, seed, generation id, status and full request.

The font: ``PLAYGROUND_FONT`` (a path) when set, else a font in ``assets/fonts/``, else the first CJK
font found on the system (Noto Sans CJK, WenQuanYi, Droid Sans Fallback, PingFang, Microsoft YaHei,
…, or what ``fc-list :lang=zh`` names), else DejaVu Sans, else Pillow's built-in font. Only the CJK
fonts draw Chinese prompts and labels; on Debian ``apt-get install fonts-noto-cjk`` (or
``fonts-wqy-microhei``) provides one, and on Hugging Face Spaces the same line in ``packages.txt``.
"""

from __future__ import annotations

import functools
import io
import json
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..history.a1111 import a1111_parameters, a1111_quote
from ..history.parameters import PARAMETERS_KEY
from ..history.png_chunks import embed_png_metadata
from .axes import Axis

if TYPE_CHECKING:
    from PIL import ImageFont

    from ..history import HistoryStore
    from .run import CellResult, GridResult

__all__ = [
    "DEFAULT_CELL_SIZE",
    "GRID_JSON_KEY",
    "GRID_METADATA_VERSION",
    "export_grid_png",
    "find_font",
    "grid_metadata",
    "grid_parameters_text",
]

GRID_JSON_KEY = "kolors_playground_grid"
GRID_METADATA_VERSION = 1
DEFAULT_CELL_SIZE = 512

ASSETS_FONTS = Path(__file__).resolve().parents[2] / "assets" / "fonts"

# Fonts that draw Chinese, most preferred first (Debian/Ubuntu, Fedora, Arch, macOS, Windows).
CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
LATIN_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)

_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_MUTED = (90, 90, 90)
_ERROR_INK = (170, 20, 20)
_EMPTY_CELL = (236, 236, 236)


# -- metadata -----------------------------------------------------------------------------------


def grid_metadata(result: GridResult) -> dict[str, Any]:
    """The ``kolors_playground_grid`` JSON object of a grid."""
    plan = result.plan
    return {
        "version": GRID_METADATA_VERSION,
        "prompt": plan.prompt,
        "negative_prompt": plan.negative_prompt,
        "backends": list(plan.backend_ids),
        "x": plan.x.to_dict(),
        "y": plan.y.to_dict() if plan.y is not None else None,
        "cols": plan.cols,
        "rows": plan.rows,
        "base_seed": plan.base_seed,
        "seed_was_random": plan.seed_was_random,
        "cancelled": result.cancelled,
        "created_at": time.time(),
        "cells": [
            {
                "row": cell.cell.row,
                "col": cell.cell.col,
                "backend": cell.cell.backend_id,
                "seed": cell.seed,
                "generation_id": cell.generation_id,
                "status": cell.status,
                "error": cell.error,
                "request": cell.cell.request.to_dict(),
            }
            for cell in result.cells
        ],
    }


def _axis_values_text(axis: Axis) -> str:
    return axis.text.strip() if axis.seed_count is None else ", ".join(axis.labels)


def grid_parameters_text(result: GridResult) -> str:
    """A1111-style ``parameters`` text: the first image's settings plus the grid's axes."""
    first = next((cell for cell in result.cells if cell.ok), result.cells[0])
    request = first.cell.request
    text = a1111_parameters(
        request, seed=first.seed, model=first.entry.model if first.entry else "", backend_label=first.cell.backend_label
    )
    plan = result.plan
    extra = [("Script", "X/Y plot"), ("X Type", plan.x.title), ("X Values", _axis_values_text(plan.x))]
    if plan.y is not None:
        extra += [("Y Type", plan.y.title), ("Y Values", _axis_values_text(plan.y))]
    extra.append(("Grid", f"{plan.cols}x{plan.rows}"))
    return text + ", " + ", ".join(f"{key}: {a1111_quote(value)}" for key, value in extra)



# -- fonts --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def find_font(override: str | None = None) -> tuple[str | None, bool]:
    """(path of the font the grid uses, whether it draws Chinese); (None, False) for Pillow's own.
    ``override`` is the operator's choice (``PLAYGROUND_FONT``), used when it is a file."""
    if override and Path(override).is_file():
        return override, True
    if ASSETS_FONTS.is_dir():
        for path in sorted(ASSETS_FONTS.iterdir()):
            if path.suffix.lower() in (".ttf", ".otf", ".ttc") and _loads(str(path)):
                return str(path), True
    for candidate in CJK_FONT_CANDIDATES:
        if Path(candidate).is_file() and _loads(candidate):
            return candidate, True
    listed = _fontconfig_cjk_font()
    if listed:
        return listed, True
    for candidate in LATIN_FONT_CANDIDATES:
        if Path(candidate).is_file() and _loads(candidate):
            return candidate, False
    return None, False


def _loads(path: str) -> bool:
    from PIL import ImageFont

    try:
        ImageFont.truetype(path, 12)
        return True
    except Exception:
        return False


def _fontconfig_cjk_font() -> str | None:
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return None
    try:
        output = subprocess.run(
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in sorted(output.splitlines()):
        path = line.strip().rstrip(":").strip()
        if path and Path(path).is_file() and _loads(path):
            return path
    return None


@functools.lru_cache(maxsize=16)
def _font(size: int, override: str | None = None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    path, _ = find_font(override)
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size, index=_simplified_chinese_face(path))


@functools.lru_cache(maxsize=8)
def _simplified_chinese_face(path: str) -> int:
    """The face of a font collection meant for Simplified Chinese (Noto Sans CJK SC), else 0."""
    if not path.lower().endswith(".ttc"):
        return 0
    from PIL import ImageFont

    for index in range(12):
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0] or ""
        except Exception:
            break
        if family.endswith(" SC") or " SC " in family:
            return index
    return 0


# -- drawing ------------------------------------------------------------------------------------


def _text_width(font: Any, text: str) -> float:
    return font.getlength(text)


def _line_height(font: Any) -> int:
    _, top, _, bottom = font.getbbox("Ag可")
    return int((bottom - top) * 1.35) + 1


def _tokens(text: str) -> list[str]:
    """Words with their trailing space; CJK characters one by one (they break anywhere)."""
    tokens: list[str] = []
    word = ""
    for char in text:
        if char.isspace():
            tokens.append(word + " ")
            word = ""
        elif ord(char) >= 0x2E80:  # CJK and beyond: a break may fall after any character
            if word:
                tokens.append(word)
                word = ""
            tokens.append(char)
        else:
            word += char
    if word:
        tokens.append(word)
    return tokens


def _wrap(text: str, font: Any, width: float, max_lines: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for token in _tokens(paragraph):
            if _text_width(font, line + token.rstrip()) <= width or not line:
                line += token
                while _text_width(font, line.rstrip()) > width and len(line) > 1:  # a word longer than a line
                    cut = len(line) - 1
                    while cut > 1 and _text_width(font, line[:cut]) > width:
                        cut -= 1
                    lines.append(line[:cut])
                    line = line[cut:]
            else:
                lines.append(line.rstrip())
                line = token
        lines.append(line.rstrip())
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and _text_width(font, last + "…") > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


def _draw_block(draw: Any, lines: list[str], font: Any, box: tuple[int, int, int, int], fill: tuple[int, int, int]) -> None:
    """Lines centred in ``box`` (left, top, right, bottom)."""
    left, top, right, bottom = box
    height = _line_height(font)
    y = top + max(0, (bottom - top - height * len(lines)) // 2)
    for line in lines:
        width = _text_width(font, line)
        draw.text((left + (right - left - width) / 2, y), line, font=font, fill=fill)
        y += height


def _scaled(width: int, height: int, cell_size: int) -> tuple[int, int]:
    factor = min(1.0, cell_size / max(width, height, 1))
    return max(1, round(width * factor)), max(1, round(height * factor))


def _cell_image(cell: CellResult, store: HistoryStore | None, cell_size: int) -> Any:
    """The cell's image, already scaled to fit ``cell_size``: one full-size image in memory at a time."""
    from PIL import Image

    image = cell.image
    if image is None:
        return None
    path = store.image_path(image) if store is not None else image.path
    try:
        with Image.open(path) as opened:
            size = _scaled(*opened.size, cell_size)
            opened.draft("RGB", size)  # a JPEG decodes at the nearest smaller scale it can
            rgb = opened.convert("RGB")
        return rgb if rgb.size == size else rgb.resize(size, Image.Resampling.LANCZOS)
    except Exception:
        return None


def export_grid_png(
    result: GridResult,
    store: HistoryStore | None = None,
    *,
    cell_size: int = DEFAULT_CELL_SIZE,
    extra_chunks: Mapping[str, str] | None = None,
    font: str | None = None,
) -> bytes:
    """The whole grid as one PNG with headings, captions and the two metadata chunks.

    Images are read from ``store`` (or the paths in the result) and scaled to fit ``cell_size``
    pixels a side; failed cells show their error in a grey box of the cell's size. ``font`` is a
    font file to draw with instead of the one :func:`find_font` picks.
    """
    from PIL import Image, ImageDraw

    plan = result.plan
    images = [_cell_image(cell, store, cell_size) for cell in result.cells]

    # 1. Cell box: the largest scaled image (failed cells count with their requested size).
    sizes = [
        image.size if image is not None else _scaled(cell.cell.request.width, cell.cell.request.height, cell_size)
        for image, cell in zip(images, result.cells)
    ]
    cell_w = max(w for w, _ in sizes)
    cell_h = max(h for _, h in sizes)

    # 2. Fonts and bands.
    base = max(14, min(40, round(cell_w / 18)))
    heading_font = _font(base, font)
    caption_font = _font(max(12, round(base * 0.8)), font)
    title_font = _font(max(14, round(base * 0.9)), font)
    pad = max(6, base // 2)
    gap = max(4, base // 4)
    heading_lh = _line_height(heading_font)
    caption_lh = _line_height(caption_font)

    col_lines = [_wrap(h, heading_font, cell_w - 2 * gap, 3) for h in plan.x.headings]
    header_h = max(len(lines) for lines in col_lines) * heading_lh + 2 * pad
    row_w = 0
    row_lines: list[list[str]] = []
    if plan.y is not None:
        row_w = max(160, min(360, round(cell_w * 0.6)))
        row_lines = [_wrap(h, heading_font, row_w - 2 * pad, max(1, cell_h // heading_lh)) for h in plan.y.headings]
    caption_h = caption_lh + 2 * gap
    width = row_w + plan.cols * (cell_w + gap) + gap
    title_lines = _wrap(plan.prompt, title_font, width - 2 * pad, 2)
    if plan.negative_prompt:
        title_lines += _wrap(f"Negative prompt: {plan.negative_prompt}", caption_font, width - 2 * pad, 1)
    title_h = len(title_lines) * _line_height(title_font) + 2 * pad
    height = title_h + header_h + plan.rows * (cell_h + caption_h + gap) + gap

    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)

    # 3. Prompt band, column headings, row headings.
    _draw_block(draw, title_lines, title_font, (pad, 0, width - pad, title_h), _MUTED)
    top = title_h
    for col, lines in enumerate(col_lines):
        left = row_w + gap + col * (cell_w + gap)
        _draw_block(draw, lines, heading_font, (left, top, left + cell_w, top + header_h), _INK)
    grid_top = top + header_h
    for row, lines in enumerate(row_lines):
        y0 = grid_top + row * (cell_h + caption_h + gap)
        _draw_block(draw, lines, heading_font, (pad, y0, row_w - pad, y0 + cell_h), _INK)

    # 4. Cells: the image centred in its box, the caption under it; the error in place of a failed one.
    for index, (cell, image) in enumerate(zip(result.cells, images)):
        left = row_w + gap + cell.cell.col * (cell_w + gap)
        y0 = grid_top + cell.cell.row * (cell_h + caption_h + gap)
        w, h = sizes[index]
        box_left, box_top = left + (cell_w - w) // 2, y0 + (cell_h - h) // 2
        if image is not None:
            canvas.paste(image, (box_left, box_top))
            caption, ink = cell.caption, _MUTED
        else:
            draw.rectangle((box_left, box_top, box_left + w - 1, box_top + h - 1), fill=_EMPTY_CELL)
            message = cell.error or ("no image" if cell.status != "not_started" else "not started")
            lines = _wrap(message, caption_font, w - 2 * pad, max(1, (h - 2 * pad) // caption_lh))
            _draw_block(draw, lines, caption_font, (box_left + pad, box_top + pad, box_left + w - pad, box_top + h - pad), _ERROR_INK)
            caption = f"{cell.cell.caption} · {cell.status.replace('_', ' ')}"
            ink = _ERROR_INK
        caption_lines = _wrap(caption, caption_font, cell_w - 2 * gap, 1)
        _draw_block(draw, caption_lines, caption_font, (left, y0 + cell_h, left + cell_w, y0 + cell_h + caption_h), ink)

    out = io.BytesIO()
    canvas.save(out, format="PNG", compress_level=6)
    chunks = {
        PARAMETERS_KEY: grid_parameters_text(result),
        GRID_JSON_KEY: json.dumps(grid_metadata(result), ensure_ascii=False, separators=(",", ":")),
        **(extra_chunks or {}),
    }
    return embed_png_metadata(out.getvalue(), chunks)

