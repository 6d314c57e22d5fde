"""Segmind's synchronous Kolors API (seeds/001).

``POST /v1/kolors`` with header ``x-api-key``; a JSON body, or a form body as the doc's Python example
sends (numbers arrive as strings and are coerced). The answer is the image bytes, typed by
``Content-Type``, with ``x-remaining-credits``. Errors are ``{"error": "message"}``: 401 bad key,
404 unknown path, 405 wrong method, 406 not enough credits, 400 bad field, 500 through faults.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from .common import Fault, ProviderEmulator
from .schema import ApiError, Field

__all__ = ["SEGMIND_FORMATS", "SEGMIND_SCHEDULERS", "SegmindEmulator"]

SEGMIND_SCHEDULERS = (
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverMultistepScheduler_SDE_karras",
    "UniPCMultistepScheduler",
    "DEISMultistepScheduler",
)
SEGMIND_FORMATS = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}
_RENDER_FORMATS = {"webp": "webp", "jpg": "jpeg", "png": "png"}


class SegmindEmulator(ProviderEmulator):
    generation_path = "/v1/kolors"
    serves_urls = False
    accepts_forms = True
    # Segmind documents no maximum seed; 2**32 - 1 (numpy's seed range) is the most a backend may assume.
    seed_max = 2**32 - 1
    schema: ClassVar[Mapping[str, Field]] = {
        "prompt": Field("str", required=True, nonempty=True),
        "negative_prompt": Field("str", default=""),
        "width": Field("int", default=1024, low=512, high=2048),
        "height": Field("int", default=1024, low=512, high=2048),
        "steps": Field("int", default=25, low=1, high=50),
        "cfg": Field("number", default=6, low=0, high=20),
        "seed": Field("int", low=0, high=seed_max),
        "scheduler": Field("str", default=SEGMIND_SCHEDULERS[0], choices=SEGMIND_SCHEDULERS),
        "output_format": Field("str", default="webp", choices=tuple(SEGMIND_FORMATS)),
        "output_quality": Field("int", default=80, low=0, high=100),
        # The doc is silent on what more than one image returns; this answers with the first only.
        "number_of_images": Field("int", default=1, low=1, high=10),
        "base64": Field("bool"),  # accepted and ignored
    }

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        latency: float = 0.0,
        credits: float = 1000.0,
        cost_per_image: float = 0.8,
    ) -> None:
        super().__init__(api_key=api_key, latency=latency)
        self._initial_credits = Decimal(str(credits))
        self._credits = self._initial_credits
        self._credit_lock = threading.Lock()
        self.cost_per_image = cost_per_image

    @property
    def credits(self) -> float:
        with self._credit_lock:
            return float(self._credits)

    @credits.setter
    def credits(self, value: float) -> None:
        with self._credit_lock:
            self._credits = Decimal(str(value))

    def reset(self) -> None:
        super().reset()
        self.credits = float(self._initial_credits)

    def authorized(self, headers: Headers) -> bool:
        return secrets.compare_digest(headers.get("x-api-key", ""), self.api_key)

    def error_body(self, error: ApiError) -> dict[str, Any]:
        return {"error": error.message}

    def _charge(self) -> Decimal:
        """Take one image's price, or raise 406 when the account cannot pay it."""
        with self._credit_lock:
            remaining = self._credits - Decimal(str(self.cost_per_image))
            if remaining < 0:
                raise ApiError(406, "Not enough credits")
            self._credits = remaining
            return remaining

    async def answer(self, request: Request, params: dict[str, Any], fault: Fault | None) -> Response:
        remaining = self._charge()
        output_format = params["output_format"]
        image = await self.render(
            prompt=params["prompt"],
            seed=self.draw_seed(params),
            width=params["width"],
            height=params["height"],
            fmt=_RENDER_FORMATS[output_format],
            quality=params["output_quality"],
            negative_prompt=params["negative_prompt"],
            steps=params["steps"],
            guidance=float(params["cfg"]),
            scheduler=params["scheduler"],
        )
        body, media_type = self.spoil(image, SEGMIND_FORMATS[output_format], fault)
        return Response(body, media_type=media_type, headers={"x-remaining-credits": format(remaining, "f")})
