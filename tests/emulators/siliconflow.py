"""SiliconFlow's images API for Kolors.

``POST /v1/images/generations`` with ``Authorization: Bearer KEY``. Answers
``{"images": [{"url"}], "timings": {"inference": seconds}, "seed": seed}``; errors
``{"code": int, "message": str, "data": null}``. Only 20012 (unknown model) and 20015 (bad parameter)
are SiliconFlow's own codes; other errors carry the HTTP status as their code. Classify by HTTP status.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .common import Fault, ProviderEmulator, bearer_token_ok, parse_size
from .schema import ApiError, Field, validate_fields

__all__ = ["SILICONFLOW_MODEL", "SILICONFLOW_SIZES", "SiliconFlowEmulator"]

SILICONFLOW_MODEL = "Kwai-Kolors/Kolors"
SILICONFLOW_SIZES = ("1024x1024", "960x1280", "768x1024", "720x1440", "720x1280")
_CODES = {
    "model_not_found": 20012,
    "invalid_value": 20015,
    "unknown_parameter": 20015,
    "missing_parameter": 20015,
    "invalid_json": 20015,
}


class SiliconFlowEmulator(ProviderEmulator):
    generation_path = "/v1/images/generations"
    api_prefix = "/v1"
    seed_max = 9_999_999_999
    schema: ClassVar[Mapping[str, Field]] = {
        "model": Field("str", required=True),
        "prompt": Field("str", required=True, nonempty=True),
        "image_size": Field("str", default="1024x1024", choices=SILICONFLOW_SIZES),
        "batch_size": Field("int", default=1, low=1, high=4),
        "num_inference_steps": Field("int", default=20, low=1, high=100),
        "guidance_scale": Field("number", default=7.5, low=0, high=20),
        "negative_prompt": Field("str", default=""),
        "seed": Field("int", low=0, high=seed_max),
    }

    def authorized(self, headers: Headers) -> bool:
        return bearer_token_ok(headers, self.api_key)

    def validate(self, body: dict[str, Any]) -> dict[str, Any]:
        params = validate_fields(body, self.schema)
        if params["model"] != SILICONFLOW_MODEL:
            raise ApiError(
                400, "Model does not exist. Please check it carefully.", code="model_not_found", param="model"
            )
        params["width"], params["height"] = parse_size(params["image_size"])
        return params

    def error_body(self, error: ApiError) -> dict[str, Any]:
        return {"code": _CODES.get(error.code or "", error.status), "message": error.message, "data": None}

    async def answer(self, request: Request, params: dict[str, Any], fault: Fault | None) -> Response:
        started = time.perf_counter()
        seed = self.draw_seed(params)
        images = await self.render_batch(
            params["batch_size"],
            prompt=params["prompt"],
            seed=seed,
            width=params["width"],
            height=params["height"],
            negative_prompt=params["negative_prompt"],
            steps=params["num_inference_steps"],
            guidance=float(params["guidance_scale"]),
        )
        urls = [{"url": self.publish(request, image, "image/png", fault)} for image in images]
        inference = self.latency + time.perf_counter() - started
        return JSONResponse({"images": urls, "timings": {"inference": round(inference, 3)}, "seed": seed})
