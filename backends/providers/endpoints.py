"""Generic OpenAI-compatible endpoints declared in the TOML file named by ``PLAYGROUND_BACKENDS``.

One ``[[backend]]`` table per endpoint::

    [[backend]]
    id = "xinference"                      # letters, digits, - and _
    label = "Kolors on our Xinference"
    base_url = "http://10.0.0.5:9997/v1"   # the part before /images/generations
    model = "Kolors"
    api_key_env = "XINFERENCE_API_KEY"     # optional: the variable holding the key; none = no auth
    sizes = ["1024x1024", "768x1024"]      # or size_range = [512, 2048] with size_multiple = 8
    max_images = 4
    steps = [1, 100, 20]                   # min, max, default
    guidance = [0.0, 20.0, 7.5]
    seed_max = 4294967295
    dialect = "xinference"                 # "openai" (default) or "xinference", see below
    response_format = "b64_json"           # "url", "b64_json", or leave out to send none
    extensions = true                      # send negative_prompt, seed, num_inference_steps, guidance_scale
    max_concurrency = 2
    timeout_s = 300                        # optional; default PLAYGROUND_HTTP_TIMEOUT, else 300
    price_per_image = 0.01                 # optional, with currency = "CNY"

``dialect`` says how the server reads a request:

- ``"openai"``: the OpenAI Images fields at the top level, plus (with ``extensions``) Kolors' extra
  fields ``negative_prompt``, ``seed``, ``num_inference_steps`` and ``guidance_scale`` beside them, as
  dieyuyun and most OpenAI-compatible servers take them. A batch is sent as n single-image requests
  with seeds s, s+1, ..., so each image can be made again alone.
- ``"xinference"``: for an Xinference server (``model`` is the uid given at launch). Xinference ignores
  those extra fields at the top level, seed included, and reads them only from ``kwargs``, a JSON
  string; ``response_format`` is always ``"b64_json"`` (its URLs are paths on the server's disk). It
  seeds each image of a batch separately (seeds s, s+1, ...), so a batch is one request, and Stop
  aborts the request on the server. See :mod:`backends.providers.xinference`.

``python app.py --check --seeds`` shows which one a server needs: with the wrong one it says
"seed ignored".
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..base import Capabilities, Price
from ..errors import ConfigurationError
from ..validation import parse_size
from .http import Timeouts, http_options
from .openai_compatible import OpenAICompatibleBackend
from .xinference import XinferenceBackend

if TYPE_CHECKING:
    from ..settings import PlaygroundSettings

__all__ = ["EndpointConfig", "endpoint_backends", "load_endpoints"]


class EndpointConfig(BaseModel):
    """One generic endpoint; field descriptions double as documentation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$", description="Unique id, used in the API and history")
    label: str = Field(min_length=1, max_length=80)
    base_url: str = Field(pattern=r"^https?://", description="URL before /images/generations")
    model: str = Field(min_length=1)
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    sizes: list[str] | None = None
    size_range: tuple[int, int] | None = None
    size_multiple: int = Field(default=8, ge=1, le=256)
    max_images: int = Field(default=4, ge=1, le=16)
    steps: tuple[int, int, int] = (1, 100, 20)
    guidance: tuple[float, float, float] = (0.0, 20.0, 7.5)
    seed_max: int = Field(default=2**32 - 1, ge=0)
    response_format: Literal["url", "b64_json"] | None = None
    extensions: bool = True
    dialect: Literal["openai", "xinference"] = Field(
        default="openai", description="How the server reads a request: openai, or xinference (extras in kwargs)"
    )
    max_concurrency: int = Field(default=2, ge=1, le=32)
    timeout_s: float | None = Field(default=None, gt=0, le=3600, description="Seconds to wait for an answer")
    price_per_image: float | None = Field(default=None, ge=0)
    currency: str = "USD"

    @model_validator(mode="after")
    def _check(self) -> EndpointConfig:
        if (self.sizes is None) == (self.size_range is None):
            raise ValueError("give exactly one of sizes = [\"WxH\", ...] and size_range = [min, max]")
        for size in self.sizes or ():
            if parse_size(size) is None:
                raise ValueError(f"size {size!r} is not of the form WxH, like 1024x1024")
        if self.dialect == "xinference" and self.response_format == "url":
            raise ValueError(
                'dialect "xinference" always asks for b64_json (Xinference\'s URLs are paths on its own disk); '
                "leave response_format out"
            )
        if self.dialect == "xinference" and not self.extensions:
            raise ValueError('dialect "xinference" needs extensions = true: without kwargs its seeds are random')
        for name, (low, high, default) in (("steps", self.steps), ("guidance", self.guidance)):
            if not low <= default <= high:
                raise ValueError(f"{name} must be [min, max, default] with min <= default <= max")
        return self

    def capabilities(self) -> Capabilities:
        sizes = tuple(parse_size(s) for s in self.sizes) if self.sizes else None  # type: ignore[misc]
        default = sizes[0] if sizes else (1024, 1024)
        if self.size_range and not (self.size_range[0] <= 1024 <= self.size_range[1]):
            default = (self.size_range[0], self.size_range[0])
        return Capabilities(
            sizes=sizes,  # type: ignore[arg-type]
            size_range=self.size_range,
            size_multiple=self.size_multiple,
            default_size=default,
            max_images=self.max_images,
            steps=self.steps,
            guidance=self.guidance,
            seed_max=self.seed_max,
            batch_is_per_image_reproducible=self.dialect == "xinference",
            price_per_image=Price(self.price_per_image, self.currency) if self.price_per_image is not None else None,
        )


def load_endpoints(path: str | Path) -> list[EndpointConfig]:
    """Read and check the file; a wrong file is a :class:`ConfigurationError` saying where and what."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"PLAYGROUND_BACKENDS names {path}, which does not exist. Fix the path or unset it.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"Could not read {path}: {exc}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}.") from exc
    tables = document.get("backend", [])
    unknown = set(document) - {"backend"}
    if unknown or not isinstance(tables, list):
        raise ConfigurationError(f"{path}: declare endpoints as [[backend]] tables; found {', '.join(sorted(unknown)) or 'backend'}.")
    endpoints: list[EndpointConfig] = []
    for number, table in enumerate(tables, start=1):
        try:
            endpoints.append(EndpointConfig.model_validate(table))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'backend'}: {error['msg']}" for error in exc.errors()
            )
            raise ConfigurationError(f"{path}, backend #{number}: {problems}.") from exc
    ids = [e.id for e in endpoints]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigurationError(f"{path}: backend ids must be unique; repeated: {', '.join(duplicates)}.")
    return endpoints


def endpoint_backends(
    endpoints: list[EndpointConfig], settings: PlaygroundSettings, **overrides: Any
) -> list[OpenAICompatibleBackend]:
    backends = []
    operator_bounds = http_options(settings)
    for endpoint in endpoints:
        if endpoint.timeout_s is not None:  # the entry's own bound wins over PLAYGROUND_HTTP_TIMEOUT
            timeouts = Timeouts(read=endpoint.timeout_s, total=endpoint.timeout_s + 60)
        else:
            timeouts = operator_bounds.get("timeouts", Timeouts(read=300.0, total=360.0))
        options: dict[str, Any] = {
            "max_concurrency": endpoint.max_concurrency, **operator_bounds, "timeouts": timeouts, **overrides,
        }
        common: dict[str, Any] = {
            "id": endpoint.id,
            "label": endpoint.label,
            "model": endpoint.model,
            "base_url": endpoint.base_url,
            "api_key": settings.variable(endpoint.api_key_env) if endpoint.api_key_env else None,
            "key_env_var": endpoint.api_key_env or "",
            "capabilities": endpoint.capabilities(),
            **options,
        }
        if endpoint.dialect == "xinference":
            backends.append(XinferenceBackend(**common))
        else:
            backends.append(
                OpenAICompatibleBackend(
                    response_format=endpoint.response_format, extensions=endpoint.extensions, **common
                )
            )
    return backends
