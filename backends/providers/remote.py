"""What every hosted-API backend shares: its key, its HTTP client, its availability, its cost."""

from __future__ import annotations

import abc
import copy
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from ..base import (
    ApiKey,
    Availability,
    BackendOutput,
    CancelToken,
    Capabilities,
    GenerationRequest,
    ProgressCallback,
)
from ..errors import redact
from ..messages import Message
from ..seeds import image_seeds
from .http import ErrorDescriber, HttpAnswer, ImageLimits, ProviderHttp, RetryPolicy, Timeouts

__all__ = ["RemoteBackend", "secret_value"]


def secret_value(secret: Any) -> str | None:
    """The text of a pydantic ``SecretStr`` setting (None when unset)."""
    return secret.get_secret_value() if secret is not None else None


class RemoteBackend(abc.ABC):
    """A backend that calls a provider over HTTP.

    Subclasses set ``path``, build the provider's payload from a request and read its answer.
    The key lives in the client's headers only; :meth:`with_api_key` gives a copy that uses another
    key (a visitor's own, pasted into the page) without touching this one.
    """

    path: str
    max_concurrency: int = 4
    reports_sending = True  # ProviderHttp says when a request went out (backends.base.mark_sent)
    default_timeouts = Timeouts()

    def __init__(
        self,
        *,
        id: str,
        label: str,
        model: str,
        base_url: str,
        api_key: ApiKey | str | None,
        key_env_var: str,
        key_page: str = "",
        capabilities: Capabilities,
        max_concurrency: int | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy = RetryPolicy(),
        limits: ImageLimits = ImageLimits(),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.id = id
        self.label = label
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.key_env_var = key_env_var
        self.key_page = key_page
        self.capabilities = capabilities
        if max_concurrency is not None:
            self.max_concurrency = max_concurrency
        self._api_key = api_key if isinstance(api_key, ApiKey) else ApiKey(api_key or "")
        self._timeouts = timeouts or self.default_timeouts
        self._retry = retry
        self._limits = limits
        self._transport = transport
        self.http = self._make_http()

    def _make_http(self) -> ProviderHttp:
        return ProviderHttp(
            provider=self.label,
            base_url=self.base_url,
            headers=self.auth_headers(self._api_key.reveal()),
            timeouts=self._timeouts,
            retry=self._retry,
            limits=self._limits,
            describer=self.describer(),
            secret=self._api_key.reveal(),
            transport=self._transport,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, base_url={self.base_url!r}, api_key=***)"

    @abc.abstractmethod
    def auth_headers(self, key: str) -> dict[str, str]:
        """The headers that carry the key (and nothing else secret)."""

    def describer(self) -> ErrorDescriber:
        describer = ErrorDescriber()
        describer.key_hint = Message("key_hint_env", env=self.key_env_var)
        return describer

    def availability(self) -> Availability:
        if self.key_env_var and not self._api_key:
            return Availability(False, Message("set_key_to_use", env=self.key_env_var, provider=self.label))
        return Availability(True)

    def with_api_key(self, key: str) -> RemoteBackend:
        """A copy of this backend that sends ``key`` instead of the configured one."""
        clone = copy.copy(self)
        clone._api_key = ApiKey(key)
        clone.http = clone._make_http()
        return clone

    async def aclose(self) -> None:
        await self.http.aclose()

    async def generate(
        self,
        request: GenerationRequest,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> BackendOutput:
        if cancel is not None:
            cancel.raise_if_cancelled()
        image_seeds(request)  # a request whose seed was not picked is refused before anything is sent
        answer = await self.send(request)
        output = await self.read_answer(answer, request)
        # What the provider reports is shown and stored; a provider (or a proxy) may echo the key in it.
        return replace(output, info=_redacted(output.info, self._api_key.reveal()))

    async def send(self, request: GenerationRequest) -> HttpAnswer:
        """POST the provider's payload for ``request``; a 2xx answer, or a :class:`ProviderError`."""
        return await self.http.post(self.path, json=self.build_payload(request))

    @abc.abstractmethod
    def build_payload(self, request: GenerationRequest) -> Mapping[str, Any]:
        """The provider's request body for ``request`` (seed already set)."""

    @abc.abstractmethod
    async def read_answer(self, answer: HttpAnswer, request: GenerationRequest) -> BackendOutput:
        """The images (downloaded at once where the provider sends URLs) and what it reported."""


def _redacted(value: Any, secret: str) -> Any:
    """``value`` with ``secret`` replaced by ``***`` in every string, however deeply nested."""
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, Mapping):
        return {_redacted(key, secret): _redacted(item, secret) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(item, secret) for item in value]
    return value
