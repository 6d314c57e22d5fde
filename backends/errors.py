"""The playground's exception tree. Every message is meant to be shown to a person as it is.

    PlaygroundError                 base class; ``str(exc)`` is the message to show
    ├── InvalidRequest              the request breaks a backend's limits; ``problems`` lists each field
    ├── ConfigurationError          the playground's own configuration is wrong (env vars, TOML file)
    ├── BackendUnavailable          the backend cannot run here (missing key, missing optional packages)
    │   ├── NotEnoughMemory         the local model would not fit in the memory that is free
    │   └── DownloadRequired        the local model's weights must be downloaded first; asks for consent
    ├── ProviderError               the provider was reached, or tried, and the generation failed
    │   ├── AuthenticationFailed    401/403: the key is wrong or lacks access
    │   ├── InsufficientCredits     the account cannot pay for the request (Segmind's 406, HTTP 402)
    │   ├── RateLimited             429 after the bounded retries
    │   ├── RequestRejected         another 4xx: content policy, an unsupported value, a wrong URL
    │   ├── ProviderServerError     5xx after the bounded retries
    │   ├── ProviderUnreachable     connection refused, DNS failure, TLS failure
    │   ├── ProviderTimeout         no (complete) answer within the timeout
    │   ├── BadProviderResponse     an answer we cannot use: malformed JSON, a body that is not an image
    │   └── ImageDownloadFailed     the image URL expired, is too large, or is not an image
    ├── QuotaExceeded               a hosted demo's per-visitor image quota is used up for now
    ├── StorageFailed               the history could not be written (disk full, read-only): nothing kept
    ├── TooManyJobs                 a hosted demo's visitor already has as many jobs queued or running as allowed
    └── GenerationCancelled         the person pressed Stop

Foreign exceptions (httpx, Pillow, json) are translated at the boundary with ``raise ... from exc``,
and no message ever contains an API key: :func:`redact` strips a key from provider text first, and
:func:`clip` then keeps what a provider said to one line of at most :data:`PROVIDER_TEXT_LIMIT` characters.

Every error raised here can be built from a :class:`~backends.messages.Message` (a key of the catalog in
:mod:`backends.messages` and its parameters) instead of a string: ``str(exc)`` is then the English text,
as the API and the logs show it, and :meth:`PlaygroundError.message_in` renders it in the page's language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from .messages import Message, field_label, keyed, split, text_in

__all__ = [
    "PROVIDER_TEXT_LIMIT",
    "AuthenticationFailed",
    "BackendUnavailable",
    "BadProviderResponse",
    "ConfigurationError",
    "DownloadRequired",
    "FieldProblem",
    "GenerationCancelled",
    "ImageDownloadFailed",
    "InsufficientCredits",
    "InvalidRequest",
    "NotEnoughMemory",
    "PlaygroundError",
    "ProviderError",
    "ProviderServerError",
    "ProviderTimeout",
    "ProviderUnreachable",
    "QuotaExceeded",
    "RateLimited",
    "RequestRejected",
    "StorageFailed",
    "TooManyJobs",
    "clip",
    "redact",
]

PROVIDER_TEXT_LIMIT = 300
"""The most characters of a provider's own words (an error body, a content type) that a message quotes."""


class PlaygroundError(Exception):
    """Base class. ``str(exc)`` is a complete sentence a person can act on, in English.

    Built from a :class:`Message`, the error also keeps its ``key`` and ``params`` (JSON values, nested
    messages as ``{"key", "params"}``), so :meth:`message_in` can say it in another language.
    """

    def __init__(self, message: str | Message) -> None:
        text, self.key, params = split(message)
        super().__init__(text)
        self.message = text
        self.params: dict[str, Any] = params or {}

    def __str__(self) -> str:
        return self.message

    def message_in(self, lang: str, *, quote: Callable[[str], str] | None = None) -> str:
        """The message in ``lang`` ("en" or "zh"); the English text for an error built from a plain string.
        ``quote`` is applied to its text parameters (or to that whole English text), for markup."""
        return text_in(self.message, self.key, self.params, lang, quote=quote)

    @property
    def localizable(self) -> str | Message:
        """The message as it was given (a :class:`Message` when keyed), to hand on to a failure record."""
        return keyed(self.message, self.key, self.params)


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: its name, the value given, and what is allowed.

    ``allowed`` may be given as a :class:`Message`; it is kept as its English text, with ``allowed_key`` and
    ``allowed_params`` to say it in another language. A ``value`` given as a Message (a description rather
    than what was typed) is shown as its text, unquoted.
    """

    field: str
    value: object
    allowed: str
    allowed_key: str | None = dataclass_field(default=None, compare=False, repr=False)
    allowed_params: dict[str, Any] | None = dataclass_field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.allowed, Message):
            text, key, params = split(self.allowed)
            object.__setattr__(self, "allowed", text)
            object.__setattr__(self, "allowed_key", key)
            object.__setattr__(self, "allowed_params", params)

    def sentence(self) -> Message:
        """This problem as one line of :class:`InvalidRequest`'s list."""
        allowed = keyed(self.allowed, self.allowed_key, self.allowed_params)
        return Message("field_problem", field=field_label(self.field), value=_show(self.value), allowed=allowed)

    def __str__(self) -> str:
        return str(self.sentence())


def _show(value: object) -> str | Message:
    if isinstance(value, Message):
        return value
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class InvalidRequest(PlaygroundError):
    """The request does not fit the backend's capabilities. Raised before any network or GPU work."""

    def __init__(self, problems: list[FieldProblem] | tuple[FieldProblem, ...]) -> None:
        self.problems = tuple(problems)
        key = "invalid_request_one" if len(self.problems) == 1 else "invalid_request"
        super().__init__(Message(key, problems=[p.sentence() for p in self.problems]))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(p.field for p in self.problems)


class ConfigurationError(PlaygroundError):
    """The playground's configuration (environment variables, the backends TOML file) is wrong."""


class BackendUnavailable(PlaygroundError):
    """The backend is known but cannot run here; the message says what to set or install."""


class NotEnoughMemory(BackendUnavailable):
    """Loading the local model was refused before it started: it needs more memory than is free.

    ``needed_bytes`` and ``free_bytes`` are the two figures the message names.
    """

    def __init__(self, message: str | Message, *, needed_bytes: int, free_bytes: int) -> None:
        super().__init__(message)
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes


class DownloadRequired(BackendUnavailable):
    """The local model's weights are not on this machine; nothing is downloaded without consent.

    ``size_bytes`` is what the download would fetch (``size_source`` says whether the Hub said so or it is
    Kolors' documented figure), ``destination`` the folder it would go to. The message says how to confirm.
    """

    def __init__(self, message: str | Message, *, size_bytes: int, destination: str, size_source: str) -> None:
        super().__init__(message)
        self.size_bytes = size_bytes
        self.destination = destination
        self.size_source = size_source


class ProviderError(PlaygroundError):
    """The generation failed at or on the way to the provider.

    ``provider`` is the backend's label, ``status`` the HTTP status when there was one, and
    ``retryable`` whether trying again later may help.
    """

    retryable = False

    def __init__(self, message: str | Message, *, provider: str, status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class AuthenticationFailed(ProviderError):
    """The provider refused the API key (HTTP 401/403)."""


class InsufficientCredits(ProviderError):
    """The account has no credits left for this request (Segmind answers 406, others 402)."""


class RateLimited(ProviderError):
    """The provider kept answering 429 after the bounded retries; ``retry_after`` in seconds if it said."""

    retryable = True

    def __init__(self, message: str | Message, *, provider: str, retry_after: float | None = None) -> None:
        super().__init__(message, provider=provider, status=429)
        self.retry_after = retry_after


class RequestRejected(ProviderError):
    """The provider rejected the request itself (a 4xx other than auth, credits or rate limits)."""


class ProviderServerError(ProviderError):
    """The provider failed on its side (5xx) on every bounded retry."""

    retryable = True


class ProviderUnreachable(ProviderError):
    """The provider could not be reached at all (connection refused, DNS or TLS failure)."""

    retryable = True


class ProviderTimeout(ProviderError):
    """The provider did not answer completely in time."""

    retryable = True


class BadProviderResponse(ProviderError):
    """The provider answered 2xx with something we cannot use (malformed JSON, a non-image body)."""


class ImageDownloadFailed(ProviderError):
    """An image URL returned by the provider could not be fetched within the download bounds."""


class QuotaExceeded(PlaygroundError):
    """A hosted demo's per-visitor quota is used up; ``retry_after`` says when an image frees up."""

    def __init__(self, message: str | Message, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageFailed(PlaygroundError):
    """The history store could not write (the disk is full, the data directory is read-only or gone):
    what was being saved is not kept. ``disk_full`` tells the two cases apart."""

    def __init__(self, message: str | Message, *, disk_full: bool) -> None:
        super().__init__(message)
        self.disk_full = disk_full


class TooManyJobs(PlaygroundError):
    """A hosted demo's visitor already has ``limit`` jobs queued or running (``PLAYGROUND_JOBS_PER_VISITOR``)."""

    def __init__(self, message: str | Message, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class GenerationCancelled(PlaygroundError):
    """The generation was stopped before it finished."""

    def __init__(self, message: str | Message | None = None) -> None:
        super().__init__(message if message is not None else Message("generation_stopped"))


def redact(text: str, *secrets: str | None) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


_LINE_BREAKS = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]+")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r" {2,}")


def clip(text: str, limit: int = PROVIDER_TEXT_LIMIT) -> str:
    """``text`` as a message quotes it: on one line, without control characters (nor the bidirectional
    overrides), runs of spaces made one, and at most ``limit`` characters, ending in "…" when cut.
    Redact before clipping: a key cut in half would otherwise no longer be found."""
    text = _SPACES.sub(" ", _CONTROLS.sub("", _LINE_BREAKS.sub(" ", text))).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
