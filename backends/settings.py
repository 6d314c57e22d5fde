"""Every setting of the playground, in one model: the environment plus a ``.env`` file.

Built once at start-up (:meth:`PlaygroundSettings.load`) and passed down; no other module reads the
environment. The real environment wins over ``.env``; an empty value counts as unset, so a copy of
``.env.example`` works as it is. A bad value anywhere stops the app with one message naming the
variable, the value and what is allowed (:class:`~backends.errors.ConfigurationError`).

Each field's description says what is allowed; that text is what the error shows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigurationError
from .identity import TrustedProxies

__all__ = ["PlaygroundSettings"]

_URL = r"^https?://\S+$"

HOSTED_JOBS_PER_VISITOR = 2
"""A hosted demo's default cap on each visitor's queued and running jobs."""

GRID_MAX_PIXELS = 128 * 1024 * 1024
"""A grid's default pixel budget: 128 cells of 1024², 32 of 2048² (the page's 4 × 4 of 1024² is 16)."""
_DEVICE = r"(?i)^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$"

_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("playground_environ", default=None)


class _MappingSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {
            name if self.case_sensitive else name.lower(): value
            for name, value in self._environ.items()
            if not (self.env_ignore_empty and value == "")
        }


def _var(name: str, description: str, default: Any = None, **constraints: Any) -> Any:
    return Field(default, validation_alias=name, description=description, **constraints)


class PlaygroundSettings(BaseSettings):
    """The playground's configuration. Attribute names are the variables' names in lower case."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        case_sensitive=True,
        extra="ignore",
        frozen=True,
        populate_by_name=False,
    )

    # -- hosted providers ------------------------------------------------------------------------
    dieyuyun_api_key: SecretStr | None = _var("DIEYUYUN_API_KEY", "dieyuyun's API key")
    dieyuyun_base_url: str = _var(
        "DIEYUYUN_BASE_URL", "an http(s) URL such as https://open.dieyuyun.com/v1",
        "https://open.dieyuyun.com/v1", pattern=_URL,
    )
    segmind_api_key: SecretStr | None = _var("SEGMIND_API_KEY", "Segmind's API key")
    segmind_base_url: str = _var(
        "SEGMIND_BASE_URL", "an http(s) URL such as https://api.segmind.com", "https://api.segmind.com", pattern=_URL,
    )
    siliconflow_api_key: SecretStr | None = _var("SILICONFLOW_API_KEY", "SiliconFlow's API key")
    siliconflow_base_url: str = _var(
        "SILICONFLOW_BASE_URL", "an http(s) URL such as https://api.siliconflow.cn/v1",
        "https://api.siliconflow.cn/v1", pattern=_URL,
    )
    playground_backends: Path | None = _var(
        "PLAYGROUND_BACKENDS", "the path of a TOML file of [[backend]] tables (see backends/providers/endpoints.py)"
    )

    # -- bounds on provider calls ----------------------------------------------------------------
    playground_http_timeout: float | None = _var(
        "PLAYGROUND_HTTP_TIMEOUT", "a number of seconds from 0.1 to 3600", ge=0.1, le=3600,
    )
    playground_http_retries: int | None = _var(
        "PLAYGROUND_HTTP_RETRIES", "a whole number from 0 to 10", ge=0, le=10,
    )
    playground_http_backoff: float | None = _var(
        "PLAYGROUND_HTTP_BACKOFF", "a number of seconds from 0 to 60", ge=0, le=60,
    )

    # -- history and hosting ---------------------------------------------------------------------
    playground_data_dir: Path = _var("PLAYGROUND_DATA_DIR", "a folder path", Path("data"))
    playground_mode: Literal["local", "hosted"] | None = _var(
        "PLAYGROUND_MODE", "local or hosted (empty: hosted on Hugging Face Spaces, local elsewhere)"
    )
    space_id: str | None = _var("SPACE_ID", "set by Hugging Face Spaces")
    playground_quota_per_hour: int | None = _var(
        "PLAYGROUND_QUOTA_PER_HOUR", "a whole number of images of at least 1 (empty: no limit)", ge=1,
    )
    playground_queue_size: int = _var(
        "PLAYGROUND_QUEUE_SIZE", "a whole number of at least 1", 100, ge=1,
    )
    playground_max_upload_mb: int = _var(
        "PLAYGROUND_MAX_UPLOAD_MB", "a whole number of megabytes from 1 to 1024", 20, ge=1, le=1024,
    )
    playground_max_body_kb: int = _var(
        "PLAYGROUND_MAX_BODY_KB", "a whole number of kilobytes from 64 to 65536", 1024, ge=64, le=65536,
    )
    playground_session_capacity: int = _var(
        "PLAYGROUND_SESSION_CAPACITY", "a whole number of sessions of at least 10", 500, ge=10,
    )
    playground_jobs_per_visitor: int | None = _var(
        "PLAYGROUND_JOBS_PER_VISITOR",
        "a whole number of jobs of at least 1 (empty: 2 on a hosted demo, no limit locally)", ge=1,
    )
    playground_grid_max_pixels: int = _var(
        "PLAYGROUND_GRID_MAX_PIXELS", "a whole number of pixels of at least 1048576 (1024 × 1024)",
        GRID_MAX_PIXELS, ge=1024 * 1024,
    )
    playground_secret: SecretStr | None = _var(
        "PLAYGROUND_SECRET", "any long random string", min_length=16,
    )
    playground_trusted_proxies: str | None = _var(
        "PLAYGROUND_TRUSTED_PROXIES",
        "comma-separated addresses or networks (CIDR) of the proxies in front of the app, 'private' for the "
        "private ranges, or 'none'",
    )
    playground_confirm_cells: int = _var(
        "PLAYGROUND_CONFIRM_CELLS", "a whole number of cells of at least 1", 16, ge=1,
    )
    playground_mcp: bool = _var(
        "PLAYGROUND_MCP", "1 to serve the generate and compare tools over MCP at /gradio_api/mcp, or 0 (the default)", False,
    )
    playground_font: Path | None = _var("PLAYGROUND_FONT", "the path of a .ttf, .otf or .ttc font file")
    playground_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _var(
        "PLAYGROUND_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR", "INFO",
    )

    # -- where the page listens ------------------------------------------------------------------
    gradio_server_name: str = _var("GRADIO_SERVER_NAME", "a host name or address", "127.0.0.1", min_length=1)
    gradio_server_port: int = _var("GRADIO_SERVER_PORT", "a port number from 1 to 65535", 7860, ge=1, le=65535)

    # -- the local diffusers backend ---------------------------------------------------------------
    kolors_model: str = _var(
        "KOLORS_MODEL", "a Hugging Face model id or a diffusers folder", "Kwai-Kolors/Kolors-diffusers", min_length=1,
    )
    kolors_device: str = _var("KOLORS_DEVICE", "cuda, cuda:N, mps, cpu or auto", "auto", pattern=_DEVICE)
    kolors_cpu_offload: bool = _var("KOLORS_CPU_OFFLOAD", "1 to turn it on or 0 to turn it off", False)
    kolors_vae_tiling: bool = _var("KOLORS_VAE_TILING", "1 to turn it on or 0 to turn it off", False)
    kolors_gpu_duration: int = _var(
        "KOLORS_GPU_DURATION", "a whole number of seconds from 1 to 3600", 60, ge=1, le=3600,
    )
    kolors_preload: bool = _var(
        "KOLORS_PRELOAD", "1 to download (if needed) and load the local model when the app starts, or 0", False,
    )
    spaces_zero_gpu: bool = _var("SPACES_ZERO_GPU", "set by Hugging Face Spaces on ZeroGPU hardware", False)

    _variables: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("playground_trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str | None) -> str | None:
        TrustedProxies.parse(value)  # a ValueError names the bad entry
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        if environ is not None:
            env_settings = _MappingSource(settings_cls, environ)
        return init_settings, env_settings, dotenv_settings

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, *, env_file: str | Path | None = ".env"
    ) -> PlaygroundSettings:
        """The settings from ``environ`` (default: the process environment) over ``env_file``.

        ``env_file`` is read relative to the working directory; None reads no file. Raises
        :class:`ConfigurationError` naming the variable, the value and what is allowed.
        """
        environ = os.environ if environ is None else environ
        token = _ENVIRON.set(environ)
        try:
            settings = cls(_env_file=env_file)  # type: ignore[call-arg]
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc, env_file)) from None
        finally:
            _ENVIRON.reset(token)
        settings._variables = {**_dotenv_values(env_file), **{k: v for k, v in environ.items() if v}}
        return settings

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> PlaygroundSettings:
        """Settings from ``values`` alone: no process environment, no ``.env`` (tests, embedding)."""
        return cls.load(values, env_file=None)

    @property
    def variables(self) -> Mapping[str, str]:
        """Every non-empty variable of the environment and ``.env``, read-only (for backend plugins)."""
        from types import MappingProxyType

        return MappingProxyType(self._variables)

    def variable(self, name: str) -> str | None:
        """Any variable by name, from the same environment and ``.env`` (the TOML file's ``api_key_env``)."""
        value = self._variables.get(name, "").strip()
        return value or None

    @property
    def hosted(self) -> bool:
        """On a Space (SPACE_ID set) or with PLAYGROUND_MODE=hosted: history is partitioned per visitor."""
        if self.playground_mode is not None:
            return self.playground_mode == "hosted"
        return bool(self.space_id)

    @property
    def trusted_proxies(self) -> TrustedProxies:
        """The proxies whose X-Forwarded-For hops are believed: PLAYGROUND_TRUSTED_PROXIES; unset, the
        private ranges on a Space (its proxies reach the app from 10.x addresses), none elsewhere."""
        if self.playground_trusted_proxies is not None:
            return TrustedProxies.parse(self.playground_trusted_proxies)
        return TrustedProxies.private() if self.space_id else TrustedProxies()

    @property
    def jobs_per_visitor(self) -> int | None:
        """The cap on one visitor's queued and running jobs: PLAYGROUND_JOBS_PER_VISITOR, else 2 on a hosted
        demo; None (no cap) locally."""
        if self.playground_jobs_per_visitor is not None:
            return self.playground_jobs_per_visitor
        return HOSTED_JOBS_PER_VISITOR if self.hosted else None

    def __repr__(self) -> str:  # SecretStr already hides keys; this keeps the repr short
        return f"PlaygroundSettings(data_dir={str(self.playground_data_dir)!r}, hosted={self.hosted})"


def _dotenv_values(env_file: str | Path | None) -> dict[str, str]:
    if env_file is None or not Path(env_file).is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(env_file, encoding="utf-8").items() if v}


def _describe(exc: ValidationError, env_file: str | Path | None) -> str:
    """One message for every bad value: the variable, the value (never a secret's), what is allowed."""
    fields = PlaygroundSettings.model_fields
    by_alias = {info.validation_alias: info for info in fields.values()}
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        info = by_alias.get(name)
        secret = info is not None and "SecretStr" in repr(info.annotation)
        shown = "***" if secret else repr(_shorten(error.get("input")))
        allowed = info.description if info is not None and info.description else error["msg"]
        lines.append(f"{name}={shown} is not allowed; use {allowed}.")
    where = f" (in the environment or {env_file})" if env_file else ""
    if len(lines) == 1:  # one bad value: one line
        return lines[0] + (f" Set it in the environment or {env_file}." if env_file else "")
    return "Fix these settings" + where + ":\n" + "\n".join(f"- {line}" for line in lines)


def _shorten(value: Any) -> Any:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
