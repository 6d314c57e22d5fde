"""Everything below the UI: request types, validation, providers, the registry and the job runner.

    base, errors, messages, validation, registry   the contract (plugins rely on base.py)
    settings, schedulers                            every setting in one model; the one sampler-name table
    playground, runner, quota                       the service: validate, run, save
    providers/                                      the hosted APIs, your own OpenAI-compatible servers, local/
    history/, compare/                              the persistent history; comparison grids

Nothing in this package imports gradio.
"""

from .base import (
    ApiKey,
    Availability,
    Backend,
    BackendOutput,
    CancelToken,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ImageFailure,
    Price,
    Readiness,
    StepProgress,
)
from .errors import (
    AuthenticationFailed,
    BackendUnavailable,
    BadProviderResponse,
    ConfigurationError,
    DownloadRequired,
    FieldProblem,
    GenerationCancelled,
    ImageDownloadFailed,
    InsufficientCredits,
    InvalidRequest,
    NotEnoughMemory,
    PlaygroundError,
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimited,
    RequestRejected,
)
from .messages import Message
from .registry import Registry, build_registry
from .runner import JobProgress, JobRunner
from .validation import validate_request

__all__ = [
    "ApiKey",
    "AuthenticationFailed",
    "Availability",
    "Backend",
    "BackendOutput",
    "BackendUnavailable",
    "BadProviderResponse",
    "CancelToken",
    "Capabilities",
    "ConfigurationError",
    "DownloadRequired",
    "FieldProblem",
    "GeneratedImage",
    "GenerationCancelled",
    "GenerationRequest",
    "GenerationResult",
    "ImageDownloadFailed",
    "ImageFailure",
    "InsufficientCredits",
    "InvalidRequest",
    "JobProgress",
    "JobRunner",
    "Message",
    "NotEnoughMemory",
    "PlaygroundError",
    "Price",
    "ProviderError",
    "ProviderServerError",
    "ProviderTimeout",
    "ProviderUnreachable",
    "RateLimited",
    "Readiness",
    "Registry",
    "RequestRejected",
    "StepProgress",
    "build_registry",
    "validate_request",
]
