"""dieyuyun's OpenAI-compatible Kolors API.

``POST {base}/images/generations``, Bearer auth, model ``Kwai-Kolors/Kolors``; five sizes, n 1–4,
steps 1–100 (20), guidance 0–20 (7.5), seed 0–9999999999; ¥0.01 per image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..base import Capabilities, Price
from .http import http_options
from .openai_compatible import OpenAICompatibleBackend
from .remote import secret_value as _secret

if TYPE_CHECKING:
    from ..settings import PlaygroundSettings

__all__ = ["DEFAULT_BASE_URL", "DIEYUYUN_CAPABILITIES", "dieyuyun_from_settings"]

DEFAULT_BASE_URL = "https://open.dieyuyun.com/v1"

DIEYUYUN_CAPABILITIES = Capabilities(
    sizes=((1024, 1024), (768, 1024), (1024, 768), (720, 1280), (1280, 720)),
    default_size=(1024, 1024),
    max_images=4,
    steps=(1, 100, 20),
    guidance=(0.0, 20.0, 7.5),
    seed_max=9_999_999_999,
    price_per_image=Price(0.01, "CNY"),
    costs_money=True,
)


def dieyuyun_from_settings(settings: PlaygroundSettings, **overrides: Any) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(
        id="dieyuyun",
        label="dieyuyun (Kolors)",
        model="Kwai-Kolors/Kolors",
        base_url=settings.dieyuyun_base_url,
        api_key=_secret(settings.dieyuyun_api_key),
        key_env_var="DIEYUYUN_API_KEY",
        key_page="https://open.dieyuyun.com",
        capabilities=DIEYUYUN_CAPABILITIES,
        **{**http_options(settings), **overrides},
    )
