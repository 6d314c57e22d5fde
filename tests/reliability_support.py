"""What the reliability tests share: a gate in front of an emulator that can refuse
connections, the generic OpenAI-compatible backend declared in a TOML file, short provider bounds
for the launched app, and a check of the history on disk (integrity, whole entries, no debris)."""

from __future__ import annotations

import io
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gradio_client import Client
from PIL import Image

__all__ = [
    "GENERIC_ID",
    "GENERIC_KEY_ENV",
    "Gate",
    "HistoryCheck",
    "api_client",
    "check_history",
    "fast_http_env",
    "generic_backend_toml",
]

GENERIC_ID = "selfhosted"
GENERIC_KEY_ENV = "SELFHOSTED_API_KEY"


# gradio_client builds an httpx client, and with it an SSL context loading the CA bundle (~50 ms of CPU),
# for every request; 32 clients under load spent more CPU on that than the app on its work. One
# context, shared, makes the same checks (none are made on http://127.0.0.1 anyway).
_SSL_CONTEXT = ssl.create_default_context()


class ApiClient(Client):
    """gradio_client's Client, minus a race of its own (gradio_client 2.7): a job submitted just after
    the previous one finished can join the event stream the server is closing, and then fails with
    ``CancelledError`` although the app answered it. Waiting for that stream to close first (it
    closes within milliseconds of the last answer) gives each job a stream of its own."""

    def submit(self, *args, **kwargs):
        deadline = time.monotonic() + 2.0
        while self.stream_open and time.monotonic() < deadline:
            time.sleep(0.002)
        return super().submit(*args, **kwargs)


def api_client(url: str, **options) -> Client:
    """A gradio_client Client for the launched app, as the tests use it: quiet, no file downloads."""
    options = {"verbose": False, "download_files": False, "ssl_verify": _SSL_CONTEXT, **options}
    return ApiClient(url, **options)


def fast_http_env(*, timeout: float = 1.5, retries: int = 2, backoff: float = 0.05) -> dict[str, str]:
    """The operator's variables (README, Backends) set so that faults play out in seconds."""
    return {
        "PLAYGROUND_HTTP_TIMEOUT": str(timeout),
        "PLAYGROUND_HTTP_RETRIES": str(retries),
        "PLAYGROUND_HTTP_BACKOFF": str(backoff),
    }


def generic_backend_toml(
    path: Path, base_url: str, *, max_concurrency: int = 4, label: str = "Self-hosted Kolors"
) -> dict[str, str]:
    """Write the PLAYGROUND_BACKENDS file for one generic endpoint (the self-hosted server emulator,
    which answers with paths local to itself unless asked for b64_json); return the variable."""
    path.write_text(
        "[[backend]]\n"
        f'id = "{GENERIC_ID}"\n'
        f'label = "{label}"\n'
        f'base_url = "{base_url}"\n'
        'model = "kolors"\n'
        f'api_key_env = "{GENERIC_KEY_ENV}"\n'
        "size_range = [256, 2048]\n"
        'response_format = "b64_json"\n'
        f"max_concurrency = {max_concurrency}\n",
        encoding="utf-8",
    )
    return {"PLAYGROUND_BACKENDS": str(path)}


# --- a gate that can refuse connections ---------------------------------------------------------


class Gate:
    """A TCP forwarder on 127.0.0.1 in front of ``target``'s port. :meth:`close` stops listening and
    cuts every open connection, so the next connect is refused (ECONNREFUSED), exactly what a
    provider that is down looks like; :meth:`open` listens again on the same port."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._target_url = parts
        self._lock = threading.Lock()
        self._links: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.open()

    @property
    def url(self) -> str:
        """``target_url`` with the gate's port in place of the target's."""
        return urlunsplit(self._target_url._replace(netloc=f"127.0.0.1:{self.port}"))

    @property
    def is_open(self) -> bool:
        return self._listener is not None

    def open(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True, name=f"gate:{self.port}")
        self._thread.start()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            links, self._links = self._links, set()
        for link in links:
            _shut(link)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                _shut(client)
                continue
            for link in (client, upstream):
                link.settimeout(None)
                link.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # forward small writes at once
            with self._lock:
                self._links |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for link in (source, sink):
                _shut(link)
                with self._lock:
                    self._links.discard(link)


def _shut(link: socket.socket) -> None:
    try:
        link.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    link.close()


# --- the history on disk ---------------------------------------------------------------------------


@dataclass
class HistoryCheck:
    """What :func:`check_history` found. ``problems`` is empty when the history is sound."""

    integrity: str
    ids: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    image_files: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and not self.problems


def check_history(data_dir: Path, *, decode: bool | Collection[str] = True) -> HistoryCheck:
    """Check ``data_dir``'s history as a person's history must be:

    - ``PRAGMA integrity_check`` is ok;
    - every entry is whole: an ``ok`` entry has all n images, a ``partial`` one at least one, a
      ``failed`` one none; each image's file (and thumbnail, and preview) exists and decodes;
    - no file in images/, thumbs/ or previews/ is left that no row names (debris of an interrupted write).

    The rows and the folders are read under SQLite's write lock, as the store's own clean-up does:
    a save holds that lock from its first file to its commit, so a save (or a background thumbnail)
    in flight is waited for rather than taken for debris. Nothing is written.
    ``decode`` is False to check only that files exist, or the ids of the entries to decode.
    """
    conn = sqlite3.connect(data_dir / "history.sqlite3", timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            rows = conn.execute("SELECT id, status, n FROM generations ORDER BY created_at").fetchall()
            images = conn.execute("SELECT generation_id, idx, file_name, thumb_name, preview_name FROM images").fetchall()
            on_disk = {
                folder: sorted(p.name for p in (data_dir / folder).iterdir()) if (data_dir / folder).is_dir() else []
                for folder in ("images", "thumbs", "previews")
            }
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()
    check = HistoryCheck(integrity=integrity)
    by_entry: dict[str, list[tuple[int, str, str | None, str | None]]] = {}
    for generation_id, idx, file_name, thumb_name, preview_name in images:
        by_entry.setdefault(generation_id, []).append((idx, file_name, thumb_name, preview_name))
    named = {"images": set(), "thumbs": set(), "previews": set()}
    for entry_id, status, n in rows:
        check.ids.append(entry_id)
        check.statuses[entry_id] = status
        own = by_entry.pop(entry_id, [])
        if status == "ok" and len(own) != n:
            check.problems.append(f"entry {entry_id} is ok with {len(own)} of {n} images")
        elif status == "partial" and not 0 < len(own) < n:
            check.problems.append(f"entry {entry_id} is partial with {len(own)} of {n} images")
        elif status == "failed" and own:
            check.problems.append(f"entry {entry_id} failed but names {len(own)} images")
        elif status not in ("ok", "partial", "failed"):
            check.problems.append(f"entry {entry_id} has status {status!r}")
        for _, file_name, thumb_name, preview_name in own:
            files = [("images", file_name)] + ([("thumbs", thumb_name)] if thumb_name else [])
            files += [("previews", preview_name)] if preview_name else []
            for folder, name in files:
                named[folder].add(name)
                path = data_dir / folder / name
                decoding = decode is True or (decode is not False and entry_id in decode)
                problem = _unreadable(path) if decoding else (None if name in on_disk[folder] else "is missing")
                if problem:
                    check.problems.append(f"entry {entry_id}: {folder}/{name} {problem}")
    for entry_id in by_entry:
        check.problems.append(f"images rows name entry {entry_id}, which does not exist")
    for folder, names in on_disk.items():
        for name in names:
            if name not in named[folder]:
                check.problems.append(f"{folder}/{name} is left over: no entry names it")
    check.image_files = len(named["images"])
    return check


def _unreadable(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "is missing"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as exc:
        return f"does not decode ({type(exc).__name__})"
    return None
