"""What the page says about a run and its images, as plain values: status lines, captions, the readable
generation info, and the tile that stands in for an image that failed. No gradio here.

Every sentence comes from :func:`ui.i18n.tr` in the visitor's language.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import GenerationResult, ImageFailure, KeyedBackend, LocalCompute
from backends.history import HistoryEntry, a1111_parameters
from backends.presets import Preset
from backends.schedulers import scheduler_label
from backends.seeds import seed_run

from .i18n import tr
from .text_safety import literal, tr_literal

__all__ = [
    "RunView",
    "entry_caption",
    "entry_parameters_text",
    "failure_tile",
    "final_prompt_line",
    "generation_json",
    "image_count",
    "info_text",
    "outcome_line",
    "progress_line",
    "seeds_text",
]

TILE_SIZE = 512


@dataclass(frozen=True)
class RunView:
    """What the page knows about a finished run, in the order of its images."""

    entry: HistoryEntry
    result: GenerationResult

    @property
    def failures(self) -> tuple[ImageFailure, ...]:
        return self.entry.failures


def seeds_text(seeds: Sequence[int]) -> str:
    """"42", "42, 43" or "42–45" for a run of consecutive seeds."""
    seeds = sorted(seeds)
    if not seeds:
        return "—"
    if len(seeds) > 2 and seeds == list(seed_run(seeds[0], len(seeds))):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(str(seed) for seed in seeds)


def progress_line(done: int, total: int, lang: str, *, phase: str = "", step: tuple[int, int] | None = None) -> str:
    """"Generating · 2 of 4 images ready · step 12 of 25", with a bar."""
    bar = "▰" * done + "▱" * max(total - done, 0)
    parts = [tr("status_generating", lang), tr("status_k_of_n", lang, done=done, total=total)]
    if step is not None and step[1] > 0:
        parts.append(tr("status_step", lang, done=step[0], total=step[1]))
    if phase:
        parts.append(phase)
    return f"⏳ {bar} " + " · ".join(parts)


def outcome_line(view: RunView, lang: str) -> str:
    """The status after a run: what came back, what it cost, which seeds failed and why."""
    entry, result = view.entry, view.result
    kept = len(entry.images)
    total = result.request.n
    if result.cancelled:
        head = "⏹ " + tr("status_stopped", lang, kept=kept, total=total)
    elif not kept:
        head = "⚠️ " + tr("status_failed", lang, total=total)
    elif entry.failures:
        head = "⚠️ " + tr("status_partial", lang, kept=kept, total=total, seconds=f"{result.elapsed_s:.1f}")
    else:
        head = "✅ " + tr("status_done", lang, images=image_count(kept, lang), seconds=f"{result.elapsed_s:.1f}")
    parts = [head]
    if entry.images:
        parts.append(tr("status_seed" if len(entry.seeds) == 1 else "status_seeds", lang, seeds=seeds_text(entry.seeds)))
    if result.cost:
        parts.append(literal(result.cost))
    credits = (result.info or {}).get("remaining_credits")
    if isinstance(credits, (int, float)):
        parts.append(tr("status_credits", lang, credits=f"{credits:g}"))
    line = " · ".join(parts)
    failed = [f for f in entry.failures if f.error_type != "GenerationCancelled"]
    if failed:
        line += "\n\n" + "\n".join(
            "- " + tr("status_failed_image", lang, index=f.index + 1, seed=f.seed, reason=f.error_in(lang, quote=literal))
            for f in failed
        )
    return line


def info_text(entry: HistoryEntry, result: GenerationResult | None, lang: str) -> str:
    """The generation info as a person reads it: backend and timing, then one A1111 block per image."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created_at))
    elapsed = result.elapsed_s if result is not None else entry.elapsed_s
    head = [
        f"{tr('info_backend', lang)}: {entry.backend_label} ({entry.model})",
        f"{tr('info_when', lang)}: {when} · {elapsed:.1f} s" + (f" · {entry.cost}" if entry.cost else ""),
        f"{tr('info_id', lang)}: {entry.id}",
    ]
    blocks = [entry_parameters_text(entry, image.seed) for image in entry.images]
    if not blocks:
        blocks = [entry_parameters_text(entry, entry.request.seed)]
    return "\n".join(head) + "\n\n" + "\n\n".join(blocks)


def generation_json(entry: HistoryEntry, result: GenerationResult) -> dict[str, Any]:
    """The JSON that ``/generate`` answers with beside its gallery (and the page shows as "Raw JSON")."""
    return {
        "generation_id": entry.id,
        "backend": result.backend_id,
        "model": result.model,
        "seeds": list(entry.seeds),
        "elapsed_s": round(result.elapsed_s, 3),
        "request": result.request.to_dict(),
        "cost": str(result.cost) if result.cost else None,
        "failures": [{"index": f.index, "seed": f.seed, "error": f.error} for f in result.failures],
        "cancelled": result.cancelled,
        "provider": dict(result.info),
    }


def entry_parameters_text(entry: HistoryEntry, seed: int | None) -> str:
    """The A1111 ``parameters`` text of one image of ``entry`` (readable sampler names)."""
    return a1111_parameters(
        entry.request, seed=seed if seed is not None else -1, model=entry.model, backend_label=entry.backend_label
    )


def image_count(count: int, lang: str) -> str:
    """"1 image", "3 images" ("1 张", "3 张")."""
    return tr("history_one_image", lang) if count == 1 else tr("history_images", lang, count=count)


def entry_caption(entry: HistoryEntry, lang: str) -> str:
    """One history tile's caption: star, image count, outcome when not ok, prompt, seed, time."""
    req = entry.request
    count = len(entry.images)
    head = ("★ " if entry.starred else "") + image_count(count, lang)
    outcome = tr(f"outcome_{entry.outcome}", lang) if entry.outcome != "ok" else ""
    prompt = req.prompt if len(req.prompt) <= 40 else req.prompt[:39] + "…"
    when = time.strftime("%m-%d %H:%M", time.localtime(entry.created_at))
    seed = tr("history_seed", lang, seed=req.seed) if req.seed is not None else ""
    sampler = f" · {scheduler_label(req.scheduler)}" if req.scheduler else ""
    return " · ".join(filter(None, [head, outcome, prompt, seed + sampler, when]))


def failure_tile(failure: ImageFailure, lang: str, *, size: tuple[int, int] = (TILE_SIZE, TILE_SIZE)) -> Any:
    """A quiet grey card standing in for an image that did not come back: which image, its seed, why."""
    from PIL import Image, ImageDraw

    width, height = _fit(size)
    tile = Image.new("RGB", (width, height), (236, 236, 236))
    draw = ImageDraw.Draw(tile)
    font = _font(max(14, width // 22))
    stopped = failure.error_type == "GenerationCancelled"
    title = tr("tile_stopped" if stopped else "tile_failed", lang, index=failure.index + 1, seed=failure.seed)
    lines = [title, "", *_wrap(failure.error_in(lang) if not stopped else tr("tile_stopped_reason", lang), 34)]
    y = height // 6
    for line in lines[:10]:
        draw.text((width // 12, y), line, fill=(60, 60, 60) if line is not title else (20, 20, 20), font=font)
        y += int(font.size * 1.5) if hasattr(font, "size") else 20
    return tile


def _fit(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, TILE_SIZE / max(width, height, 1))
    return max(64, round(width * scale)), max(64, round(height * scale))


_WIDE = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"  # CJK characters and full-width punctuation
_TOKENS = re.compile(rf"\s+|[{_WIDE}]|[^\s{_WIDE}]+")
_NO_LINE_START = set("，。；：、）」』”！？")


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` columns, broken at spaces or between Chinese characters (two columns each)."""
    lines, line, columns, spaced = [], "", 0, False
    for token in _TOKENS.findall(text):
        if token.isspace():
            spaced = True
            continue
        wide = re.match(rf"[{_WIDE}]", token) is not None
        size = 2 if wide else len(token)
        gap = 1 if spaced and line else 0
        if columns + gap + size > width and line and token not in _NO_LINE_START:
            lines.append(line)
            line, columns = token, size
        else:
            line += " " * gap + token
            columns += gap + size
        spaced = False
    if line:
        lines.append(line)
    return lines or [text[:width]]


def _font(size: int) -> Any:
    from PIL import ImageFont

    from backends.compare import find_font

    path, _ = find_font()
    try:
        return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)
    except OSError:
        return ImageFont.load_default(size=size)


def no_backend_notice(entries, keys: Mapping[str, str], cpu_only: str, lang: str, *, hosted: bool = False) -> str:
    """What the page says when nothing can run but this machine's CPU, or nothing at all ("" otherwise): which
    services serve Kolors, what an image costs there and where to get a key (:func:`key_guide`), and what each
    other unavailable backend lacks. ``hosted``: a visitor's version (paste your own key), not the operator's."""
    if any(keys.values()):
        return ""
    if cpu_only:  # the operator's sentence names what to set; a visitor on a demo can only bring a key
        return "⚠️ " + (tr("cpu_only_visitor", lang) if hosted else cpu_only) + "\n\n" + key_guide(lang, hosted=hosted)
    if any(entry.availability.available for entry in entries):
        return ""
    lines = [  # what the operator can fix here (a visitor on a demo cannot)
        tr("backend_reason", lang, backend=literal(entry.backend.label), terms=_local_terms(entry.backend, lang),
           reason=entry.availability.reason_in(lang, quote=literal))
        for entry in entries
        if not hosted and not entry.availability.available and not isinstance(entry.backend, KeyedBackend)
    ]
    return "⚠️ **" + tr("no_backend", lang) + "**\n\n" + key_guide(lang, hosted=hosted) + ("\n" + "\n".join(lines) if lines else "")


def key_guide(lang: str, *, hosted: bool = False) -> str:
    """Two lines: the hosted services that serve Kolors with their price per image and sign-up pages; and that a
    key pasted in Settings serves this browser session only (for the operator: or set it and restart)."""
    from backends.providers.dieyuyun import DIEYUYUN_CAPABILITIES

    services = tr("key_guide", lang, dieyuyun=DIEYUYUN_CAPABILITIES.price_per_image)
    return services + "\n\n" + tr("key_guide_visitor" if hosted else "key_guide_operator", lang)


def _local_terms(backend: object, lang: str) -> str:
    """" (no key, no fee per image; it runs on this machine)" for a backend that runs here."""
    return tr("local_terms", lang) if isinstance(backend, LocalCompute) else ""


def gallery_caption(seed: int, lang: str) -> str:
    return tr("caption_seed", lang, seed=seed)



def count_text(total: int, more: bool, first: int, shown: int, lang: str) -> str:
    """"26 entries · showing 1–24" (or "24+ entries" when the store stopped counting)."""
    count = f"{total}+" if more else str(total)
    text = tr("history_count", lang, count=count) if total != 1 or more else tr("history_count_one", lang)
    if shown:
        text += " · " + tr("history_showing", lang, first=first + 1, last=first + shown)
    return text


def summary_mapping(info: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(info or {})


def final_prompt_line(preset: Preset | None, prompt: str, negative: str, lang: str) -> str:
    """"🎨 Watercolour — sent as: …" (and the joined negative prompt), or "" without a style; the style's
    name and template and what was typed show literally (Markdown)."""
    if preset is None:
        return ""
    line = "🎨 " + tr_literal("style_sent_as", lang, style=preset.label(lang), prompt=preset.final_prompt(prompt or "…"))
    joined = preset.final_negative(negative or "")
    return line + ("\n\n" + tr_literal("style_negative", lang, negative=joined) if joined else "")
