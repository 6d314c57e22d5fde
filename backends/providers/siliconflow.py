"""SiliconFlow's Kolors API: ``POST {base}/images/generations``, Bearer auth.

Request fields ``image_size``, ``batch_size``, ``num_inference_steps``, ``guidance_scale``,
``negative_prompt``, ``seed``; the answer is ``{images: [{url}], timings: {inference}, seed}`` and
errors are ``{code, message, data}``. Image URLs expire after an hour, so they are fetched at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..base import BackendOutput, Capabilities, GeneratedImage, GenerationRequest
from ..errors import BadProviderResponse
from ..messages import Message
from ..seeds import image_seeds
from .http import HttpAnswer, http_options
from .remote import RemoteBackend
from .remote import secret_value as _secret

if TYPE_CHECKING:
    from ..settings import PlaygroundSettings

__all__ = ["DEFAULT_BASE_URL", "SILICONFLOW_CAPABILITIES", "SiliconFlowBackend", "siliconflow_from_settings"]

DEFAULT_BASE_URL = "https://api.siliconflow.cn/v1"

SILICONFLOW_CAPABILITIES = Capabilities(
    sizes=((1024, 1024), (960, 1280), (768, 1024), (720, 1440), (720, 1280)),
    default_size=(1024, 1024),
    max_images=4,
    steps=(1, 100, 20),
    guidance=(0.0, 20.0, 7.5),
    seed_max=9_999_999_999,
    costs_money=True,
)


class SiliconFlowBackend(RemoteBackend):
    path = "/images/generations"

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def build_payload(self, request: GenerationRequest) -> Mapping[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "prompt": request.prompt,
            "image_size": request.size,
            "batch_size": request.n,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
            "seed": request.seed,
        }
        if request.negative_prompt:
            payload["negative_prompt"] = request.negative_prompt
        return payload

    async def read_answer(self, answer: HttpAnswer, request: GenerationRequest) -> BackendOutput:
        body = self.http.parse_json(answer)
        items = body.get("images") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) and isinstance(i.get("url"), str) for i in items):
            raise BadProviderResponse(Message("answer_without_image_urls", provider=self.label), provider=self.label)
        fetched = await asyncio.gather(*(self.http.download_image(item["url"]) for item in items[: request.n]))
        images = tuple(
            GeneratedImage(data=blob, mime_type=mime, width=w, height=h, seed=seed, index=i)
            for i, (seed, (blob, mime, w, h)) in enumerate(zip(image_seeds(request), fetched))
        )
        info = {key: body[key] for key in ("timings", "seed") if key in body}
        return BackendOutput(images=images, info=info)


def siliconflow_from_settings(settings: PlaygroundSettings, **overrides: Any) -> SiliconFlowBackend:
    return SiliconFlowBackend(
        id="siliconflow",
        label="SiliconFlow (Kolors)",
        model="Kwai-Kolors/Kolors",
        base_url=settings.siliconflow_base_url,
        api_key=_secret(settings.siliconflow_api_key),
        key_env_var="SILICONFLOW_API_KEY",
        key_page="https://cloud.siliconflow.cn/account/ak",
        capabilities=SILICONFLOW_CAPABILITIES,
        **{**http_options(settings), **overrides},
    )
