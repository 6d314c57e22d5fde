"""Segmind's Kolors API: ``POST {base}/v1/kolors`` with ``x-api-key``.

The answer's body is the image itself (type from ``Content-Type``) and ``x-remaining-credits`` says
what is left. Its synchronous call takes about 85 s, so the read timeout is sized well above that.
Segmind documents ``number_of_images`` up to 10 but not what several images look like in the
body, so every call asks for one image and the runner fans out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..base import BackendOutput, Capabilities, GeneratedImage, GenerationRequest
from ..errors import BadProviderResponse, InsufficientCredits, ProviderError, clip
from ..messages import Message
from ..seeds import image_seeds
from .http import ErrorDescriber, HttpAnswer, Timeouts, http_options, inspect_image_off_the_loop
from .remote import RemoteBackend
from .remote import secret_value as _secret

if TYPE_CHECKING:
    from ..settings import PlaygroundSettings

__all__ = ["DEFAULT_BASE_URL", "SEGMIND_CAPABILITIES", "SEGMIND_SCHEDULERS", "SegmindBackend", "segmind_from_settings"]

DEFAULT_BASE_URL = "https://api.segmind.com"

SEGMIND_SCHEDULERS = (
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverMultistepScheduler_SDE_karras",
    "UniPCMultistepScheduler",
    "DEISMultistepScheduler",
)

SEGMIND_CAPABILITIES = Capabilities(
    size_range=(512, 2048),
    size_multiple=8,
    default_size=(1024, 1024),
    max_images=10,
    steps=(1, 50, 25),
    guidance=(0.0, 20.0, 6.0),
    # Segmind documents no upper bound for seed; 2**32-1 is what its diffusers workers accept.
    seed_max=2**32 - 1,
    schedulers=SEGMIND_SCHEDULERS,
    output_formats=("webp", "jpg", "png"),
    output_quality=(0, 100, 80),
    costs_money=True,
    typical_latency_s=85.0,  # its synchronous Kolors call
)

_FORMAT_MIME = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}


class _SegmindErrors(ErrorDescriber):
    def __init__(self, *, key_hint: str | Message) -> None:
        self.key_hint = key_hint

    def special_error(self, status: int, detail: str, provider: str) -> ProviderError | None:
        if status != 406:
            return None
        return InsufficientCredits(Message("segmind_no_credits", provider=provider), provider=provider, status=406)


class SegmindBackend(RemoteBackend):
    path = "/v1/kolors"
    default_timeouts = Timeouts(read=180.0, total=240.0)

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key} if key else {}

    def describer(self) -> ErrorDescriber:
        return _SegmindErrors(key_hint=Message("key_hint_env", env=self.key_env_var))

    def build_payload(self, request: GenerationRequest) -> Mapping[str, Any]:
        return {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "width": request.width,
            "height": request.height,
            "steps": request.steps,
            "cfg": request.guidance,
            "seed": request.seed,
            "scheduler": request.scheduler or SEGMIND_SCHEDULERS[0],
            "output_format": request.output_format or "webp",
            "output_quality": request.output_quality if request.output_quality is not None else 80,
            "number_of_images": 1,
        }

    async def read_answer(self, answer: HttpAnswer, request: GenerationRequest) -> BackendOutput:
        content_type = answer.headers.get("content-type", "").split(";")[0].strip()
        if not content_type.startswith("image/"):
            raise BadProviderResponse(
                Message("answer_not_an_image", provider=self.label, content_type=clip(content_type, 100) or Message("untyped_body")),
                provider=self.label, status=answer.status_code,
            )
        mime, width, height = await inspect_image_off_the_loop(answer.content, provider=self.label, limits=self.http.limits)
        expected = _FORMAT_MIME.get(request.output_format or "webp")
        if expected and mime != expected:
            raise BadProviderResponse(
                Message("wrong_output_format", provider=self.label, mime=mime, format=request.output_format), provider=self.label
            )
        image = GeneratedImage(data=answer.content, mime_type=mime, width=width, height=height, seed=image_seeds(request)[0])
        info: dict[str, Any] = {}
        credits = answer.headers.get("x-remaining-credits")
        if credits is not None:
            try:
                info["remaining_credits"] = float(credits)
            except ValueError:
                pass
        return BackendOutput(images=(image,), info=info)


def segmind_from_settings(settings: PlaygroundSettings, **overrides: Any) -> SegmindBackend:
    return SegmindBackend(
        id="segmind",
        label="Segmind (Kolors)",
        model="Kwai-Kolors/Kolors",
        base_url=settings.segmind_base_url,
        api_key=_secret(settings.segmind_api_key),
        key_env_var="SEGMIND_API_KEY",
        key_page="https://cloud.segmind.com/console/api-keys",
        capabilities=SEGMIND_CAPABILITIES,
        **{**http_options(settings), **overrides},
    )
