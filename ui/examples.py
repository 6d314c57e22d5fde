"""Example prompts for an empty form, read from ``assets/examples.toml``. No gradio here."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EXAMPLES_FILE", "Example", "load_examples"]

EXAMPLES_FILE = Path(__file__).resolve().parent.parent / "assets" / "examples.toml"


@dataclass(frozen=True)
class Example:
    """One example: its chip's words in English and Chinese, and the form fields it fills."""

    title_en: str
    title_zh: str
    prompt: str
    negative_prompt: str = ""
    size: str | None = None

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"prompt": self.prompt, "negative_prompt": self.negative_prompt}
        if self.size:
            fields["size"] = self.size
        return fields


def load_examples(path: Path = EXAMPLES_FILE) -> tuple[Example, ...]:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    return tuple(Example(**table) for table in document.get("example", []))
