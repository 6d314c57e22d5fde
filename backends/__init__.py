"""Everything below the UI: request types, validation, providers, the registry and the job runner.

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
    StepProgress,
)
from .errors import (
    AuthenticationFailed,
    BackendUnavailable,
    BadProviderResponse,
    ConfigurationError,
    FieldProblem,
    GenerationCancelled,
    ImageDownloadFailed,
    InsufficientCredits,
    InvalidRequest,
    PlaygroundError,
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimited,
    RequestRejected,
)
from .registry import Registry, build_registry
from .runner import JobProgress, JobRunner
from .validation import validate_request

__all__ = [
    "ApiKey", "Availability", "Backend", "BackendOutput", "CancelToken", "Capabilities", "GeneratedImage",
    "GenerationRequest", "GenerationResult", "ImageFailure", "Price", "StepProgress",
    "AuthenticationFailed", "BackendUnavailable", "BadProviderResponse", "ConfigurationError", "FieldProblem",
    "GenerationCancelled", "ImageDownloadFailed", "InsufficientCredits", "InvalidRequest", "PlaygroundError",
    "ProviderError", "ProviderServerError", "ProviderTimeout", "ProviderUnreachable", "RateLimited",
    "RequestRejected", "Registry", "build_registry", "JobProgress", "JobRunner", "validate_request",
]
