"""Style presets: a prompt template with ``{prompt}``, a negative prompt, and optionally the size, steps,
guidance and sampler that go with it (what A1111's styles save, plus the settings its users asked for).

Built-ins ship in ``assets/presets.toml``; a person's own presets are stored with their history (per
visitor on a hosted demo). Applying one changes what is sent: the prompt as the template makes it (shown
on the page before generating), the two negative prompts joined, and the preset's settings in place of
the form's. The prompt actually sent is what is stored and embedded, and the preset's name is recorded.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import FieldProblem, InvalidRequest
from .messages import Message
from .schedulers import match_scheduler
from .validation import MAX_PROMPT_CHARS, parse_size

__all__ = ["BUILTIN_PRESETS_FILE", "PROMPT_SLOT", "Preset", "PresetFields", "PresetLibrary", "load_builtin_presets"]

BUILTIN_PRESETS_FILE = Path(__file__).resolve().parent.parent / "assets" / "presets.toml"
PROMPT_SLOT = "{prompt}"
MAX_NAME_CHARS = 60

_ALLOWED = {  # what each field allows, as a refusal says it (the English is also the field's description)
    "name": Message("allowed_characters_range", low=1, high=MAX_NAME_CHARS),
    "name_zh": Message("allowed_max_characters", limit=MAX_NAME_CHARS),
    "template": Message("allowed_template"),
    "negative_prompt": Message("allowed_max_characters", limit=MAX_PROMPT_CHARS),
    "size": Message("allowed_size_format", example="1024x1024"),
    "steps": Message("allowed_whole_number_range", low=1, high=200),
    "guidance": Message("allowed_number_range", low=0, high=30),
    "scheduler": Message("allowed_sampler_name"),
}


class PresetFields(BaseModel):
    """What a preset may hold; a person's own are checked against it before they are stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS, description=str(_ALLOWED["name"]))
    name_zh: str = Field(default="", max_length=MAX_NAME_CHARS)
    template: str = Field(default=PROMPT_SLOT, max_length=MAX_PROMPT_CHARS, description=str(_ALLOWED["template"]))
    negative_prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    size: str | None = Field(default=None, description=str(_ALLOWED["size"]))
    steps: int | None = Field(default=None, ge=1, le=200, description=str(_ALLOWED["steps"]))
    guidance: float | None = Field(default=None, ge=0, le=30, description=str(_ALLOWED["guidance"]))
    scheduler: str | None = Field(default=None, max_length=64, description=str(_ALLOWED["scheduler"]))

    @field_validator("name", "name_zh", "template", "negative_prompt")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parsed = parse_size(value)
        if parsed is None:
            raise ValueError("not a size")
        return f"{parsed[0]}x{parsed[1]}"


@dataclass(frozen=True)
class Preset:
    """One style. ``builtin`` ones come from the file; a person's own have an ``id`` in the history."""

    name: str
    name_zh: str = ""
    template: str = PROMPT_SLOT
    negative_prompt: str = ""
    size: str | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    builtin: bool = False
    id: str = ""

    @classmethod
    def checked(cls, fields: Mapping[str, Any], **extra: Any) -> Preset:
        """A preset from loosely typed fields (the page's editor, the store), or :class:`InvalidRequest`
        naming each bad field."""
        try:
            model = PresetFields.model_validate({k: v for k, v in fields.items() if k in PresetFields.model_fields})
        except ValidationError as exc:
            problems = [
                FieldProblem(f"preset.{'.'.join(str(p) for p in error['loc'])}", error.get("input"),
                             _ALLOWED.get(str(error["loc"][0])) or error["msg"])
                for error in exc.errors()
            ]
            raise InvalidRequest(problems) from None
        return cls(**model.model_dump(), **extra)

    def label(self, lang: str = "en") -> str:
        return self.name_zh if lang == "zh" and self.name_zh else self.name

    def final_prompt(self, prompt: str) -> str:
        """The prompt as this style makes it: the template around what was typed (appended after a comma,
        as A1111 does, when the template has no {prompt})."""
        prompt = prompt.strip()
        if PROMPT_SLOT in self.template:
            return self.template.replace(PROMPT_SLOT, prompt).strip()
        return ", ".join(part for part in (prompt, self.template) if part)

    def final_negative(self, negative: str) -> str:
        """The person's negative prompt and the style's, joined."""
        return ", ".join(part for part in (negative.strip(), self.negative_prompt) if part)

    def settings(self) -> dict[str, Any]:
        """The form settings this style sets (only the ones it has)."""
        return {k: v for k, v in (("size", self.size), ("steps", self.steps), ("guidance", self.guidance),
                                   ("scheduler", self.scheduler)) if v is not None}

    def applied(self, values: Mapping[str, Any], schedulers: tuple[str, ...]) -> dict[str, Any]:
        """Request ``values`` with this style applied: the prompt and negative prompt as it makes them and its
        settings in place (its sampler spelled the backend's way, left out where the backend has none)."""
        applied = {**values, **self.settings()}
        applied["prompt"] = self.final_prompt(str(values.get("prompt") or ""))
        applied["negative_prompt"] = self.final_negative(str(values.get("negative_prompt") or ""))
        if self.scheduler is not None:
            matched = match_scheduler(self.scheduler, schedulers)
            if matched:
                applied["scheduler"] = matched
            elif schedulers:  # this backend lacks the style's sampler: the form's stays
                applied["scheduler"] = values.get("scheduler")
            else:
                applied.pop("scheduler", None)
        return applied

    def fields(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("builtin")
        data.pop("id")
        return data


def load_builtin_presets(path: Path = BUILTIN_PRESETS_FILE) -> tuple[Preset, ...]:
    """The shipped presets, checked as a person's own would be."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    presets = tuple(
        Preset.checked(table, builtin=True, id="builtin:" + _slug(table.get("name", "")))
        for table in document.get("preset", [])
    )
    names = [p.name.casefold() for p in presets]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: preset names must be unique")
    return presets


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")


class PresetLibrary:
    """The built-in presets and each visitor's own (kept in the history store, per visitor)."""

    def __init__(self, store: Any, builtins: tuple[Preset, ...] | None = None) -> None:
        self.store = store
        self.builtins = load_builtin_presets() if builtins is None else builtins

    def all(self, visitor: str = "") -> list[Preset]:
        """The visitor's own presets (newest first), then the built-ins."""
        own = [Preset.checked(fields, id=preset_id) for preset_id, fields in self.store.list_presets(visitor=visitor)]
        return [*own, *self.builtins]

    def find(self, name_or_id: str, visitor: str = "") -> Preset | None:
        """A preset by id, or by its name in either language (case-insensitive); the visitor's own first."""
        wanted = (name_or_id or "").strip()
        if not wanted:
            return None
        for preset in self.all(visitor):
            if wanted == preset.id or wanted.casefold() in (preset.name.casefold(), preset.name_zh.casefold()):
                return preset
        return None

    def save(self, fields: Mapping[str, Any], visitor: str = "") -> Preset:
        """Store the visitor's preset (replacing their own of the same name); built-in names are taken."""
        preset = Preset.checked(fields)
        clash = next((p for p in self.builtins if preset.name.casefold() in (p.name.casefold(), p.name_zh.casefold())), None)
        if clash is not None:
            raise InvalidRequest([FieldProblem("preset.name", preset.name, Message("allowed_preset_name_free"))])
        preset_id = self.store.save_preset(preset.fields(), visitor=visitor)
        return Preset.checked(preset.fields(), id=preset_id)

    def delete(self, preset_id: str, visitor: str = "") -> bool:
        return self.store.delete_preset(preset_id, visitor=visitor)
