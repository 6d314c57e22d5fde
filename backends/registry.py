"""Which backends exist here, and whether each can run.

Built from the settings: the three hosted providers (listed even without a key, as unavailable
with the variable to set), the generic endpoints of ``PLAYGROUND_BACKENDS``, the local diffusers
backend, and third-party packages registered under the entry-point group ``kolors_playground.backends``.
A plugin's entry point names a callable ``register_backends(register, env)`` that calls
``register(backend)`` once per backend it provides (simonw/llm's hook style, without pluggy); ``env``
is a read-only mapping of the environment and ``.env`` variables, for the plugin's own settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points

from .base import Availability, Backend, KeyedBackend, LocalCompute
from .errors import ConfigurationError, FieldProblem, InvalidRequest
from .messages import Message
from .providers.dieyuyun import dieyuyun_from_settings
from .providers.endpoints import endpoint_backends, load_endpoints
from .providers.segmind import segmind_from_settings
from .providers.siliconflow import siliconflow_from_settings
from .settings import PlaygroundSettings

__all__ = [
    "ENTRY_POINT_GROUP", "RegisteredBackend", "Registry", "build_registry", "cpu_only_notice", "default_backend_id",
    "hosted_key_variables",
]

ENTRY_POINT_GROUP = "kolors_playground.backends"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredBackend:
    backend: Backend
    availability: Availability

    @property
    def id(self) -> str:
        return self.backend.id


class Registry:
    """An ordered set of backends by id."""

    def __init__(self, backends: Iterable[Backend] = ()) -> None:
        self._backends: dict[str, Backend] = {}
        for backend in backends:
            self.add(backend)

    def add(self, backend: Backend) -> None:
        if backend.id in self._backends:
            raise ConfigurationError(f"Two backends share the id {backend.id!r}; give one of them another id.")
        self._backends[backend.id] = backend

    def __contains__(self, backend_id: object) -> bool:
        try:
            return backend_id in self._backends
        except TypeError:  # an API call may send a list or a dict where an id belongs
            return False

    def __len__(self) -> int:
        return len(self._backends)

    def ids(self) -> list[str]:
        return list(self._backends)

    def entries(self) -> list[RegisteredBackend]:
        return [RegisteredBackend(b, b.availability()) for b in self._backends.values()]

    def backends(self) -> list[Backend]:
        """Every backend, available or not, in the order they were added."""
        return list(self._backends.values())

    def available(self) -> list[Backend]:
        return [entry.backend for entry in self.entries() if entry.availability.available]

    def get(self, backend_id: str) -> Backend:
        """The backend, or :class:`InvalidRequest` naming the ids there are."""
        try:
            return self._backends[backend_id]
        except (KeyError, TypeError):
            raise InvalidRequest(
                [FieldProblem("backend", backend_id, Message("allowed_one_of", options=", ".join(self._backends) or Message("none_configured")))]
            ) from None


def default_backend_id(registry: Registry) -> str | None:
    """The backend the page selects on load: the first available one, except that a backend which would run
    on this machine's CPU (minutes per image, tens of GB of memory) is never chosen while any other is
    available. Until a local backend knows its device it counts as CPU-bound here. None when none is available.
    """
    available = registry.available()
    preferred = [backend for backend in available if _runs_on_cpu(backend) is False]
    return (preferred or available)[0].id if available else None


def cpu_only_notice(registry: Registry, lang: str = "en") -> str:
    """What the page says, in ``lang``, when the only available backends would run on the CPU ("" otherwise):
    what they cost, and what to set for a hosted backend instead."""
    available = registry.available()
    if not available or not all(_runs_on_cpu(backend) is True for backend in available):
        return ""
    costs = [
        Message("cpu_cost_of", backend=backend.label, cost=backend.cpu_cost_message())
        if isinstance(backend, LocalCompute) else backend.label
        for backend in available
    ]
    return Message("cpu_only", costs=costs, keys=hosted_key_variables(registry.backends())).render(lang)


def hosted_key_variables(backends: Iterable[Backend]) -> list[str]:
    """The key variables that the hosted providers among ``backends`` (those that declare a generation costs
    money) read, in order: what a person may set for one."""
    return [
        backend.key_env_var for backend in backends
        if isinstance(backend, KeyedBackend) and backend.key_env_var and backend.capabilities.paid
    ]


def _runs_on_cpu(backend: Backend) -> bool | None:
    """True or False where the backend says (local ones do, once they know their device); None while it
    cannot tell yet; False for a backend that never runs here (hosted ones)."""
    return backend.runs_on_cpu() if isinstance(backend, LocalCompute) else False


def build_registry(
    settings: PlaygroundSettings,
    *,
    include_plugins: bool = True,
    include_local: bool = True,
) -> Registry:
    registry = Registry(
        [dieyuyun_from_settings(settings), segmind_from_settings(settings), siliconflow_from_settings(settings)]
    )
    if settings.playground_backends is not None:
        for backend in endpoint_backends(load_endpoints(settings.playground_backends), settings):
            registry.add(backend)
    if include_local:
        from .providers.local import LocalBackend

        registry.add(LocalBackend.from_settings(settings))
    if include_plugins:
        _load_plugins(registry.add, settings.variables)
    return registry


def _load_plugins(register: Callable[[Backend], None], env: Mapping[str, str]) -> None:
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            hook = entry_point.load()
            hook(register, env)
        except ConfigurationError:
            raise
        except Exception as exc:  # a broken plugin must not take the playground down
            log.warning("Backend plugin %r failed to load and was skipped: %s", entry_point.name, exc)
