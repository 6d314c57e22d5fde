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
    └── GenerationCancelled         the person pressed Stop

Foreign exceptions (httpx, Pillow, json) are translated at the boundary with ``raise ... from exc``,
and no message ever contains an API key: :func:`redact` strips a key from provider text first.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
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
    "redact",
]


class PlaygroundError(Exception):
    """Base class. ``str(exc)`` is a complete sentence a person can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: its name, the value given, and what is allowed."""

    field: str
    value: object
    allowed: str

    def __str__(self) -> str:
        return f"{self.field}: {_show(self.value)} is not allowed; {self.allowed}."


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class InvalidRequest(PlaygroundError):
    """The request does not fit the backend's capabilities. Raised before any network or GPU work."""

    def __init__(self, problems: list[FieldProblem] | tuple[FieldProblem, ...]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"Please fix {'this value' if len(self.problems) == 1 else 'these values'}:\n{lines}")

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

    def __init__(self, message: str, *, needed_bytes: int, free_bytes: int) -> None:
        super().__init__(message)
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes


class DownloadRequired(BackendUnavailable):
    """The local model's weights are not on this machine; nothing is downloaded without consent.

    ``size_bytes`` is what the download would fetch (``size_source`` says whether the Hub said so or it is
    Kolors' documented figure), ``destination`` the folder it would go to. The message says how to confirm.
    """

    def __init__(self, message: str, *, size_bytes: int, destination: str, size_source: str) -> None:
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

    def __init__(self, message: str, *, provider: str, status: int | None = None) -> None:
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

    def __init__(self, message: str, *, provider: str, retry_after: float | None = None) -> None:
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

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GenerationCancelled(PlaygroundError):
    """The generation was stopped before it finished."""

    def __init__(self, message: str = "Generation stopped.") -> None:
        super().__init__(message)


def redact(text: str, *secrets: str | None) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
