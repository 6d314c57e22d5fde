"""The OpenAI Images API family: ``POST {base}/images/generations`` with Kolors' extension fields.

Used for dieyuyun and for any self-hosted or clustered server declared in the
``PLAYGROUND_BACKENDS`` file. Reads ``data[].url`` (downloaded at once) and ``data[].b64_json``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping
from typing import Any

from ..base import BackendOutput, GeneratedImage, GenerationRequest
from ..errors import BadProviderResponse
from ..messages import Message
from ..seeds import image_seeds
from .http import HttpAnswer, inspect_image_off_the_loop
from .remote import RemoteBackend

__all__ = ["OpenAICompatibleBackend"]


class OpenAICompatibleBackend(RemoteBackend):
    """An OpenAI-compatible images endpoint.

    ``response_format`` is sent when set ("url" or "b64_json"); servers that put a path local to
    themselves in ``url`` need "b64_json". ``extensions`` says whether the server takes Kolors'
    extra fields (negative_prompt, seed, num_inference_steps, guidance_scale).
    """

    path = "/images/generations"

    def __init__(self, *, response_format: str | None = None, extensions: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.response_format = response_format
        self.extensions = extensions

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def build_payload(self, request: GenerationRequest) -> Mapping[str, Any]:
        payload: dict[str, Any] = {"model": self.model, "prompt": request.prompt, "size": request.size, "n": request.n}
        if self.response_format:
            payload["response_format"] = self.response_format
        if self.extensions:
            if request.negative_prompt:
                payload["negative_prompt"] = request.negative_prompt
            payload["seed"] = request.seed
            payload["num_inference_steps"] = request.steps
            payload["guidance_scale"] = request.guidance
        return payload

    async def read_answer(self, answer: HttpAnswer, request: GenerationRequest) -> BackendOutput:
        body = self.http.parse_json(answer)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not data or not all(isinstance(item, dict) for item in data):
            raise BadProviderResponse(Message("answer_without_images", provider=self.label), provider=self.label)
        fetched = await asyncio.gather(*(self._image_bytes(item) for item in data[: request.n]))
        images = tuple(
            GeneratedImage(data=blob, mime_type=mime, width=w, height=h, seed=seed, index=i)
            for i, (seed, (blob, mime, w, h)) in enumerate(zip(image_seeds(request), fetched))
        )
        info: dict[str, Any] = {}
        if isinstance(body.get("usage"), dict):
            info["usage"] = body["usage"]
        return BackendOutput(images=images, info=info)

    async def _image_bytes(self, item: Mapping[str, Any]) -> tuple[bytes, str, int, int]:
        if isinstance(item.get("b64_json"), str):
            try:
                blob = base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BadProviderResponse(Message("image_not_base64", provider=self.label), provider=self.label) from exc
            return (blob, *await inspect_image_off_the_loop(blob, provider=self.label, limits=self.http.limits))
        if isinstance(item.get("url"), str):
            return await self.http.download_image(item["url"])
        raise BadProviderResponse(Message("image_entry_empty", provider=self.label), provider=self.label)
