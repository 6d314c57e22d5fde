"""The types every backend speaks: what it can do, what it is asked, what it answers."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from .errors import GenerationCancelled
from .messages import KeyedError, Message, split, text_in

__all__ = [
    "ApiKey",
    "Availability",
    "Backend",
    "BackendOutput",
    "CancelToken",
    "Capabilities",
    "GeneratedImage",
    "GenerationRequest",
    "GenerationResult",
    "HasReadiness",
    "ImageFailure",
    "KeyedBackend",
    "LocalCompute",
    "Price",
    "ReportsSending",
    "SentImages",
    "StepProgress",
    "WeightsDownload",
    "mark_sent",
    "sending",
]


@dataclass(frozen=True)
class Price:
    """A price per image, e.g. ``Price(0.01, "CNY")``."""

    amount: float
    currency: str

    def times(self, count: int) -> Price:
        return Price(round(self.amount * count, 6), self.currency)

    def __str__(self) -> str:
        symbol = {"CNY": "¥", "USD": "$"}.get(self.currency)
        return f"{symbol}{self.amount:g}" if symbol else f"{self.amount:g} {self.currency}"


@dataclass(frozen=True)
class Capabilities:
    """What a backend accepts. The validator checks requests against it; the UI builds controls from it.

    Sizes are either a fixed list (``sizes``) or a range for width and height alike (``size_range``)
    in steps of ``size_multiple``. ``steps``, ``guidance`` and ``output_quality`` are (min, max,
    default). The first scheduler and output format are the defaults.

    What the provider is, as far as the playground must know: ``costs_money`` when a generation may be
    charged whether or not ``price_per_image`` is known (``--check`` then asks before generating), and
    ``typical_latency_s``, a rough single-image time for the compare plan's estimate.
    """

    sizes: tuple[tuple[int, int], ...] | None = None
    size_range: tuple[int, int] | None = None
    size_multiple: int = 8
    default_size: tuple[int, int] = (1024, 1024)
    max_images: int = 4
    steps: tuple[int, int, int] = (1, 100, 20)
    guidance: tuple[float, float, float] = (0.0, 20.0, 7.5)
    seed_max: int = 9_999_999_999
    schedulers: tuple[str, ...] = ()
    default_steps_by_scheduler: tuple[tuple[str, int], ...] = ()
    output_formats: tuple[str, ...] = ()
    output_quality: tuple[int, int, int] | None = None
    supports_negative_prompt: bool = True
    batch_is_per_image_reproducible: bool = False
    price_per_image: Price | None = None
    costs_money: bool = False
    typical_latency_s: float | None = None

    def __post_init__(self) -> None:
        if (self.sizes is None) == (self.size_range is None):
            raise ValueError("Capabilities need exactly one of sizes and size_range")

    @property
    def default_scheduler(self) -> str | None:
        return self.schedulers[0] if self.schedulers else None

    @property
    def default_output_format(self) -> str | None:
        return self.output_formats[0] if self.output_formats else None

    def default_steps_for(self, scheduler: str | None) -> int:
        return dict(self.default_steps_by_scheduler).get(scheduler or "", self.steps[2])

    @property
    def paid(self) -> bool:
        """Whether a generation may cost money: it has a price, or the provider charges."""
        return self.costs_money or self.price_per_image is not None

    def accepts_size(self, width: int, height: int) -> bool:
        if self.sizes is not None:
            return (width, height) in self.sizes
        low, high = self.size_range  # type: ignore[misc]
        return all(low <= v <= high and v % self.size_multiple == 0 for v in (width, height))


@dataclass(frozen=True)
class GenerationRequest:
    """A validated request. Build it with :func:`backends.validation.validate_request`.

    ``seed`` is None until the runner draws one; backends are always called with an int seed, and
    image *i* of the request is made with seed ``image_seeds(request)[i]`` (:mod:`backends.seeds`).
    """

    prompt: str
    negative_prompt: str = ""
    width: int = 1024
    height: int = 1024
    n: int = 1
    seed: int | None = None
    steps: int = 20
    guidance: float = 7.5
    scheduler: str | None = None
    output_format: str | None = None
    output_quality: int | None = None

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationRequest:
        known = _field_names(cls)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class GeneratedImage:
    """One image as the provider sent it (bytes untouched), with the seed that made it."""

    data: bytes = field(repr=False)
    mime_type: str
    width: int
    height: int
    seed: int
    index: int = 0


@dataclass(frozen=True)
class BackendOutput:
    """What one call of :meth:`Backend.generate` returns.

    ``images`` are in request order, each with its seed from :func:`backends.seeds.image_seeds`. ``info``
    holds what the provider reported (remaining credits, usage, timings); never a key.
    """

    images: tuple[GeneratedImage, ...]
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageFailure(KeyedError):
    """An image of a batch that did not come back: which one, its seed, and why (a sentence).

    ``error`` may be given as a :class:`~backends.messages.Message`: it is kept as its English text, with
    ``error_key`` and ``error_params`` (JSON values, stored in the history with it) so :meth:`error_in` can
    say it in another language. Failures stored before messages had keys have none and read in English.
    """

    index: int
    seed: int
    error: str
    error_type: str
    error_key: str | None = field(default=None, compare=False, repr=False)
    error_params: dict[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class GenerationResult:
    """Everything the runner returns for one request.

    ``request`` carries the resolved seed. ``images`` are sorted by index; ``failures`` list the
    images that failed. ``cost`` is the price of the images that came back, when the backend prices
    per image. ``info`` merges what the provider reported. ``cancelled`` is set when Stop ended the
    job early; the images finished before it are kept.
    """

    backend_id: str
    backend_label: str
    model: str
    request: GenerationRequest
    images: tuple[GeneratedImage, ...]
    failures: tuple[ImageFailure, ...]
    elapsed_s: float
    cost: Price | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    cancelled: bool = False

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(image.seed for image in self.images)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here; when not, ``reason`` says what to set or install.

    ``reason`` may be given as a :class:`~backends.messages.Message`; :meth:`reason_in` says it in another
    language.
    """

    available: bool
    reason: str = ""
    reason_key: str | None = field(default=None, compare=False, repr=False)
    reason_params: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.reason, Message):
            text, key, params = split(self.reason)
            object.__setattr__(self, "reason", text)
            object.__setattr__(self, "reason_key", key)
            object.__setattr__(self, "reason_params", params)

    def reason_in(self, lang: str, *, quote: Callable[[str], str] | None = None) -> str:
        """Why it cannot run, in ``lang`` ("en" or "zh"); ``quote`` applied to its text parameters (markup)."""
        return text_in(self.reason, self.reason_key, self.reason_params, lang, quote=quote)


@dataclass(frozen=True)
class Readiness:
    """What a backend can tell about itself before it is used, for ``--check`` and the page.

    A backend may offer ``readiness() -> Readiness`` (:class:`HasReadiness`; blocking, call it off the event loop).
    ``facts`` are lines to show ("device: CPU", "weights: not in the cache (16.6 GB to download)").
    ``problem`` non-empty: it cannot run as configured, and says why and what to do.
    ``can_generate`` False: a check must not try a generation (it would download or cost too much).
    """

    facts: tuple[str, ...] = ()
    problem: str = ""
    can_generate: bool = True


class CancelToken:
    """Set by Stop; checked by backends between steps and by the runner before each image."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise GenerationCancelled()


class SentImages:
    """The images of one job whose request went to the provider, so may be billed, filled in as the job
    runs (also when it is stopped half way). The quota refunds only the others."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: set[int] = set()

    def record(self, indexes: Iterable[int]) -> None:
        with self._lock:
            self._indexes.update(indexes)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._indexes)


class _Dispatch:
    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


_DISPATCH: ContextVar[_Dispatch | None] = ContextVar("backend_dispatch", default=None)


@contextmanager
def sending() -> Iterator[_Dispatch]:
    """Around one backend call (the runner's): whether :func:`mark_sent` was called inside it."""
    dispatch = _Dispatch()
    token = _DISPATCH.set(dispatch)
    try:
        yield dispatch
    finally:
        _DISPATCH.reset(token)


def mark_sent() -> None:
    """Said by a backend the moment its request may have reached the provider and may cost: the
    request's bytes went out, or an answer other than a refusal (4xx) came back. A backend that
    sets ``reports_sending = True`` calls it; for any other, the runner counts the call as sent
    once it starts."""
    dispatch = _DISPATCH.get()
    if dispatch is not None:
        dispatch.sent = True


@dataclass(frozen=True)
class StepProgress:
    """Progress inside one backend call: ``done`` of ``total`` units (denoising steps, or images).
    ``phase`` names a slow stage the person should know about ("Loading the model (first use)");
    ``preview`` is the image so far, when the backend can show one."""

    done: int
    total: int
    phase: Any = ""
    """A ``str``, or a :class:`~backends.messages.Message` the page shows in the visitor's language."""
    preview: Any = None
    """A small PIL image of the picture so far (the local backend sends one every few steps), or None."""


ProgressCallback = Callable[[StepProgress], None]


class ApiKey:
    """A secret that never shows itself in a repr, str, log line or traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value.strip()

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "ApiKey('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):  # never pickled into a cache or a Gradio state
        raise TypeError("API keys are not picklable")


@runtime_checkable
class Backend(Protocol):
    """A text-to-image backend.

    ``generate`` is called with a validated request whose seed is set; it returns ``request.n``
    images, image *i* made with ``image_seeds(request)[i]``, or raises a :class:`backends.errors.PlaygroundError`.
    It reports progress through ``progress`` and stops early when ``cancel`` is set.
    ``max_concurrency`` bounds how many calls the runner makes at once. A backend with a class
    attribute ``reports_sending = True`` calls :func:`mark_sent` when its request goes out (the
    remote ones, through their HTTP layer); any other counts as sent, for the quota, once called.
    What a backend may offer beyond these is declared below (:class:`HasReadiness`, :class:`ReportsSending`,
    :class:`KeyedBackend`, :class:`LocalCompute`, :class:`WeightsDownload`) and asked with ``isinstance``.
    """

    id: str
    label: str
    model: str
    capabilities: Capabilities
    max_concurrency: int

    def availability(self) -> Availability: ...

    async def generate(
        self,
        request: GenerationRequest,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> BackendOutput: ...


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


# Optional members: what some backends offer beyond :class:`Backend`, each asked with ``isinstance``.


@runtime_checkable
class HasReadiness(Protocol):
    """A backend that can tell about itself before it is used (``--check``, the page)."""

    def readiness(self) -> Readiness: ...


@runtime_checkable
class ReportsSending(Protocol):
    """A backend that calls :func:`mark_sent` when its request goes out (the remote ones, through their HTTP
    layer); any other counts as sent, for the quota, once called."""

    reports_sending: bool


@runtime_checkable
class KeyedBackend(Protocol):
    """A backend behind an HTTP API: where it is, the variable its key is read from (empty: it takes none),
    the page where a person gets a key, and a copy that uses another key (one pasted in Settings)."""

    base_url: str
    key_env_var: str
    key_page: str

    def with_api_key(self, key: str) -> Backend: ...


@runtime_checkable
class LocalCompute(Protocol):
    """A backend that runs on this machine: whether on its CPU (None until it knows its device), and what
    that costs, in English and as a message to say in another language."""

    def runs_on_cpu(self) -> bool | None: ...

    def cpu_cost(self) -> str: ...

    def cpu_cost_message(self) -> Message: ...


@runtime_checkable
class WeightsDownload(Protocol):
    """A backend whose weights may need a download: a copy allowed to download them, and a check that
    raises :class:`backends.errors.DownloadRequired` when they are missing."""

    def allowing_download(self) -> Backend: ...

    def check_weights(self) -> None: ...
