"""dieyuyun's OpenAI-compatible Kolors API (seed document 000).

``POST {base}/images/generations``, Bearer auth, model ``Kwai-Kolors/Kolors``; five sizes, n 1–4,
steps 1–100 (20), guidance 0–20 (7.5), seed 0–9999999999; ¥0.01 per image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Capabilities, Price
from .http import http_settings_from_env
from .openai_compatible import OpenAICompatibleBackend

__all__ = ["DIEYUYUN_CAPABILITIES", "DEFAULT_BASE_URL", "dieyuyun_from_env"]

DEFAULT_BASE_URL = "https://open.dieyuyun.com/v1"

DIEYUYUN_CAPABILITIES = Capabilities(
    sizes=((1024, 1024), (768, 1024), (1024, 768), (720, 1280), (1280, 720)),
    default_size=(1024, 1024),
    max_images=4,
    steps=(1, 100, 20),
    guidance=(0.0, 20.0, 7.5),
    seed_max=9_999_999_999,
    price_per_image=Price(0.01, "CNY"),
)


def dieyuyun_from_env(env: Mapping[str, str], **overrides: Any) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(
        id="dieyuyun",
        label="dieyuyun (Kolors)",
        model="Kwai-Kolors/Kolors",
        base_url=env.get("DIEYUYUN_BASE_URL") or DEFAULT_BASE_URL,
        api_key=env.get("DIEYUYUN_API_KEY"),
        key_env_var="DIEYUYUN_API_KEY",
        capabilities=DIEYUYUN_CAPABILITIES,
        **{**http_settings_from_env(env), **overrides},
    )
