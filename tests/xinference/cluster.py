"""A real Xinference cluster on loopback, for the tests marked ``xinference``.

Xinference gets its own virtual environment, built once from ``requirements.txt`` beside this file and
cached outside the repository, under ``~/.cache/kolors-playground/xinference-<hash of that file>/``
(``$XDG_CACHE_HOME`` is honoured): the app only speaks HTTP to it, and its dependencies clash with the
app's. A cluster is one supervisor and one worker, each in its own session, with the environment that an
offline start needs; a tiny Kolors pipeline (``tests/tiny_kolors.py``) is saved to disk, registered as a
custom image model and launched. ``stop()`` ends every process the cluster started, its grandchildren
included, also after a failure half-way.

From a shell::

    python -m tests.xinference.cluster build           # build (or find) the venv, print its path and time
    python -m tests.xinference.cluster serve WORKDIR   # run a cluster until Ctrl-C, print its base URL
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REQUIREMENTS = HERE / "requirements.txt"
MODEL_NAME = "tiny-kolors"
MODEL_UID = "tiny-kolors"
_READY_MARK = "ready.json"
_MARKER_VARIABLE = "KOLORS_PLAYGROUND_XINFERENCE_CLUSTER"
PORT_ATTEMPTS = 3


class ClusterError(RuntimeError):
    """The Xinference cluster could not be built, started or driven; the message names the log to read."""


# 1. The virtual environment -----------------------------------------------------------------------------


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kolors-playground"


def venv_path(requirements: Path = REQUIREMENTS) -> Path:
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    return cache_root() / f"xinference-{digest}"


@dataclass(frozen=True)
class Venv:
    path: Path
    build_seconds: float | None
    """How long the build took when this call built it; None when it was already there."""

    def bin(self, name: str) -> str:
        return str(self.path / "bin" / name)


def ensure_venv(requirements: Path = REQUIREMENTS, *, timeout: float = 1500.0) -> Venv:
    """The cached venv for ``requirements``, built first if missing or half-built.

    Several processes may ask at once (pytest-xdist, two checkouts): a file lock makes one build and
    the others wait. Everything is installed with ``--no-deps`` from the pinned file, so the result
    does not depend on what a resolver picks on the day.
    """
    path = venv_path(requirements)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / _READY_MARK).exists():
            return Venv(path=path, build_seconds=None)
        shutil.rmtree(path, ignore_errors=True)
        started = time.monotonic()
        log_path = path.parent / f"{path.name}.build.log"
        with open(log_path, "w") as log:
            for command in (
                [sys.executable, "-m", "venv", str(path)],
                [str(path / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                 "--no-deps", "--no-input", "-r", str(requirements)],
            ):
                log.write(f"$ {' '.join(command)}\n")
                log.flush()
                try:
                    subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=timeout)
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                    raise ClusterError(f"building Xinference's venv in {path} failed ({exc}); see {log_path}") from exc
        seconds = time.monotonic() - started
        (path / _READY_MARK).write_text(json.dumps({"build_seconds": round(seconds, 1)}))
        return Venv(path=path, build_seconds=seconds)


# 2. The cluster ------------------------------------------------------------------------------------------


class PortTaken(ClusterError):
    """A process could not bind its port: something else took it between our pick and its start."""


def free_port() -> int:
    """A loopback port free now, below Linux's ephemeral range (32768-60999), where the OS hands out
    ports to outgoing connections and to binds on port 0 (other tests' servers): Xinference binds the
    port 20-60 s after it is picked, ample time for one of those to take it."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ClusterError("no free port between 20000 and 32000 on 127.0.0.1")


@dataclass
class Cluster:
    """A supervisor and a worker on 127.0.0.1; ``base_url`` is what a client (the playground) uses."""

    venv: Venv
    workdir: Path
    port: int = field(default_factory=free_port)
    supervisor_port: int = field(default_factory=free_port)
    worker_port: int = 0
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.endpoint}/v1"

    @property
    def home(self) -> Path:
        return self.workdir / "home"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("XINFERENCE_", "PYTHON"))}
        env.update(
            XINFERENCE_HOME=str(self.home),
            XINFERENCE_AUTH_ADVANCED="0",       # 4.x otherwise wants a first-run admin setup and answers 401
            XINFERENCE_ENABLE_VIRTUAL_ENV="0",  # no per-model venvs (they would be installed from the network)
            XINFERENCE_DISABLE_METRICS="1",
            HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
            PATH=f"{self.venv.path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            **{_MARKER_VARIABLE: self.token},
        )
        return env

    def log_path(self, role: str) -> Path:
        return self.workdir / f"{role}.log"

    def log(self, role: str) -> str:
        """What the supervisor (its HTTP API included) or the workers (model processes included) logged."""
        path = self.log_path(role)
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, role: str, chars: int = 3000) -> str:
        return self.log(role)[-chars:]

    def _spawn(self, role: str, command: list[str]) -> subprocess.Popen:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(role), "ab") as log:
            process = subprocess.Popen(
                command, env=self.env(), cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.processes[role] = process
        return process

    def start_supervisor(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self._spawn("supervisor", [self.venv.bin("xinference-supervisor"), "-H", "127.0.0.1", "-p", str(self.port),
                                   "--supervisor-port", str(self.supervisor_port)])

    def start_worker(self) -> None:
        """Start a worker on a new port. At debug level its log shows what the pipeline is called with
        ("stable diffusion args: {...}")."""
        self.worker_port = free_port()
        self._spawn("worker", [self.venv.bin("xinference-worker"), "-e", self.endpoint, "-H", "127.0.0.1",
                               "--worker-port", str(self.worker_port), "--log-level", "debug"])

    def wait_supervisor(self, *, timeout: float = 300.0) -> None:
        """Until the supervisor's HTTP API answers (a worker started before that exits at once)."""
        self._wait(lambda nodes: True, "the supervisor did not answer", "supervisor", timeout)

    def wait_worker(self, *, timeout: float = 300.0) -> None:
        """Until the supervisor lists the worker started last (a killed one stays listed for a while)."""
        address = f"127.0.0.1:{self.worker_port}"
        self._wait(lambda nodes: any(node.get("ip_address") == address for node in nodes),
                   "no worker joined", "worker", timeout)
        # The worker removes an empty cache/v2 while it starts; a model's link into it then fails.
        (self.home / "cache" / "v2").mkdir(parents=True, exist_ok=True)

    def _wait(self, done, failure: str, role: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    error = PortTaken if "address already in use" in self.log_tail(name) else ClusterError
                    raise error(f"xinference {name} exited with {process.returncode}:\n{self.log_tail(name)}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if done(httpx.get(f"{self.endpoint}/v1/cluster/info", timeout=2).json()):
                    return
            time.sleep(0.25)
        raise ClusterError(f"{failure} within {timeout:.0f} s:\n{self.log_tail(role)}")

    def register(self, model_dir: Path, *, name: str = MODEL_NAME) -> None:
        spec = {
            "version": 2, "model_name": name, "model_family": "stable_diffusion",
            "model_ability": ["text2image"], "model_uri": model_dir.resolve().as_uri(),
            "default_model_config": {"torch_dtype": "float32"}, "virtualenv": None,
        }
        answer = httpx.post(f"{self.base_url}/model_registrations/image",
                            json={"model": json.dumps(spec), "persist": True}, timeout=60)
        if answer.status_code != 200:
            raise ClusterError(f"registering {name} failed: {answer.status_code} {answer.text}")

    def launch(self, *, name: str = MODEL_NAME, uid: str = MODEL_UID, timeout: float = 300.0) -> float:
        """Launch the registered model and wait until it is ready; returns the seconds it took."""
        started = time.monotonic()
        answer = httpx.post(f"{self.base_url}/models", json={"model_uid": uid, "model_name": name, "model_type": "image"},
                            timeout=timeout)
        if answer.status_code != 200:
            raise ClusterError(f"launching {name} failed: {answer.status_code} {answer.text}\n{self.log_tail('worker')}")
        return time.monotonic() - started

    def kill_worker(self) -> None:
        """SIGKILL the worker and the model processes it started (its process group), as a crash would."""
        process = self.processes.pop("worker")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def replace_worker(self, *, timeout: float = 300.0) -> float:
        """After :meth:`kill_worker`: start a new worker and launch the model on it once the supervisor
        has dropped the dead one (it answers 400 "already in the model list" until then; on a busy
        machine its health check takes a while to notice). Returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        for attempt in range(PORT_ATTEMPTS):
            self.start_worker()
            self.wait_model_gone(timeout=max(1.0, deadline - time.monotonic()))
            try:
                self.wait_worker(timeout=max(1.0, deadline - time.monotonic()))
                break
            except PortTaken:
                self.processes.pop("worker").wait(timeout=10)
                if attempt == PORT_ATTEMPTS - 1:
                    raise
        self.launch(timeout=max(1.0, deadline - time.monotonic()))
        return time.monotonic() - started

    def wait_model_gone(self, uid: str = MODEL_UID, *, timeout: float = 300.0) -> None:
        """Until the supervisor's own model list no longer holds ``uid``.

        ``GET /v1/models`` is no proof: it asks the workers (a dead one counts as none, or answers from
        a cache), while a launch is refused while the supervisor's own table holds the uid.
        ``GET /v1/models/{uid}`` reads that table: 400 "not found in the model list" once it is gone;
        200, 500 or 503 (the dead worker cannot describe it) while it is there. A request that fails
        or times out on a loaded machine proves nothing either way, so it is asked again.
        """
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{self.base_url}/models/{uid}", timeout=30)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if answer.status_code == 400 and "not found in the model list" in answer.text:
                    return
                last = f"{answer.status_code} {answer.text[:300]}"
            time.sleep(1.0)
        raise ClusterError(f"the supervisor still lists {uid} after {timeout:.0f} s (last answer: {last})\n"
                           f"{self.log_tail('supervisor')}")

    def stop(self, *, grace: float = 15.0) -> None:
        """SIGTERM the supervisor and the worker, then SIGKILL whatever carries this cluster's token.

        The supervisor starts its actor pool and its HTTP server in sessions of their own, so killing
        process groups alone would leave them behind; every process the cluster started inherits the
        token in its environment, which finds them even after they were re-parented.
        """
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        while time.monotonic() < deadline and _processes_with(self.token):
            time.sleep(0.2)
        for pid in _processes_with(self.token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.processes.clear()


def _processes_with(token: str) -> list[int]:
    needle = f"{_MARKER_VARIABLE}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def start_tiny_model(venv: Venv, folder: Path) -> subprocess.Popen:
    """Start saving the tiny Kolors with Xinference's own torch and diffusers (the app needs neither)."""
    code = "import sys; from tests.tiny_kolors import build_tiny_kolors; build_tiny_kolors(sys.argv[1])"
    return subprocess.Popen([venv.bin("python"), "-c", code, str(folder)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})


def _finish_tiny_model(process: subprocess.Popen, folder: Path) -> Path:
    output, _ = process.communicate(timeout=600)
    if process.returncode != 0:
        raise ClusterError(f"saving the tiny Kolors failed:\n{output[-3000:]}")
    return folder


@contextlib.contextmanager
def running_cluster(venv: Venv, workdir: Path) -> Iterator[Cluster]:
    """A cluster serving the tiny Kolors as ``tiny-kolors``; everything it started ends on exit.

    Started again on other ports (in a fresh folder) when one was taken before Xinference bound it.
    """
    saving = start_tiny_model(venv, workdir / MODEL_NAME)
    try:
        for attempt in range(PORT_ATTEMPTS):
            cluster = Cluster(venv=venv, workdir=workdir / f"cluster-{attempt + 1}")
            try:
                cluster.start_supervisor()
                cluster.wait_supervisor()
                cluster.start_worker()
                model_dir = _finish_tiny_model(saving, workdir / MODEL_NAME)
                cluster.wait_worker()
                cluster.register(model_dir)
                cluster.launch()
                break
            except PortTaken:
                cluster.stop()
                if attempt == PORT_ATTEMPTS - 1:
                    raise
            except BaseException:
                cluster.stop()
                raise
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        if saving.poll() is None:
            saving.kill()
            saving.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.xinference.cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or find) Xinference's venv")
    serve = sub.add_parser("serve", help="run a cluster with the tiny Kolors until interrupted")
    serve.add_argument("workdir", type=Path)
    args = parser.parse_args(argv)
    venv = ensure_venv()
    built = f"built in {venv.build_seconds:.0f} s" if venv.build_seconds is not None else "cached"
    print(f"venv: {venv.path} ({built})", flush=True)
    if args.command == "serve":
        started = time.monotonic()
        with running_cluster(venv, args.workdir.resolve()) as cluster:
            print(f"serving {MODEL_UID} at {cluster.base_url} after {time.monotonic() - started:.1f} s", flush=True)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    sys.exit(main())
