"""Per-browser-session facts the handlers need, kept in server memory and keyed by Gradio's session hash:
the keys a visitor pasted (never written anywhere), the running job's Stop token, the visitor id
that partitions history in hosted mode (signed by this server, see :mod:`backends.identity`), the
visitor's address as the server sees it, and the places each visitor's jobs hold under the cap."""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from backends.base import ApiKey, CancelToken
from backends.errors import PlaygroundError, TooManyJobs
from backends.identity import TrustedProxies, VisitorSigner, client_address, quota_address
from backends.jobs import Job, JobCap

from .i18n import LANGUAGES, language_from_header
from .language import RESTORE_JS
from .rest import relayed_peer
from .text_safety import literal_error

__all__ = ["CAPPED_JOBS", "JobBoard", "LanguageControls", "Session", "SessionContext"]

CAPPED_JOBS = ("generate", "compare")
"""The concurrency ids of the events that count under ``PLAYGROUND_JOBS_PER_VISITOR``: the page's Generate
and Compare and the API's /generate and /compare share them."""


@dataclass(frozen=True)
class LanguageControls:
    """The header's English / 中文 switch, and the hidden boxes the page's load reads (the language it booted
    in, and the form carried across a switch as a share-link query)."""

    switch: gr.Radio
    browser_language: gr.Textbox
    carry: gr.Textbox


@dataclass(frozen=True)
class Session:
    visitor: str
    job_key: str
    keys: dict[str, str] = field(repr=False)
    address: str = ""
    language: str = "en"

    @property
    def quota_keys(self) -> tuple[str, ...]:
        """Who this is for the hourly quota: the visitor id and the network address (an IPv6 one's /64).
        A job is counted under both, and refused when either is used up: a new session or a cleared
        browser from the same address shares that address's budget. The address is the server's own
        view (the peer, or a trusted proxy's hop), never what the visitor wrote in a header."""
        return tuple(k for k in (self.visitor, self.address and f"ip:{quota_address(self.address)}") if k)

    def api_key_for(self, backend_id: object) -> str | None:
        # Called with the raw API value, before validation has said it is a backend id.
        return (self.keys.get(backend_id) or None) if isinstance(backend_id, str) else None


class JobBoard:
    """The Stop token of each session's running job."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, CancelToken] = {}

    def start(self, key: str) -> CancelToken:
        token = CancelToken()
        with self._lock:
            self._tokens[key] = token
        return token

    def try_start(self, key: str) -> CancelToken | None:
        """A token for a new job, or None while this session's previous job is still running: two
        quick clicks are one paid run."""
        with self._lock:
            if key in self._tokens:
                return None
            token = self._tokens[key] = CancelToken()
        return token

    def running(self, key: str) -> bool:
        with self._lock:
            return key in self._tokens

    def finish(self, key: str, token: CancelToken) -> None:
        with self._lock:
            if self._tokens.get(key) is token:
                del self._tokens[key]

    def stop(self, key: str) -> bool:
        with self._lock:
            token = self._tokens.get(key)
        if token is None:
            return False
        token.cancel()
        return True


class SessionContext:
    """Shared by the tabs of one app. ``hosted`` partitions history by visitor."""

    def __init__(
        self, *, hosted: bool = False, generate_concurrency: int | None = 8, visitor_secret: str | None = None,
        trusted_proxies: TrustedProxies | None = None, jobs_per_visitor: int | None = None,
    ) -> None:
        self.hosted = hosted
        # Without a kept secret (tests, embedding) the ids this process signs are good until it stops.
        self.signer = VisitorSigner(visitor_secret or secrets.token_urlsafe(32))
        self.trusted_proxies = trusted_proxies or TrustedProxies()
        self.generate_concurrency = generate_concurrency
        self.job_cap = JobCap(jobs_per_visitor)
        self._keys: dict[str, dict[str, ApiKey]] = {}
        self._visitors: dict[str, str] = {}
        self._languages: dict[str, str] = {}
        self._lock = threading.Lock()
        self._load_hooks: list[tuple[Callable, dict[str, Any]]] = []
        self.language_controls: LanguageControls | None = None
        self._keys_listeners: list[tuple[Callable, dict[str, Any]]] = []

    def session(self, request: gr.Request | None) -> Session:
        session_hash = getattr(request, "session_hash", None) or ""
        with self._lock:
            keys = {backend: key.reveal() for backend, key in self._keys.get(session_hash, {}).items()}
            visitor = self._visitors.get(session_hash, "")
            language = self._languages.get(session_hash) or language_from_header(_accept_language(request))
        if self.hosted and not visitor:
            # An API client has no browser storage: its history is its session's alone.
            visitor = f"session:{session_hash or secrets.token_urlsafe(16)}"
        return Session(visitor=visitor if self.hosted else "", job_key=session_hash or "anonymous", keys=keys,
                       address=_address(request, self.trusted_proxies), language=language)

    def set_language(self, request: gr.Request | None, language: str) -> None:
        """The language this browser chose on the page (it wins over Accept-Language)."""
        session_hash = getattr(request, "session_hash", None)
        if session_hash and language in LANGUAGES:
            with self._lock:
                self._languages[session_hash] = language

    def assign_visitor(self, stored: str | None, request: gr.Request) -> str:
        """Page load in hosted mode: adopt the visitor id kept in this browser when this server signed
        it, or issue a new one; returns the signed token the browser keeps.

        The id is a secret (whoever knows it sees that history), so it is random, long, and kept in
        the browser's storage, never in a URL. The storage's own encryption is not the protection (its
        key is in the page's config): the server's signature is, so an id this server did not issue,
        a made-up or an unsigned one, is replaced by a fresh one and opens no one's history."""
        visitor = self.signer.verify(stored)
        token = stored if visitor else ""
        if not visitor:
            visitor, token = self.signer.issue()
        session_hash = getattr(request, "session_hash", None)
        if session_hash:
            with self._lock:
                self._visitors[session_hash] = visitor
        return token

    def set_key(self, request: gr.Request | None, backend_id: str, key: str) -> None:
        session_hash = getattr(request, "session_hash", None)
        if not session_hash:
            return
        with self._lock:
            keys = self._keys.setdefault(session_hash, {})
            if key and key.strip():
                keys[backend_id] = ApiKey(key)
            else:
                keys.pop(backend_id, None)

    def forget(self, request: gr.Request) -> None:
        """Drop a closed session's pasted keys (wired to the page's unload)."""
        session_hash = getattr(request, "session_hash", None)
        with self._lock:
            self._keys.pop(session_hash or "", None)
            self._visitors.pop(session_hash or "", None)
            self._languages.pop(session_hash or "", None)

    # -- the cap on each visitor's queued and running jobs ---------------------------------------------
    # A job takes its place in the event's validator, which Gradio runs before the queue holds it, so a
    # client over its cap never occupies the queue; its handler keeps the place until it ends.

    def admit_job(self, request: gr.Request | None) -> None:
        """Raises :class:`TooManyJobs` when this visitor already has the cap's jobs queued or running."""
        self.job_cap.admit(self.session(request).quota_keys, _join_of(request))

    def begin_job(self, session: Session, request: gr.Request | None) -> Job | None:
        """The place of a job whose handler begins (raises :class:`TooManyJobs` past the cap); give it
        back with :meth:`end_job`."""
        return self.job_cap.begin(session.quota_keys, _join_of(request))

    def end_job(self, job: Job | None) -> None:
        self.job_cap.end(job)

    async def within_cap(
        self, session: Session, request: gr.Request | None, updates: AsyncIterator[dict], *, status: Any
    ) -> AsyncIterator[dict]:
        """A page run's updates, while it holds its place under the cap (the validator took it before the
        queue held the job); past the cap, only the refusal in ``status``."""
        try:
            place = self.begin_job(session, request)
        except PlaygroundError as exc:
            yield {status: "⚠️ " + literal_error(exc, session.language)}
            return
        try:
            async for update in updates:
                yield update
        finally:
            self.end_job(place)

    def page_job_validator(self) -> Callable | None:
        """The validator of a page event whose inputs come as one dict: over the cap, the page shows the
        message (Gradio answers the join with it) in the visitor's language. None without a cap."""

        async def admit(data: dict, request: gr.Request) -> list:
            try:
                self.admit_job(request)
            except TooManyJobs as exc:
                raise _Refused(exc.message_in(self.session(request).language)) from None
            return [None] * len(data)  # one "valid" per input

        return admit if self.job_cap.limit is not None else None

    def api_job_validator(self, inputs: int) -> Callable | None:
        """The validator of an API endpoint taking ``inputs`` keyword inputs: over the cap, gradio_client
        raises a ValidationError carrying the message. None without a cap."""
        if self.job_cap.limit is None:
            return None

        async def admit(request: gr.Request, **_values: Any) -> list:
            try:
                self.admit_job(request)
            except TooManyJobs as exc:
                return [gr.validate(False, str(exc))] + [None] * (inputs - 1)
            return [None] * inputs

        return admit

    def count_waiting_jobs(self, demo: gr.Blocks) -> None:
        """Give back the places of jobs Gradio's queue dropped before they ran (their client left)."""
        self.job_cap.waiting = lambda join: _waiting_in_queue(demo, join)

    # Hooks let each tab ask for work on page load or on a key change without knowing the others.
    def on_load(self, fn: Callable, **event: Any) -> None:
        self._load_hooks.append((fn, event))

    def on_keys_change(self, fn: Callable, **event: Any) -> None:
        self._keys_listeners.append((fn, event))

    def wire_load(self, demo: gr.Blocks, *, visitor_state: gr.BrowserState | None = None) -> None:
        """On page load: first the visitor's language (and, in hosted mode, who they are), then every tab's
        load hook at once, so their words come out in that language."""
        controls = self.language_controls
        if controls is not None:
            first = demo.load(
                self.start_session, inputs=[controls.browser_language, controls.carry],
                outputs=[controls.switch, controls.carry], js=RESTORE_JS, api_visibility="private",
            )
        if visitor_state is not None:
            visitor_step = (first.then if controls is not None else demo.load)(
                self.assign_visitor, inputs=visitor_state, outputs=visitor_state, api_visibility="private"
            )
            first = visitor_step
        for fn, kwargs in self._load_hooks:
            if controls is not None or visitor_state is not None:
                first.then(fn, api_visibility="private", **kwargs)
            else:
                demo.load(fn, api_visibility="private", **kwargs)
        demo.unload(self.forget)

    def start_session(self, browser_language: str, carried: str, request: gr.Request) -> tuple[str, str]:
        """The language the page booted in (the visitor's choice, else their browser's) becomes this
        session's; the form carried across a language switch comes back as it was."""
        language = "zh" if (browser_language or "").lower().startswith("zh") else "en"
        self.set_language(request, language)
        return language, carried or ""

    def keys_listeners(self) -> list[tuple[Callable, dict[str, Any]]]:
        return list(self._keys_listeners)


class _Refused(Exception):
    """A join refused by a validator: Gradio answers it with ``str()`` of this, which the page shows."""


def _join_of(request: gr.Request | None) -> object:
    """What identifies one request to join the queue: the HTTP request, which Gradio hands to the event's
    validator and again to its handler (also for a client that sent no session hash)."""
    http = getattr(request, "request", None)
    return http if http is not None else request


def _waiting_in_queue(demo: gr.Blocks, join: object) -> bool:
    """Whether Gradio's queue still holds this join's event, not yet running. Gradio has no public view of
    its queue; if this one changes, every place is kept (as if waiting) until the cap's longest wait."""
    try:
        queues = demo._queue.event_queue_per_concurrency_id
        return any(
            event.request is join for concurrency_id in CAPPED_JOBS if concurrency_id in queues
            for event in queues[concurrency_id].queue
        )
    except Exception:  # Gradio internals: keep the places rather than fail the join
        return True


def _accept_language(request: gr.Request | None) -> str:
    headers = getattr(request, "headers", None) or {}
    try:
        return headers.get("accept-language", "") or ""
    except AttributeError:
        return ""


def _address(request: gr.Request | None, trusted: TrustedProxies) -> str:
    """The visitor's address: the peer the server sees, or behind a trusted proxy the hop that proxy
    appended to X-Forwarded-For (see :func:`backends.identity.client_address`). app.py turns uvicorn's
    own reading of X-Forwarded-For off, so the peer here is the connection's."""
    if request is None:
        return ""
    peer = getattr(getattr(request, "client", None), "host", "") or ""
    peer = relayed_peer(peer, getattr(request, "headers", None))  # a REST or MCP caller, through the loopback
    forwarded: list[str] = []
    if trusted:
        headers = getattr(request, "headers", None) or {}
        try:
            forwarded = list(headers.getlist("x-forwarded-for"))
        except AttributeError:
            value = headers.get("x-forwarded-for", "") if hasattr(headers, "get") else ""
            forwarded = [value] if value else []
    return client_address(peer, forwarded, trusted)
