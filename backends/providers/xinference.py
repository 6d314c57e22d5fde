"""Xinference's dialect of the OpenAI Images API (``dialect = "xinference"`` in the endpoints file).

Xinference serves Kolors at ``POST {base}/images/generations`` but reads only ``model``, ``prompt``,
``n``, ``size`` and ``response_format`` at the top level. Everything else goes in ``kwargs``, a JSON
*string*; a top-level ``seed`` (or negative prompt, steps, guidance) is dropped without a word, so a
plain OpenAI request gets a new random image every time. Its ``url`` is a path on the server's own
disk, so ``b64_json`` is always asked for (Xinference answers JPEG).

Seeds: an integer ``seed`` seeds one generator for the whole batch, so image *i* > 0 of a batch cannot
be made again alone; a list seeds one generator per image. Requests send ``[s, s+1, ..., s+n-1]``, and
image *i* of a batch is the image that seed *s+i* gives alone: one request per batch is enough.

Stop: each request carries a ``request_id`` in ``kwargs``; when the call is cancelled the backend asks
the server to abort it (``POST {base}/models/{model}/requests/{id}/abort``). Without that, the server
would finish the abandoned images first and the next generation would wait behind them.

Errors come as ``{"detail": "[address=..., pid=...] message"}``; the actor address is left out of
what the person reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from ..base import GenerationRequest, Readiness
from ..errors import ProviderError, ProviderServerError, RequestRejected
from ..messages import Message
from ..seeds import image_seeds
from .http import ErrorDescriber, HttpAnswer, provider_said, shared_tls_context
from .openai_compatible import OpenAICompatibleBackend

__all__ = ["ABORT_TIMEOUT_S", "XinferenceBackend", "xinference_payload"]

log = logging.getLogger(__name__)

ABORT_TIMEOUT_S = 5.0
"""How long a cancelled call waits for the server to confirm the abort before giving up on it."""

_ACTOR_PREFIX = re.compile(r"^\[address=[^\]]*\]\s*")


def xinference_payload(model: str, request: GenerationRequest, *, request_id: str) -> dict[str, Any]:
    """The request body Xinference reads: extension fields inside ``kwargs`` as a JSON string."""
    seeds = image_seeds(request)
    options: dict[str, Any] = {
        "seed": seeds[0] if request.n == 1 else list(seeds),
        "num_inference_steps": request.steps,
        "guidance_scale": request.guidance,
        "request_id": request_id,
    }
    if request.negative_prompt:
        options["negative_prompt"] = request.negative_prompt
    return {
        "model": model,
        "prompt": request.prompt,
        "n": request.n,
        "size": request.size,
        "response_format": "b64_json",
        "kwargs": json.dumps(options, ensure_ascii=False),
    }


class _XinferenceErrors(ErrorDescriber):
    """Xinference's ``{"detail": ...}`` errors, with hints for the ones a cluster operator meets."""

    def __init__(self, *, model: str, key_hint: str | Message) -> None:
        self.model = model
        self.key_hint = key_hint

    def extract_message(self, response: HttpAnswer) -> str:
        return _ACTOR_PREFIX.sub("", super().extract_message(response))

    def special_error(self, status: int, detail: str, provider: str) -> ProviderError | None:
        if status == 404 and "model not found" in detail.lower():
            return RequestRejected(
                Message("xinference_no_model", provider=provider, model=self.model, said=provider_said(detail)),
                provider=provider, status=status,
            )
        if status >= 500 and ("connect call failed" in detail.lower() or "connection refused" in detail.lower()):
            return ProviderServerError(
                Message("xinference_worker_down", provider=provider, model=self.model, status=status),
                provider=provider, status=status,
            )
        if status == 409 and "cancelled" in detail.lower():
            return RequestRejected(Message("xinference_cancelled", provider=provider), provider=provider, status=status)
        return None


class XinferenceBackend(OpenAICompatibleBackend):
    """An Xinference server (supervisor) serving Kolors as an image model.

    ``model`` is the model uid given at launch. Requests to one model replica run one at a time on the
    server, so the runner keeps a batch in one request (``batch_is_per_image_reproducible``).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(response_format="b64_json", extensions=True)
        super().__init__(**kwargs)

    def describer(self) -> ErrorDescriber:
        return _XinferenceErrors(model=self.model, key_hint=super().describer().key_hint)

    def build_payload(self, request: GenerationRequest, *, request_id: str = "") -> Mapping[str, Any]:
        return xinference_payload(self.model, request, request_id=request_id or uuid.uuid4().hex)

    def readiness(self) -> Readiness:
        """What the supervisor says about ``model`` (blocking): running on how many replicas, still
        launching, or not there at all."""
        try:
            answer = httpx.get(
                f"{self.base_url}/models/{self.model}", headers=self.auth_headers(self._api_key.reveal()), timeout=10.0,
                verify=shared_tls_context(),
            )
        except httpx.HTTPError as exc:
            return Readiness(problem=f"unreachable: no answer from {self.base_url} ({type(exc).__name__}). Is the supervisor running?")
        detail = self.http.describer.extract_message(HttpAnswer(answer.status_code, answer.headers, answer.content))
        if answer.status_code == 200:
            try:
                info = answer.json()
            except ValueError:
                info = {}
            replicas = info.get("replica") if isinstance(info, dict) else None
            return Readiness(facts=(f"model {self.model}: running on {replicas or '?'} replica(s)",))
        if answer.status_code == 503:
            return Readiness(problem=f"model {self.model} is still launching on the cluster; check again in a minute")
        if answer.status_code in (400, 404) and "not found" in detail.lower():
            return Readiness(
                problem=f"the cluster has no model {self.model!r} running. Launch it (xinference launch --model-type "
                f"image --model-name NAME --model-uid {self.model}), or set model to a running model's uid."
            )
        if answer.status_code in (401, 403):
            return Readiness(problem=f"key refused (HTTP {answer.status_code}). {self.http.describer.key_hint}")
        return Readiness(facts=(f"model {self.model}: the supervisor answered HTTP {answer.status_code}",))

    async def send(self, request: GenerationRequest) -> HttpAnswer:
        request_id = uuid.uuid4().hex
        try:
            return await self.http.post(self.path, json=self.build_payload(request, request_id=request_id))
        except asyncio.CancelledError:
            await asyncio.shield(self._abort(request_id))
            raise

    async def _abort(self, request_id: str) -> None:
        """Ask the server to stop ``request_id`` (and to refuse it, should it not have started yet).
        A failure here only costs the server time."""
        url = f"{self.base_url}/models/{self.model}/requests/{request_id}/abort"
        headers = self.auth_headers(self._api_key.reveal())
        try:
            async with httpx.AsyncClient(timeout=ABORT_TIMEOUT_S, transport=self._transport, verify=shared_tls_context()) as client:
                answer = await client.post(url, json={}, headers=headers)
            log.info("%s: asked to abort request %s: HTTP %s", self.id, request_id, answer.status_code)
        except (httpx.HTTPError, OSError) as exc:
            log.info("%s: could not abort request %s (%s)", self.id, request_id, type(exc).__name__)
