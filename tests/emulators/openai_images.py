"""An OpenAI-compatible images server: dieyuyun's Kolors API (seeds/000) and self-hosted ones.

``POST /v1/images/generations`` with ``Authorization: Bearer KEY``. Answers
``{"created", "data": [{"url"} | {"b64_json"}], "usage": {"generated_images", "total_tokens"}}``;
errors ``{"error": {"message", "type", "param", "code"}}`` as OpenAI sends them.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping
from typing import Any, Literal

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .common import Fault, ProviderEmulator, bearer_token_ok, parse_size
from .schema import ApiError, Field, validate_fields

__all__ = ["DIEYUYUN_SIZES", "OpenAIImagesEmulator"]

DIEYUYUN_SIZES = ("1024x1024", "768x1024", "1024x768", "720x1280", "1280x720")
FREE_SIZE_RANGE = (256, 2048)  # when ``sizes`` is None

_DEFAULT_CODES = {401: "invalid_api_key", 404: "not_found", 429: "rate_limit_exceeded"}


class OpenAIImagesEmulator(ProviderEmulator):
    generation_path = "/v1/images/generations"
    api_prefix = "/v1"

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        latency: float = 0.0,
        model: str = "Kwai-Kolors/Kolors",
        sizes: tuple[str, ...] | None = DIEYUYUN_SIZES,
        max_n: int = 4,
        steps_range: tuple[int, int] = (1, 100),
        guidance_range: tuple[float, float] = (0, 20),
        seed_max: int = 9_999_999_999,
        url_style: Literal["http", "local_path"] = "http",
    ) -> None:
        if url_style not in ("http", "local_path"):
            raise ValueError("url_style is 'http' or 'local_path'")
        self.model = model
        self.sizes = sizes
        self.seed_max = seed_max
        self.url_style = url_style
        self.schema = {
            "model": Field("str", required=True),
            "prompt": Field("str", required=True, nonempty=True),
            "size": Field("str", default="1024x1024", choices=tuple(sizes) if sizes is not None else None),
            "n": Field("int", default=1, low=1, high=max_n),
            "response_format": Field("str", default="url", choices=("url", "b64_json")),
            "negative_prompt": Field("str", default=""),
            "seed": Field("int", low=0, high=seed_max),
            "num_inference_steps": Field("int", default=20, low=steps_range[0], high=steps_range[1]),
            "guidance_scale": Field("number", default=7.5, low=guidance_range[0], high=guidance_range[1]),
            "user": Field("str"),
        }
        super().__init__(api_key=api_key, latency=latency)

    def authorized(self, headers: Headers) -> bool:
        return bearer_token_ok(headers, self.api_key)

    def validate(self, body: dict[str, Any]) -> dict[str, Any]:
        params = validate_fields(body, self.schema)
        if params["model"] != self.model:
            raise ApiError(
                404, f"The model `{params['model']}` does not exist.", code="model_not_found", param="model"
            )
        size = parse_size(params["size"])
        low, high = FREE_SIZE_RANGE
        if size is None or not all(low <= side <= high for side in size):
            raise ApiError(
                400,
                f"Invalid value for 'size': expected WIDTHxHEIGHT with sides from {low} to {high}, "
                f"got {params['size']!r}.",
                code="invalid_value",
                param="size",
            )
        params["width"], params["height"] = size
        return params

    def error_body(self, error: ApiError) -> dict[str, Any]:
        return {
            "error": {
                "message": error.message,
                "type": "server_error" if error.status >= 500 else "invalid_request_error",
                "param": error.param,
                "code": error.code or _DEFAULT_CODES.get(error.status),
            }
        }

    def answers_with_urls(self, params: Mapping[str, Any]) -> bool:
        return self.url_style == "http" and params["response_format"] == "url"

    async def answer(self, request: Request, params: dict[str, Any], fault: Fault | None) -> Response:
        images = await self.render_batch(
            params["n"],
            prompt=params["prompt"],
            seed=self.draw_seed(params),
            width=params["width"],
            height=params["height"],
            negative_prompt=params["negative_prompt"],
            steps=params["num_inference_steps"],
            guidance=float(params["guidance_scale"]),
        )
        data = []
        for image in images:
            if params["response_format"] == "b64_json":
                body, _ = self.spoil(image, "image/png", fault)
                data.append({"b64_json": base64.b64encode(body).decode("ascii")})
            elif self.url_style == "http":
                data.append({"url": self.publish(request, image, "image/png", fault)})
            else:  # a path on the server's own disk, of no use to the client
                data.append({"url": f"/tmp/xinference/{secrets.token_hex(16)}.png"})
        return JSONResponse(
            {
                "created": int(time.time()),
                "data": data,
                "usage": {"generated_images": params["n"], "total_tokens": 0},
            }
        )
